"""SLA of stored tickets: the pure engine (``policy``, ``state``) applied to the database.

What lives here is the read side: the policy set in force, the ``sla`` object
of a ticket, the dispatcher's queue ordered by time left, and the compliance
report (JSON rows and CSV).  Recording warnings and breaches is the
scheduler's job (``server.scheduler.run_sla_tick``); it reuses the helpers
below so that both sides agree on which events count and which policy applies.

Provisional clocks: an engineer's tablet may hold field events (arrival,
completion) the server has not seen yet.  When an open job of the ticket is
assigned to an engineer who has enrolled devices but none of them synced in
the last 15 minutes (or none ever synced), every clock of the ticket is
reported with ``provisional=True``.  An engineer with no enrolled device
cannot have unsynced field events, so that alone does not make a clock
provisional.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from schemas import i18n
from schemas.domain import SlaTarget, TicketEvent
from schemas.instant import Instant
from server.domain.sla.calendar import Calendar
from server.domain.sla.due import DueTimes, due_times
from server.domain.sla.policy import (
    EVENT_KINDS,
    TARGET_NAMES,
    Policy,
    PolicyError,
    PolicySet,
    default_policies,
    format_duration,
    load_policies,
)
from server.domain.sla.state import SlaEvent, TargetState, compute_sla
from server.services import Services
from sync.storage import Row, Tx

__all__ = [
    "CLOSED_TICKET_STATUSES",
    "GROUP_BY",
    "OFFLINE_AFTER_MS",
    "QUEUE_STATES",
    "SLA_KINDS_SQL",
    "ComplianceReport",
    "ComplianceRow",
    "SlaQueueItem",
    "check_policies",
    "compliance_csv",
    "compliance_report",
    "due",
    "list_by_sla",
    "policies_as_dict",
    "policy_for",
    "policy_set",
    "provisional_tickets",
    "sla_events",
    "target_order",
    "ticket_sla",
]

OFFLINE_AFTER_MS = 15 * 60_000
CLOSED_TICKET_STATUSES = ("closed", "cancelled")
OPEN_CLOCK_STATES = ("running", "paused", "breached")
#: ``state`` filter of the queue: a clock state, ``at_risk`` (open, not breached, >= 75 % used) or ``idle``.
QUEUE_STATES = ("running", "paused", "breached", "at_risk", "idle")
GROUP_BY = ("priority", "engineer", "week")
AT_RISK_FRACTION = 0.75

#: The SLA event kinds as an SQL list literal (fixed vocabulary, no user input).
SLA_KINDS_SQL = ", ".join(f"'{k}'" for k in sorted(EVENT_KINDS))

# -- policies ---------------------------------------------------------------------------------------------


def policy_set(services: Services) -> PolicySet:
    """The policies in force: ``settings.sla_policy_file`` if set, else the defaults in ``sla_timezone``
    on the working days of ``sla_region``.

    Built once per configuration (file path, time zone, region, file mtime) and kept in
    ``services.sla_policies``;
    a broken policy file raises ``PolicyError`` (the scheduler calls this at
    startup so the server refuses to start with it).
    """
    settings = services.settings
    path = settings.sla_policy_file
    mtime = Path(path).stat().st_mtime if path else 0.0

    def build() -> PolicySet:
        if path:
            return load_policies(Path(path).read_text(encoding="utf-8"))
        return default_policies(settings.sla_timezone, region=settings.sla_region)

    return services.sla_policies.get((path, settings.sla_timezone, settings.sla_region, mtime), build)


def due(services: Services, priority: str, category: str, opened_ms: int) -> DueTimes:
    """Each target's due time for a ticket opened at ``opened_ms`` under the policies and calendars in force."""
    return due_times(policy_set(services), priority, category, opened_ms, services.settings.sla_timezone)


def policy_for(services: Services, ticket: Row) -> Policy:
    """The policy of one ticket row (``priority``, ``category``)."""
    return policy_set(services).for_ticket(ticket["priority"], ticket["category"])


def sla_events(ticket_status: str, events: Iterable[tuple[str, int]]) -> list[SlaEvent]:
    """The ``(kind, at)`` pairs of a ticket's timeline the SLA engine sees.

    Timeline kinds outside the SLA vocabulary (``job_assigned``, ``sla_warning_50``
    ...) are dropped.  ``cancelled`` is recorded per job, but it stops every clock,
    so it only counts once the ticket itself is cancelled (all its jobs are).
    """
    out = []
    for kind, at in events:
        if kind not in EVENT_KINDS:
            continue
        if kind == "cancelled" and ticket_status != "cancelled":
            continue
        out.append(SlaEvent(kind=kind, at=int(at)))
    return out


def _target(state: TargetState) -> SlaTarget:
    return SlaTarget(due_at=state.due_at, met_at=state.met_at, state=state.state, breached=state.breached,
                     paused_seconds=state.paused_seconds, provisional=state.provisional,
                     elapsed_fraction=round(state.elapsed_fraction, 6))


# -- provisional clocks ----------------------------------------------------------------------------------


def provisional_tickets(tx: Tx, ticket_subquery: str, params: Sequence[Any], now: int) -> set[str]:
    """Ids of tickets (from ``ticket_subquery``, a ``SELECT id ...``) whose clocks are provisional.

    Two queries whatever the number of tickets: open jobs with their engineer,
    then the freshest sync of each of those engineers over non-revoked devices.
    """
    jobs = tx.query(f"SELECT ticket_id, engineer_id FROM jobs WHERE status NOT IN ('closed', 'cancelled') "
                    f"AND ticket_id IN ({ticket_subquery})", params)
    if not jobs:
        return set()
    engineer_ids = sorted({j["engineer_id"] for j in jobs})
    marks = ", ".join("?" for _ in engineer_ids)
    devices = tx.query("SELECT engineer_id, MAX(last_sync_at) AS last_sync FROM devices "
                       f"WHERE revoked_at IS NULL AND engineer_id IN ({marks}) GROUP BY engineer_id", engineer_ids)
    offline = {d["engineer_id"] for d in devices
               if d["last_sync"] is None or int(d["last_sync"]) < now - OFFLINE_AFTER_MS}
    return {j["ticket_id"] for j in jobs if j["engineer_id"] in offline}


# -- one ticket ------------------------------------------------------------------------------------------


def ticket_sla(services: Services, ticket: Row, events: list[TicketEvent]) -> dict[str, SlaTarget]:
    """The ``sla`` object of a ticket: target name -> state of that clock now."""
    now = services.clock()
    policy = policy_for(services, ticket)
    with services.db.read() as tx:
        provisional = ticket["id"] in provisional_tickets(tx, "?", [ticket["id"]], now)
    states = compute_sla(policy, sla_events(ticket["status"], ((e.kind, e.at) for e in events)), now, provisional)
    return {name: _target(state) for name, state in states.items()}


def _tickets_with_states(
    services: Services, where: str, params: Sequence[Any], now: int
) -> list[tuple[Row, Policy, dict[str, TargetState]]]:
    """Tickets matching ``where`` (on table ``tickets``) with their SLA states; four queries in all."""
    subquery = f"SELECT id FROM tickets WHERE {where}"
    with services.db.read() as tx:
        tickets = tx.query(f"SELECT * FROM tickets WHERE {where} ORDER BY opened_at, id", params)
        if not tickets:
            return []
        events = tx.rows(f"SELECT ticket_id, kind, at FROM ticket_events WHERE kind IN ({SLA_KINDS_SQL}) "
                         f"AND ticket_id IN ({subquery})", params)
        provisional = provisional_tickets(tx, subquery, params, now)
    by_ticket: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for ticket_id, kind, at in events:
        by_ticket[ticket_id].append((kind, int(at)))
    out = []
    for t in tickets:
        policy = policy_for(services, t)
        evs = sla_events(t["status"], by_ticket.get(t["id"], []))
        out.append((t, policy, compute_sla(policy, evs, now, t["id"] in provisional)))
    return out


# -- the dispatcher's queue -------------------------------------------------------------------------------


class SlaQueueItem(msgspec.Struct, kw_only=True):
    """An open ticket with its most urgent SLA clock.

    ``target`` is the open clock (running, paused or breached) with the earliest
    due time; ``time_left_ms`` is negative once it is overdue.  A ticket with no
    open clock has ``target=None`` and ``state="idle"`` and sorts last.
    """

    ticket_id: str
    customer: str
    site: str
    priority: str
    category: str
    status: str
    opened_at: Instant
    engineer_ids: list[str]
    target: str | None
    state: str
    due_at: Instant | None
    time_left_ms: int | None
    elapsed_fraction: float
    breached: bool
    provisional: bool
    targets: dict[str, SlaTarget]


def list_by_sla(services: Services, state: str | None = None, priority: str | None = None,
                engineer_id: str | None = None) -> list[SlaQueueItem]:
    """Open tickets ordered by time left on their most urgent clock (overdue first, idle last)."""
    now = services.clock()
    where, params = "status NOT IN ('closed', 'cancelled')", []
    if priority:
        where += " AND priority = ?"
        params.append(priority)
    if engineer_id:
        where += " AND id IN (SELECT ticket_id FROM jobs WHERE engineer_id = ? AND status <> 'cancelled')"
        params.append(engineer_id)
    rows = _tickets_with_states(services, where, params, now)
    with services.db.read() as tx:
        engineers: dict[str, list[str]] = defaultdict(list)
        for j in tx.query(f"SELECT ticket_id, engineer_id FROM jobs WHERE status <> 'cancelled' AND ticket_id IN "
                          f"(SELECT id FROM tickets WHERE {where}) ORDER BY created_at, id", params):
            if j["engineer_id"] not in engineers[j["ticket_id"]]:
                engineers[j["ticket_id"]].append(j["engineer_id"])
    items = []
    for ticket, _policy, states in rows:
        open_clocks = [(name, s) for name, s in states.items() if s.state in OPEN_CLOCK_STATES and s.due_at is not None]
        provisional = any(s.provisional for s in states.values())
        urgent = min(open_clocks, key=lambda c: c[1].due_at or 0, default=None)
        if urgent is None:
            target, clock_state, due_at, left, fraction, breached = None, "idle", None, None, 0.0, False
        else:
            target, s = urgent
            clock_state, due_at, fraction, breached = s.state, s.due_at, s.elapsed_fraction, s.breached
            left = (due_at - now) if due_at is not None else None
        item = SlaQueueItem(
            ticket_id=ticket["id"], customer=ticket["customer"], site=ticket["site"], priority=ticket["priority"],
            category=ticket["category"], status=ticket["status"], opened_at=int(ticket["opened_at"]),
            engineer_ids=engineers.get(ticket["id"], []), target=target, state=clock_state, due_at=due_at,
            time_left_ms=left, elapsed_fraction=round(fraction, 6), breached=breached, provisional=provisional,
            targets={name: _target(s) for name, s in states.items()},
        )
        if state is None or _queue_state_matches(item, state):
            items.append(item)
    items.sort(key=lambda i: (i.time_left_ms is None, i.time_left_ms or 0, i.opened_at, i.ticket_id))
    return items


def _queue_state_matches(item: SlaQueueItem, wanted: str) -> bool:
    if wanted == "at_risk":
        return item.state in ("running", "paused") and item.elapsed_fraction >= AT_RISK_FRACTION
    return item.state == wanted


# -- compliance -------------------------------------------------------------------------------------------


class ComplianceRow(msgspec.Struct, kw_only=True):
    """Outcomes of one target within one group of tickets.

    ``met``: stopped on time. ``breached``: the deadline passed while the clock
    was open (met late, still open past due, or breached before a cancellation).
    ``open``: still running or paused within its deadline. ``not_started``: the
    clock has not started (e.g. a follow-up before resolution). ``not_applicable``:
    the clock was retired (on-site of a ticket resolved remotely).
    ``compliance``: met / (met + breached), None when neither happened yet.
    """

    group: str
    target: str
    tickets: int
    met: int = 0
    breached: int = 0
    open: int = 0
    not_started: int = 0
    not_applicable: int = 0
    compliance: float | None = None


class ComplianceReport(msgspec.Struct, kw_only=True):
    """SLA compliance of the tickets opened in ``[start, end)``, as of ``generated_at``."""

    start: Instant
    end: Instant
    group_by: str
    generated_at: Instant
    tickets: int
    rows: list[ComplianceRow]


def compliance_report(services: Services, start_ms: int, end_ms: int, group_by: str = "priority") -> ComplianceReport:
    """Met vs breached per target, per priority, engineer or ISO week, over tickets opened in the window.

    ``engineer``: a ticket counts for every engineer of its non-cancelled jobs
    (``unassigned`` when it has none). ``week``: the ISO week of ``opened_at``
    in the SLA time zone, e.g. ``2026-W38``.
    """
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BY)}")
    now = services.clock()
    where, params = "opened_at >= ? AND opened_at < ?", [start_ms, end_ms]
    rows = _tickets_with_states(services, where, params, now)
    engineers: dict[str, set[str]] = defaultdict(set)
    if group_by == "engineer":
        with services.db.read() as tx:
            for j in tx.query("SELECT ticket_id, engineer_id FROM jobs WHERE status <> 'cancelled' AND ticket_id IN "
                              f"(SELECT id FROM tickets WHERE {where})", params):
                engineers[j["ticket_id"]].add(j["engineer_id"])
    zone = ZoneInfo(services.settings.sla_timezone)
    cells: dict[tuple[str, str], ComplianceRow] = {}
    for ticket, _policy, states in rows:
        for group in _groups(ticket, group_by, engineers, zone):
            for name, s in states.items():
                cell = cells.setdefault((group, name), ComplianceRow(group=group, target=name, tickets=0))
                cell.tickets += 1
                if s.breached:
                    cell.breached += 1
                elif s.state == "met":
                    cell.met += 1
                elif s.state in ("running", "paused"):
                    cell.open += 1
                elif s.state == "not_started":
                    cell.not_started += 1
                elif s.state == "not_applicable":
                    cell.not_applicable += 1
    for cell in cells.values():
        decided = cell.met + cell.breached
        cell.compliance = round(cell.met / decided, 4) if decided else None
    order = target_order(policy_set(services))
    ordered = sorted(cells.values(), key=lambda c: (c.group, order.get(c.target, len(order)), c.target))
    return ComplianceReport(start=start_ms, end=end_ms, group_by=group_by, generated_at=now, tickets=len(rows),
                            rows=ordered)


def target_order(policies: PolicySet) -> dict[str, int]:
    """Every target name of the policies in force -> its reporting position (each policy's list order)."""
    order: dict[str, int] = {}
    for name in TARGET_NAMES:  # the default clocks first, as they always were
        order.setdefault(name, len(order))
    for policy in policies.policies.values():
        for spec in policy.targets:
            order.setdefault(spec.name, len(order))
    return order


def _groups(ticket: Row, group_by: str, engineers: dict[str, set[str]], zone: ZoneInfo) -> list[str]:
    if group_by == "priority":
        return ["complaint" if ticket["category"] == "complaint" else ticket["priority"]]
    if group_by == "engineer":
        return sorted(engineers.get(ticket["id"], set())) or ["unassigned"]
    iso = datetime.fromtimestamp(int(ticket["opened_at"]) / 1000, tz=UTC).astimezone(zone).isocalendar()
    return [f"{iso.year}-W{iso.week:02d}"]


COMPLIANCE_CSV_COLUMNS = ("group", "target", "tickets", "met", "breached", "open", "not_started", "not_applicable",
                          "compliance_pct")


def compliance_csv(report: ComplianceReport, locale: str = i18n.FALLBACK) -> str:
    """The report as CSV, one line per group and target; ``compliance_pct`` empty when undecided.

    Headed in ``locale``; English headers are the column ids scripts read.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([i18n.text(locale, "exports", f"sla_compliance.{c}") for c in COMPLIANCE_CSV_COLUMNS])
    for r in report.rows:
        pct = "" if r.compliance is None else f"{r.compliance * 100:.1f}"
        writer.writerow((r.group, r.target, r.tickets, r.met, r.breached, r.open, r.not_started, r.not_applicable,
                         pct))
    return out.getvalue()


# -- policies as JSON ------------------------------------------------------------------------------------


def policies_as_dict(policies: PolicySet) -> dict[str, Any]:
    """The policy set as plain JSON: calendars once, then each policy's thresholds and targets."""
    calendars: dict[str, Calendar] = {}
    out: dict[str, Any] = {}
    for name, policy in policies.policies.items():
        calendars[policy.calendar.name] = policy.calendar
        targets = {}
        for spec in policy.targets:
            calendars[spec.calendar.name] = spec.calendar
            targets[spec.name] = {
                "duration_ms": spec.duration_ms,
                "duration": format_duration(spec.duration_ms),
                "calendar": spec.calendar.name,
                "start": sorted(spec.start_on),
                "stop": sorted(spec.stop_on),
                "pause": sorted(spec.pause_on),
                "resume": sorted(spec.resume_on),
                "reopen": sorted(spec.reopen_on),
                "reset": sorted(spec.reset_on),
                "not_applicable": sorted(spec.void_on),
            }
        out[name] = {"calendar": policy.calendar.name, "thresholds": list(policy.thresholds), "targets": targets}
    calendars[policies.working_calendar.name] = policies.working_calendar
    return {"calendars": {name: _calendar_dict(cal) for name, cal in sorted(calendars.items())}, "policies": out,
            "working_calendar": policies.working_calendar.name,
            "kpi_targets": {name: {"min": t.min, "within": t.within_text or None, "within_ms": t.within_ms}
                            for name, t in policies.kpi_targets.items()}}


def _calendar_dict(cal: Calendar) -> dict[str, Any]:
    if cal.week is None:
        return {"tz": cal.tz, "hours": "24x7", "region": None, "holidays": [], "working_days": []}
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    hours = {day: [f"{o // 60:02d}:{o % 60:02d}-{c // 60:02d}:{c % 60:02d}" for o, c in spans]
             for day, spans in zip(days, cal.week, strict=True) if spans}
    return {"tz": cal.tz, "hours": hours, "region": cal.region.code if cal.region else None,
            "holidays": sorted(d.isoformat() for d in cal.holidays),
            "working_days": sorted(d.isoformat() for d in cal.working_days)}


def check_policies(services: Services) -> None:
    """Load the policies now so a broken policy file stops the server at startup, not at the first request."""
    try:
        policy_set(services)
    except (OSError, PolicyError) as exc:
        raise PolicyError(f"cannot load SLA policies from {services.settings.sla_policy_file!r}: {exc}") from exc
