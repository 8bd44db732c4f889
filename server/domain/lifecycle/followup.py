"""Follow-up calls, customer satisfaction and complaints with a closed loop.

Follow-up: every resolved ticket (a ``completed`` event) starts the SLA
``follow_up`` clock (24 h, see the SLA policies); ``record_follow_up`` writes
the call and, when the customer was reached, the ``follow_up_done`` event that
stops it (an unanswered call is a ``follow_up_attempt`` and the clock runs on).

Satisfaction: a rating 1-5 is taken at sign-off on the tablet (the SignOff op)
or on the follow-up call.  A rating of 2 or less opens a complaint ticket
linked to the original one, exactly once per rating: the link row
(``complaint_links``, unique ``source_key``) and the complaint ticket are
written in one transaction with ``ON CONFLICT DO NOTHING``.  Ratings arriving
with a sign-off are picked up by the lifecycle tick (``open_low_rating_complaints``)
so the sync push path stays untouched.

Complaints (category ``complaint``: 2 h respond, 15 days resolve) close only
after the customer confirms: ``close_ticket`` refuses a complaint with 409
``customer_confirmation_required`` until ``confirm_by_customer`` is recorded.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec

from server.context import Services, new_id
from server.domain.records import job_feed_data
from server.domain.sla.service import policy_for, sla_events
from server.domain.sla.state import compute_sla
from server.domain.tickets.service import add_event
from server.errors import BadRequest, Conflict, NotFound
from server.feed import emit, engineer_scope
from sync.storage import Row, Tx

LOW_RATING: Final = 2
ACTIVE_JOB_STATUSES: Final = ("assigned", "accepted", "en_route", "on_site", "in_progress", "on_hold", "reopened")
CLOSABLE_JOB_STATUSES: Final = ("completed", "signed_off", "cannot_complete")

Note = Annotated[str, msgspec.Meta(max_length=2000)]


class FollowUpIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The follow-up call: was the customer reached, their rating (1-5) and comment."""

    reached: bool
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None
    comment: Note = ""


class ConfirmationIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The customer confirms the complaint is resolved."""

    confirmed_by: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    note: Note = ""


class NoteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An optional note (acknowledging a ticket, closing it)."""

    note: Note = ""


class FollowUp(msgspec.Struct, kw_only=True):
    """A resolved ticket's follow-up: its SLA clock, the calls made, and any complaint it opened."""

    ticket_id: str
    customer: str
    site: str
    category: str
    priority: str
    resolved_at: int | None
    due_at: int | None
    state: str  # due | overdue | done
    breached: bool
    attempts: int
    reached_at: int | None
    rating: int | None
    comment: str
    complaint_ids: list[str]


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


# -- complaints from low ratings --------------------------------------------------------------------------


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


# -- follow-up --------------------------------------------------------------------------------------------


def _ticket(tx: Tx, ticket_id: str, lock: bool = False) -> Row:
    sql = "SELECT * FROM tickets WHERE id = ?"
    t = tx.lock(sql, (ticket_id,)) if lock else tx.one(sql, (ticket_id,))
    if t is None:
        raise NotFound("unknown_ticket", f"no ticket {ticket_id!r}")
    return t


def _follow_up(services: Services, tx: Tx, ticket: Row, now: int) -> FollowUp:
    events = tx.query("SELECT kind, at FROM ticket_events WHERE ticket_id = ? ORDER BY at, received_at",
                      (ticket["id"],))
    states = compute_sla(policy_for(services, ticket),
                         sla_events(ticket["status"], ((e["kind"], int(e["at"])) for e in events)), now)
    state = states.get("follow_up")
    calls = tx.query("SELECT * FROM followups WHERE ticket_id = ? ORDER BY at, id", (ticket["id"],))
    reached = [c for c in calls if c["reached"]]
    links = tx.query("SELECT complaint_id FROM complaint_links WHERE origin_ticket_id = ? ORDER BY created_at",
                     (ticket["id"],))
    resolved = [int(e["at"]) for e in events if e["kind"] == "completed"]
    if state is None or state.state in ("met", "cancelled"):
        label = "done"
    elif state.breached:
        label = "overdue"
    else:
        label = "due"
    last = reached[-1] if reached else None
    return FollowUp(ticket_id=ticket["id"], customer=ticket["customer"], site=ticket["site"],
                    category=ticket["category"], priority=ticket["priority"],
                    resolved_at=resolved[-1] if resolved else None, due_at=state.due_at if state else None,
                    state=label, breached=bool(state and state.breached), attempts=len(calls),
                    reached_at=last["at"] if last else None, rating=last["rating"] if last else None,
                    comment=last["comment"] if last else "", complaint_ids=[r["complaint_id"] for r in links])


def record_follow_up(services: Services, ticket_id: str, data: FollowUpIn, by: str) -> FollowUp:
    """Record a follow-up call; reached -> ``follow_up_done``; a rating <= 2 opens a linked complaint."""
    if data.rating is not None and not data.reached:
        raise BadRequest("rating_needs_contact", "a rating can only be recorded when the customer was reached")
    if "\x00" in data.comment:
        raise BadRequest("invalid_value", "text may not contain NUL characters")
    now = services.clock()
    fid = new_id("F-")
    with services.db.write() as tx:
        ticket = _ticket(tx, ticket_id, lock=True)
        if ticket["status"] == "cancelled":
            raise Conflict("ticket_cancelled", "the ticket is cancelled")
        if not tx.one("SELECT id FROM ticket_events WHERE ticket_id = ? AND kind = 'completed'", (ticket_id,)):
            raise Conflict("not_resolved", "a follow-up is due only after the ticket is resolved (a job completed)")
        tx.execute("INSERT INTO followups (id, ticket_id, reached, rating, comment, recorded_by, at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", (fid, ticket_id, int(data.reached), data.rating, data.comment,
                                                    by, now))
        kind = "follow_up_done" if data.reached else "follow_up_attempt"
        add_event(tx, ticket_id, kind, now, now, source=f"staff:{by}",
                  data={"rating": data.rating, "comment": data.comment, "reached": data.reached})
        if data.rating is not None and data.rating <= LOW_RATING:
            open_complaint(tx, ticket, None, "follow_up", f"followup:{fid}", data.rating, data.comment, now)
        return _follow_up(services, tx, ticket, now)


def list_follow_ups(services: Services, state: str | None = None, limit: int = 200) -> list[FollowUp]:
    """Resolved tickets with their follow-up state (``due``, ``overdue``, ``done``), due first."""
    if state is not None and state not in ("due", "overdue", "done"):
        raise BadRequest("invalid_parameter", "state is due, overdue or done")
    now = services.clock()
    with services.db.read() as tx:
        tickets = tx.query("SELECT * FROM tickets WHERE status <> 'cancelled' AND id IN "
                           "(SELECT ticket_id FROM ticket_events WHERE kind = 'completed') ORDER BY opened_at, id")
        items = [_follow_up(services, tx, t, now) for t in tickets]
    items = [i for i in items if state is None or i.state == state]
    items.sort(key=lambda i: (i.state == "done", i.due_at or 0, i.ticket_id))
    return items[:limit]


def get_follow_up(services: Services, ticket_id: str) -> FollowUp:
    with services.db.read() as tx:
        return _follow_up(services, tx, _ticket(tx, ticket_id), services.clock())


# -- complaints: respond, confirm, close ------------------------------------------------------------------


def acknowledge(services: Services, ticket_id: str, data: NoteIn, by: str) -> None:
    """The office responded to the ticket (stops the respond clock, e.g. a complaint answered by phone)."""
    now = services.clock()
    with services.db.write() as tx:
        ticket = _ticket(tx, ticket_id, lock=True)
        if ticket["status"] in ("closed", "cancelled"):
            raise Conflict("ticket_closed", f"ticket is {ticket['status']}")
        add_event(tx, ticket_id, "acknowledged", now, now, source=f"staff:{by}", data={"note": data.note})


def confirm_by_customer(services: Services, ticket_id: str, data: ConfirmationIn, by: str) -> None:
    """Record the customer's confirmation that the complaint is resolved (once).

    It resolves the complaint (a ``completed`` event when none was recorded)
    and, the customer having been reached, completes the follow-up.
    """
    if "\x00" in data.confirmed_by + data.note:
        raise BadRequest("invalid_value", "text may not contain NUL characters")
    now = services.clock()
    with services.db.write() as tx:
        ticket = _ticket(tx, ticket_id, lock=True)
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


def close_ticket(services: Services, ticket_id: str, data: NoteIn, by: str) -> None:
    """Close a ticket and its finished jobs; a complaint needs the customer's confirmation first."""
    now = services.clock()
    with services.db.write() as tx:
        ticket = _ticket(tx, ticket_id, lock=True)
        if ticket["status"] == "closed":
            raise Conflict("already_closed", "the ticket is already closed")
        if ticket["status"] == "cancelled":
            raise Conflict("ticket_cancelled", "the ticket is cancelled")
        if ticket["category"] == "complaint" and not tx.one(
                "SELECT ticket_id FROM customer_confirmations WHERE ticket_id = ?", (ticket_id,)):
            raise Conflict("customer_confirmation_required",
                           "a complaint is closed only once the customer has confirmed the resolution "
                           f"(POST /v1/tickets/{ticket_id}/customer-confirmation)")
        jobs = tx.query("SELECT * FROM jobs WHERE ticket_id = ? ORDER BY id", (ticket_id,))
        active = [j["id"] for j in jobs if j["status"] in ACTIVE_JOB_STATUSES]
        if active:
            raise Conflict("jobs_open", f"jobs still in progress: {', '.join(active)}", job_ids=active)
        for j in jobs:
            if j["status"] not in CLOSABLE_JOB_STATUSES:
                continue
            tx.execute("UPDATE jobs SET status = 'closed', updated_at = ? WHERE id = ?", (now, j["id"]))
            add_event(tx, ticket_id, "closed", now, now, job_id=j["id"], source=f"staff:{by}")
            fresh = tx.one("SELECT * FROM jobs WHERE id = ?", (j["id"],))
            assert fresh is not None
            emit(tx, engineer_scope(j["engineer_id"]), "job", j["id"], job_feed_data(fresh, ticket))
        tx.execute("UPDATE tickets SET status = 'closed', updated_at = ? WHERE id = ?", (now, ticket_id))
        add_event(tx, ticket_id, "ticket_closed", now, now, source=f"staff:{by}", data={"note": data.note})


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
