"""When is it due: every SLA target's due time for a ticket opened at a given instant, before it exists.

Pure: the answer is the SLA engine's own (``state.compute_sla`` on a log that
holds only the ``opened`` event), so it always agrees with the clocks the
ticket will show once created.  ``GET /v1/sla/due``, ``fieldsync sla due`` and
the console's New ticket form all ask here.

Times are RFC 3339: in UTC (``2026-10-10T02:00:00Z``) and in the zone of the
target's calendar (``2026-10-10T10:00:00+08:00``); a 24x7 calendar has no zone
of its own, so its local time is given in the default zone (``FIELDSYNC_TZ``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final, get_args
from zoneinfo import ZoneInfo

import msgspec

from schemas.domain import Category
from schemas.instant import Instant
from schemas.rules import EVENT_TIME_MAX_MS, EVENT_TIME_MIN_MS
from server.domain.sla.calendar import Calendar
from server.domain.sla.policy import PRIORITIES, PolicySet, format_duration
from server.domain.sla.state import SlaEvent, compute_sla

__all__ = ["CATEGORIES", "DueTarget", "DueTimes", "due_times", "local_text", "parse_opened", "utc_text"]

CATEGORIES: Final = get_args(Category)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# RFC 3339 date-time with a required offset; seconds may be left out (``2026-10-09T20:00+08:00``).
_RFC3339: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:[Zz]|[+-]\d{2}:\d{2})$", re.ASCII)


class DueTarget(msgspec.Struct, kw_only=True):
    """One SLA clock of the would-be ticket.

    ``due_at`` (epoch ms), ``due_utc`` and ``due_local`` are None for a clock
    that opening the ticket does not start (the follow-up starts at completion:
    ``starts_on``).
    """

    target: str
    duration: str
    duration_ms: int
    calendar: str
    tz: str
    region: str | None
    starts_on: list[str]
    due_at: Instant | None
    due_utc: str | None
    due_local: str | None


class DueTimes(msgspec.Struct, kw_only=True):
    """The due times of a ticket of ``priority``/``category`` opened at ``opened_at`` under ``policy``."""

    priority: str
    category: str
    policy: str
    opened_at: Instant
    opened_utc: str
    opened_local: str
    tz: str
    targets: list[DueTarget]


def parse_opened(text: str) -> int:
    """Epoch ms of an RFC 3339 date-time with an offset; ``ValueError`` (with a message for a person) otherwise."""
    raw = text
    if len(raw) > 40 or not _RFC3339.match(raw):
        raise ValueError(f"{text[:40]!r} is not an RFC 3339 date-time with an offset, "
                         "such as 2026-10-09T20:00+08:00 or 2026-10-09T12:00:00Z")
    try:
        moment = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1] in "Zz" else raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a date and time that exists") from None
    ms = (moment - _EPOCH) // timedelta(milliseconds=1)  # exact: no float on the way
    if not EVENT_TIME_MIN_MS <= ms < EVENT_TIME_MAX_MS:
        raise ValueError(f"{raw!r} is outside 2000-01-01 .. 2100-01-01 (UTC)")
    return ms


def utc_text(ms: int) -> str:
    """``2026-10-10T02:00:00Z`` (milliseconds only when there are any)."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    spec = "milliseconds" if ms % 1000 else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def local_text(ms: int, tz: str) -> str:
    """``2026-10-10T10:00:00+08:00``: the instant as wall time in ``tz`` with its offset."""
    moment = (_EPOCH + timedelta(milliseconds=ms)).astimezone(ZoneInfo(tz))
    return moment.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")


def due_times(policies: PolicySet, priority: str, category: str, opened_ms: int, default_tz: str) -> DueTimes:
    """Each target's due time for a ticket opened at ``opened_ms``; ``ValueError`` for an unknown priority/category."""
    if priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}")
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {', '.join(CATEGORIES)}")
    policy = policies.for_ticket(priority, category)
    states = compute_sla(policy, [SlaEvent(kind="opened", at=opened_ms)], opened_ms)
    targets = []
    for spec in policy.targets:
        due = states[spec.name].due_at
        tz = _zone(spec.calendar, default_tz)
        region = spec.calendar.region.code if spec.calendar.region else None
        targets.append(DueTarget(
            target=spec.name, duration=spec.duration_text or format_duration(spec.duration_ms),
            duration_ms=spec.duration_ms, calendar=spec.calendar.name, tz=tz, region=region,
            starts_on=sorted(spec.start_on), due_at=due, due_utc=None if due is None else utc_text(due),
            due_local=None if due is None else local_text(due, tz)))
    tz = _zone(policy.calendar, default_tz)
    return DueTimes(priority=priority, category=category, policy=policy.name, opened_at=opened_ms,
                    opened_utc=utc_text(opened_ms), opened_local=local_text(opened_ms, tz), tz=tz, targets=targets)


def _zone(cal: Calendar, default_tz: str) -> str:
    return default_tz if cal.is_24x7 else cal.tz
