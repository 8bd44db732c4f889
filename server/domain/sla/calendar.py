"""Business calendars: how much *working* time lies between two instants.

SLA targets are measured in working time on a calendar: a 24x7 calendar counts
every millisecond, a business-hours calendar only counts its weekly opening
hours (local wall-clock hours in an IANA time zone) on its working days.
This module is pure: no clock, no I/O; every instant is int epoch ms UTC.

Which days are working days, strongest rule first:

1. the calendar's own closures (``holidays``: local extra days off) close a day;
2. its own extra working days (``working_days``) open it;
3. the region's public holidays (``region.closed``) close it;
4. the region's make-up working days (``region.working``, e.g. China's 调休
   Saturdays) open it;
5. otherwise the weekly hours of its weekday decide.

A day opened by rule 2 or 4 whose weekday has no hours works the calendar's
*working day* (the hours of its longest weekday, the day a ``wd`` measures).
The region's days are plain data here (``RegionDays``); ``regions.py`` looks
them up in the ``holidays`` package once, when a calendar is built.

How it stays fast: a business calendar lazily builds a table of its days (the
UTC intervals of each local day's opening hours) with prefix sums of working
time, so ``working_ms_between`` is two binary searches and ``add_working_ms`` three;
nothing walks minute by minute or day by day per call.

DST: opening hours are wall-clock hours, so on the spring-forward day an
interval spanning 02:00-03:00 (Europe/Berlin) is one hour shorter in real time
and on the fall-back day one hour longer. A boundary that falls in the skipped
hour moves to the first wall time that exists; a boundary in the repeated hour
uses its first occurrence.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CALENDAR_24X7",
    "DAY_MS",
    "WEEKDAYS",
    "Calendar",
    "RegionDays",
    "WeekHours",
    "add_working_ms",
    "business_day_ms",
    "business_hours",
    "is_working_day",
    "next_working_day",
    "parse_hhmm",
    "working_ms_between",
]

DAY_MS = 86_400_000
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Seven entries, Monday first; each a sorted tuple of (open, close) minutes after local midnight.
WeekHours = tuple[tuple[tuple[int, int], ...], ...]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_CHUNK_DAYS = 366
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
#: how far ``next_working_day`` looks before it decides a calendar has no working day left
_MAX_CLOSED_DAYS = 2 * 366


@dataclass(frozen=True)
class RegionDays:
    """A region's public holidays and make-up working days as local dates (``code`` like ``CN`` or ``DE-BY``)."""

    code: str
    closed: frozenset[date] = frozenset()
    working: frozenset[date] = frozenset()


@dataclass(frozen=True)
class _DayTable:
    """Immutable snapshot of local days ``lo .. lo+len(days)-1`` as flat, sorted opening intervals.

    ``cum[i]`` is the working ms in the first ``i`` intervals, so the working
    time up to any instant is one binary search away.
    """

    lo: int
    days: tuple[tuple[tuple[int, int], ...], ...]
    opens: tuple[int, ...]
    closes: tuple[int, ...]
    cum: tuple[int, ...]


class _TableHolder:
    """Mutable slot for the lazily grown table; swapped atomically so readers never see half a table."""

    __slots__ = ("table",)

    def __init__(self) -> None:
        self.table: _DayTable | None = None


@dataclass(frozen=True)
class Calendar:
    """A working-time calendar.

    ``week is None`` means open 24x7 (time zone and days are then irrelevant).
    Otherwise ``week`` holds the opening intervals per weekday in local wall-clock
    minutes, ``holidays`` the local dates on which the calendar is closed,
    ``working_days`` local dates on which it works whatever its weekday, and
    ``region`` a region's public holidays and make-up working days (the
    precedence is in the module docstring).
    """

    name: str
    tz: str = "UTC"
    week: WeekHours | None = None
    holidays: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()
    region: RegionDays | None = None
    _holder: _TableHolder = field(default_factory=_TableHolder, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.tz!r}") from exc
        if self.week is None:
            return
        if len(self.week) != 7:
            raise ValueError("week must have 7 entries, Monday first")
        for day, intervals in zip(WEEKDAYS, self.week, strict=True):
            previous_close = -1
            for open_min, close_min in intervals:
                if not 0 <= open_min < close_min <= 24 * 60:
                    raise ValueError(f"{day}: bad opening interval ({open_min}, {close_min})")
                if open_min < previous_close:
                    raise ValueError(f"{day}: opening intervals must be sorted and not overlap")
                previous_close = close_min
        if not any(self.week):
            raise ValueError("a business calendar needs at least one opening interval per week")
        both = sorted(self.holidays & self.working_days)
        if both:
            raise ValueError(f"{', '.join(d.isoformat() for d in both[:5])}: both a closure and a working day")

    @property
    def is_24x7(self) -> bool:
        return self.week is None


CALENDAR_24X7 = Calendar(name="24x7")


def parse_hhmm(text: str) -> int:
    """Parse ``"HH:MM"`` (``"24:00"`` allowed as end of day) into minutes after midnight."""
    match = _HHMM.match(text)
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError(f"bad time of day {text!r}, expected HH:MM")
    return int(match.group(1)) * 60 + int(match.group(2))


def business_hours(
    tz: str,
    holidays: Iterable[date] = (),
    start: str = "08:00",
    end: str = "17:00",
    days: Iterable[int] = (0, 1, 2, 3, 4),
    name: str = "business_hours",
    region: RegionDays | None = None,
    working_days: Iterable[date] = (),
) -> Calendar:
    """Build a calendar open ``start``-``end`` local time on ``days`` (0 = Monday), closed on holidays."""
    interval = ((parse_hhmm(start), parse_hhmm(end)),)
    open_days = set(days)
    if not open_days <= set(range(7)):
        raise ValueError("days are weekday numbers 0 (Monday) .. 6 (Sunday)")
    week = tuple(interval if weekday in open_days else () for weekday in range(7))
    return Calendar(name=name, tz=tz, week=week, holidays=frozenset(holidays), working_days=frozenset(working_days),
                    region=region)


def business_day_ms(cal: Calendar) -> int:
    """Length of one working day: 24 h on 24x7, else the longest weekday's opening hours.

    "3 working days" on a Mon-Fri 08:00-17:00 calendar is therefore 3 x 9 h.
    """
    if cal.week is None:
        return DAY_MS
    return max(sum(close - open_ for open_, close in day) for day in cal.week) * 60_000


def is_working_day(cal: Calendar, day: date) -> bool:
    """Whether the local date ``day`` has opening hours on ``cal`` (every day does on 24x7)."""
    return cal.week is None or bool(_local_hours(cal, day))


def next_working_day(cal: Calendar, day: date) -> date:
    """``day`` itself if it is a working day, else the first working day after it."""
    for offset in range(_MAX_CLOSED_DAYS):
        candidate = day + timedelta(days=offset)
        if is_working_day(cal, candidate):
            return candidate
    raise ValueError(f"calendar {cal.name!r} has no working day within {_MAX_CLOSED_DAYS} days of {day}")


def working_ms_between(cal: Calendar, start_ms: int, end_ms: int) -> int:
    """Working time in ``[start_ms, end_ms)``; 0 when ``end_ms <= start_ms``."""
    if end_ms <= start_ms:
        return 0
    if cal.week is None:
        return end_ms - start_ms
    table = _table_covering(cal, _utc_ordinal(start_ms) - 3, _utc_ordinal(end_ms) + 3)
    return _worked_until(table, end_ms) - _worked_until(table, start_ms)


def add_working_ms(cal: Calendar, start_ms: int, amount_ms: int) -> int:
    """The earliest instant at which ``amount_ms`` of working time after ``start_ms`` has elapsed.

    Outside opening hours counting starts at the next opening; an amount that
    runs out exactly at a closing time returns that closing time.
    """
    if amount_ms < 0:
        raise ValueError("amount_ms must not be negative")
    if amount_ms == 0:
        return start_ms
    if cal.week is None:
        return start_ms + amount_ms
    ordinal = _utc_ordinal(start_ms)
    table = _table_covering(cal, ordinal - 3, ordinal + 3)
    target = _worked_until(table, start_ms) + amount_ms
    # A business week always has opening hours, so only a year of holidays can leave a chunk empty.
    while table.cum[-1] < target:
        before = table.cum[-1]
        table = _table_covering(cal, table.lo, table.lo + len(table.days) + _CHUNK_DAYS)
        if table.cum[-1] == before:
            raise ValueError(f"calendar {cal.name!r} has no working time left")
    # Interval i-1 holds the point where the running total reaches target: cum[i-1] < target <= cum[i].
    index = bisect.bisect_left(table.cum, target)
    return table.opens[index - 1] + (target - table.cum[index - 1])


def _utc_ordinal(at_ms: int) -> int:
    # The local date of an instant is within one day of its UTC date (offsets are under 24 h).
    return _EPOCH_ORDINAL + at_ms // DAY_MS


def _worked_until(table: _DayTable, at_ms: int) -> int:
    """Working ms from the start of the table up to ``at_ms`` (the table must cover ``at_ms``)."""
    opened = bisect.bisect_right(table.opens, at_ms)  # intervals opened at or before at_ms
    if opened == 0:
        return 0
    return table.cum[opened] - max(0, table.closes[opened - 1] - at_ms)


def _table_covering(cal: Calendar, lo: int, hi: int) -> _DayTable:
    """Return a table holding at least days ``lo .. hi`` (inclusive), growing the cached one if needed."""
    table = cal._holder.table
    if table is not None and table.lo <= lo and hi < table.lo + len(table.days):
        return table
    if table is None:
        new_lo, new_hi = lo - _CHUNK_DAYS // 2, hi + _CHUNK_DAYS
        days = [_day_intervals(cal, ordinal) for ordinal in range(new_lo, new_hi + 1)]
    else:
        old_hi = table.lo + len(table.days) - 1
        new_lo = min(table.lo, lo - _CHUNK_DAYS) if lo < table.lo else table.lo
        new_hi = max(old_hi, hi + _CHUNK_DAYS) if hi > old_hi else old_hi
        days = [_day_intervals(cal, ordinal) for ordinal in range(new_lo, table.lo)]
        days.extend(table.days)
        days.extend(_day_intervals(cal, ordinal) for ordinal in range(old_hi + 1, new_hi + 1))
    opens: list[int] = []
    closes: list[int] = []
    cum = [0]
    for day in days:
        for open_ms, close_ms in day:
            # Keep the flat list sorted even where a DST quirk at midnight makes days touch.
            open_ms = max(open_ms, closes[-1]) if closes else open_ms
            if close_ms > open_ms:
                opens.append(open_ms)
                closes.append(close_ms)
                cum.append(cum[-1] + close_ms - open_ms)
    grown = _DayTable(lo=new_lo, days=tuple(days), opens=tuple(opens), closes=tuple(closes), cum=tuple(cum))
    cal._holder.table = grown
    return grown


def _local_hours(cal: Calendar, day: date) -> tuple[tuple[int, int], ...]:
    """The opening intervals of one local date in wall-clock minutes (the precedence of the module docstring)."""
    assert cal.week is not None
    if day in cal.holidays:
        return ()
    hours = cal.week[day.weekday()]
    region = cal.region
    if day in cal.working_days or (region is not None and day not in region.closed and day in region.working):
        return hours or _working_day_hours(cal.week)
    if region is not None and day in region.closed:
        return ()
    return hours


def _working_day_hours(week: WeekHours) -> tuple[tuple[int, int], ...]:
    """The hours of the longest weekday (the first of equals): what a make-up working day works."""
    return max(week, key=lambda day: sum(close - open_ for open_, close in day))


def _day_intervals(cal: Calendar, ordinal: int) -> tuple[tuple[int, int], ...]:
    day = date.fromordinal(ordinal)
    zone = ZoneInfo(cal.tz)
    intervals = []
    for open_min, close_min in _local_hours(cal, day):
        open_ms = _wall_to_ms(day, open_min, zone)
        close_ms = _wall_to_ms(day, close_min, zone)
        if close_ms > open_ms:
            intervals.append((open_ms, close_ms))
    return tuple(intervals)


def _wall_to_ms(day: date, minute: int, zone: ZoneInfo) -> int:
    """UTC ms of a local wall time; times in a DST gap move to the first wall time that exists."""
    naive = datetime.combine(day, time(0)) + timedelta(minutes=minute)
    local = naive.replace(tzinfo=zone)  # fold=0: the first occurrence of a repeated wall time
    for _ in range(24 * 60):
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
            break
        naive += timedelta(minutes=1)
        local = naive.replace(tzinfo=zone)
    return (local - _EPOCH) // timedelta(milliseconds=1)
