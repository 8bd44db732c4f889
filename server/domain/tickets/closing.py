"""The office's own moves on a ticket: acknowledge it (stops the respond clock) and close it.

A ticket closes with its finished jobs once none is still in progress; a
complaint closes only after the customer's confirmation is recorded
(:func:`server.domain.complaints.service.confirm_by_customer`).
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from server.domain.records import job_record
from server.domain.tickets import store
from server.domain.tickets.service import add_event
from server.errors import Conflict, NotFound
from server.feed import publish
from server.services import Services
from sync.storage import Row, Tx

ACTIVE_JOB_STATUSES: Final = ("assigned", "accepted", "en_route", "on_site", "in_progress", "on_hold", "reopened")
CLOSABLE_JOB_STATUSES: Final = ("completed", "signed_off", "cannot_complete")

Note = Annotated[str, msgspec.Meta(max_length=2000)]


class NoteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An optional note (acknowledging a ticket, closing it)."""

    note: Note = ""


def ticket_row(tx: Tx, ticket_id: str, lock: bool = False) -> Row:
    """The ticket row (locked for update when ``lock``); 404 when there is none."""
    t = store.ticket(tx, ticket_id, lock=lock)
    if t is None:
        raise NotFound("unknown_ticket", f"no ticket {ticket_id!r}")
    return t


def acknowledge(services: Services, ticket_id: str, data: NoteIn, by: str) -> None:
    """The office responded to the ticket (stops the respond clock, e.g. a complaint answered by phone)."""
    now = services.clock()
    with services.db.write() as tx:
        ticket = ticket_row(tx, ticket_id, lock=True)
        if ticket["status"] in ("closed", "cancelled"):
            raise Conflict("ticket_closed", f"ticket is {ticket['status']}")
        add_event(tx, ticket_id, "acknowledged", now, now, source=f"staff:{by}", data={"note": data.note})


def close_ticket(services: Services, ticket_id: str, data: NoteIn, by: str) -> None:
    """Close a ticket and its finished jobs; a complaint needs the customer's confirmation first."""
    now = services.clock()
    with services.db.write() as tx:
        ticket = ticket_row(tx, ticket_id, lock=True)
        if ticket["status"] == "closed":
            raise Conflict("already_closed", "the ticket is already closed")
        if ticket["status"] == "cancelled":
            raise Conflict("ticket_cancelled", "the ticket is cancelled")
        if ticket["category"] == "complaint" and not store.customer_confirmed(tx, ticket_id):
            raise Conflict("customer_confirmation_required",
                           "a complaint is closed only once the customer has confirmed the resolution "
                           f"(POST /v1/tickets/{ticket_id}/customer-confirmation)")
        jobs = store.jobs_of(tx, ticket_id)
        active = [j["id"] for j in jobs if j["status"] in ACTIVE_JOB_STATUSES]
        if active:
            raise Conflict("jobs_open", f"jobs still in progress: {', '.join(active)}", job_ids=active)
        for j in jobs:
            if j["status"] not in CLOSABLE_JOB_STATUSES:
                continue
            store.close_job(tx, j["id"], now)
            add_event(tx, ticket_id, "closed", now, now, job_id=j["id"], source=f"staff:{by}")
            fresh = store.job(tx, j["id"])
            assert fresh is not None
            publish(tx, [job_record(fresh, ticket)])
        store.close_ticket(tx, ticket_id, now)
        add_event(tx, ticket_id, "ticket_closed", now, now, source=f"staff:{by}", data={"note": data.note})
