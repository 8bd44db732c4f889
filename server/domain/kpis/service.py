"""Service quality figures over a period: first-time fix, remote resolution, response times, parts, satisfaction.

All figures are derived at read time from the records the service keeps, for
tickets opened in ``[from, to)`` (cancelled ones left out), grouped by
engineer, customer or priority (complaints as their own group):

- ``first_time_fix_rate``: resolved tickets fixed with one visit (one
  non-cancelled job, never reopened) / resolved tickets.  Complaints are not fixes: they count in
  neither side of this rate nor of the remote share (a complaint closed on the customer's
  confirmation is not a failed first-time fix).
- ``remote_share``: resolved tickets whose resolving job was resolved remotely (a ``remote_resolved``
  event: completed without anyone on site, on the tablet or by the office) / resolved tickets.
- ``mean_respond_min``, ``mean_arrive_min``, ``mean_restore_min``: from the
  ticket's opening to its first response (acknowledged, en route, on site or
  completed), first arrival on site and first completion, in minutes of
  *working time* on the calendar the ticket's SLA clock for it runs on (its
  policy's ``respond``, ``on_site`` and ``resolve`` target; the policy's
  calendar when it has no such target), read from the timeline (device events
  carry corrected times).  So a P3 job opened Friday 16:00 and answered Monday
  09:00 on 08:00-17:00 took 2 h, as its SLA counts it; on 24x7 policies (P1,
  P2, complaints by default) working time is wall time.  Time on hold is not
  taken off: these measure what the customer waited for, in working time.
  Planned inspections have no response target and are left out of these three.
- ``parts_availability``: share of consumptions after which the van's stock of
  that part (ledger order, server time) was not negative.
- ``satisfaction``: mean of every rating recorded (sign-off and follow-up call).

Targets: :mod:`server.domain.kpis.targets` (the plans' defaults, the policy file, an admin's).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any, Final

from schemas import i18n
from server.domain.kpis import store
from server.domain.sla.calendar import Calendar, working_ms_between
from server.domain.sla.policy import Policy
from server.domain.sla.service import policy_for
from server.errors import BadRequest, Msg
from server.services import Services
from sync.storage import Row, Tx

GROUP_BY: Final = ("engineer", "customer", "priority", "all")
RESPONSE_KINDS: Final = ("acknowledged", "en_route", "on_site", "completed")
COLUMNS: Final = ("group", "tickets", "resolved", "first_time_fix_rate", "remote_share", "mean_respond_min",
                  "mean_arrive_min", "mean_restore_min", "consumptions", "parts_availability", "ratings",
                  "satisfaction")


class _Cell:
    def __init__(self) -> None:
        self.tickets = 0
        self.resolved = 0
        self.fixes = 0  # resolved tickets that are not complaints: what first-time fix and remote share count
        self.first_time = 0
        self.remote = 0
        self.respond: list[int] = []
        self.arrive: list[int] = []
        self.restore: list[int] = []
        self.consumptions = 0
        self.available = 0
        self.ratings: list[int] = []

    def row(self, group: str) -> dict[str, Any]:
        def mean_min(xs: list[int]) -> float | None:
            return round(sum(xs) / len(xs) / 60_000, 1) if xs else None

        def share(n: int, d: int) -> float | None:
            return round(n / d, 4) if d else None

        return {"group": group, "tickets": self.tickets, "resolved": self.resolved,
                "first_time_fix_rate": share(self.first_time, self.fixes),
                "remote_share": share(self.remote, self.fixes), "mean_respond_min": mean_min(self.respond),
                "mean_arrive_min": mean_min(self.arrive), "mean_restore_min": mean_min(self.restore),
                "consumptions": self.consumptions, "parts_availability": share(self.available, self.consumptions),
                "ratings": len(self.ratings),
                "satisfaction": round(sum(self.ratings) / len(self.ratings), 2) if self.ratings else None}


def _stock_after(tx: Tx, consumptions: list[Row]) -> dict[str, int]:
    """Van stock of the part right after each consumption (by movement id), in ledger order."""
    vans = sorted({m["from_location"] for m in consumptions if m["from_location"]})
    if not vans:
        return {}
    rows = store.van_movements(tx, vans)
    level: dict[tuple[str, str], int] = defaultdict(int)
    after_batch: dict[str, int] = {}
    batch: list[Row] = []

    def close_batch() -> None:
        for b in batch:
            if b["from_location"]:
                after_batch[b["id"]] = level[(b["from_location"], b["part_no"])]
        batch.clear()

    last_at = None
    for r in rows:
        if last_at is not None and r["recorded_at"] != last_at:
            close_batch()
        last_at = r["recorded_at"]
        if r["to_location"] in vans:
            level[(r["to_location"], r["part_no"])] += int(r["qty"])
        if r["from_location"] in vans:
            level[(r["from_location"], r["part_no"])] -= int(r["qty"])
        batch.append(r)
    close_batch()
    return after_batch


def first_time_fix(live_jobs: list[Row], events: list[Row]) -> bool:
    """Fixed with one visit: one job not cancelled, never reopened."""
    return len(live_jobs) == 1 and not any(e["kind"] == "reopened" for e in events)


def resolved_remotely(events: list[Row], completed: Row) -> bool:
    """The job that resolved the ticket was resolved remotely (``remote_resolved``, nobody on site)."""
    return any(e["kind"] == "remote_resolved" and e["job_id"] == completed["job_id"] for e in events)


def _calendar(policy: Policy, target: str) -> Calendar:
    """The calendar the policy's ``target`` clock measures on (the policy's own when it has no such clock)."""
    return next((spec.calendar for spec in policy.targets if spec.name == target), policy.calendar)


def compute_kpis(services: Services, start: int, end: int, group_by: str = "all") -> dict[str, Any]:
    """The KPI rows of tickets opened in ``[start, end)``, one per group."""
    if group_by not in GROUP_BY:
        raise BadRequest("invalid_parameter", Msg("one_of", {"name": "group_by", "choices": ", ".join(GROUP_BY)}))
    if end <= start:
        raise BadRequest("invalid_parameter", Msg("after", {"later": "to", "earlier": "from"}))
    with services.db.read() as tx:
        tickets = store.tickets(tx, start, end)
        jobs = store.jobs(tx, start, end)
        events = store.timeline_events(tx, start, end)
        moves = store.consumptions(tx, start, end)
        after = _stock_after(tx, moves)
        ratings = store.signoff_ratings(tx, start, end) + store.followup_ratings(tx, start, end)
    by_ticket_jobs: dict[str, list[Row]] = defaultdict(list)
    job_by_id: dict[str, Row] = {}
    for j in jobs:
        by_ticket_jobs[j["ticket_id"]].append(j)
        job_by_id[j["id"]] = j
    by_ticket_events: dict[str, list[Row]] = defaultdict(list)
    for e in events:
        by_ticket_events[e["ticket_id"]].append(e)
    ticket_by_id = {t["id"]: t for t in tickets}

    def groups_of(t: Row, engineer: str | None = None) -> list[str]:
        if group_by == "all":
            return ["all"]
        if group_by == "customer":
            return [t["customer"]]
        if group_by == "priority":
            return ["complaint" if t["category"] == "complaint" else t["priority"]]
        if engineer is not None:
            return [engineer]
        engs = sorted({j["engineer_id"] for j in by_ticket_jobs.get(t["id"], []) if j["status"] != "cancelled"})
        return engs or ["unassigned"]

    cells: dict[str, _Cell] = defaultdict(_Cell)
    for t in tickets:
        evs = by_ticket_events.get(t["id"], [])
        live_jobs = [j for j in by_ticket_jobs.get(t["id"], []) if j["status"] != "cancelled"]
        opened = next((int(e["at"]) for e in evs if e["kind"] == "opened"), int(t["opened_at"]))
        completed = next((e for e in evs if e["kind"] == "completed"), None)
        respond = next((int(e["at"]) for e in evs if e["kind"] in RESPONSE_KINDS), None)
        arrive = next((int(e["at"]) for e in evs if e["kind"] == "on_site"), None)
        waited: dict[str, int] = {}  # working ms from opening, per measure (planned inspections have none)
        if t["category"] != "inspection":
            policy = policy_for(services, t)
            for measure, target, at in (("respond", "respond", respond), ("arrive", "on_site", arrive),
                                        ("restore", "resolve", int(completed["at"]) if completed else None)):
                if at is not None:
                    waited[measure] = working_ms_between(_calendar(policy, target), opened, at)
        for g in groups_of(t):
            c = cells[g]
            c.tickets += 1
            if completed is not None:
                c.resolved += 1
            if completed is not None and t["category"] != "complaint":
                c.fixes += 1
                if first_time_fix(live_jobs, evs):
                    c.first_time += 1
                if resolved_remotely(evs, completed):
                    c.remote += 1
            for measure, ms in waited.items():
                getattr(c, measure).append(ms)
    for m in moves:
        job = job_by_id[m["job_id"]]
        for g in groups_of(ticket_by_id[job["ticket_id"]], job["engineer_id"]):
            c = cells[g]
            c.consumptions += 1
            if after.get(m["id"], 0) >= 0:
                c.available += 1
    for r in ratings:
        t = ticket_by_id[r["ticket_id"]]
        for g in groups_of(t, r["engineer_id"]):
            cells[g].ratings.append(int(r["rating"]))
    return {"from": start, "to": end, "group_by": group_by, "generated_at": services.clock(),
            "rows": [cells[g].row(g) for g in sorted(cells)]}


def kpis_csv(report: dict[str, Any], locale: str = i18n.FALLBACK) -> str:
    """The KPI rows as CSV (empty cells where a figure is undefined), headed in ``locale``.

    English headers are the column ids scripts read; the ``exports`` catalogs hold every locale's.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([i18n.text(locale, "exports", f"kpis.{c}") for c in COLUMNS])
    for row in report["rows"]:
        writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
    return out.getvalue()
