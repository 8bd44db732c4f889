"""The SLA scheduler: records warnings and breaches as they fall due, on one leader process.

``start_scheduler`` runs an APScheduler 3 ``BackgroundScheduler`` (UTC) with
one interval job (``FIELDSYNC_SLA_TICK_S`` seconds, default 15).  Each run asks
the database for the ``sla-scheduler`` leader lock: on PostgreSQL that is a
session advisory lock held on a dedicated connection, so exactly one of
several server processes leads, and when the leader dies its session ends, the
lock frees and a follower takes over on its next tick.  SQLite has one server
process per file, which always leads.

``run_sla_tick`` is the work itself, a function of the database and the clock
only: for every open ticket it replays the event log
(``thresholds_crossed``) and records each crossing not yet in ``sla_marks``.
The mark insert (``ON CONFLICT DO NOTHING``) and the ticket event
(``sla_warning_50``, ``sla_warning_75``, ``sla_breach``, deterministic id) share
one transaction per ticket, and the event is written only when the insert
changed a row, so two leaders for a moment, a double run or a restart record
each warning or breach exactly once; deadlines missed while no process ran
fire once on the next tick, only the highest level of a clock first seen late
announced.  A late event that shows a recorded level was never reached
withdraws it (``sla_breach_withdrawn``/``sla_warning_withdrawn``, see
``_record_ticket``).  Each announcement and withdrawal is also written to the
webhook outbox in that transaction; the log line follows the commit.

A third job, every ``FIELDSYNC_WEBHOOK_TICK_S`` seconds (default 1), delivers
the webhook outbox (:func:`server.domain.webhooks.service.deliver_due`) on the
leader only; a claim's lease keeps two processes that both believe they lead
(for a moment, after a failover) from sending one event at the same time.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import msgspec
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]

from schemas.instant import Instant
from server.domain.complaints.service import open_low_rating_complaints
from server.domain.plans.service import run_plans_tick
from server.domain.sla import store as sla_store
from server.domain.sla.escalation import SlaMark, escalate, event_kind, withdrawn_kind
from server.domain.sla.policy import PolicyError
from server.domain.sla.service import SLA_KINDS_SQL, check_policies, policy_for, sla_events
from server.domain.sla.state import compute_sla, thresholds_crossed
from server.domain.tickets.service import add_event
from server.domain.webhooks.service import deliver_due, emit
from server.services import Services
from sync.storage import Row, Tx

__all__ = ["LEADER_LOCK", "LeaderStatus", "SlaScheduler", "leader_status", "lifecycle_tick", "run_sla_tick",
           "start_scheduler"]

log = logging.getLogger("fieldsync.sla")

LEADER_LOCK = "sla-scheduler"
DEFAULT_TICK_S = 15.0
TICK_ENV = "FIELDSYNC_SLA_TICK_S"
DEFAULT_PLANS_TICK_S = 60.0
PLANS_TICK_ENV = "FIELDSYNC_PLANS_TICK_S"  # inspection plans + low-rating complaints (lifecycle_tick)
DEFAULT_WEBHOOK_TICK_S = 1.0
WEBHOOK_TICK_ENV = "FIELDSYNC_WEBHOOK_TICK_S"

_OPEN = "status NOT IN ('closed', 'cancelled')"

_running: dict[int, SlaScheduler] = {}
_running_lock = threading.Lock()


class SlaScheduler(BackgroundScheduler):  # type: ignore[misc]
    """A ``BackgroundScheduler`` that remembers whether this process led on its last tick."""

    def __init__(self, services: Services) -> None:
        super().__init__(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                       "misfire_grace_time": None})
        self.services = services
        self.leader = False
        self.last_check_at: int | None = None  # last time this process asked for the lock
        self.last_tick_at: int | None = None  # last time it completed a tick as the leader

    def tick(self) -> None:
        """One scheduled run: lead and record, or stay a follower this time."""
        try:
            leader = self.services.db.try_leader_lock(LEADER_LOCK)
        except Exception:
            log.exception("SLA scheduler: leader lock check failed")
            leader = False
        self.last_check_at = self.services.clock()
        if leader != self.leader:
            role = "the leader" if leader else "a follower"
            log.info("SLA scheduler: this process (pid %d) is %s", os.getpid(), role)
        self.leader = leader
        if not leader:
            return
        try:
            run_sla_tick(self.services)
            self.last_tick_at = self.services.clock()
        except Exception:
            log.exception("SLA tick failed; retrying on the next run")

    def lifecycle_tick(self) -> None:
        """Inspection plans and low-rating complaints (:func:`lifecycle_tick`), on the leader only."""
        try:
            if not self.services.db.try_leader_lock(LEADER_LOCK):
                return
            lifecycle_tick(self.services)
        except Exception:
            log.exception("lifecycle tick failed; retrying on the next run")

    def webhook_tick(self) -> None:
        """Deliver the webhook outbox's due events, on the leader only."""
        if not self.services.settings.webhook_url:
            return
        try:
            if not self.services.db.try_leader_lock(LEADER_LOCK):
                return
            deliver_due(self.services)
        except Exception:
            log.exception("webhook delivery failed; retrying on the next run")

    def shutdown(self, wait: bool = True) -> None:
        with _running_lock:
            if _running.get(id(self.services)) is self:
                del _running[id(self.services)]
        super().shutdown(wait=wait)


def lifecycle_tick(services: Services, now: int | None = None) -> dict[str, Any]:
    """The scheduler's lifecycle job: generate due inspections, open complaints for low sign-off ratings."""
    now = services.clock() if now is None else now
    return {"visits": run_plans_tick(services, now), "complaints": open_low_rating_complaints(services, now)}


def start_scheduler(services: Services, *, interval_s: float | None = None) -> SlaScheduler:
    """Start the SLA scheduler (first tick at once); returns it so the app can shut it down.

    ``interval_s`` defaults to ``$FIELDSYNC_SLA_TICK_S`` or 15 s.  A policy file
    that cannot be loaded raises here, so the server does not start with it.
    """
    check_policies(services)
    if interval_s is None:
        interval_s = float(os.environ.get(TICK_ENV) or DEFAULT_TICK_S)
    if interval_s <= 0:
        raise ValueError(f"SLA tick interval must be positive, got {interval_s}")
    chatter = logging.getLogger("apscheduler.executors.default")
    if chatter.level == logging.NOTSET:  # one INFO line per run is noise at a 15 s interval
        chatter.setLevel(logging.WARNING)
    sched = SlaScheduler(services)
    sched.add_job(sched.tick, "interval", seconds=interval_s, id="sla-tick", next_run_time=datetime.now(UTC))
    plans_s = float(os.environ.get(PLANS_TICK_ENV) or DEFAULT_PLANS_TICK_S)
    sched.add_job(sched.lifecycle_tick, "interval", seconds=max(plans_s, 0.1), id="plans-tick",
                  next_run_time=datetime.now(UTC))
    if services.settings.webhook_url and not services.settings.webhook_secret:
        log.warning("FIELDSYNC_WEBHOOK is set without FIELDSYNC_WEBHOOK_SECRET: webhooks are sent unsigned")
    hooks_s = float(os.environ.get(WEBHOOK_TICK_ENV) or DEFAULT_WEBHOOK_TICK_S)
    sched.add_job(sched.webhook_tick, "interval", seconds=max(hooks_s, 0.1), id="webhooks",
                  next_run_time=datetime.now(UTC))
    sched.start()
    with _running_lock:
        _running[id(services)] = sched
    log.info("SLA scheduler started (every %.3g s)", interval_s)
    return sched


class LeaderStatus(msgspec.Struct, kw_only=True):
    """This process's SLA scheduler: running, leading, when it last asked for the lock and last ticked."""

    scheduler: bool
    leader: bool
    last_check_at: Instant | None
    last_tick_at: Instant | None
    pid: int


def leader_status(services: Services) -> dict[str, Any]:
    """Whether this process runs a scheduler and led on its last tick (for ops and tests)."""
    with _running_lock:
        sched = _running.get(id(services))
    return {
        "scheduler": sched is not None,
        "leader": bool(sched and sched.leader),
        "last_check_at": sched.last_check_at if sched else None,
        "last_tick_at": sched.last_tick_at if sched else None,
        "pid": os.getpid(),
    }


def run_sla_tick(services: Services, now: int | None = None) -> list[SlaMark]:
    """Record every threshold crossed by ``now`` and not recorded yet; return the new marks.

    Three reads for all open tickets (tickets, their SLA events, their marks);
    a write transaction only for tickets with something new, which re-reads
    that ticket's log under the write so the decision matches the commit.
    """
    now = services.clock() if now is None else now
    with services.db.read() as tx:
        tickets = tx.query(f"SELECT id, priority, category, status, customer, site FROM tickets WHERE {_OPEN} "
                           "ORDER BY opened_at, id")
        if not tickets:
            return []
        events = tx.rows(f"SELECT ticket_id, kind, at FROM ticket_events WHERE kind IN ({SLA_KINDS_SQL}) "
                         f"AND ticket_id IN (SELECT id FROM tickets WHERE {_OPEN})")
        marks = sla_store.open_marks(tx, f"SELECT id FROM tickets WHERE {_OPEN}")
    by_ticket: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for ticket_id, kind, at in events:
        by_ticket[ticket_id].append((kind, int(at)))
    standing: dict[str, set[tuple[str, int]]] = defaultdict(set)  # levels recorded and not withdrawn
    for m in marks:
        if m["withdrawn_at"] is None:
            standing[m["ticket_id"]].add((m["target"], int(m["threshold"])))
    new: list[SlaMark] = []
    for ticket in tickets:
        try:
            due = _due_marks(services, ticket, by_ticket.get(ticket["id"], []), now)
        except PolicyError as exc:
            log.error("SLA tick: ticket %s skipped: %s", ticket["id"], exc.message)
            continue
        # new levels to record, or recorded ones a late event took back: only then take the write lock
        if {(mark, pct) for mark, _target, pct, _at in due} == standing[ticket["id"]]:
            continue
        fresh = _record_ticket(services, ticket["id"], now)
        if fresh:
            escalate(fresh)  # log lines, after the commit (the webhooks are in the outbox)
            new.extend(fresh)
    return new


def _due_marks(services: Services, ticket: Row, events: list[tuple[str, int]],
               now: int) -> list[tuple[str, str, int, int]]:
    """``(mark key, target, percent, crossed_at)`` for every crossing of the ticket by ``now``.

    A clock that was reset and runs again crosses the same percentage again:
    its n-th crossing is stored under ``target#n`` so each run is recorded once.
    """
    policy = policy_for(services, ticket)
    seen: Counter[tuple[str, int]] = Counter()
    out = []
    for target, pct, at in thresholds_crossed(policy, sla_events(ticket["status"], events), now):
        seen[(target, pct)] += 1
        n = seen[(target, pct)]
        out.append((target if n == 1 else f"{target}#{n}", target, pct, at))
    return out


def _record_ticket(services: Services, ticket_id: str, now: int) -> list[SlaMark]:
    """In one transaction: re-read the ticket's log and marks, record new levels, withdraw those not reached.

    A level is announced (timeline event, escalation) once.  A clock run seen for
    the first time with several levels already crossed (a ticket entered late,
    a follow-up synced a day late) announces only the highest; the lower ones are
    recorded silently so they never fire later.  A recorded level the replayed
    log no longer reaches (a late sync shows the clock was met in time) is
    withdrawn: an ``sla_breach_withdrawn`` / ``sla_warning_withdrawn`` event and
    escalation, and the announcing event's data gains ``withdrawn_at`` and
    ``withdrawn_by``.  A level reached again after a withdrawal is announced again.
    """
    fresh: list[SlaMark] = []
    with services.db.write() as tx:
        ticket = tx.lock("SELECT id, priority, category, status, customer, site FROM tickets WHERE id = ?",
                         (ticket_id,))
        if ticket is None or ticket["status"] in ("closed", "cancelled"):
            return []
        events = _events(tx, ticket_id)
        due = _due_marks(services, ticket, events, now)
        recorded = {(r["target"], int(r["threshold"])): r for r in sla_store.marks_of(tx, ticket_id)}
        standing_runs = {mark for (mark, _pct), r in recorded.items() if r["withdrawn_at"] is None}
        todo = [d for d in due if (d[0], d[2]) not in recorded or recorded[(d[0], d[2])]["withdrawn_at"] is not None]
        highest: dict[str, int] = {}
        for mark, _target, pct, _at in todo:
            highest[mark] = max(pct, highest.get(mark, 0))

        def mark_of(target: str, mark: str, pct: int, at: int, event_id: str, **extra: Any) -> SlaMark:
            return SlaMark(ticket_id=ticket_id, target=target, mark=mark, threshold=pct, crossed_at=at,
                           recorded_at=now, event_id=event_id, priority=ticket["priority"],
                           customer=ticket["customer"], site=ticket["site"], **extra)

        for mark, target, pct, at in todo:
            fire = mark in standing_runs or pct == highest[mark]
            if (mark, pct) in recorded:  # withdrawn before, reached again
                event_id = f"E-sla-{ticket_id}-{mark}-{pct}-{now}"
                done = sla_store.refire_mark(tx, ticket_id, mark, pct, at, now, fire, event_id if fire else None)
            else:
                event_id = f"E-sla-{ticket_id}-{mark}-{pct}"
                done = sla_store.insert_mark(tx, ticket_id, mark, pct, at, now, fire, event_id if fire else None)
            if not done or not fire:
                continue
            data: dict[str, Any] = {"target": target, "threshold": pct}
            if mark != target:
                data["run"] = int(mark.rsplit("#", 1)[1])
            add_event(tx, ticket_id, event_kind(pct), at, now, source="sla", data=data, event_id=event_id)
            fresh.append(mark_of(target, mark, pct, at, event_id))

        reached = {(mark, pct) for mark, _target, pct, _at in due}
        gone = [(key, r) for key, r in recorded.items() if r["withdrawn_at"] is None and key not in reached]
        if gone:
            states = compute_sla(policy_for(services, ticket), sla_events(ticket["status"], events), now)
        for (mark, pct), r in sorted(gone, key=lambda g: (g[0][0], g[0][1])):
            if not sla_store.withdraw_mark(tx, ticket_id, mark, pct, now) or not r["fired"]:
                continue
            target = mark.split("#", 1)[0]
            original = r["event_id"] or f"E-sla-{ticket_id}-{mark}-{pct}"
            withdrawal = f"E-slaw-{ticket_id}-{mark}-{pct}-{now}"
            state = states.get(target)
            met_at = state.met_at if state is not None else None
            data = {"target": target, "threshold": pct, "withdraws": original, "met_at": met_at}
            add_event(tx, ticket_id, withdrawn_kind(pct), now, now, source="sla", data=data, event_id=withdrawal)
            sla_store.mark_event_withdrawn(tx, original, {"withdrawn_at": now, "withdrawn_by": withdrawal})
            fresh.append(mark_of(target, mark, pct, int(r["crossed_at"]), withdrawal, withdraws=original,
                                 met_at=met_at))
        for m in fresh:  # the webhooks, in the transaction that records the marks (id: the timeline event's)
            emit(tx, m.event_id, m.kind, {k: v for k, v in m.payload().items() if k != "event"}, now)
    return fresh


def _events(tx: Tx, ticket_id: str) -> list[tuple[str, int]]:
    rows = tx.query(f"SELECT kind, at FROM ticket_events WHERE ticket_id = ? AND kind IN ({SLA_KINDS_SQL})",
                    (ticket_id,))
    return [(r["kind"], int(r["at"])) for r in rows]
