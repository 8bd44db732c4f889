"""SQL of tickets and jobs that more than one view reads: titles, and a job with its ticket's customer and site."""

from __future__ import annotations

from sync.storage import Row, Tx


def _marks(values: list[str]) -> str:
    return ", ".join("?" for _ in values)


def titles(tx: Tx, ticket_ids: list[str]) -> dict[str, str]:
    """ticket id -> title, of the tickets named."""
    if not ticket_ids:
        return {}
    return {r["id"]: r["title"] for r in tx.query(f"SELECT id, title FROM tickets WHERE id IN ({_marks(ticket_ids)})",
                                                  ticket_ids)}


def job_contexts(tx: Tx, job_ids: list[str]) -> dict[str, Row]:
    """job id -> ``id``, ``engineer_id``, ``customer``, ``site``, ``ticket_id`` of the jobs named."""
    if not job_ids:
        return {}
    return {r["id"]: r for r in tx.query(
        f"SELECT j.id, j.engineer_id, t.customer, t.site, t.id AS ticket_id FROM jobs j "
        f"JOIN tickets t ON t.id = j.ticket_id WHERE j.id IN ({_marks(job_ids)})", job_ids)}
