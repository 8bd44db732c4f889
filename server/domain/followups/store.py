"""SQL of follow-up calls (``followups``) and of the resolved tickets and timelines they are read with."""

from __future__ import annotations

from sync.storage import Row, Tx


def timeline(tx: Tx, ticket_id: str) -> list[Row]:
    """``kind``, ``at`` of a ticket's events in time order."""
    return tx.query("SELECT kind, at FROM ticket_events WHERE ticket_id = ? ORDER BY at, received_at", (ticket_id,))


def calls(tx: Tx, ticket_id: str) -> list[Row]:
    """The follow-up calls made on a ticket, in order."""
    return tx.query("SELECT * FROM followups WHERE ticket_id = ? ORDER BY at, id", (ticket_id,))


def complaint_ids(tx: Tx, origin_ticket_id: str) -> list[str]:
    """The complaints a ticket opened, oldest first."""
    return [r["complaint_id"] for r in tx.query(
        "SELECT complaint_id FROM complaint_links WHERE origin_ticket_id = ? ORDER BY created_at", (origin_ticket_id,))]


def is_resolved(tx: Tx, ticket_id: str) -> bool:
    """True when a job of the ticket was completed."""
    return tx.one("SELECT id FROM ticket_events WHERE ticket_id = ? AND kind = 'completed'", (ticket_id,)) is not None


def insert_call(tx: Tx, call_id: str, ticket_id: str, reached: bool, rating: int | None, comment: str, by: str,
                now: int) -> None:
    tx.execute("INSERT INTO followups (id, ticket_id, reached, rating, comment, recorded_by, at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)", (call_id, ticket_id, int(reached), rating, comment, by, now))


def resolved_tickets(tx: Tx) -> list[Row]:
    """Tickets not cancelled with a completed job, in opening order."""
    return tx.query("SELECT * FROM tickets WHERE status <> 'cancelled' AND id IN "
                    "(SELECT ticket_id FROM ticket_events WHERE kind = 'completed') ORDER BY opened_at, id")
