"""SQL of resumable change-set uploads (``changeset_uploads``, ``changeset_upload_chunks``) and the stored
receipt a committed upload answers with."""

from __future__ import annotations

from sync.storage import Row, Tx


def upload(tx: Tx, device_id: str, sha256: str, *, lock: bool = False) -> Row | None:
    """``size``, ``received``, ``encoding`` and ``changeset_hash`` of the device's upload (locked when ``lock``)."""
    sql = ("SELECT size, received, encoding, changeset_hash FROM changeset_uploads "
           "WHERE device_id = ? AND sha256 = ?")
    return tx.lock(sql, (device_id, sha256)) if lock else tx.one(sql, (device_id, sha256))


def drop_upload(tx: Tx, device_id: str, sha256: str) -> None:
    """Forget one upload and its chunks."""
    tx.execute("DELETE FROM changeset_upload_chunks WHERE device_id = ? AND sha256 = ?", (device_id, sha256))
    tx.execute("DELETE FROM changeset_uploads WHERE device_id = ? AND sha256 = ?", (device_id, sha256))


def drop_other_uploads(tx: Tx, device_id: str, sha256: str, keep_committed: int) -> None:
    """Forget the device's other uploads in progress and all but its ``keep_committed`` newest committed ones.

    A device pushes its chain one change-set at a time, so an unfinished upload beside a new one is one it
    gave up (its bytes were sealed again after a reinstall, or compressed differently).
    """
    tx.execute("DELETE FROM changeset_upload_chunks WHERE device_id = ? AND sha256 <> ?", (device_id, sha256))
    tx.execute("DELETE FROM changeset_uploads WHERE device_id = ? AND sha256 <> ? AND changeset_hash IS NULL",
               (device_id, sha256))
    old = tx.query("SELECT sha256 FROM changeset_uploads WHERE device_id = ? AND changeset_hash IS NOT NULL "
                   "ORDER BY created_at DESC, sha256 LIMIT -1 OFFSET ?" if tx.dialect == "sqlite" else
                   "SELECT sha256 FROM changeset_uploads WHERE device_id = ? AND changeset_hash IS NOT NULL "
                   "ORDER BY created_at DESC, sha256 OFFSET ?", (device_id, keep_committed))
    for r in old:
        tx.execute("DELETE FROM changeset_uploads WHERE device_id = ? AND sha256 = ?", (device_id, r["sha256"]))


def start_upload(tx: Tx, device_id: str, sha256: str, size: int, encoding: str, now: int) -> None:
    tx.execute("INSERT INTO changeset_uploads (device_id, sha256, size, received, encoding, created_at) "
               "VALUES (?, ?, ?, 0, ?, ?)", (device_id, sha256, size, encoding, now))


def add_chunk(tx: Tx, device_id: str, sha256: str, offset: int, data: bytes, received: int) -> None:
    """Store a chunk at ``offset`` and the new ``received`` offset (one transaction with the caller's checks)."""
    tx.execute("INSERT INTO changeset_upload_chunks (device_id, sha256, offset_, data) VALUES (?, ?, ?, ?)",
               (device_id, sha256, offset, data))
    tx.execute("UPDATE changeset_uploads SET received = ? WHERE device_id = ? AND sha256 = ?",
               (received, device_id, sha256))


def chunks(tx: Tx, device_id: str, sha256: str) -> list[bytes]:
    """The upload's chunks in offset order."""
    return [bytes(c["data"]) for c in tx.query(
        "SELECT data FROM changeset_upload_chunks WHERE device_id = ? AND sha256 = ? ORDER BY offset_",
        (device_id, sha256))]


def mark_committed(tx: Tx, device_id: str, sha256: str, changeset_hash: str) -> None:
    """The upload's change-set is applied: keep the row with its change-set's hash, drop the chunks."""
    tx.execute("DELETE FROM changeset_upload_chunks WHERE device_id = ? AND sha256 = ?", (device_id, sha256))
    tx.execute("UPDATE changeset_uploads SET changeset_hash = ?, received = size WHERE device_id = ? AND sha256 = ?",
               (changeset_hash, device_id, sha256))


def stored_receipt(tx: Tx, device_id: str, changeset_hash: str) -> bytes | None:
    """The signed receipt the server stored for the device's change-set with this hash."""
    row = tx.one("SELECT receipt FROM changesets WHERE device_id = ? AND hash = ?", (device_id, changeset_hash))
    return None if row is None else bytes(row["receipt"])
