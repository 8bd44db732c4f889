"""SQL of complaints: the link of a complaint to what it came from (``complaint_links``), the customer's
confirmation (``customer_confirmations``), and the sign-offs and tickets they are read with."""

from __future__ import annotations

from sync.storage import Row, Tx


def claim_link(tx: Tx, complaint_id: str, origin_ticket_id: str, origin_job_id: str | None, source: str,
               source_key: str, rating: int | None, now: int) -> bool:
    """Link a new complaint to its origin, once per ``source_key``; False when that key is linked already."""
    return tx.execute("INSERT INTO complaint_links (complaint_id, origin_ticket_id, origin_job_id, source, source_key, "
                      "rating, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source_key) DO NOTHING",
                      (complaint_id, origin_ticket_id, origin_job_id, source, source_key, rating, now)) == 1


def insert_complaint_ticket(tx: Tx, complaint_id: str, origin: Row, title: str, description: str, now: int) -> None:
    """The complaint's own ticket, at the origin's customer, site and asset."""
    tx.execute("INSERT INTO tickets (id, customer, site, priority, category, title, description, asset_serial, "
               "status, opened_at, created_by, created_at, updated_at, customer_id, site_id) "
               "VALUES (?, ?, ?, 'complaint', 'complaint', ?, ?, ?, 'open', ?, 'lifecycle', ?, ?, ?, ?)",
               (complaint_id, origin["customer"], origin["site"], title, description, origin["asset_serial"], now,
                now, now, origin["customer_id"], origin["site_id"]))


def low_rated_signoffs_without_complaint(tx: Tx, at_most: int) -> list[str]:
    """Job ids of sign-offs rated ``at_most`` or less that no complaint links to yet, oldest first."""
    return [r["job_id"] for r in tx.query(
        "SELECT s.job_id FROM signoffs s WHERE s.rating IS NOT NULL AND s.rating <= ? "
        "AND NOT EXISTS (SELECT 1 FROM complaint_links c WHERE c.source_key = 'signoff:' || s.job_id) "
        "ORDER BY s.received_at, s.job_id", (at_most,))]


def signoff_rating(tx: Tx, job_id: str) -> Row | None:
    """``job_id``, ``rating``, ``comment`` of a sign-off with its job's ``ticket_id``."""
    return tx.one("SELECT s.job_id, s.rating, s.comment, j.ticket_id FROM signoffs s "
                  "JOIN jobs j ON j.id = s.job_id WHERE s.job_id = ?", (job_id,))


def lock_ticket(tx: Tx, ticket_id: str) -> Row | None:
    return tx.lock("SELECT * FROM tickets WHERE id = ?", (ticket_id,))


def record_confirmation(tx: Tx, ticket_id: str, confirmed_by: str, note: str, by: str, now: int) -> bool:
    """The customer's confirmation, once per ticket; False when one is recorded already."""
    return tx.execute("INSERT INTO customer_confirmations (ticket_id, confirmed_by, note, recorded_by, at) "
                      "VALUES (?, ?, ?, ?, ?) ON CONFLICT (ticket_id) DO NOTHING",
                      (ticket_id, confirmed_by, note, by, now)) == 1


def confirmation(tx: Tx, ticket_id: str) -> Row | None:
    return tx.one("SELECT * FROM customer_confirmations WHERE ticket_id = ?", (ticket_id,))


def event_kinds(tx: Tx, ticket_id: str) -> set[str]:
    """The kinds of event on a ticket's timeline."""
    return {r["kind"] for r in tx.query("SELECT DISTINCT kind FROM ticket_events WHERE ticket_id = ?", (ticket_id,))}


def events(tx: Tx, ticket_id: str) -> list[tuple[str, int]]:
    """``(kind, at)`` of a ticket's timeline."""
    return [(e["kind"], int(e["at"])) for e in tx.query("SELECT kind, at FROM ticket_events WHERE ticket_id = ?",
                                                       (ticket_id,))]


def complaint_tickets(tx: Tx, status: str | None, limit: int) -> list[Row]:
    """Complaint tickets, newest first: ``open`` (not closed or cancelled), ``closed``, or all (None)."""
    sql = "SELECT * FROM tickets WHERE category = 'complaint'"
    if status == "open":
        sql += " AND status NOT IN ('closed', 'cancelled')"
    elif status == "closed":
        sql += " AND status = 'closed'"
    return tx.query(sql + " ORDER BY opened_at DESC, id LIMIT ?", (limit,))


def link(tx: Tx, complaint_id: str) -> Row | None:
    return tx.one("SELECT * FROM complaint_links WHERE complaint_id = ?", (complaint_id,))
