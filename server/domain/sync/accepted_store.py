"""SQL of accepted change-sets: verified, answered 202, waiting for their merge (migration 24).

A row holds the envelope exactly as verified and the signed ``Accepted`` bytes a repeat is answered
with; merging moves it to ``changesets`` in the merge's own transaction
(:mod:`server.domain.sync.intake`).  A merge that failed keeps its row with the error and when to try
again.  Every function runs inside the caller's transaction.
"""

from __future__ import annotations

from typing import Final

from sync.storage import Row, Tx

#: the columns a merge needs
_COLUMNS: Final = ("device_id, seq, hash, accepted_at, op_count, envelope, accepted, clock_offset_ms, clock_known, "
                   "attempts, next_attempt_at")
#: the same without the bytes (a device's queue is listed before each change-set's envelope is read)
_LIGHT: Final = "device_id, seq, hash, accepted_at, op_count, clock_offset_ms, clock_known, attempts, next_attempt_at"


def insert(tx: Tx, device_id: str, seq: int, changeset_hash: str, accepted_at: int, op_count: int,
           envelope: bytes, accepted: bytes, clock_offset_ms: int, clock_known: bool) -> None:
    """Store an accepted change-set (the caller holds the device's row lock and moves its chain head)."""
    tx.execute(f"INSERT INTO accepted_changesets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
               (device_id, seq, changeset_hash, accepted_at, op_count, envelope, accepted, clock_offset_ms,
                int(clock_known)))


def one(tx: Tx, device_id: str, seq: int) -> Row | None:
    """The device's accepted, unmerged change-set ``seq`` (None: none waits)."""
    return tx.one(f"SELECT {_COLUMNS} FROM accepted_changesets WHERE device_id = ? AND seq = ?", (device_id, seq))


def by_hash(tx: Tx, device_id: str, changeset_hash: str) -> Row | None:
    """The device's accepted, unmerged change-set with this hash (a retried upload commit asks)."""
    return tx.one(f"SELECT {_COLUMNS} FROM accepted_changesets WHERE device_id = ? AND hash = ?",
                  (device_id, changeset_hash))


def waiting_through(tx: Tx, device_id: str, seq: int) -> list[Row]:
    """The device's unmerged change-sets up to ``seq``, in chain order, without their bytes (:func:`envelope`)."""
    return tx.query(f"SELECT {_LIGHT} FROM accepted_changesets WHERE device_id = ? AND seq <= ? ORDER BY seq",
                    (device_id, seq))


def envelope(tx: Tx, device_id: str, seq: int) -> bytes:
    """The envelope of the device's accepted change-set ``seq``, as verified."""
    row = tx.one("SELECT envelope FROM accepted_changesets WHERE device_id = ? AND seq = ?", (device_id, seq))
    assert row is not None, f"accepted change-set {device_id}/{seq} vanished under its device's lock"
    return bytes(row["envelope"])


def due_devices(tx: Tx, now: int, limit: int) -> list[str]:
    """Devices with a change-set due for merging, those waiting longest first."""
    rows = tx.rows("SELECT device_id, MIN(accepted_at) AS since FROM accepted_changesets WHERE next_attempt_at <= ? "
                   "GROUP BY device_id ORDER BY since LIMIT ?", (now, limit))
    return [r[0] for r in rows]


def remove(tx: Tx, device_id: str, seq: int) -> None:
    """The change-set was merged (its receipt is in ``changesets``, written in this transaction)."""
    tx.execute("DELETE FROM accepted_changesets WHERE device_id = ? AND seq = ?", (device_id, seq))


def failed(tx: Tx, device_id: str, seq: int, error: str, retry_at: int) -> None:
    """Keep a change-set whose merge raised: count the attempt, keep the error, try again at ``retry_at``."""
    tx.execute("UPDATE accepted_changesets SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
               "WHERE device_id = ? AND seq = ?", (error[:2000], retry_at, device_id, seq))


def backlog(tx: Tx) -> Row:
    """``{pending, failing, oldest_accepted_at}`` over every device: what /metrics shows."""
    row = tx.one("SELECT COUNT(*) AS pending, COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0) AS failing, "
                 "MIN(accepted_at) AS oldest_accepted_at FROM accepted_changesets")
    assert row is not None
    return row
