"""SQL of tickets and jobs: the lookups other views need, and closing a ticket with its jobs."""

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
    """job id -> ``id``, ``engineer_id``, ``customer``, ``site``, ``ticket_id``, ``template_id``,
    ``template_version`` of the jobs named."""
    if not job_ids:
        return {}
    return {r["id"]: r for r in tx.query(
        f"SELECT j.id, j.engineer_id, t.customer, t.site, t.id AS ticket_id, j.template_id, j.template_version "
        f"FROM jobs j "
        f"JOIN tickets t ON t.id = j.ticket_id WHERE j.id IN ({_marks(job_ids)})", job_ids)}


def ticket(tx: Tx, ticket_id: str, *, lock: bool = False) -> Row | None:
    """A ticket row (locked for the rest of the transaction when ``lock``)."""
    sql = "SELECT * FROM tickets WHERE id = ?"
    return tx.lock(sql, (ticket_id,)) if lock else tx.one(sql, (ticket_id,))


def customer_confirmed(tx: Tx, ticket_id: str) -> bool:
    return tx.one("SELECT ticket_id FROM customer_confirmations WHERE ticket_id = ?", (ticket_id,)) is not None


def jobs_of(tx: Tx, ticket_id: str) -> list[Row]:
    return tx.query("SELECT * FROM jobs WHERE ticket_id = ? ORDER BY id", (ticket_id,))


def job(tx: Tx, job_id: str) -> Row | None:
    return tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))


def close_job(tx: Tx, job_id: str, now: int) -> None:
    tx.execute("UPDATE jobs SET status = 'closed', updated_at = ? WHERE id = ?", (now, job_id))


def close_ticket(tx: Tx, ticket_id: str, now: int) -> None:
    tx.execute("UPDATE tickets SET status = 'closed', updated_at = ? WHERE id = ?", (now, ticket_id))


def lock_job(tx: Tx, job_id: str) -> Row | None:
    """A job row, locked for the rest of the transaction."""
    return tx.lock("SELECT * FROM jobs WHERE id = ?", (job_id,))


def job_was_on_site(tx: Tx, job_id: str) -> bool:
    """Whether anyone arrived on site for this job (an ``on_site`` event on its ticket's timeline)."""
    return tx.one("SELECT id FROM ticket_events WHERE job_id = ? AND kind = 'on_site'", (job_id,)) is not None


def complete_remotely(tx: Tx, job_id: str, resolution: str, diagnosis: str, now: int) -> None:
    """The job completed without a visit: remote, with its resolution and diagnosis."""
    tx.execute("UPDATE jobs SET status = 'completed', remote = 1, resolution = ?, diagnosis = ?, hold_reason = NULL, "
               "updated_at = ? WHERE id = ?", (resolution, diagnosis, now, job_id))


#: the ticket columns a back-office correction may set (``editing.EDITABLE``)
CORRECTABLE = frozenset({"customer", "site", "priority", "title", "description"})


def correct(tx: Tx, ticket_id: str, changes: dict[str, str], now: int) -> None:
    """Set the corrected fields of a ticket (names from :data:`CORRECTABLE` only)."""
    names = sorted(changes)
    if not names or not set(names) <= CORRECTABLE:
        raise ValueError(f"not correctable: {sorted(set(names) - CORRECTABLE)}")
    assignments = ", ".join(f"{name} = ?" for name in names)
    tx.execute(f"UPDATE tickets SET {assignments}, updated_at = ? WHERE id = ?",
               [*(changes[name] for name in names), now, ticket_id])


def changed(tx: Tx, since: int, after: tuple[int, str] | None, ceiling: int | None, limit: int) -> list[Row]:
    """``id`` and ``change_pos`` of tickets written at or after ``since`` (epoch ms), in the order of changes.

    Only past ``after`` (a position and id already read) and below ``ceiling`` (no write below it can still
    commit; None: none in flight, SQLite).
    """
    sql = "SELECT id, change_pos FROM tickets WHERE updated_at >= ?"
    params: list[int | str] = [since]
    if after is not None:
        sql += " AND (change_pos > ? OR (change_pos = ? AND id > ?))"
        params += [after[0], after[0], after[1]]
    if ceiling is not None:
        sql += " AND change_pos < ?"
        params.append(ceiling)
    return tx.query(sql + " ORDER BY change_pos, id LIMIT ?", [*params, limit])


def positions(tx: Tx, ticket_ids: list[str]) -> dict[str, int]:
    """ticket id -> its ``change_pos`` now."""
    if not ticket_ids:
        return {}
    return {r["id"]: int(r["change_pos"]) for r in tx.query(
        f"SELECT id, change_pos FROM tickets WHERE id IN ({_marks(ticket_ids)})", ticket_ids)}


def by_external_ref(tx: Tx, external_ref: str) -> str | None:
    """The id of the ticket with this external reference, if any."""
    row = tx.one("SELECT id FROM tickets WHERE external_ref = ?", (external_ref,))
    return None if row is None else str(row["id"])
