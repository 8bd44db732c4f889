"""Working calendars for real regions: China's holidays and 调休 days, subdivisions, local closures, DST.

The region's days come from the ``holidays`` package; the oracle of the
brute-force tests asks that package directly (``is_working_day``), minute by
minute, so the calendar's own bookkeeping (tables, prefix sums, precedence) is
checked against the library's answer, not against itself.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.sla.calendar import (
    Calendar,
    add_working_ms,
    business_hours,
    is_working_day,
    next_working_day,
    working_ms_between,
)
from server.domain.sla.policy import PolicyError, default_policies, policies_from_dict
from server.domain.sla.regions import UnknownRegion, region_days
from server.domain.sla.state import SlaEvent, compute_sla

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
H = 3_600_000
M = 60_000

CN_OFFICE = business_hours("Asia/Shanghai", region=region_days("CN"), name="cn")
BY_OFFICE = business_hours("Europe/Berlin", region=region_days("DE-BY"), name="by")


def shanghai(*args: int) -> int:
    return int(datetime(*args, tzinfo=SHANGHAI).timestamp() * 1000)


def wall(ms: int, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.fromtimestamp(ms / 1000, zone).replace(tzinfo=None)


# -- the region's days --------------------------------------------------------------------------------------


def test_china_2026_national_day_is_off_and_its_make_up_days_are_worked() -> None:
    off = [date(2026, 10, d) for d in range(1, 8)]
    assert not any(is_working_day(CN_OFFICE, d) for d in off)
    # 调休: Sunday 2026-09-20 and Saturday 2026-10-10 are working days; the Saturday after is not
    assert is_working_day(CN_OFFICE, date(2026, 9, 20)) and is_working_day(CN_OFFICE, date(2026, 10, 10))
    assert not is_working_day(CN_OFFICE, date(2026, 10, 17))
    assert is_working_day(CN_OFFICE, date(2026, 10, 8)) and is_working_day(CN_OFFICE, date(2026, 9, 30))
    # Spring Festival 2026: 02-15 .. 02-23 off, Saturdays 02-14 and 02-28 worked
    assert not any(is_working_day(CN_OFFICE, date(2026, 2, d)) for d in range(15, 24))
    assert is_working_day(CN_OFFICE, date(2026, 2, 14)) and is_working_day(CN_OFFICE, date(2026, 2, 28))


def test_a_make_up_working_day_works_the_calendars_working_day_hours() -> None:
    due = add_working_ms(CN_OFFICE, shanghai(2026, 10, 9, 20, 0), 2 * H)
    assert wall(due) == datetime(2026, 10, 10, 10, 0)  # Saturday, 08:00 + 2 h
    assert working_ms_between(CN_OFFICE, shanghai(2026, 10, 10, 0, 0), shanghai(2026, 10, 11, 0, 0)) == 9 * H
    # A calendar whose Friday is short: the make-up Saturday works its longest day, Monday's 08:00-17:00.
    short_friday = Calendar(name="short", tz="Asia/Shanghai", week=(((480, 1020),),) * 4 + (((480, 720),), (), ()),
                            region=region_days("CN"))
    assert working_ms_between(short_friday, shanghai(2026, 10, 10, 0, 0), shanghai(2026, 10, 11, 0, 0)) == 9 * H


def test_a_subdivision_has_its_own_holidays() -> None:
    berlin = business_hours("Europe/Berlin", region=region_days("DE-BE"))
    epiphany = date(2026, 1, 6)  # a Tuesday: a holiday in Bavaria, not in Berlin
    assert not is_working_day(BY_OFFICE, epiphany) and is_working_day(berlin, epiphany)
    assert region_days("de-by").code == "DE-BY"


@pytest.mark.parametrize("code", ["XX", "DE-ZZ", "C", "CN-", "CN BY", ""])
def test_an_unknown_region_is_refused_with_its_reason(code: str) -> None:
    with pytest.raises(UnknownRegion, match="region"):
        region_days(code)


def test_local_closures_and_extra_working_days_win_over_the_region() -> None:
    cal = business_hours("Asia/Shanghai", region=region_days("CN"),
                         holidays=[date(2026, 10, 10), date(2026, 10, 12)], working_days=[date(2026, 10, 3)])
    assert not is_working_day(cal, date(2026, 10, 10))  # the region's make-up day, closed locally
    assert not is_working_day(cal, date(2026, 10, 12))  # an ordinary Monday, closed locally
    assert is_working_day(cal, date(2026, 10, 3))  # a National Day Saturday, opened locally
    assert working_ms_between(cal, shanghai(2026, 10, 3, 0, 0), shanghai(2026, 10, 4, 0, 0)) == 9 * H
    with pytest.raises(ValueError, match="both a closure and a working day"):
        business_hours("UTC", holidays=[date(2026, 1, 2)], working_days=[date(2026, 1, 2)])


def test_next_working_day_skips_the_holiday_week() -> None:
    assert next_working_day(CN_OFFICE, date(2026, 10, 1)) == date(2026, 10, 8)
    assert next_working_day(CN_OFFICE, date(2026, 10, 10)) == date(2026, 10, 10)
    assert next_working_day(CN_OFFICE, date(2026, 10, 11)) == date(2026, 10, 12)


# -- the cases through the SLA engine -----------------------------------------------------------------


CN_POLICIES = default_policies("Asia/Shanghai", region="CN")


@pytest.mark.parametrize(("opened", "respond", "on_site", "resolve"), [
    # Wednesday evening before National Day: first due on Thursday 2026-10-08
    ((2026, 9, 30, 20, 0), (2026, 10, 8, 10, 0), (2026, 10, 8, 16, 0), (2026, 10, 10, 17, 0)),
    # Friday evening before the make-up Saturday: due on Saturday 2026-10-10
    ((2026, 10, 9, 20, 0), (2026, 10, 10, 10, 0), (2026, 10, 10, 16, 0), (2026, 10, 13, 17, 0)),
])
def test_p3_due_times_around_national_day(opened: tuple[int, ...], respond: tuple[int, ...],
                                          on_site: tuple[int, ...], resolve: tuple[int, ...]) -> None:
    at = shanghai(*opened)
    states = compute_sla(CN_POLICIES.for_ticket("P3"), [SlaEvent(kind="opened", at=at)], at)
    assert {name: wall(s.due_at) for name, s in states.items() if s.due_at is not None} == {
        "respond": datetime(*respond), "on_site": datetime(*on_site), "resolve": datetime(*resolve)}


def test_a_pause_across_the_holiday_extends_the_deadline_by_paused_working_time_only() -> None:
    opened, hold, resume = shanghai(2026, 9, 29, 9, 0), shanghai(2026, 9, 30, 10, 0), shanghai(2026, 10, 9, 10, 0)
    events = [SlaEvent(kind="opened", at=opened), SlaEvent(kind="on_hold", at=hold),
              SlaEvent(kind="resumed", at=resume)]
    resolve = compute_sla(CN_POLICIES.for_ticket("P3"), events, resume)["resolve"]
    # Paused: 09-30 10:00-17:00, 10-08 all day, 10-09 08:00-10:00 = 18 h; the seven holidays count nothing.
    assert resolve.paused_seconds == 18 * 3600 and resolve.state == "running"
    # Used before the pause: 8 h + 2 h of 27 h; the other 17 h run 10-09 10:00-17:00, Saturday 10-10, Monday 1 h.
    assert wall(resolve.due_at or 0) == datetime(2026, 10, 12, 9, 0)


def test_the_default_calendar_without_a_region_is_as_before() -> None:
    plain = default_policies("Asia/Shanghai").for_ticket("P3").calendar
    assert plain.region is None and is_working_day(plain, date(2026, 10, 1))
    assert not is_working_day(plain, date(2026, 10, 10))


# -- policy files ---------------------------------------------------------------------------------------------


def _policy_file(calendar: dict[str, object], **extra: object) -> dict[str, object]:
    resolve = {"targets": {"resolve": {"duration": "1d", "start": ["opened"], "stop": ["completed"]}}}
    return {"calendars": {"office": calendar}, **extra,
            "policies": {"P1": resolve, "P2": resolve, "P3": {"calendar": "office", **resolve}, "complaint": resolve}}


def test_a_policy_file_names_region_closures_extra_days_and_the_working_calendar() -> None:
    hours = {"mon": ["08:00-17:00"], "tue": ["08:00-17:00"]}
    policies = policies_from_dict(_policy_file({"tz": "Asia/Shanghai", "hours": hours, "region": "CN",
                                                "holidays": ["2026-10-12"], "working_days": ["2026-10-11"]}))
    office = policies.working_calendar  # the P3 calendar unless the file names one
    assert office.name == "office" and office.region is not None and office.region.code == "CN"
    assert office.holidays == {date(2026, 10, 12)} and office.working_days == {date(2026, 10, 11)}
    named = policies_from_dict(_policy_file({"tz": "UTC", "hours": hours}, working_calendar="24x7"))
    assert named.working_calendar.is_24x7


@pytest.mark.parametrize(("calendar", "extra", "message"), [
    ({"tz": "UTC", "hours": {"mon": ["08:00-17:00"]}, "region": "XX"}, {}, "calendars.office.region: unknown region"),
    ({"tz": "UTC", "hours": {"mon": ["08:00-17:00"]}, "region": 86}, {}, "calendars.office.region"),
    ({"tz": "UTC", "hours": {"mon": ["08:00-17:00"]}, "working_days": ["10/10/2026"]}, {}, "working_days: bad date"),
    ({"tz": "UTC", "hours": {"mon": ["08:00-17:00"]}, "holidays": ["2026-10-10"], "working_days": ["2026-10-10"]},
     {}, "both a closure and a working day"),
    ({"tz": "UTC", "hours": {"mon": ["08:00-17:00"]}}, {"working_calendar": "nowhere"}, "working_calendar"),
])
def test_a_bad_calendar_in_a_policy_file_is_refused_by_name(calendar: dict[str, object], extra: dict[str, object],
                                                            message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policies_from_dict(_policy_file(calendar, **extra))


# -- properties -----------------------------------------------------------------------------------------------

CALENDARS = {"cn": (CN_OFFICE, SHANGHAI), "by": (BY_OFFICE, BERLIN)}
START = int(datetime(2025, 12, 1, tzinfo=UTC).timestamp() * 1000)
END = int(datetime(2027, 1, 31, tzinfo=UTC).timestamp() * 1000)


@settings(max_examples=300, deadline=None)
@given(which=st.sampled_from(sorted(CALENDARS)), start=st.integers(START, END), amount=st.integers(1, 40 * 9 * H))
def test_a_due_time_is_never_on_a_non_working_instant(which: str, start: int, amount: int) -> None:
    cal, zone = CALENDARS[which]
    due = add_working_ms(cal, start, amount)
    # the millisecond that ends the amount is worked, on a working day of the calendar's own zone
    assert working_ms_between(cal, due - 1, due) == 1
    assert is_working_day(cal, wall(due - 1, zone).date())
    assert working_ms_between(cal, start, due) == amount


@settings(max_examples=300, deadline=None)
@given(which=st.sampled_from(sorted(CALENDARS)), starts=st.lists(st.integers(START, END), min_size=2, max_size=2),
       amounts=st.lists(st.integers(0, 30 * 9 * H), min_size=2, max_size=2))
def test_adding_working_time_is_monotonic(which: str, starts: list[int], amounts: list[int]) -> None:
    cal, _ = CALENDARS[which]
    (s1, s2), (a1, a2) = sorted(starts), sorted(amounts)
    assert add_working_ms(cal, s1, a1) <= add_working_ms(cal, s1, a2) <= add_working_ms(cal, s2, a2)
    assert working_ms_between(cal, s1, s2) <= working_ms_between(cal, s1, s2 + a1)


def _library_prefix(country: str, subdiv: str | None, zone: ZoneInfo, first: datetime, minutes: int) -> list[int]:
    """Working minutes before each minute of the window, by the holidays package and 08:00-17:00 local time."""
    lib = holidays.country_holidays(country, subdiv=subdiv, years=range(first.year - 1, first.year + 2))

    def is_open(at: datetime) -> bool:
        local = at.astimezone(zone)
        return lib.is_working_day(local.date()) and 8 * 60 <= local.hour * 60 + local.minute < 17 * 60

    flags = (is_open(first + timedelta(minutes=i)) for i in range(minutes))
    return [0, *itertools.accumulate(int(f) for f in flags)]


# National Day and its make-up days in Shanghai; Easter 2026 (Good Friday 04-03, Easter Monday 04-06) and the
# spring-forward night of 03-29 in Munich.
WINDOWS = {
    "cn": (CN_OFFICE, datetime(2026, 9, 14, tzinfo=UTC), _library_prefix(
        "CN", None, SHANGHAI, datetime(2026, 9, 14, tzinfo=UTC), 5 * 7 * 24 * 60)),
    "by": (BY_OFFICE, datetime(2026, 3, 16, tzinfo=UTC), _library_prefix(
        "DE", "BY", BERLIN, datetime(2026, 3, 16, tzinfo=UTC), 5 * 7 * 24 * 60)),
}


@settings(max_examples=200, deadline=None)
@given(which=st.sampled_from(sorted(WINDOWS)), start=st.integers(0, 3 * 7 * 24 * 60),
       length=st.integers(0, 2 * 7 * 24 * 60), amount=st.integers(1, 6 * 9 * 60))
def test_working_time_matches_the_holidays_package_minute_by_minute(which: str, start: int, length: int,
                                                                    amount: int) -> None:
    cal, first, prefix = WINDOWS[which]
    base = int(first.timestamp() * 1000)
    assert working_ms_between(cal, base + start * M, base + (start + length) * M) == (
        prefix[start + length] - prefix[start]) * M
    end = next(i for i in range(start, len(prefix)) if prefix[i] - prefix[start] == amount)
    assert add_working_ms(cal, base + start * M, amount * M) == base + end * M
