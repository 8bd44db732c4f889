"""SQL of the review queue: conflicts, and the job, answer and ticket rows a resolution writes and reads."""

from __future__ import annotations

from server.json_columns import loads
from sync.storage import Row, Tx


def conflicts(tx: Tx, status: str | None, job_id: str | None, limit: int) -> list[Row]:
    """Conflicts, oldest first, of a status and/or a job when given."""
    sql, params = "SELECT * FROM conflicts WHERE 1 = 1", []
    if status:
        sql += " AND status = ?"
        params.append(status)
    if job_id:
        sql += " AND job_id = ?"
        params.append(job_id)
    return tx.query(sql + " ORDER BY created_at, id LIMIT ?", [*params, limit])


def conflict(tx: Tx, conflict_id: str, *, lock: bool = False) -> Row | None:
    """A conflict (locked for the rest of the transaction when ``lock``)."""
    sql = "SELECT * FROM conflicts WHERE id = ?"
    return tx.lock(sql, (conflict_id,)) if lock else tx.one(sql, (conflict_id,))


def mark_resolved(tx: Tx, conflict_id: str, resolution: str, by: str, now: int) -> None:
    """The conflict resolved, with its resolution (encoded JSON) and who resolved it."""
    tx.execute("UPDATE conflicts SET status = 'resolved', resolved_at = ?, resolution = ?, resolved_by = ? "
               "WHERE id = ?", (now, resolution, by, conflict_id))


def job_engineer(tx: Tx, job_id: str) -> Row | None:
    """``engineer_id`` and ``ticket_id`` of a job; None when there is no such job."""
    return tx.one("SELECT engineer_id, ticket_id FROM jobs WHERE id = ?", (job_id,))


def lock_job(tx: Tx, job_id: str) -> Row | None:
    """A job row, locked for the rest of the transaction."""
    return tx.lock("SELECT * FROM jobs WHERE id = ?", (job_id,))


def job(tx: Tx, job_id: str) -> Row | None:
    return tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))


def ticket(tx: Tx, ticket_id: str) -> Row | None:
    return tx.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))


def set_answer(tx: Tx, job_id: str, item_key: str, value: str, hlc: int) -> None:
    """An answer's value (encoded JSON) as the server writes it (``device_id`` ``server``, not deleted)."""
    tx.execute("UPDATE answers SET value = ?, hlc = ?, device_id = 'server', deleted = 0 "
               "WHERE job_id = ? AND item_key = ?", (value, hlc, job_id, item_key))


def answer(tx: Tx, job_id: str, item_key: str) -> Row | None:
    return tx.one("SELECT * FROM answers WHERE job_id = ? AND item_key = ?", (job_id, item_key))


def set_job_field(tx: Tx, job_id: str, field: str, value: str, field_meta: str, now: int) -> None:
    """A job's text field with its merge metadata (encoded JSON).

    ``field`` becomes a column name: callers pass only a key of ``schemas.rules.JOB_FIELD_TYPES``.
    """
    tx.execute(f"UPDATE jobs SET {field} = ?, field_meta = ?, updated_at = ? WHERE id = ?",
               (value, field_meta, now, job_id))


def set_job_status(tx: Tx, job_id: str, status: str, now: int) -> None:
    tx.execute("UPDATE jobs SET status = ?, updated_at = ? WHERE id = ?", (status, now, job_id))


def open_visit(tx: Tx, job_id: str, device_id: str) -> Row | None:
    """The open late-work item of one device's visit to a job (its ``values[1:]`` are that device's ops)."""
    for row in tx.query("SELECT * FROM conflicts WHERE kind = 'late_work' AND key = 'visit' AND job_id = ? "
                        "AND status = 'open' ORDER BY created_at, id", (job_id,)):
        vals = loads(row["vals"], [])
        if len(vals) > 1 and vals[1].get("device_id") == device_id:
            return row
    return None


def insert_conflict(tx: Tx, conflict_id: str, kind: str, job_id: str, key: str, vals: str, applied: int,
                    now: int) -> None:
    """A new open review item (``vals``: its values, encoded JSON)."""
    tx.execute("INSERT INTO conflicts (id, kind, job_id, key, status, vals, applied, created_at) "
               "VALUES (?, ?, ?, ?, 'open', ?, ?, ?)", (conflict_id, kind, job_id, key, vals, applied, now))


def set_values(tx: Tx, conflict_id: str, vals: str) -> None:
    """An open item's values (encoded JSON), extended by later work of the same visit."""
    tx.execute("UPDATE conflicts SET vals = ? WHERE id = ?", (vals, conflict_id))


def device(tx: Tx, device_id: str) -> Row | None:
    """A device's engineer, public key and measured clock (revoked ones too: their past work stays theirs)."""
    return tx.one("SELECT id, engineer_id, public_key, clock_offset_ms, clock_known FROM devices WHERE id = ?",
                  (device_id,))
