"""Business calendars: working time across weekends, holidays and DST."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.sla.calendar import (
    CALENDAR_24X7,
    Calendar,
    add_working_ms,
    business_day_ms,
    business_hours,
    working_ms_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
H = 3_600_000
M = 60_000


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=BERLIN).timestamp() * 1000)


def local(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, BERLIN).replace(tzinfo=None)


# 2025-06-09 is Whit Monday; 2025-06-06 a Friday.
OFFICE = business_hours("Europe/Berlin", holidays=[date(2025, 6, 9)])


def test_24x7_counts_wall_time() -> None:
    assert working_ms_between(CALENDAR_24X7, 1_000, 5_000) == 4_000
    assert working_ms_between(CALENDAR_24X7, 5_000, 1_000) == 0
    assert add_working_ms(CALENDAR_24X7, 1_000, 15 * 24 * H) == 1_000 + 15 * 24 * H


@pytest.mark.parametrize(
    ("start", "amount", "expected"),
    [
        ((2025, 6, 2, 8, 0), 2 * H, (2025, 6, 2, 10, 0)),  # Monday, inside hours
        ((2025, 6, 2, 6, 30), 2 * H, (2025, 6, 2, 10, 0)),  # before opening: counts from 08:00
        ((2025, 6, 2, 16, 0), 2 * H, (2025, 6, 3, 9, 0)),  # spills into the next morning
        ((2025, 6, 2, 8, 0), 9 * H, (2025, 6, 2, 17, 0)),  # runs out exactly at closing time
        ((2025, 6, 6, 16, 0), 2 * H, (2025, 6, 10, 9, 0)),  # Friday -> weekend -> holiday -> Tuesday
        ((2025, 6, 6, 17, 0), 2 * H, (2025, 6, 10, 10, 0)),  # opened at closing before a holiday
        ((2025, 6, 7, 12, 0), 27 * H, (2025, 6, 12, 17, 0)),  # Saturday + 3 working days
    ],
)
def test_add_working_ms_skips_closed_time(
    start: tuple[int, int, int, int, int], amount: int, expected: tuple[int, int, int, int, int]
) -> None:
    due = add_working_ms(OFFICE, berlin(*start), amount)
    assert local(due) == datetime(*expected)
    assert working_ms_between(OFFICE, berlin(*start), due) == amount


def test_working_ms_between_ignores_weekends_and_holidays() -> None:
    # Friday 16:00 -> Tuesday 09:00: 1 h Friday, nothing on Sat/Sun/holiday Monday, 1 h Tuesday.
    assert working_ms_between(OFFICE, berlin(2025, 6, 6, 16, 0), berlin(2025, 6, 10, 9, 0)) == 2 * H


def test_business_day_is_the_length_of_the_opening_hours() -> None:
    assert business_day_ms(OFFICE) == 9 * H
    assert business_day_ms(CALENDAR_24X7) == 24 * H


@pytest.mark.parametrize(
    ("start", "expected_local", "expected_utc_hour"),
    [
        # Spring forward (Sun 30 Mar 2025): Friday 16:00 CET + 2 h -> Monday 09:00 CEST (07:00 UTC).
        ((2025, 3, 28, 16, 0), (2025, 3, 31, 9, 0), 7),
        # Fall back (Sun 26 Oct 2025): Friday 16:00 CEST + 2 h -> Monday 09:00 CET (08:00 UTC).
        ((2025, 10, 24, 16, 0), (2025, 10, 27, 9, 0), 8),
    ],
)
def test_business_hours_follow_local_wall_clock_across_dst(
    start: tuple[int, int, int, int, int], expected_local: tuple[int, int, int, int, int], expected_utc_hour: int
) -> None:
    due = add_working_ms(OFFICE, berlin(*start), 2 * H)
    assert local(due) == datetime(*expected_local)
    assert datetime.fromtimestamp(due / 1000, UTC).hour == expected_utc_hour
    # The whole weekend, DST change included, holds no working time.
    assert working_ms_between(OFFICE, berlin(*start), due) == 2 * H


@pytest.mark.parametrize(("day", "hours"), [((2025, 3, 30), 2), ((2025, 10, 26), 4), ((2025, 10, 19), 3)])
def test_night_shift_through_the_dst_hour_counts_real_time(day: tuple[int, int, int], hours: int) -> None:
    sundays_night = Calendar(name="night", tz="Europe/Berlin", week=((),) * 6 + (((60, 240),),))
    start = berlin(*day, 0, 0)
    assert working_ms_between(sundays_night, start, start + 24 * H) == hours * H


def test_long_spans_are_fast() -> None:
    start = berlin(2025, 1, 1, 0, 0)
    due = add_working_ms(OFFICE, start, 1000 * 9 * H)  # a thousand working days
    assert working_ms_between(OFFICE, start, due) == 1000 * 9 * H
    assert local(due).year == 2028


def test_unknown_time_zone_is_rejected() -> None:
    with pytest.raises(ValueError, match="time zone"):
        business_hours("Mars/Olympus_Mons")


# --- brute-force reference: minute by minute over two windows around the 2025 DST changes ---

SPLIT = Calendar(
    name="split",
    tz="Europe/Berlin",
    week=(((480, 720), (780, 1020)),) * 5 + (((0, 360),), ((60, 240),)),
    holidays=frozenset({date(2025, 4, 1), date(2025, 10, 31)}),
)
WINDOWS = [datetime(2025, 3, 17, tzinfo=UTC), datetime(2025, 10, 13, tzinfo=UTC)]
WINDOW_MINUTES = 6 * 7 * 24 * 60


def _is_open(at: datetime) -> bool:
    wall = at.astimezone(BERLIN)
    assert SPLIT.week is not None
    minute = wall.hour * 60 + wall.minute
    return wall.date() not in SPLIT.holidays and any(a <= minute < b for a, b in SPLIT.week[wall.weekday()])


def _prefix(window: datetime) -> list[int]:
    flags = (_is_open(window + timedelta(minutes=i)) for i in range(WINDOW_MINUTES))
    return [0, *itertools.accumulate(int(f) for f in flags)]


PREFIXES = [_prefix(w) for w in WINDOWS]


@settings(max_examples=150, deadline=None)
@given(
    window=st.integers(0, 1),
    start=st.integers(0, 3 * 7 * 24 * 60),
    length=st.integers(0, 3 * 7 * 24 * 60),
)
def test_working_ms_between_matches_minute_by_minute(window: int, start: int, length: int) -> None:
    base = int(WINDOWS[window].timestamp() * 1000)
    prefix = PREFIXES[window]
    expected = (prefix[start + length] - prefix[start]) * M
    assert working_ms_between(SPLIT, base + start * M, base + (start + length) * M) == expected


@settings(max_examples=150, deadline=None)
@given(window=st.integers(0, 1), start=st.integers(0, 3 * 7 * 24 * 60), amount=st.integers(1, 80 * 60))
def test_add_working_ms_matches_minute_by_minute(window: int, start: int, amount: int) -> None:
    base = int(WINDOWS[window].timestamp() * 1000)
    prefix = PREFIXES[window]
    # The end of the first minute after which `amount` working minutes have been counted.
    end = next(i for i in range(start, WINDOW_MINUTES + 1) if prefix[i] - prefix[start] == amount)
    assert add_working_ms(SPLIT, base + start * M, amount * M) == base + end * M


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(berlin(2025, 1, 1, 0, 0), berlin(2026, 12, 31, 0, 0)),
    amount=st.integers(0, 20 * 9 * H),
    cal=st.sampled_from([OFFICE, SPLIT, CALENDAR_24X7]),
)
def test_add_then_measure_round_trips(start: int, amount: int, cal: Calendar) -> None:
    due = add_working_ms(cal, start, amount)
    assert due >= start
    assert working_ms_between(cal, start, due) == amount
