"""Preventive inspection plans: recurring visits per asset or site, generated ahead of time by the scheduler.

A plan recurs every N months from ``start_at`` (1 monthly, 3 quarterly, 6 twice
a year) or on a fixed list of calendar dates, until ``end_at``; it names the
engineer and the checklist template of its inspections.  ``run_plans_tick``
(the scheduler's second job, leader only) creates, ``lead_days`` before each
due date, an ``inspection`` ticket with one job pinned to the template and
scheduled on the due date.  Each (plan, period) is claimed by inserting its
``plan_visits`` row with ``ON CONFLICT DO NOTHING`` in the same transaction as
the ticket and job, so a restart, a double run or a second server never
creates a duplicate: the loser's insert changes no row and it writes nothing.

A visit never falls on a non-working day of the working calendar (the P3
policy's calendar unless the policy file names a ``working_calendar``: the
region's public holidays, local closures, weekends): it moves to the next
working day at the same wall time.  Its period stays the nominal date.

A plan with ``notice_days`` gives notice in *working* days instead: the visit's
ticket is made ``notice_days`` working days of that calendar before its (moved)
due date -- from the start of that day -- and its ``planned`` timeline event
(webhook ``inspection_planned``) is the notice to the customer's integrations.

Planned visits are measured against their due date (``GET /v1/plans?overdue=1``),
not against the reactive SLA clocks: their tickets carry a ``planned`` event,
not an ``opened`` one, so respond/on-site/resolve clocks do not start; the
follow-up after the visit runs as for any resolved ticket.  The visit's
inspection report is the job's service report (``/v1/jobs/{id}/report.pdf``).
"""

from __future__ import annotations

import calendar
import json
import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo

import msgspec

from schemas.instant import Instant, InstantIn, epoch_ms_or_none
from server.domain.certifications.service import certification_gap
from server.domain.customers.service import resolve as resolve_customer
from server.domain.plans import store
from server.domain.records import publish_job_bundle
from server.domain.sla.calendar import CALENDAR_24X7, Calendar, is_working_day, next_working_day
from server.domain.sla.service import policy_set
from server.domain.tickets.service import add_event
from server.errors import BadRequest, Conflict, Forbidden, NotFound
from server.ids import new_id
from server.services import Services
from sync.storage import Row, Tx

if TYPE_CHECKING:
    from server.security import Staff

log = logging.getLogger("fieldsync.plans")

DAY_MS: Final = 86_400_000
MAX_PERIODS: Final = 600  # 50 years of monthly visits: a bound on any one plan's schedule
MAX_NEW_PER_PLAN: Final = 24  # per tick, so a plan started far in the past catches up in bounded steps
DONE_JOB_STATUSES: Final = ("completed", "signed_off", "closed")

IsoDate = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class PlanIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A recurring inspection plan for an asset (``asset_serial``) or a site (``customer`` + ``site``).

    Exactly one of ``every_months`` (first visit due at ``start_at``) and
    ``dates`` (calendar dates in the SLA time zone).
    """

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    engineer_id: Id
    asset_serial: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    customer: Annotated[str, msgspec.Meta(max_length=200)] = ""
    site: Annotated[str, msgspec.Meta(max_length=200)] = ""
    every_months: Annotated[int, msgspec.Meta(ge=1, le=60)] | None = None
    dates: Annotated[list[IsoDate], msgspec.Meta(max_length=366)] = []
    start_at: InstantIn | None = None
    end_at: InstantIn | None = None
    checklist_template: Id | None = None
    lead_days: Annotated[int, msgspec.Meta(ge=0, le=365)] = 14
    priority: Literal["P1", "P2", "P3"] = "P3"
    override: bool = False
    override_reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    #: the customer record and its site (preferred to the names ``customer`` and ``site``)
    customer_id: Id | None = None
    site_id: Id | None = None
    #: notice in *working* days of the working calendar: the visit's ticket is made (and announced) this many
    #: working days before its due date; None: ``lead_days`` calendar days
    notice_days: Annotated[int, msgspec.Meta(ge=0, le=60)] | None = None


class PlanVisit(msgspec.Struct, kw_only=True):
    """One period of a plan: its due date and, once generated, its ticket, job and report."""

    period: str
    due_at: Instant
    ticket_id: str | None
    job_id: str | None
    job_status: str | None
    done: bool
    overdue: bool
    report_url: str | None


class Plan(msgspec.Struct, kw_only=True):
    """A plan with its generated visits and what is due next."""

    id: str
    name: str
    asset_serial: str | None
    customer: str
    site: str
    every_months: int | None
    dates: list[str]
    start_at: Instant
    end_at: Instant | None
    checklist_template: str | None
    engineer_id: str
    lead_days: int
    priority: str
    active: bool
    created_at: Instant
    next_due_at: Instant | None
    overdue: bool
    visits: list[PlanVisit]
    notice_days: int | None = None


# -- schedule ---------------------------------------------------------------------------------------------


def _add_months(start: datetime, months: int) -> datetime:
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def _working(due: datetime, working: Calendar) -> int:
    """Epoch ms of ``due``, moved to the next working day (same wall time) when its day is not one."""
    day = next_working_day(working, due.date())
    return int(due.replace(year=day.year, month=day.month, day=day.day).timestamp() * 1000)


def due_dates(plan: Row, until_ms: int, tz: str, working: Calendar = CALENDAR_24X7) -> list[tuple[str, int]]:
    """``(period, due_at)`` of the plan's visits due at or before ``until_ms`` (period = nominal local due date).

    The plan's end bounds the nominal dates; ``due_at`` is on a working day of ``working``.
    """
    zone = ZoneInfo(tz)
    end = plan["end_at"]
    out: list[tuple[str, int]] = []
    if plan["every_months"]:
        start = datetime.fromtimestamp(int(plan["start_at"]) / 1000, tz=UTC).astimezone(zone)
        for k in range(MAX_PERIODS):
            due = _add_months(start, k * int(plan["every_months"]))
            due_ms = int(due.timestamp() * 1000)
            if due_ms > until_ms or (end is not None and due_ms > int(end)):
                break
            if (moved := _working(due, working)) <= until_ms:
                out.append((due.date().isoformat(), moved))
    else:
        for d in sorted(set(json.loads(plan["dates"]))):
            due = datetime.combine(date.fromisoformat(d), datetime.min.time(), zone)
            due_ms = int(due.timestamp() * 1000)
            if (end is None or due_ms <= int(end)) and (moved := _working(due, working)) <= until_ms:
                out.append((d, moved))
    return out


def notice_at(due_ms: int, notice_days: int, tz: str, working: Calendar) -> int:
    """The start (local midnight) of the working day ``notice_days`` working days before the due date's day."""
    zone = ZoneInfo(tz)
    day = datetime.fromtimestamp(due_ms / 1000, tz=UTC).astimezone(zone).date()
    counted = 0
    for _ in range(notice_days * 7 + 400):  # bounded: no calendar closes that long
        if counted == notice_days:
            break
        day -= timedelta(days=1)
        if is_working_day(working, day):
            counted += 1
    return int(datetime.combine(day, datetime.min.time(), zone).timestamp() * 1000)


def announced(plan: Row, now: int, tz: str, working: Calendar) -> list[tuple[str, int]]:
    """``(period, due_at)`` of the visits whose notice has begun at ``now``: ``notice_days`` working days (or
    ``lead_days`` calendar days) before their due date."""
    if plan.get("notice_days") is None:
        return due_dates(plan, now + int(plan["lead_days"]) * DAY_MS, tz, working)
    days = int(plan["notice_days"])
    horizon = now + (days * 2 + 40) * DAY_MS  # more calendar days than any notice of ``days`` working days spans
    return [(p, d) for p, d in due_dates(plan, horizon, tz, working) if notice_at(d, days, tz, working) <= now]


def next_due(plan: Row, after_ms: int, tz: str, working: Calendar = CALENDAR_24X7) -> int | None:
    """The first due date after ``after_ms`` (None when the plan has ended)."""
    horizon = after_ms + 5 * 366 * DAY_MS
    return next((due for _, due in due_dates(plan, horizon, tz, working) if due > after_ms), None)


def _working_calendar(services: Services) -> Calendar:
    return policy_set(services).working_calendar


# -- plans ------------------------------------------------------------------------------------------------


def create_plan(services: Services, data: PlanIn, staff: Staff) -> Plan:
    """Validate and store a plan (the engineer must be certified for the asset, unless an admin overrides)."""
    if (data.every_months is None) == (not data.dates):
        raise BadRequest("bad_schedule", "give either every_months (with start_at) or a list of dates")
    if data.every_months is not None and data.start_at is None:
        raise BadRequest("bad_schedule", "every_months needs start_at, the first due date")
    for d in data.dates:
        try:
            date.fromisoformat(d)
        except ValueError:
            raise BadRequest("bad_schedule", f"{d!r} is not a calendar date (YYYY-MM-DD)") from None
    tz = services.settings.sla_timezone
    start_at, end_at = epoch_ms_or_none(data.start_at), epoch_ms_or_none(data.end_at)
    if start_at is None:
        first = min(data.dates)
        start_at = int(datetime.combine(date.fromisoformat(first), datetime.min.time(), ZoneInfo(tz)).timestamp()
                       * 1000)
    if end_at is not None and end_at < start_at:
        raise BadRequest("bad_schedule", "end_at is before the first due date")
    now = services.clock()
    pid = new_id("PL-")
    with services.db.write() as tx:
        customer, site, equipment_type = data.customer, data.site, None
        customer_id, site_id = data.customer_id, data.site_id
        if data.asset_serial:
            asset = store.asset(tx, data.asset_serial)
            if asset is None:
                raise NotFound("unknown_asset", f"no asset {data.asset_serial!r}")
            if customer_id is None and not customer.strip():
                customer, customer_id = asset["customer"], asset["customer_id"]
                if site_id is None and not site.strip():
                    site, site_id = asset["site"], asset["site_id"]
            site = site or asset["site"]
            equipment_type = (asset["equipment_type"] or "").strip().lower() or None
        if (customer_id is None and not customer.strip()) or (site_id is None and not site.strip()):
            raise BadRequest("plan_target_required", "a plan names an asset_serial, or a customer and a site")
        who = resolve_customer(tx, customer_id, customer if customer_id is None else "", site_id,
                               site if site_id is None else "", staff.name, now)
        customer, site = who.customer, who.site
        if not store.engineer_is_active(tx, data.engineer_id):
            raise NotFound("unknown_engineer", f"no active engineer {data.engineer_id!r}")
        if data.checklist_template and not store.template_exists(tx, data.checklist_template):
            raise NotFound("unknown_template", f"no checklist template {data.checklist_template!r}")
        override = None
        if equipment_type:
            gap = certification_gap(tx, data.engineer_id, equipment_type, max(now, start_at))
            if gap is not None:
                if not data.override:
                    raise Conflict("engineer_not_certified", gap["detail"], engineer_id=data.engineer_id,
                                   equipment_type=equipment_type, expires_at=gap["expires_at"])
                if staff.role != "admin":
                    raise Forbidden("override_forbidden", "only an admin may plan an engineer who is not certified")
                if not data.override_reason.strip():
                    raise BadRequest("override_reason_required", "an override needs a reason (override_reason)")
                override = {"reason": data.override_reason.strip(), "by": staff.name, "refusal": gap["detail"]}
        if override:
            log.warning("plan %s: certification override by %s: %s", pid, staff.name, override["reason"])
        store.insert_plan(tx, pid, data.name, data.asset_serial, customer, site, data.every_months,
                          json.dumps(sorted(set(data.dates))), start_at, end_at, data.checklist_template,
                          data.engineer_id, data.lead_days, data.priority, now, staff.name, who.customer_id,
                          who.site_id, data.notice_days)
    return get_plan(services, pid)


def deactivate_plan(services: Services, plan_id: str) -> Plan:
    with services.db.write() as tx:
        if store.deactivate(tx, plan_id) != 1:
            raise NotFound("unknown_plan", f"no plan {plan_id!r}")
    return get_plan(services, plan_id)


def _plan(services: Services, tx: Tx, row: Row, now: int) -> Plan:
    tz, working = services.settings.sla_timezone, _working_calendar(services)
    generated = {v["period"]: v for v in store.visits(tx, row["id"])}
    visits = []
    for period, due in announced(row, now, tz, working):
        v = generated.pop(period, None)
        visits.append(_visit(period, due, v, now, bool(row["active"])))
    visits += [_visit(p, int(v["due_at"]), v, now, bool(row["active"])) for p, v in generated.items()]
    visits.sort(key=lambda v: v.due_at)
    return Plan(id=row["id"], name=row["name"], asset_serial=row["asset_serial"], customer=row["customer"],
                site=row["site"], every_months=row["every_months"], dates=json.loads(row["dates"]),
                start_at=row["start_at"], end_at=row["end_at"], checklist_template=row["template_id"],
                engineer_id=row["engineer_id"], lead_days=row["lead_days"], priority=row["priority"],
                active=bool(row["active"]), created_at=row["created_at"],
                next_due_at=next_due(row, now, tz, working) if row["active"] else None,
                overdue=any(v.overdue for v in visits), visits=visits, notice_days=row["notice_days"])


def _visit(period: str, due: int, v: Row | None, now: int, active: bool) -> PlanVisit:
    done = v is not None and (v["job_status"] in DONE_JOB_STATUSES or v["ticket_status"] == "closed")
    cancelled = v is not None and v["ticket_status"] == "cancelled"
    return PlanVisit(period=period, due_at=due, ticket_id=v["ticket_id"] if v else None,
                     job_id=v["job_id"] if v else None, job_status=v["job_status"] if v else None, done=done,
                     overdue=(not done and not cancelled and due < now and (v is not None or active)),
                     report_url=f"/v1/jobs/{v['job_id']}/report.pdf" if v and done else None)


def get_plan(services: Services, plan_id: str) -> Plan:
    with services.db.read() as tx:
        row = store.plan(tx, plan_id)
        if row is None:
            raise NotFound("unknown_plan", f"no plan {plan_id!r}")
        return _plan(services, tx, row, services.clock())


def list_plans(services: Services, overdue: bool = False, asset_serial: str | None = None,
               customer: str | None = None, limit: int = 200) -> list[Plan]:
    """Plans (oldest first); ``overdue`` keeps those with a visit past its due date and not done."""
    now = services.clock()
    with services.db.read() as tx:
        plans = [_plan(services, tx, r, now) for r in store.plans(tx, asset_serial, customer)]
    if overdue:
        plans = [p for p in plans if p.overdue]
    return plans[:limit]


# -- generation -------------------------------------------------------------------------------------------


def run_plans_tick(services: Services, now: int | None = None) -> list[dict[str, Any]]:
    """Create the inspection ticket and job of every period due within its plan's lead time; return them.

    Idempotent: each (plan, period) is claimed with an insert that does nothing
    when another run (this process after a restart, or another server) got
    there first, in the same transaction as the ticket and job it creates.
    """
    now = services.clock() if now is None else now
    tz, working = services.settings.sla_timezone, _working_calendar(services)
    with services.db.read() as tx:
        plans = store.active_plans(tx)
        done: dict[str, set[str]] = {}
        for v in store.periods_of_active_plans(tx):
            done.setdefault(v["plan_id"], set()).add(v["period"])
    created = []
    for plan in plans:
        pending = [(p, d) for p, d in announced(plan, now, tz, working) if p not in done.get(plan["id"], set())]
        for period, due in pending[:MAX_NEW_PER_PLAN]:
            try:
                visit = _generate(services, plan["id"], period, due, now)
            except Exception:
                log.exception("plan %s: could not generate the visit of %s", plan["id"], period)
                continue
            if visit is not None:
                created.append(visit)
    return created


def _generate(services: Services, plan_id: str, period: str, due: int, now: int) -> dict[str, Any] | None:
    tid, jid = new_id("T-"), new_id("J-")
    with services.db.write() as tx:
        plan = store.active_plan(tx, plan_id)
        if plan is None:
            return None
        if not store.claim_visit(tx, plan_id, period, due, tid, jid, now):
            return None
        title = f"{plan['name']}: inspection due {period}"
        store.insert_inspection_ticket(tx, tid, plan["customer"], plan["site"], plan["priority"], title,
                                       f"Preventive inspection of plan {plan_id}, period {period}",
                                       plan["asset_serial"], f"plan:{plan_id}", now, plan["customer_id"],
                                       plan["site_id"])
        notice = {} if plan["notice_days"] is None else {"notice_days": plan["notice_days"]}
        add_event(tx, tid, "planned", now, now, source=f"plan:{plan_id}",
                  data={"plan_id": plan_id, "period": period, "due_at": due, "customer_id": plan["customer_id"],
                        **notice})
        version = None
        if plan["template_id"]:
            version = store.latest_template_version(tx, plan["template_id"])
        store.insert_assigned_job(tx, jid, tid, plan["engineer_id"], due, due + DAY_MS, title,
                                  plan["template_id"] if version is not None else None, version, now)
        add_event(tx, tid, "job_assigned", now, now, job_id=jid, source=f"plan:{plan_id}",
                  data={"engineer_id": plan["engineer_id"], "plan_id": plan_id, "period": period})
        publish_job_bundle(tx, jid, plan["engineer_id"])
    return {"plan_id": plan_id, "period": period, "due_at": due, "ticket_id": tid, "job_id": jid}


__all__ = ["Plan", "PlanIn", "PlanVisit", "create_plan", "deactivate_plan", "due_dates", "get_plan",
           "list_plans", "run_plans_tick"]

