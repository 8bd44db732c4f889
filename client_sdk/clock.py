"""The device clock: wall time in epoch milliseconds, passed in so tests and simulations can set it.

Every time the SDK records (an op's ``at``, the HLC, a sign-off's
``signed_at``, enrollment) comes from the one :data:`Clock` given to
``FieldClient.open``; nothing else in :mod:`client_sdk` reads the system time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: returns device wall time in epoch ms
Clock = Callable[[], int]


def system_clock() -> int:
    """Device wall time in epoch milliseconds."""
    return time.time_ns() // 1_000_000
