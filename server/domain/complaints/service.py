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
    opened_at: int
    origin_ticket_id: str | None
    origin_job_id: str | None
    source: str
    rating: int | None
    respond: dict[str, Any]
    resolve: dict[str, Any]
    confirmed_by: str | None
    confirmed_at: int | None


def open_complaint(tx: Tx, origin: Row, job_id: str | None, source: str, source_key: str, rating: int | None,
                   comment: str, now: int) -> str | None:
    """Open a complaint ticket linked to ``origin`` once per ``source_key``; None when it already exists."""
    cid = new_id("T-")
    n = tx.execute("INSERT INTO complaint_links (complaint_id, origin_ticket_id, origin_job_id, source, source_key, "
                   "rating, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source_key) DO NOTHING",
                   (cid, origin["id"], job_id, source, source_key, rating, now))
    if n != 1:
        return None
    title = f"Low satisfaction ({rating}/5) on {origin['id']}" if rating is not None else f"Complaint on {origin['id']}"
    tx.execute("INSERT INTO tickets (id, customer, site, priority, category, title, description, asset_serial, "
               "status, opened_at, created_by, created_at, updated_at) "
               "VALUES (?, ?, ?, 'complaint', 'complaint', ?, ?, ?, 'open', ?, 'lifecycle', ?, ?)",
               (cid, origin["customer"], origin["site"], title, comment or "", origin["asset_serial"], now, now, now))
    add_event(tx, cid, "opened", now, now, source="lifecycle",
              data={"origin_ticket_id": origin["id"], "origin_job_id": job_id, "source": source, "rating": rating})
    add_event(tx, origin["id"], "complaint_opened", now, now, job_id=job_id, source="lifecycle",
              data={"complaint_id": cid, "rating": rating, "source": source})
    return cid


def open_low_rating_complaints(services: Services, now: int | None = None) -> list[str]:
    """Open a complaint for every sign-off rated 2 or less that has none yet; return the new complaint ids."""
    now = services.clock() if now is None else now
    with services.db.read() as tx:
        rows = tx.query("SELECT s.job_id FROM signoffs s WHERE s.rating IS NOT NULL AND s.rating <= ? "
                        "AND NOT EXISTS (SELECT 1 FROM complaint_links c WHERE c.source_key = 'signoff:' || s.job_id) "
                        "ORDER BY s.received_at, s.job_id", (LOW_RATING,))
    opened = []
    for r in rows:
        with services.db.write() as tx:
            so = tx.one("SELECT s.job_id, s.rating, s.comment, j.ticket_id FROM signoffs s "
                        "JOIN jobs j ON j.id = s.job_id WHERE s.job_id = ?", (r["job_id"],))
            if so is None:
                continue
            origin = tx.lock("SELECT * FROM tickets WHERE id = ?", (so["ticket_id"],))
            if origin is None:
                continue
            cid = open_complaint(tx, origin, so["job_id"], "signoff", f"signoff:{so['job_id']}", so["rating"],
                                 so["comment"] or "", now)
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
        n = tx.execute("INSERT INTO customer_confirmations (ticket_id, confirmed_by, note, recorded_by, at) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (ticket_id) DO NOTHING",
                       (ticket_id, data.confirmed_by, data.note, by, now))
        if n != 1:
            raise Conflict("already_confirmed", "the customer's confirmation is already recorded")
        add_event(tx, ticket_id, "customer_confirmed", now, now, source=f"staff:{by}",
                  data={"confirmed_by": data.confirmed_by, "note": data.note})
        kinds = {r["kind"] for r in tx.query("SELECT DISTINCT kind FROM ticket_events WHERE ticket_id = ?",
                                             (ticket_id,))}
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
    sql = "SELECT * FROM tickets WHERE category = 'complaint'"
    if status == "open":
        sql += " AND status NOT IN ('closed', 'cancelled')"
    elif status == "closed":
        sql += " AND status = 'closed'"
    out = []
    with services.db.read() as tx:
        for t in tx.query(sql + " ORDER BY opened_at DESC, id LIMIT ?", (limit,)):
            link = tx.one("SELECT * FROM complaint_links WHERE complaint_id = ?", (t["id"],))
            conf = tx.one("SELECT * FROM customer_confirmations WHERE ticket_id = ?", (t["id"],))
            events = tx.query("SELECT kind, at FROM ticket_events WHERE ticket_id = ?", (t["id"],))
            states = compute_sla(policy_for(services, t),
                                 sla_events(t["status"], ((e["kind"], int(e["at"])) for e in events)), now)
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
