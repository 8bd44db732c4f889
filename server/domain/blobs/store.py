"""SQL of blobs: complete blobs (``blobs``, ``blob_chunks``), uploads in progress per device (``blob_uploads``,
``blob_upload_chunks``) and the attachments that name them."""

from __future__ import annotations

from sync.storage import Row, Tx


def complete_size(tx: Tx, sha256: str) -> int | None:
    """The size of the complete blob, None when there is none yet."""
    row = tx.one("SELECT size FROM blobs WHERE sha256 = ? AND complete = 1", (sha256,))
    return None if row is None else int(row["size"])


def upload(tx: Tx, sha256: str, device_id: str, *, lock: bool = False) -> Row | None:
    """``size`` and ``received`` of this device's upload of the blob (locked for update when ``lock``)."""
    sql = "SELECT size, received FROM blob_uploads WHERE sha256 = ? AND device_id = ?"
    return tx.lock(sql, (sha256, device_id)) if lock else tx.one(sql, (sha256, device_id))


def drop_upload(tx: Tx, sha256: str, device_id: str) -> None:
    """Forget this device's upload of the blob and its chunks."""
    tx.execute("DELETE FROM blob_upload_chunks WHERE sha256 = ? AND device_id = ?", (sha256, device_id))
    tx.execute("DELETE FROM blob_uploads WHERE sha256 = ? AND device_id = ?", (sha256, device_id))


def start_upload(tx: Tx, sha256: str, device_id: str, size: int, now: int) -> None:
    tx.execute("INSERT INTO blob_uploads (sha256, device_id, size, received, created_at) VALUES (?, ?, ?, 0, ?)",
               (sha256, device_id, size, now))


def add_chunk(tx: Tx, sha256: str, device_id: str, offset: int, data: bytes) -> None:
    tx.execute("INSERT INTO blob_upload_chunks (sha256, device_id, offset_, data) VALUES (?, ?, ?, ?)",
               (sha256, device_id, offset, data))


def set_received(tx: Tx, sha256: str, device_id: str, received: int) -> None:
    tx.execute("UPDATE blob_uploads SET received = ? WHERE sha256 = ? AND device_id = ?",
               (received, sha256, device_id))


def upload_chunks(tx: Tx, sha256: str, device_id: str) -> list[bytes]:
    """This device's uploaded chunks of the blob, in offset order."""
    return [bytes(c["data"]) for c in tx.query(
        "SELECT data FROM blob_upload_chunks WHERE sha256 = ? AND device_id = ? ORDER BY offset_",
        (sha256, device_id))]


def complete_from_upload(tx: Tx, sha256: str, device_id: str, size: int, now: int) -> None:
    """Make this device's upload the blob, unless another upload completed it first."""
    if tx.execute("INSERT INTO blobs (sha256, size, received, complete, created_at) VALUES (?, ?, ?, 1, ?) "
                  "ON CONFLICT (sha256) DO NOTHING", (sha256, size, size, now)):
        tx.execute("INSERT INTO blob_chunks (sha256, offset_, data) SELECT sha256, offset_, data "
                   "FROM blob_upload_chunks WHERE sha256 = ? AND device_id = ?", (sha256, device_id))


def is_complete(tx: Tx, sha256: str) -> bool:
    row = tx.one("SELECT complete FROM blobs WHERE sha256 = ?", (sha256,))
    return row is not None and bool(row["complete"])


def chunks(tx: Tx, sha256: str) -> list[bytes]:
    """The chunks of a complete blob, in offset order."""
    return [bytes(c["data"]) for c in tx.query("SELECT data FROM blob_chunks WHERE sha256 = ? ORDER BY offset_",
                                               (sha256,))]


def content_type(tx: Tx, sha256: str) -> str | None:
    """The content type an attachment declared for the blob (the first one found)."""
    row = tx.one("SELECT content_type FROM attachments WHERE sha256 = ? LIMIT 1", (sha256,))
    return None if row is None else row["content_type"]


def attachment_content_types(tx: Tx, job_id: str) -> dict[str, str]:
    """sha256 -> declared content type of the job's attachments."""
    return {r["sha256"]: r["content_type"] for r in tx.query(
        "SELECT sha256, content_type FROM attachments WHERE job_id = ?", (job_id,))}
