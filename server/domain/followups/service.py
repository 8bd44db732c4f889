"""Follow-up calls after a resolved ticket, and the customer's satisfaction taken on them.

Every resolved ticket (a ``completed`` event) starts the SLA ``follow_up``
clock (24 h, see the SLA policies); ``record_follow_up`` writes the call and,
when the customer was reached, the ``follow_up_done`` event that stops it (an
unanswered call is a ``follow_up_attempt`` and the clock runs on).  A rating of
2 or less on the call opens a complaint (:mod:`server.domain.complaints`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from schemas.instant import Instant
from server.domain.complaints.service import LOW_RATING, open_complaint
from server.domain.followups import store
from server.domain.sla.service import policy_for, sla_events
from server.domain.sla.state import compute_sla
from server.domain.tickets.closing import Note, ticket_row
from server.domain.tickets.service import add_event
from server.errors import BadRequest, Conflict
from server.ids import new_id
from server.services import Services
from sync.storage import Row, Tx


class FollowUpIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The follow-up call: was the customer reached, their rating (1-5) and comment."""

    reached: bool
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None
    comment: Note = ""


class FollowUp(msgspec.Struct, kw_only=True):
    """A resolved ticket's follow-up: its SLA clock, the calls made, and any complaint it opened."""

    ticket_id: str
    customer: str
    site: str
    category: str
    priority: str
    resolved_at: Instant | None
    due_at: Instant | None
    state: str  # due | overdue | done
    breached: bool
    attempts: int
    reached_at: Instant | None
    rating: int | None
    comment: str
    complaint_ids: list[str]


def _follow_up(services: Services, tx: Tx, ticket: Row, now: int) -> FollowUp:
    events = store.timeline(tx, ticket["id"])
    states = compute_sla(policy_for(services, ticket),
                         sla_events(ticket["status"], ((e["kind"], int(e["at"])) for e in events)), now)
    state = states.get("follow_up")
    calls = store.calls(tx, ticket["id"])
    reached = [c for c in calls if c["reached"]]
    complaint_ids = store.complaint_ids(tx, ticket["id"])
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
                    comment=last["comment"] if last else "", complaint_ids=complaint_ids)


def record_follow_up(services: Services, ticket_id: str, data: FollowUpIn, by: str) -> FollowUp:
    """Record a follow-up call; reached -> ``follow_up_done``; a rating <= 2 opens a linked complaint."""
    if data.rating is not None and not data.reached:
        raise BadRequest("rating_needs_contact", "a rating can only be recorded when the customer was reached")
    if "\x00" in data.comment:
        raise BadRequest("invalid_value", "text may not contain NUL characters")
    now = services.clock()
    fid = new_id("F-")
    with services.db.write() as tx:
        ticket = ticket_row(tx, ticket_id, lock=True)
        if ticket["status"] == "cancelled":
            raise Conflict("ticket_cancelled", "the ticket is cancelled")
        if not store.is_resolved(tx, ticket_id):
            raise Conflict("not_resolved", "a follow-up is due only after the ticket is resolved (a job completed)")
        store.insert_call(tx, fid, ticket_id, data.reached, data.rating, data.comment, by, now)
        kind = "follow_up_done" if data.reached else "follow_up_attempt"
        add_event(tx, ticket_id, kind, now, now, source=f"staff:{by}",
                  data={"rating": data.rating, "comment": data.comment, "reached": data.reached})
        if data.rating is not None and data.rating <= LOW_RATING:
            open_complaint(tx, ticket, None, "follow_up", f"followup:{fid}", data.rating, data.comment, now,
                           services.settings.locale)
        return _follow_up(services, tx, ticket, now)


def list_follow_ups(services: Services, state: str | None = None, limit: int = 200) -> list[FollowUp]:
    """Resolved tickets with their follow-up state (``due``, ``overdue``, ``done``), due first."""
    if state is not None and state not in ("due", "overdue", "done"):
        raise BadRequest("invalid_parameter", "state is due, overdue or done")
    now = services.clock()
    with services.db.read() as tx:
        items = [_follow_up(services, tx, t, now) for t in store.resolved_tickets(tx)]
    items = [i for i in items if state is None or i.state == state]
    items.sort(key=lambda i: (i.state == "done", i.due_at or 0, i.ticket_id))
    return items[:limit]


def get_follow_up(services: Services, ticket_id: str) -> FollowUp:
    with services.db.read() as tx:
        return _follow_up(services, tx, ticket_row(tx, ticket_id), services.clock())
