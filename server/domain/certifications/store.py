"""SQL of certifications (``certifications``), the training behind them (``trainings``) and the facts the
dispatch check reads (engineers, a ticket's asset)."""

from __future__ import annotations

from sync.storage import Row, Tx


def engineer_exists(tx: Tx, engineer_id: str) -> bool:
    return tx.one("SELECT id FROM engineers WHERE id = ?", (engineer_id,)) is not None


def insert(tx: Tx, cert_id: str, engineer_id: str, equipment_type: str, name: str, issued_at: int | None,
           expires_at: int | None, now: int, by: str, training_id: str | None = None) -> None:
    tx.execute("INSERT INTO certifications (id, engineer_id, equipment_type, name, issued_at, expires_at, "
               "created_at, created_by, training_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (cert_id, engineer_id, equipment_type, name, issued_at, expires_at, now, by, training_id))


def certification(tx: Tx, cert_id: str) -> Row | None:
    return tx.one("SELECT * FROM certifications WHERE id = ?", (cert_id,))


def of_engineer(tx: Tx, engineer_id: str) -> list[Row]:
    """An engineer's certifications by equipment type, oldest first."""
    return tx.query("SELECT * FROM certifications WHERE engineer_id = ? ORDER BY equipment_type, created_at",
                    (engineer_id,))


def for_equipment(tx: Tx, engineer_id: str, equipment_type: str) -> list[Row]:
    """An engineer's certifications for one equipment type, latest expiry first."""
    return tx.query("SELECT * FROM certifications WHERE engineer_id = ? AND equipment_type = ? "
                    "ORDER BY expires_at DESC", (engineer_id, equipment_type))


def ticket_equipment_type(tx: Tx, ticket_id: str) -> str | None:
    """The equipment type recorded on the ticket's asset, as stored (None when there is none)."""
    row = tx.one("SELECT a.equipment_type FROM tickets t JOIN assets a ON a.serial = t.asset_serial "
                 "WHERE t.id = ?", (ticket_id,))
    return None if row is None else row["equipment_type"]


def insert_training(tx: Tx, training_id: str, engineer_id: str, course: str, held_on: str, trainer: str, result: str,
                    score: int | None, notes: str, now: int, by: str) -> None:
    tx.execute("INSERT INTO trainings (id, engineer_id, course, held_on, trainer, result, score, notes, created_at, "
               "created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (training_id, engineer_id, course, held_on, trainer, result, score, notes, now, by))


def training(tx: Tx, training_id: str) -> Row | None:
    return tx.one("SELECT * FROM trainings WHERE id = ?", (training_id,))


def trainings_of(tx: Tx, engineer_id: str) -> list[Row]:
    """An engineer's training records, oldest first."""
    return tx.query("SELECT * FROM trainings WHERE engineer_id = ? ORDER BY held_on, created_at, id", (engineer_id,))


def certified_by(tx: Tx, training_ids: list[str]) -> dict[str, list[str]]:
    """The certifications earned with each of ``training_ids`` (ids, oldest first)."""
    if not training_ids:
        return {}
    marks = ",".join("?" for _ in training_ids)
    out: dict[str, list[str]] = {}
    for r in tx.query(f"SELECT id, training_id FROM certifications WHERE training_id IN ({marks}) "
                      "ORDER BY created_at, id", training_ids):
        out.setdefault(r["training_id"], []).append(r["id"])
    return out
