"""SLA state from the event log: due times, pauses, late events, reopen, cancel and thresholds."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.sla.policy import EVENT_KINDS, default_policies
from server.domain.sla.state import SlaEvent, compute_sla, next_threshold_at, thresholds_crossed

BERLIN = ZoneInfo("Europe/Berlin")
H = 3_600_000
M = 60_000
# Whit Monday 2025-06-09 is a public holiday; 2025-06-06 is the Friday before.
POLICIES = default_policies("Europe/Berlin", holidays=[date(2025, 6, 9)])


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=BERLIN).timestamp() * 1000)


def local(ms: int | None) -> datetime:
    assert ms is not None
    return datetime.fromtimestamp(ms / 1000, BERLIN).replace(tzinfo=None)


MONDAY_9 = berlin(2025, 6, 2, 9, 0)


@pytest.mark.parametrize(
    ("priority", "target", "due"),
    [
        ("P1", "respond", MONDAY_9 + 1 * H),
        ("P1", "on_site", MONDAY_9 + 2 * H),
        ("P1", "resolve", MONDAY_9 + 24 * H),
        ("P2", "respond", MONDAY_9 + 1 * H),
        ("P2", "on_site", MONDAY_9 + 4 * H),
        ("P2", "resolve", MONDAY_9 + 48 * H),
        ("P3", "respond", berlin(2025, 6, 2, 11, 0)),
        ("P3", "on_site", berlin(2025, 6, 2, 17, 0)),  # 8 working hours, to closing time
        ("P3", "resolve", berlin(2025, 6, 5, 9, 0)),  # 27 working hours: 8 + 9 + 9 + 1
        ("complaint", "respond", MONDAY_9 + 2 * H),
        ("complaint", "resolve", MONDAY_9 + 15 * 24 * H),
    ],
)
def test_default_due_times(priority: str, target: str, due: int) -> None:
    policy = POLICIES.for_ticket(priority)
    state = compute_sla(policy, [SlaEvent("opened", MONDAY_9)], MONDAY_9)[target]
    assert (state.state, state.due_at, state.breached) == ("running", due, False)


STOP_EVENT = {"respond": "acknowledged", "on_site": "on_site", "resolve": "completed"}


@pytest.mark.parametrize(
    ("priority", "target"),
    [(p, t) for p in ("P1", "P2", "P3") for t in STOP_EVENT] + [("complaint", "respond"), ("complaint", "resolve")],
)
@pytest.mark.parametrize(("offset", "breached"), [(-M, False), (0, False), (M, True)])
def test_met_on_time_or_late(priority: str, target: str, offset: int, breached: bool) -> None:
    policy = POLICIES.for_ticket(priority)
    due = compute_sla(policy, [SlaEvent("opened", MONDAY_9)], MONDAY_9)[target].due_at
    assert due is not None
    events = [SlaEvent("opened", MONDAY_9), SlaEvent(STOP_EVENT[target], due + offset)]
    state = compute_sla(policy, events, due + H)[target]
    assert (state.state, state.met_at, state.due_at, state.breached) == ("met", due + offset, due, breached)
    # The scheduler's breach event agrees with the state: recorded exactly when the target is breached.
    crossed = thresholds_crossed(policy, events, due + H)
    assert ((target, 100, due) in crossed) is breached


def test_cancel_after_a_breach_keeps_the_breach() -> None:
    p1 = POLICIES.for_ticket("P1")
    events = [SlaEvent("opened", MONDAY_9), SlaEvent("cancelled", MONDAY_9 + 90 * M)]
    state = compute_sla(p1, events, MONDAY_9 + 48 * H)["respond"]
    assert (state.state, state.breached, state.due_at) == ("cancelled", True, MONDAY_9 + H)


def test_paused_exactly_at_the_deadline_is_a_breach() -> None:
    p1 = POLICIES.for_ticket("P1")
    events = [
        SlaEvent("opened", MONDAY_9),
        SlaEvent("on_hold", MONDAY_9 + 2 * H),  # the on-site deadline
        SlaEvent("on_site", MONDAY_9 + 5 * H),
    ]
    state = compute_sla(p1, events, MONDAY_9 + 6 * H)["on_site"]
    assert (state.state, state.breached, state.due_at) == ("met", True, MONDAY_9 + 2 * H)


def test_open_clock_past_due_is_breached() -> None:
    p1 = POLICIES.for_ticket("P1")
    state = compute_sla(p1, [SlaEvent("opened", MONDAY_9)], MONDAY_9 + 90 * M)["respond"]
    assert (state.state, state.breached, state.elapsed_fraction) == ("breached", True, 1.5)


def test_any_field_event_counts_as_a_response() -> None:
    p1 = POLICIES.for_ticket("P1")
    events = [SlaEvent("opened", MONDAY_9), SlaEvent("en_route", MONDAY_9 + 20 * M)]
    assert compute_sla(p1, events, MONDAY_9 + 2 * H)["respond"].met_at == MONDAY_9 + 20 * M


def test_p3_opened_friday_closing_before_a_holiday_monday() -> None:
    opened = berlin(2025, 6, 6, 17, 0)
    states = compute_sla(POLICIES.for_ticket("P3"), [SlaEvent("opened", opened)], opened)
    assert local(states["respond"].due_at) == datetime(2025, 6, 10, 10, 0)  # Tuesday 10:00
    assert local(states["resolve"].due_at) == datetime(2025, 6, 12, 17, 0)  # Tue, Wed, Thu = 3 x 9 h


PARTS_PAUSE = [
    SlaEvent("opened", berlin(2025, 6, 12, 9, 0)),  # Thursday
    SlaEvent("on_hold", berlin(2025, 6, 13, 15, 0)),  # Friday 15:00, awaiting parts
    SlaEvent("resumed", berlin(2025, 6, 16, 10, 0)),  # Monday 10:00
]


def test_pause_on_business_hours_extends_by_paused_working_time_only() -> None:
    p3 = POLICIES.for_ticket("P3")
    unpaused = compute_sla(p3, PARTS_PAUSE[:1], berlin(2025, 6, 12, 9, 0))["resolve"].due_at
    state = compute_sla(p3, PARTS_PAUSE, berlin(2025, 6, 16, 11, 0))["resolve"]
    assert state.state == "running"
    assert state.paused_seconds == 4 * 3600  # 2 h Friday + 2 h Monday, not the weekend
    assert unpaused is not None and state.due_at is not None
    assert local(unpaused) == datetime(2025, 6, 17, 9, 0)
    assert local(state.due_at) == datetime(2025, 6, 17, 13, 0)  # 4 working hours later


def test_pause_on_24x7_extends_by_wall_time() -> None:
    p1 = POLICIES.for_ticket("P1")
    events = [SlaEvent("opened", berlin(2025, 6, 13, 14, 0)), *PARTS_PAUSE[1:]]
    state = compute_sla(p1, events, berlin(2025, 6, 16, 11, 0))["resolve"]
    wall = PARTS_PAUSE[2].at - PARTS_PAUSE[1].at  # Friday 15:00 -> Monday 10:00 = 67 h
    assert (state.state, state.paused_seconds * 1000) == ("running", wall)
    assert state.due_at == events[0].at + 24 * H + wall
    # Respond does not pause, so its clock ignores on_hold and has long breached.
    assert compute_sla(p1, events, PARTS_PAUSE[2].at)["respond"].state == "breached"


def test_paused_clock_reports_the_deadline_extended_so_far() -> None:
    p1 = POLICIES.for_ticket("P1")
    events = [SlaEvent("opened", MONDAY_9), SlaEvent("on_hold", MONDAY_9 + H)]
    state = compute_sla(p1, events, MONDAY_9 + 3 * H)["resolve"]
    assert (state.state, state.due_at, state.paused_seconds) == ("paused", MONDAY_9 + 26 * H, 2 * 3600)


def test_late_event_is_judged_on_its_own_time() -> None:
    p1 = POLICIES.for_ticket("P1")
    opened = SlaEvent("opened", MONDAY_9)
    now = MONDAY_9 + 3 * H
    assert compute_sla(p1, [opened], now)["on_site"].state == "breached"
    # The tablet was offline: it arrived on site at 10:30 but the event syncs only now.
    late = SlaEvent("on_site", MONDAY_9 + 90 * M)
    state = compute_sla(p1, [opened, late], now)["on_site"]
    assert (state.state, state.breached, state.met_at) == ("met", False, MONDAY_9 + 90 * M)
    assert ("on_site", 100, MONDAY_9 + 2 * H) not in thresholds_crossed(p1, [opened, late], now)


def test_reopen_carries_used_time_over() -> None:
    p1 = POLICIES.for_ticket("P1")
    events = [
        SlaEvent("opened", MONDAY_9),
        SlaEvent("completed", MONDAY_9 + 10 * H),
        SlaEvent("reopened", MONDAY_9 + 30 * H),
    ]
    state = compute_sla(p1, events, MONDAY_9 + 31 * H)["resolve"]
    assert (state.state, state.met_at, state.due_at) == ("running", None, MONDAY_9 + 30 * H + 14 * H)
    assert state.elapsed_fraction == pytest.approx(11 / 24)


def test_follow_up_runs_from_the_last_completion() -> None:
    p2 = POLICIES.for_ticket("P2")
    events = [SlaEvent("opened", MONDAY_9), SlaEvent("completed", MONDAY_9 + 2 * H)]
    assert compute_sla(p2, events, MONDAY_9 + 3 * H)["follow_up"].due_at == MONDAY_9 + 26 * H
    events += [SlaEvent("reopened", MONDAY_9 + 5 * H), SlaEvent("completed", MONDAY_9 + 8 * H)]
    assert compute_sla(p2, events, MONDAY_9 + 9 * H)["follow_up"].due_at == MONDAY_9 + 32 * H
    events += [SlaEvent("follow_up_done", MONDAY_9 + 20 * H)]
    assert compute_sla(p2, events, MONDAY_9 + 21 * H)["follow_up"].state == "met"


def test_cancel_stops_every_clock_without_a_breach() -> None:
    p1 = POLICIES.for_ticket("P1")
    events = [SlaEvent("opened", MONDAY_9), SlaEvent("cancelled", MONDAY_9 + 30 * M)]
    states = compute_sla(p1, events, MONDAY_9 + 48 * H)
    assert {name: (s.state, s.breached) for name, s in states.items()} == {
        "respond": ("cancelled", False),
        "on_site": ("cancelled", False),
        "resolve": ("cancelled", False),
        "follow_up": ("cancelled", False),
    }
    assert next_threshold_at(p1, events, MONDAY_9 + H) is None


def test_events_after_now_have_not_happened_yet() -> None:
    p1 = POLICIES.for_ticket("P1")
    events = [SlaEvent("opened", MONDAY_9), SlaEvent("acknowledged", MONDAY_9 + 50 * M)]
    assert compute_sla(p1, events, MONDAY_9 + 10 * M)["respond"].state == "running"


def test_provisional_flag_is_carried() -> None:
    states = compute_sla(POLICIES.for_ticket("P1"), [SlaEvent("opened", 0)], 0, provisional=True)
    assert all(s.provisional for s in states.values())


def test_thresholds_are_reported_once_with_their_instant() -> None:
    p1 = POLICIES.for_ticket("P1")
    events = [SlaEvent("opened", MONDAY_9), SlaEvent("acknowledged", MONDAY_9 + 50 * M)]
    respond = [c for c in thresholds_crossed(p1, events, MONDAY_9 + 5 * H) if c[0] == "respond"]
    # Met at 50 min: crossed 50 % (30 min) and 75 % (45 min), never 100 %.
    assert respond == [("respond", 50, MONDAY_9 + 30 * M), ("respond", 75, MONDAY_9 + 45 * M)]


def test_threshold_crossings_skip_closed_hours() -> None:
    p3 = POLICIES.for_ticket("P3")
    opened = berlin(2025, 6, 6, 16, 0)  # Friday 16:00; respond is 2 working hours
    crossed = [c for c in thresholds_crossed(p3, [SlaEvent("opened", opened)], opened + 7 * 24 * H)]
    respond = [(pct, local(at)) for name, pct, at in crossed if name == "respond"]
    assert respond == [
        (50, datetime(2025, 6, 6, 17, 0)),
        (75, datetime(2025, 6, 10, 8, 30)),
        (100, datetime(2025, 6, 10, 9, 0)),
    ]


def test_next_threshold_at_is_the_earliest_pending_crossing() -> None:
    p1 = POLICIES.for_ticket("P1")
    events = [SlaEvent("opened", MONDAY_9)]
    assert next_threshold_at(p1, events, MONDAY_9) == MONDAY_9 + 30 * M  # respond 50 %
    assert next_threshold_at(p1, events, MONDAY_9 + 30 * M) == MONDAY_9 + 45 * M
    events.append(SlaEvent("acknowledged", MONDAY_9 + 40 * M))
    assert next_threshold_at(p1, events, MONDAY_9 + 40 * M) == MONDAY_9 + 60 * M  # on_site 50 %
    events.append(SlaEvent("on_hold", MONDAY_9 + 41 * M))
    assert next_threshold_at(p1, events, MONDAY_9 + 41 * M) is None  # everything left is paused


# --- properties ---

KINDS = sorted(EVENT_KINDS)
event_logs = st.lists(
    st.builds(SlaEvent, kind=st.sampled_from(KINDS), at=st.integers(0, 10 * 24 * 60).map(lambda m: MONDAY_9 + m * M)),
    max_size=12,
).map(lambda events: [SlaEvent("opened", MONDAY_9), *events])
priorities = st.sampled_from(["P1", "P2", "P3", "complaint"])


@settings(max_examples=100, deadline=None)
@given(priority=priorities, events=event_logs, data=st.data())
def test_compute_sla_ignores_input_order(priority: str, events: list[SlaEvent], data: st.DataObject) -> None:
    policy = POLICIES.for_ticket(priority)
    shuffled = data.draw(st.permutations(events))
    now = MONDAY_9 + 12 * 24 * H
    assert compute_sla(policy, shuffled, now) == compute_sla(policy, events, now)
    assert thresholds_crossed(policy, shuffled, now) == thresholds_crossed(policy, events, now)


@settings(max_examples=100, deadline=None)
@given(
    priority=priorities,
    events=event_logs,
    t1=st.integers(0, 12 * 24 * 60),
    t2=st.integers(0, 12 * 24 * 60),
)
def test_thresholds_are_monotonic(priority: str, events: list[SlaEvent], t1: int, t2: int) -> None:
    policy = POLICIES.for_ticket(priority)
    early, late = MONDAY_9 + min(t1, t2) * M, MONDAY_9 + max(t1, t2) * M
    before = set(thresholds_crossed(policy, events, early))
    after = set(thresholds_crossed(policy, events, late))
    # a clock retired by then (on-site of a remote resolution) has no standing threshold at all
    retired = {name for name, s in compute_sla(policy, events, late).items() if s.state == "not_applicable"}
    assert not any(c[0] in retired for c in after)
    assert {c for c in before if c[0] not in retired} <= after
    upcoming = next_threshold_at(policy, events, early)
    if upcoming is not None:
        assert upcoming > early
        # Nothing new is crossed before the scheduled instant unless an event intervened.
        if not any(early < e.at <= late for e in events) and late < upcoming:
            assert after == before


def test_a_remote_resolution_makes_the_on_site_clock_not_applicable_even_past_its_due_time() -> None:
    p1 = POLICIES.for_ticket("P1")
    events = [SlaEvent("opened", MONDAY_9), SlaEvent("acknowledged", MONDAY_9 + 5 * M),
              SlaEvent("completed", MONDAY_9 + 3 * H), SlaEvent("remote_resolved", MONDAY_9 + 3 * H)]
    states = compute_sla(p1, events, MONDAY_9 + 4 * H)
    assert states["on_site"].state == "not_applicable" and not states["on_site"].breached
    assert states["on_site"].due_at is None and states["resolve"].state == "met"
    # the on-site levels crossed at 10:00, 10:30 and 11:00 no longer stand; respond's were never reached
    assert [c for c in thresholds_crossed(p1, events, MONDAY_9 + 4 * H) if c[0] == "on_site"] == []
    # a plain completion without the remote event still meets it late
    late = compute_sla(p1, events[:3], MONDAY_9 + 4 * H)["on_site"]
    assert late.state == "met" and late.breached
