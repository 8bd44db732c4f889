"""Tickets, jobs and the ticket timeline (the SLA event log).

A job pins the current version of its checklist template at dispatch.
Reassignment moves a job out of one engineer's scope with an explicit
``job_removed`` change and sends the whole job to the new engineer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

from schemas.domain import AssignIn, JobIn, ScheduleIn, Ticket, TicketEvent, TicketIn
from schemas.instant import epoch_ms, epoch_ms_or_none
from schemas.records import JobRemovedData, JobRemovedRecord
from schemas.status import HoldReason, can_transition
from server.domain.certifications.service import dispatch_check
from server.domain.customers.service import resolve as resolve_customer
from server.domain.records import dumps, job_from_row, job_record, loads, publish_job_bundle, signoff_changed
from server.domain.sla.service import ticket_sla
from server.domain.tickets import store
from server.domain.webhooks.service import timeline_event
from server.errors import BadRequest, Conflict, NotFound
from server.feed import publish
from server.ids import new_id
from server.services import Services
from sync.storage import Row, Tx

if TYPE_CHECKING:
    from server.security import Staff


def add_event(tx: Tx, ticket_id: str, kind: str, at: int, received_at: int, *, job_id: str | None = None,
              device_time: int | None = None, corrected_time: int | None = None, source: str = "server",
              data: dict[str, Any] | None = None, event_id: str | None = None) -> str:
    """Append one event to a ticket's timeline (idempotent when ``event_id`` is given)."""
    eid = event_id or new_id("E-")
    added = store.insert_event(tx, eid, ticket_id, job_id, kind, at, device_time, corrected_time, received_at,
                               source, dumps(data or {}))
    if added:  # its webhook, in the same transaction (a re-sent event id writes neither)
        timeline_event(tx, eid, ticket_id, job_id, kind, at, received_at, data)
    store.touch_ticket(tx, ticket_id, received_at)
    return eid


def event_from_row(r: Row) -> TicketEvent:
    return TicketEvent(id=r["id"], ticket_id=r["ticket_id"], kind=r["kind"], at=r["at"], job_id=r["job_id"],
                       device_time=r["device_time"], corrected_time=r["corrected_time"],
                       received_at=r["received_at"], source=r["source"], data=loads(r["data"], {}),
                       time_flag=r["time_flag"])


def create_ticket(services: Services, data: TicketIn, created_by: str) -> Ticket:
    """Open a ticket; its SLA clocks start at ``opened_at`` (default: now)."""
    now = services.clock()
    opened = epoch_ms(data.opened_at) if data.opened_at is not None else now
    if opened > now + 60_000:
        raise BadRequest("opened_in_future", "opened_at cannot be in the future")
    if data.site_id is None and not (data.site or "").strip():
        raise BadRequest("site_required", "name the site: site_id, or site (its name)")
    tid = new_id("T-")
    with services.db.write() as tx:
        if data.external_ref is not None and (known := store.by_external_ref(tx, data.external_ref)) is not None:
            raise Conflict("external_ref_exists", f"ticket {known!r} already has external_ref {data.external_ref!r}",
                           ticket_id=known)
        who = resolve_customer(tx, data.customer_id, data.customer or "", data.site_id, data.site or "",
                               created_by, now)
        if not store.insert_ticket(tx, tid, who.customer, who.site, data.priority, data.category, data.title,
                                   data.description, data.asset_serial, opened, created_by, now, data.report_locale,
                                   data.external_ref, who.customer_id, who.site_id):  # reference taken meanwhile
            raise Conflict("external_ref_exists", f"a ticket already has external_ref {data.external_ref!r}")
        made = {k: True for k, v in (("customer_created", who.customer_created), ("site_created", who.site_created))
                if v}
        add_event(tx, tid, "opened", opened, now, source=f"staff:{created_by}",
                  data={"customer_id": who.customer_id, **made})
    return get_ticket(services, tid)


def set_report_locale(services: Services, ticket_id: str, locale: str | None) -> Ticket:
    """Choose the locale the ticket's service report is written in (None: the server's default)."""
    with services.db.write() as tx:
        if not store.ticket_exists(tx, ticket_id):
            raise NotFound("unknown_ticket", f"no ticket {ticket_id!r}")
        store.set_report_locale(tx, ticket_id, locale, services.clock())
    return get_ticket(services, ticket_id)


def _sla(services: Services, ticket: Row, events: list[TicketEvent]) -> dict[str, Any]:
    return ticket_sla(services, ticket, events)


def get_ticket(services: Services, ticket_id: str) -> Ticket:
    """A ticket with its jobs, timeline and SLA clocks."""
    with services.db.read() as tx:
        t = store.ticket(tx, ticket_id)
        if t is None:
            raise NotFound("unknown_ticket", f"no ticket {ticket_id!r}")
        jobs = store.jobs_in_creation_order(tx, ticket_id)
        events = [event_from_row(r) for r in store.events_of(tx, ticket_id)]
        changed = {j["id"] for j in jobs if j["signed_off"] and signoff_changed(tx, j["id"])}
    return Ticket(
        id=t["id"], customer=t["customer"], site=t["site"], priority=t["priority"], category=t["category"],
        title=t["title"], description=t["description"], asset_serial=t["asset_serial"], status=t["status"],
        opened_at=t["opened_at"], created_by=t["created_by"], report_locale=t["report_locale"],
        external_ref=t["external_ref"], customer_id=t["customer_id"], site_id=t["site_id"],
        jobs=[job_from_row(j, j["id"] in changed) for j in jobs], timeline=events,
        sla=_sla(services, t, events),
    )


def list_tickets(services: Services, status: str | None = None, priority: str | None = None,
                 engineer_id: str | None = None, limit: int = 200, offset: int = 0,
                 external_ref: str | None = None, customer_id: str | None = None) -> list[Ticket]:
    """Tickets (newest first) with filters; each carries its jobs and SLA."""
    with services.db.read() as tx:
        ids = store.ticket_ids(tx, status, priority, engineer_id, limit, offset, external_ref, customer_id)
    return [get_ticket(services, i) for i in ids]


def create_job(services: Services, ticket_id: str, data: JobIn, by: Staff | None = None) -> Ticket:
    """Create a job on a ticket for an engineer, pinning the template version in force now.

    The engineer must be certified for the asset's equipment type (admin override: ``data.override``).
    """
    now = services.clock()
    jid = new_id("J-")
    with services.db.write() as tx:
        t = store.lock_ticket_status(tx, ticket_id)
        if t is None:
            raise NotFound("unknown_ticket", f"no ticket {ticket_id!r}")
        if t["status"] in ("closed", "cancelled"):
            raise Conflict("ticket_closed", f"ticket is {t['status']}")
        if not store.engineer_is_active(tx, data.engineer_id):
            raise NotFound("unknown_engineer", f"no active engineer {data.engineer_id!r}")
        start, end = epoch_ms_or_none(data.scheduled_start), epoch_ms_or_none(data.scheduled_end)
        overridden = dispatch_check(tx, ticket_id, data.engineer_id, max(now, start or now),
                                    data.override, data.override_reason, by)
        version = None
        if data.checklist_template:
            version = store.latest_template_version(tx, data.checklist_template)
            if version is None:
                raise NotFound("unknown_template", f"no checklist template {data.checklist_template!r}")
        if start is not None and end is not None and end < start:
            raise BadRequest("bad_window", "scheduled_end is before scheduled_start")
        store.insert_job(tx, jid, ticket_id, data.engineer_id, start, end, data.remote,
                         data.notes, data.checklist_template, version, now)
        store.insert_assignment(tx, jid, data.engineer_id, now)
        add_event(tx, ticket_id, "job_assigned", now, now, job_id=jid, data={"engineer_id": data.engineer_id})
        if overridden:
            add_event(tx, ticket_id, "certification_override", now, now, job_id=jid,
                      source=f"staff:{by.name if by else ''}", data=overridden)
        publish_job_bundle(tx, jid, data.engineer_id)
    return get_ticket(services, ticket_id)


def assign_job(services: Services, job_id: str, data: AssignIn, by: str, staff: Staff | None = None) -> Ticket:
    """Reassign a job: out of the old engineer's scope (explicit op), into the new one's.

    The new engineer must be certified for the asset's equipment type (admin override: ``data.override``).
    A job whose visit is over (:data:`FINISHED_STATUSES`) keeps its engineer (409 ``job_finished``).
    """
    now = services.clock()
    with services.db.write() as tx:
        job = store.lock_job(tx, job_id)
        if job is None:
            raise NotFound("unknown_job", f"no job {job_id!r}")
        if job["status"] in FINISHED_STATUSES and job["engineer_id"] != data.engineer_id:
            raise Conflict("job_finished", f"job is {job['status']}")
        if not store.engineer_is_active(tx, data.engineer_id):
            raise NotFound("unknown_engineer", f"no active engineer {data.engineer_id!r}")
        old = job["engineer_id"]
        if old != data.engineer_id:
            overridden = dispatch_check(tx, job["ticket_id"], data.engineer_id,
                                        max(now, job["scheduled_start"] or now), data.override,
                                        data.override_reason, staff)
            if overridden:
                add_event(tx, job["ticket_id"], "certification_override", now, now, job_id=job_id,
                          source=f"staff:{by}", data=overridden)
            store.reassign_job(tx, job_id, data.engineer_id, now)
            publish(tx, [JobRemovedRecord(id=job_id, data=JobRemovedData(id=job_id, reason="reassigned"))], old)
            publish_job_bundle(tx, job_id, data.engineer_id)
            add_event(tx, job["ticket_id"], "job_reassigned", now, now, job_id=job_id,
                      source=f"staff:{by}", data={"from": old, "to": data.engineer_id})
    return get_ticket(services, job["ticket_id"])


HOLD_REASONS = get_args(HoldReason)
#: job statuses whose visit is over: no reschedule, no reassignment
FINISHED_STATUSES = ("completed", "signed_off", "closed", "cancelled", "cannot_complete")


def schedule_job(services: Services, job_id: str, data: ScheduleIn, by: str) -> Ticket:
    """Move a job's scheduled start and window end (a ``job_rescheduled`` event); the tablet gets the new time.

    A job whose visit is over (completed, signed off, closed, cancelled, cannot complete) keeps its times.
    """
    start, end = epoch_ms_or_none(data.scheduled_start), epoch_ms_or_none(data.scheduled_end)
    if start is not None and end is not None and end < start:
        raise BadRequest("bad_window", "scheduled_end is before scheduled_start")
    if start is None and end is not None:
        raise BadRequest("window_needs_start", "a window end needs a scheduled start")
    now = services.clock()
    with services.db.write() as tx:
        job = store.lock_job(tx, job_id)
        if job is None:
            raise NotFound("unknown_job", f"no job {job_id!r}")
        if job["status"] in FINISHED_STATUSES:
            raise Conflict("job_finished", f"job is {job['status']}")
        if (job["scheduled_start"], job["scheduled_end"]) != (start, end):
            store.set_job_schedule(tx, job_id, start, end, now)
            add_event(tx, job["ticket_id"], "job_rescheduled", now, now, job_id=job_id, source=f"staff:{by}",
                      data={"scheduled_start": start, "scheduled_end": end})
            publish_job_bundle(tx, job_id, job["engineer_id"])
    return get_ticket(services, job["ticket_id"])


def set_job_status_office(services: Services, job_id: str, status: str, by: str,
                          hold_reason: str | None = None) -> Ticket:
    """Back-office status change (cancel, close, reopen; hold with a reason) replayed through the status machine.

    A hold (``awaiting_parts``, ``awaiting_customer``) pauses the SLA clocks as the tablet's would; the
    engineer's tablet takes the job on from it.
    """
    if status == "on_hold" and hold_reason not in HOLD_REASONS:
        raise BadRequest("hold_reason_required", f"a hold needs hold_reason: {' or '.join(HOLD_REASONS)}")
    now = services.clock()
    with services.db.write() as tx:
        job = store.lock_job(tx, job_id)
        if job is None:
            raise NotFound("unknown_job", f"no job {job_id!r}")
        if not can_transition(job["status"], status):
            raise Conflict("invalid_transition", f"a job cannot go from {job['status']} to {status}")
        if status == "on_hold" and hold_reason is not None:
            store.hold_job(tx, job_id, hold_reason, now)
            add_event(tx, job["ticket_id"], status, now, now, job_id=job_id, source=f"staff:{by}",
                      data={"hold_reason": hold_reason})
        else:
            store.set_job_status(tx, job_id, status, now)
            add_event(tx, job["ticket_id"], status, now, now, job_id=job_id, source=f"staff:{by}")
        ticket = store.ticket(tx, job["ticket_id"])
        assert ticket is not None

        fresh = store.job(tx, job_id)
        assert fresh is not None
        publish(tx, [job_record(fresh, ticket)])
        if status == "cancelled":
            if store.open_job_count(tx, job["ticket_id"]) == 0:
                store.cancel_ticket(tx, job["ticket_id"])
    return get_ticket(services, job["ticket_id"])


def ticket_titles(services: Services, ticket_ids: list[str]) -> dict[str, str]:
    """ticket id -> title."""
    with services.db.read() as tx:
        return store.titles(tx, ticket_ids)


def job_contexts(services: Services, job_ids: list[str]) -> dict[str, Row]:
    """job id -> the job's engineer and its ticket's id, customer and site."""
    with services.db.read() as tx:
        return store.job_contexts(tx, job_ids)


#: job statuses still to be worked (the board's unscheduled list)
OPEN_JOB_STATUSES = ("assigned", "accepted", "en_route", "on_site", "in_progress", "on_hold", "reopened")


def jobs_between(services: Services, start: int, end: int) -> list[Row]:
    """Jobs scheduled to overlap ``[start, end)`` with their ticket's customer, site, priority and title."""
    with services.db.read() as tx:
        return store.jobs_scheduled_between(tx, start, end)


def unscheduled_jobs(services: Services, limit: int = 200) -> list[Row]:
    """Jobs still to be worked that have no scheduled start, oldest first."""
    with services.db.read() as tx:
        return store.unscheduled_jobs(tx, OPEN_JOB_STATUSES, limit)


def ticket_part_numbers(services: Services, ticket_id: str) -> list[str]:
    """Parts moved on the ticket's jobs so far (what the ticket is known to need)."""
    with services.db.read() as tx:
        return store.ticket_part_numbers(tx, ticket_id)


def search_tickets(services: Services, text: str = "", status: str | None = None, limit: int = 25,
                   offset: int = 0) -> list[Row]:
    """Every ticket (any status) matching ``text`` in its id, customer, site, title or asset serial."""
    with services.db.read() as tx:
        return store.search_tickets(tx, text.strip(), status, limit, offset)
