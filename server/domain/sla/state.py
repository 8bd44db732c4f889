"""SLA state as a deterministic function of a ticket's event log, a policy and "now".

Nothing here is stored or scheduled: the server recomputes from the full event
log whenever an event arrives (late tablet events included), and the scheduler
asks ``next_threshold_at`` when to wake and ``thresholds_crossed`` what to
record. The same inputs always give the same answer.

Rules (per target of the policy):

- Events are ordered by ``(at, lifecycle rank of the kind)``, so the input order
  never matters and simultaneous events apply in lifecycle order (``opened``
  before ``acknowledged``, ``on_hold`` before ``resumed``, ``cancelled`` last).
  Events after ``now_ms`` have not happened yet and are ignored; events of kinds
  outside the SLA vocabulary are ignored.
- A start event starts a clock that has not started; a stop event stops a
  running or paused clock (``met``). A pause event pauses a running clock; the
  resume event lets it run again. Only working time on the target's calendar
  counts, so a pause extends the deadline by the paused *working* time.
- A reopen event (default: ``reopened`` on ``resolve``) makes a met clock run
  again from the reopen instant with the working time already used carried
  over: the customer is not charged for the time the job looked fixed, and the
  deadline is not reset either. That gap is not counted as paused time.
- A reset event (default: ``reopened`` on ``follow_up``) discards the current
  run; the next start event begins a fresh one.
- A not-applicable event (default: ``remote_resolved`` on ``on_site``) retires
  the clock for good: state ``not_applicable``, never breached, no threshold of
  it stands (the scheduler withdraws any it announced).
- ``cancelled`` stops every clock for good (state ``cancelled``); later events
  are ignored. A clock whose deadline had already passed before the
  cancellation still reports ``breached=True``, since that breach was real and
  has already been recorded and escalated.
- A threshold (50/75/100 %) is crossed at the instant the consumed working time
  reaches that share of the target while the clock is open. A clock stopped at
  exactly that instant has not crossed it (met exactly on the due time is on
  time); one paused at exactly that instant has. The 100 % crossing is the
  breach and is ``due_at`` of a breached clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import msgspec

from server.domain.sla.calendar import add_working_ms, working_ms_between
from server.domain.sla.policy import Policy, TargetSpec

__all__ = [
    "TARGET_STATES",
    "SlaEvent",
    "TargetState",
    "compute_sla",
    "next_threshold_at",
    "order_events",
    "thresholds_crossed",
]

TARGET_STATES = ("not_started", "running", "paused", "met", "breached", "cancelled", "not_applicable")

# Tie-break for events at the same instant: the order a job's lifecycle would produce them in.
_KIND_RANK = {
    kind: rank
    for rank, kind in enumerate(
        (
            "opened",
            "job_assigned",
            "acknowledged",
            "en_route",
            "on_site",
            "on_hold",
            "resumed",
            "completed",
            "remote_resolved",
            "follow_up_done",
            "reopened",
            "cancelled",
        )
    )
}


class SlaEvent(msgspec.Struct, frozen=True):
    """One ticket/job event as the SLA engine sees it; ``at`` is the corrected time in epoch ms UTC."""

    kind: str
    at: int


class TargetState(msgspec.Struct, frozen=True):
    """The state of one SLA clock at ``now`` (or at its stop).

    ``due_at``: deadline (None before the clock starts). Pauses extend it by the
      paused working time so far; for a breached clock it is the breach instant.
    ``met_at``: when the stop event happened (None unless ``state == "met"``).
    ``state``: one of ``TARGET_STATES``; an open clock past its deadline is
      ``breached``, a clock stopped late is ``met`` with ``breached=True``.
    ``breached``: the deadline passed while the clock was open (incl. met late).
    ``paused_seconds``: paused working time of the current run.
    ``elapsed_fraction``: working time consumed / target (may exceed 1.0).
    ``provisional``: computed from events not yet confirmed (echoes the caller).
    """

    due_at: int | None
    met_at: int | None
    state: str
    breached: bool
    paused_seconds: int
    elapsed_fraction: float
    provisional: bool = False


@dataclass
class _Clock:
    """Mutable scratch state while replaying one target; never leaves this module."""

    spec: TargetSpec
    marks: tuple[tuple[int, int], ...]  # (percent, working ms at which it is reached)
    status: str = "not_started"  # not_started | running | paused | met | cancelled
    started: bool = False  # the current run has started (a clock cancelled before starting has not)
    consumed: int = 0  # working ms used in this run before the open segment
    since: int = 0  # start of the open running or paused segment
    paused_ms: int = 0
    end_at: int | None = None  # stop or cancel instant
    next_mark: int = 0  # index into marks of the first threshold not yet crossed in this run
    run_crossed: list[tuple[int, int]] = field(default_factory=list)  # (percent, at) in this run
    all_crossed: list[tuple[int, int]] = field(default_factory=list)  # earlier, reset runs

    def run_until(self, end: int, inclusive: bool) -> None:
        """Close the running segment ``[since, end)``, recording thresholds crossed in it."""
        self._record_crossings(end, inclusive)
        self.consumed += working_ms_between(self.spec.calendar, self.since, end)

    def _record_crossings(self, end: int, inclusive: bool) -> None:
        while self.next_mark < len(self.marks):
            percent, amount = self.marks[self.next_mark]
            at = add_working_ms(self.spec.calendar, self.since, max(0, amount - self.consumed))
            if at < end or (inclusive and at == end):
                self.run_crossed.append((percent, at))
                self.next_mark += 1
            else:
                break

    def next_crossing(self) -> int | None:
        """When the next threshold is reached if the open running segment goes on."""
        if self.status != "running" or self.next_mark >= len(self.marks):
            return None
        amount = self.marks[self.next_mark][1]
        return add_working_ms(self.spec.calendar, self.since, max(0, amount - self.consumed))

    def start(self, at: int) -> None:
        self.status, self.since, self.consumed, self.paused_ms = "running", at, 0, 0
        self.started = True
        self.end_at, self.next_mark = None, 0
        self.all_crossed.extend(self.run_crossed)
        self.run_crossed = []

    def apply(self, kind: str, at: int) -> None:
        spec = self.spec
        if self.status in ("cancelled", "not_applicable"):
            return
        if kind in spec.void_on:
            # the clock never applied: no threshold of any run stands
            self.status, self.end_at = "not_applicable", at
            self.run_crossed, self.all_crossed = [], []
        elif kind == "cancelled":
            self._close(at)
            self.status, self.end_at = "cancelled", at
        elif self.status == "not_started":
            if kind in spec.start_on:
                self.start(at)
        elif self.status in ("running", "paused"):
            if kind in spec.stop_on:
                self._close(at)
                self.status, self.end_at = "met", at
            elif kind in spec.reset_on:
                self._close(at)
                self.status, self.started = "not_started", False
            elif self.status == "running" and kind in spec.pause_on:
                self.run_until(at, inclusive=True)
                self.status, self.since = "paused", at
            elif self.status == "paused" and kind in spec.resume_on:
                self.paused_ms += working_ms_between(spec.calendar, self.since, at)
                self.status, self.since = "running", at
        elif self.status == "met":
            if kind in spec.reopen_on:
                self.status, self.since, self.end_at = "running", at, None
            elif kind in spec.reset_on:
                self.status, self.started = "not_started", False

    def _close(self, at: int) -> None:
        if self.status == "running":
            self.run_until(at, inclusive=False)
        elif self.status == "paused":
            self.paused_ms += working_ms_between(self.spec.calendar, self.since, at)

    def finish(self, now_ms: int) -> None:
        """Record thresholds the open segment has reached by ``now_ms`` (inclusive) and paused time so far.

        The open running segment stays open (``since``/``consumed`` untouched) so
        ``next_crossing`` and ``state`` still measure from its true start.
        """
        if self.status == "running":
            self._record_crossings(now_ms, inclusive=True)
        elif self.status == "paused":
            self.paused_ms += working_ms_between(self.spec.calendar, self.since, now_ms)

    def state(self, now_ms: int, provisional: bool) -> TargetState:
        spec = self.spec
        if self.status == "not_applicable":
            return TargetState(None, None, "not_applicable", False, 0, 0.0, provisional)
        if not self.started:
            state = "cancelled" if self.status == "cancelled" else "not_started"
            return TargetState(None, None, state, False, 0, 0.0, provisional)
        consumed = self.consumed
        if self.status == "running":
            consumed += working_ms_between(spec.calendar, self.since, now_ms)
        ref = self.end_at if self.end_at is not None else now_ms
        breach_at = next((at for percent, at in self.run_crossed if percent == 100), None)
        if breach_at is not None:
            due_at = breach_at
        else:
            due_at = add_working_ms(spec.calendar, ref, max(0, spec.duration_ms - consumed))
        state = self.status
        if breach_at is not None and state in ("running", "paused"):
            state = "breached"
        return TargetState(
            due_at=due_at,
            met_at=self.end_at if self.status == "met" else None,
            state=state,
            breached=breach_at is not None,
            paused_seconds=self.paused_ms // 1000,
            elapsed_fraction=consumed / spec.duration_ms,
            provisional=provisional,
        )


def order_events(events: Iterable[SlaEvent]) -> list[SlaEvent]:
    """Events in the order the engine applies them: by time, then lifecycle rank, then kind."""
    return sorted(events, key=lambda e: (e.at, _KIND_RANK.get(e.kind, len(_KIND_RANK)), e.kind))


def _replay(policy: Policy, events: Iterable[SlaEvent], now_ms: int,
            percents: tuple[int, ...] | None = None) -> list[_Clock]:
    """Replay the log through every target; ``percents`` limits which thresholds are tracked."""
    ordered = [e for e in order_events(events) if e.at <= now_ms]
    clocks = []
    for spec in policy.targets:
        marks = tuple((p, spec.duration_ms * p // 100) for p in (percents or policy.thresholds))
        clock = _Clock(spec=spec, marks=marks)
        relevant = spec.relevant_kinds
        for event in ordered:
            if event.kind in relevant:
                clock.apply(event.kind, event.at)
        clock.finish(now_ms)
        clocks.append(clock)
    return clocks


def compute_sla(
    policy: Policy, events: Sequence[SlaEvent], now_ms: int, provisional: bool = False
) -> dict[str, TargetState]:
    """The state of every target of ``policy`` at ``now_ms``, keyed by target name."""
    # the state needs only the breach instant, not the warning thresholds
    clocks = _replay(policy, events, now_ms, percents=(100,))
    return {clock.spec.name: clock.state(now_ms, provisional) for clock in clocks}


def thresholds_crossed(policy: Policy, events: Sequence[SlaEvent], now_ms: int) -> list[tuple[str, int, int]]:
    """Every ``(target, percent, crossed_at)`` reached by ``now_ms``, ordered by time.

    Deterministic and monotonic in ``now_ms`` for a given log, so the scheduler
    can record each tuple exactly once; the one exception is a clock retired by a
    not-applicable event, whose crossings all disappear from then on (the
    scheduler withdraws what it announced). A reset run's crossings stay listed; a
    fresh run may cross the same percentage again at a later instant.
    """
    crossed: list[tuple[str, int, int]] = []
    for clock in _replay(policy, events, now_ms):
        crossed.extend((clock.spec.name, p, at) for p, at in clock.all_crossed + clock.run_crossed)
    order = {spec.name: i for i, spec in enumerate(policy.targets)}
    return sorted(crossed, key=lambda c: (c[2], order[c[0]], c[1]))


def next_threshold_at(policy: Policy, events: Sequence[SlaEvent], now_ms: int) -> int | None:
    """The next instant after ``now_ms`` at which a threshold is crossed if no event arrives."""
    upcoming = []
    for clock in _replay(policy, events, now_ms):
        at = clock.next_crossing()
        if at is not None:
            upcoming.append(at)
    return min(upcoming, default=None)
