"""The server's wall clock in epoch milliseconds (``Services.clock`` unless a test passes its own)."""

from __future__ import annotations

import time


def wall_ms() -> int:
    """The server's wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000
