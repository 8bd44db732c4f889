"""Epoch milliseconds as text for people (console pages, service reports), never failing on a stored value.

Device event times are bounded when they arrive (:mod:`schemas.rules`), but a
database may hold values written before the bounds existed: a page must show
them as :data:`INVALID_TIME`, not fail.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Final

#: what a page shows for a stored time no calendar can express
INVALID_TIME: Final = "invalid time"


def utc_text(ms: int, pattern: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Epoch ms as UTC text in ``pattern``; :data:`INVALID_TIME` for a value no date can show (never raises)."""
    return zone_text(ms, UTC, pattern)


def zone_text(ms: int, zone: tzinfo, pattern: str, invalid: str = INVALID_TIME) -> str:
    """Epoch ms as text in ``zone``; ``invalid`` for a value no date can show (never raises)."""
    try:
        return datetime.fromtimestamp(ms / 1000, tz=zone).strftime(pattern)
    except (OverflowError, OSError, ValueError, TypeError):
        return invalid
