"""SQL of signed reports: the sign-off, the job and ticket it belongs to, and what the report prints."""

from __future__ import annotations

from sync.storage import Row, Tx

#: the ticket events that are a job's status changes (the report's timeline)
_STATUS_EVENT_SQL = ("SELECT kind, at FROM ticket_events WHERE ticket_id = ? AND job_id = ? AND kind IN ({marks}) "
                     "ORDER BY at, received_at, id")


def job(tx: Tx, job_id: str) -> Row | None:
    return tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))


def signoff(tx: Tx, job_id: str) -> Row | None:
    return tx.one("SELECT * FROM signoffs WHERE job_id = ?", (job_id,))


def device(tx: Tx, device_id: str) -> Row | None:
    return tx.one("SELECT engineer_id, public_key FROM devices WHERE id = ?", (device_id,))


def ticket(tx: Tx, ticket_id: str) -> Row | None:
    return tx.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))


def engineer_name(tx: Tx, engineer_id: str) -> str:
    row = tx.one("SELECT name FROM engineers WHERE id = ?", (engineer_id,))
    return str(row["name"]) if row is not None else ""


def template(tx: Tx, template_id: str, version: int) -> Row | None:
    return tx.one("SELECT name, items FROM templates WHERE id = ? AND version = ?", (template_id, version))


def parts(tx: Tx, part_nos: list[str]) -> list[Row]:
    if not part_nos:
        return []
    marks = ", ".join("?" for _ in part_nos)
    return tx.query(f"SELECT part_no, name, unit_price_cents FROM parts WHERE part_no IN ({marks})", tuple(part_nos))


def billable(tx: Tx, job_id: str) -> list[Row]:
    """The job's consumption lines whose warranty was decided (billable 1, or 0 under warranty)."""
    return tx.query("SELECT id, billable FROM movements WHERE job_id = ? AND billable IS NOT NULL", (job_id,))


def status_events(tx: Tx, ticket_id: str, job_id: str, statuses: tuple[str, ...]) -> list[Row]:
    marks = ", ".join("?" for _ in statuses)
    return tx.query(_STATUS_EVENT_SQL.format(marks=marks), (ticket_id, job_id, *statuses))


def blob(tx: Tx, sha256: str) -> bytes | None:
    """The bytes of a complete blob, None when it has not (fully) arrived."""
    row = tx.one("SELECT complete FROM blobs WHERE sha256 = ?", (sha256,))
    if row is None or not row["complete"]:
        return None
    return b"".join(bytes(c["data"]) for c in tx.query(
        "SELECT data FROM blob_chunks WHERE sha256 = ? ORDER BY offset_", (sha256,)))


def amendments(tx: Tx, job_id: str) -> list[Row]:
    """The job's amendments of signed content, oldest first (``value`` as encoded JSON)."""
    return tx.query("SELECT target, key, value, reason, at, engineer_id, device_id FROM amendments "
                    "WHERE job_id = ? ORDER BY at, op_id", (job_id,))
