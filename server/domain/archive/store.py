"""SQL of the service archive: assets, their tickets and everything done on them, read in a few queries each."""

from __future__ import annotations

from collections.abc import Sequence

from sync.storage import Row, Tx


def _marks(items: Sequence[object]) -> str:
    return ",".join("?" for _ in items)


def asset(tx: Tx, serial: str) -> Row | None:
    return tx.one("SELECT * FROM assets WHERE serial = ?", (serial,))


def assets_of_customer(tx: Tx, customer_id: str) -> list[Row]:
    return tx.query("SELECT * FROM assets WHERE customer_id = ? ORDER BY serial", (customer_id,))


def tickets_of_asset(tx: Tx, serial: str, limit: int) -> list[Row]:
    """The asset's newest ``limit`` tickets."""
    return tx.query("SELECT * FROM tickets WHERE asset_serial = ? ORDER BY opened_at DESC, id LIMIT ?",
                    (serial, limit))


def tickets_of_customer(tx: Tx, customer_id: str, limit: int) -> list[Row]:
    """The customer's newest ``limit`` tickets."""
    return tx.query("SELECT * FROM tickets WHERE customer_id = ? ORDER BY opened_at DESC, id LIMIT ?",
                    (customer_id, limit))


def plans_of_asset(tx: Tx, serial: str) -> list[Row]:
    return tx.query("SELECT id, name, every_months, dates, engineer_id, active FROM plans "
                    "WHERE asset_serial = ? ORDER BY created_at", (serial,))


def plans_of_customer(tx: Tx, customer_id: str) -> list[Row]:
    return tx.query("SELECT id, name, asset_serial, site, every_months, dates, engineer_id, active FROM plans "
                    "WHERE customer_id = ? ORDER BY created_at", (customer_id,))


def customer_name(tx: Tx, customer_id: str) -> str | None:
    row = tx.one("SELECT name FROM customers WHERE id = ?", (customer_id,))
    return None if row is None else str(row["name"])


def jobs_of_tickets(tx: Tx, ticket_ids: list[str]) -> list[Row]:
    return tx.query(f"SELECT * FROM jobs WHERE ticket_id IN ({_marks(ticket_ids)}) ORDER BY created_at, id",
                    ticket_ids)


def movements_of_jobs(tx: Tx, job_ids: list[str]) -> list[Row]:
    return tx.query(f"SELECT * FROM movements WHERE job_id IN ({_marks(job_ids)}) ORDER BY at, id", job_ids)


def signoffs_of_jobs(tx: Tx, job_ids: list[str]) -> list[Row]:
    return tx.query(f"SELECT job_id, signer_name, signer_role, signed_at, report_digest, rating, comment "
                    f"FROM signoffs WHERE job_id IN ({_marks(job_ids)})", job_ids)


def on_site_and_completed_events(tx: Tx, job_ids: list[str]) -> list[Row]:
    """(job_id, kind, at) of the jobs' ``on_site`` and ``completed`` events, oldest first."""
    return tx.query(f"SELECT job_id, kind, at FROM ticket_events WHERE job_id IN ({_marks(job_ids)}) "
                    "AND kind IN ('on_site', 'completed') ORDER BY at", job_ids)


def followups_of_tickets(tx: Tx, ticket_ids: list[str]) -> list[Row]:
    return tx.query(f"SELECT * FROM followups WHERE ticket_id IN ({_marks(ticket_ids)}) ORDER BY at", ticket_ids)


def plan_visits_of_tickets(tx: Tx, ticket_ids: list[str]) -> list[Row]:
    return tx.query(f"SELECT plan_id, period, ticket_id, due_at FROM plan_visits "
                    f"WHERE ticket_id IN ({_marks(ticket_ids)})", ticket_ids)


def last_jobs_of_asset(tx: Tx, serial: str, statuses: Sequence[str], limit: int) -> list[Row]:
    """The asset's last ``limit`` jobs in ``statuses`` (latest update first), with their ticket's category and title."""
    return tx.query(
        "SELECT j.id, j.ticket_id, j.engineer_id, j.status, j.remote, j.diagnosis, j.resolution, j.updated_at, "
        "t.category, t.title FROM jobs j JOIN tickets t ON t.id = j.ticket_id "
        f"WHERE t.asset_serial = ? AND j.status IN ({_marks(statuses)}) "
        "ORDER BY j.updated_at DESC, j.id LIMIT ?", (serial, *statuses, limit))


def consumptions_of_jobs(tx: Tx, job_ids: list[str]) -> list[Row]:
    """(job_id, part_no, qty) of the jobs' consumptions, oldest first."""
    return tx.query(f"SELECT job_id, part_no, qty FROM movements WHERE kind = 'consume' "
                    f"AND job_id IN ({_marks(job_ids)}) ORDER BY at, id", job_ids)


def completed_at_of_jobs(tx: Tx, job_ids: list[str]) -> list[Row]:
    """(job_id, at): each job's last ``completed`` event."""
    return tx.query(f"SELECT job_id, MAX(at) AS at FROM ticket_events WHERE kind = 'completed' "
                    f"AND job_id IN ({_marks(job_ids)}) GROUP BY job_id", job_ids)
