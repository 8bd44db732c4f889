"""Correcting a ticket: the ETag of its version, ``If-Match`` on every change, the SLA under a new priority.

The ETag names the version of the ticket's own record (its fields, status and the time of its last timeline
event), not the SLA clocks' running fractions, which change by the second: a client that read the ticket
may change it until someone else does.  A priority change is a ``priority_changed`` event on the timeline;
the SLA clocks are always computed from the timeline under the policy of the ticket's current priority,
so from then on they run, from the ticket's opening, as that priority's.
"""

from __future__ import annotations

from typing import Final

import msgspec

from schemas.domain import Ticket, TicketPatch
from server.domain.conditional import etag, matches
from server.domain.customers.service import resolve as resolve_customer
from server.domain.records import job_record
from server.domain.tickets import store
from server.domain.tickets.service import add_event, get_ticket
from server.errors import Conflict, NotFound, PreconditionFailed, PreconditionRequired
from server.feed import publish
from server.services import Services
from sync.storage import Row, Tx

#: the fields a correction may set
EDITABLE: Final = ("customer", "site", "priority", "title", "description")
CLOSED: Final = ("closed", "cancelled")


def current_etag(services: Services, ticket_id: str) -> str:
    """The ETag of the ticket as it is now (404 ``unknown_ticket``)."""
    with services.db.read() as tx:
        row = store.ticket(tx, ticket_id)
    if row is None:
        raise NotFound("unknown_ticket", f"no ticket {ticket_id!r}")
    return etag(row)


def _customer_changes(tx: Tx, row: Row, patch: TicketPatch, by: str, now: int) -> dict[str, str | None]:
    """The customer and site columns a patch changes, by the rule of :func:`server.domain.customers.service.resolve`.

    ``customer_id``: that record (its name); ``customer`` alone: the customer of that exact name (made when
    none); the site is then looked up within the (new) customer: the one sent, else the ticket's site name.
    """
    sent = {f: getattr(patch, f) for f in ("customer", "site", "customer_id", "site_id")}
    if all(v is msgspec.UNSET for v in sent.values()):
        return {}
    new_customer = sent["customer_id"] is not msgspec.UNSET or (
        sent["customer"] is not msgspec.UNSET and sent["customer"] != row["customer"])
    cid = sent["customer_id"] if sent["customer_id"] is not msgspec.UNSET else (
        None if new_customer else row["customer_id"])
    name = sent["customer"] if sent["customer"] is not msgspec.UNSET else ("" if new_customer else row["customer"])
    sid = sent["site_id"] if sent["site_id"] is not msgspec.UNSET else None
    site = sent["site"] if sent["site"] is not msgspec.UNSET else ("" if sid else row["site"])
    who = resolve_customer(tx, cid, name or "", sid, site or "", by, now)
    out = {"customer": who.customer, "customer_id": who.customer_id, "site": who.site, "site_id": who.site_id}
    return {k: v for k, v in out.items() if v != row[k]}


def patch_ticket(services: Services, ticket_id: str, patch: TicketPatch, if_match: str | None,
                 by: str) -> tuple[Ticket, str]:
    """Apply the corrections if the ticket is still the version ``if_match`` names; the ticket and its new ETag."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired("precondition_required",
                                   "send If-Match with the ETag of the ticket as you last read it")
    now = services.clock()
    with services.db.write() as tx:
        row = store.ticket(tx, ticket_id, lock=True)
        if row is None:
            raise NotFound("unknown_ticket", f"no ticket {ticket_id!r}")
        if not matches(if_match, etag(row)):
            raise PreconditionFailed("precondition_failed",
                                     "the ticket changed since you read it (its ETag is not current); read it again")
        changes: dict[str, str | None] = {f: v for f in EDITABLE if f not in ("customer", "site")
                                          and (v := getattr(patch, f)) is not msgspec.UNSET and v != row[f]}
        changes.update(_customer_changes(tx, row, patch, by, now))
        if changes:
            if row["status"] in CLOSED:
                raise Conflict("ticket_closed", f"ticket is {row['status']}")
            store.correct(tx, ticket_id, changes, now)
            source = f"staff:{by}"
            if "priority" in changes:
                add_event(tx, ticket_id, "priority_changed", now, now, source=source,
                          data={"from": row["priority"], "to": changes["priority"]})
            corrected = {f: {"from": row[f], "to": v} for f, v in changes.items() if f != "priority"}
            if corrected:
                add_event(tx, ticket_id, "ticket_corrected", now, now, source=source, data=corrected)
            fresh = store.ticket(tx, ticket_id)
            assert fresh is not None
            publish(tx, [job_record(job, fresh, tx) for job in store.jobs_of(tx, ticket_id)])  # tablets' summaries
            row = fresh
        tag = etag(row)
    return get_ticket(services, ticket_id), tag
