"""Complaints with a closed loop: opened from low ratings, confirmed by the customer, listed with their clocks.

A rating of 2 or less (at sign-off on the tablet, or on the follow-up call)
opens a complaint ticket linked to the original one, exactly once per rating:
the link row (``complaint_links``, unique ``source_key``) and the complaint
ticket are written in one transaction with ``ON CONFLICT DO NOTHING``.  Ratings
arriving with a sign-off are picked up by the scheduler's lifecycle tick
(``open_low_rating_complaints``) so the sync push path stays untouched.

Complaints (category ``complaint``: 2 h respond, 15 days resolve) close only
after the customer confirms: ``close_ticket`` (:mod:`server.domain.tickets.closing`)
refuses a complaint with 409 ``customer_confirmation_required`` until
``confirm_by_customer`` is recorded.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec

from schemas import i18n
from schemas.instant import Instant
from server.domain.complaints import store
from server.domain.sla.service import policy_for, sla_events
from server.domain.sla.state import compute_sla
from server.domain.tickets.closing import Note, ticket_row
from server.domain.tickets.service import add_event
from server.errors import BadRequest, Conflict
from server.ids import new_id
from server.services import Services
from sync.storage import Row, Tx

LOW_RATING: Final = 2


class ConfirmationIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The customer confirms the complaint is resolved."""

    confirmed_by: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    note: Note = ""


class Complaint(msgspec.Struct, kw_only=True):
    """A complaint ticket with its origin, its SLA clocks and the customer's confirmation."""

    ticket_id: str
    customer: str
    site: str
    status: str
    title: str
    opened_at: Instant
    origin_ticket_id: str | None
    origin_job_id: str | None
    source: str
    rating: int | None
    respond: dict[str, Any]
    resolve: dict[str, Any]
    confirmed_by: str | None
    confirmed_at: Instant | None


def open_complaint(tx: Tx, origin: Row, job_id: str | None, source: str, source_key: str, rating: int | None,
                   comment: str, now: int, locale: str) -> str | None:
    """Open a complaint ticket linked to ``origin`` once per ``source_key``; None when it already exists.

    Its title is stored in ``locale`` (the server's, ``FIELDSYNC_LOCALE``): it is data the desks read as written.
    """
    cid = new_id("T-")
    if not store.claim_link(tx, cid, origin["id"], job_id, source, source_key, rating, now):
        return None
    title = (i18n.text(locale, "exports", "complaint.title_rated", rating=rating, ticket=origin["id"])
             if rating is not None else i18n.text(locale, "exports", "complaint.title", ticket=origin["id"]))
    store.insert_complaint_ticket(tx, cid, origin, title, comment or "", now)
    add_event(tx, cid, "opened", now, now, source="lifecycle",
              data={"origin_ticket_id": origin["id"], "origin_job_id": job_id, "source": source, "rating": rating})
    add_event(tx, origin["id"], "complaint_opened", now, now, job_id=job_id, source="lifecycle",
              data={"complaint_id": cid, "rating": rating, "source": source})
    return cid


def open_low_rating_complaints(services: Services, now: int | None = None) -> list[str]:
    """Open a complaint for every sign-off rated 2 or less that has none yet; return the new complaint ids."""
    now = services.clock() if now is None else now
    with services.db.read() as tx:
        job_ids = store.low_rated_signoffs_without_complaint(tx, LOW_RATING)
    opened = []
    for job_id in job_ids:
        with services.db.write() as tx:
            so = store.signoff_rating(tx, job_id)
            if so is None:
                continue
            origin = store.lock_ticket(tx, so["ticket_id"])
            if origin is None:
                continue
            cid = open_complaint(tx, origin, so["job_id"], "signoff", f"signoff:{so['job_id']}", so["rating"],
                                 so["comment"] or "", now, services.settings.locale)
        if cid:
            opened.append(cid)
    return opened


def confirm_by_customer(services: Services, ticket_id: str, data: ConfirmationIn, by: str) -> None:
    """Record the customer's confirmation that the complaint is resolved (once).

    It resolves the complaint (a ``completed`` event when none was recorded)
    and, the customer having been reached, completes the follow-up.
    """
    if "\x00" in data.confirmed_by + data.note:
        raise BadRequest("invalid_value", "text may not contain NUL characters")
    now = services.clock()
    with services.db.write() as tx:
        ticket = ticket_row(tx, ticket_id, lock=True)
        if ticket["status"] in ("closed", "cancelled"):
            raise Conflict("ticket_closed", f"ticket is {ticket['status']}")
        if not store.record_confirmation(tx, ticket_id, data.confirmed_by, data.note, by, now):
            raise Conflict("already_confirmed", "the customer's confirmation is already recorded")
        add_event(tx, ticket_id, "customer_confirmed", now, now, source=f"staff:{by}",
                  data={"confirmed_by": data.confirmed_by, "note": data.note})
        kinds = store.event_kinds(tx, ticket_id)
        if ticket["category"] == "complaint" and "completed" not in kinds:
            add_event(tx, ticket_id, "completed", now, now, source=f"staff:{by}",
                      data={"via": "customer_confirmation"})
            kinds.add("completed")
        if "completed" in kinds:
            add_event(tx, ticket_id, "follow_up_done", now, now, source=f"staff:{by}",
                      data={"via": "customer_confirmation", "reached": True})


def list_complaints(services: Services, status: str | None = None, limit: int = 200) -> list[Complaint]:
    """Complaint tickets, open first, with origin, respond/resolve clocks and the customer's confirmation."""
    if status is not None and status not in ("open", "closed"):
        raise BadRequest("invalid_parameter", "status is open or closed")
    now = services.clock()
    out = []
    with services.db.read() as tx:
        for t in store.complaint_tickets(tx, status, limit):
            link = store.link(tx, t["id"])
            conf = store.confirmation(tx, t["id"])
            states = compute_sla(policy_for(services, t), sla_events(t["status"], store.events(tx, t["id"])), now)
            clocks = {name: {"due_at": s.due_at, "met_at": s.met_at, "state": s.state, "breached": s.breached}
                      for name, s in states.items()}
            out.append(Complaint(
                ticket_id=t["id"], customer=t["customer"], site=t["site"], status=t["status"], title=t["title"],
                opened_at=t["opened_at"], origin_ticket_id=link["origin_ticket_id"] if link else None,
                origin_job_id=link["origin_job_id"] if link else None, source=link["source"] if link else "manual",
                rating=link["rating"] if link else None, respond=clocks.get("respond", {}),
                resolve=clocks.get("resolve", {}), confirmed_by=conf["confirmed_by"] if conf else None,
                confirmed_at=conf["at"] if conf else None))
    return out
