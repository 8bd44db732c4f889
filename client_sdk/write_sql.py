"""The statements the SDK's writes run on the tablet store, and the few lookups they make.

A staged write (:meth:`client_sdk.store.LocalStore.stage`) reads what its
checks need, then queues its row writes with ``WriteTx.defer``: the statements
here are what it queues, and the lookups are what it reads when the memo does
not hold the row yet (:mod:`client_sdk.writes` keeps the memo).  Lookups run
on ``WriteTx.raw``, which does not flush queued rows (see ``WriteTx``).

A queued statement must commute with every other queued statement (other
tables, or full-row writes): the store runs them per SQL text, not in the
order they were queued.
"""

from __future__ import annotations

from typing import Final

from client_sdk.store import Row, Tx

#: the job columns a write reads or writes (what the memo keeps of a job: not its ticket snapshot)
WRITE_JOB_COLUMNS: Final = (
    "id", "status", "hold_reason", "times", "notes", "diagnosis", "resolution", "remote", "rating",
    "customer_comment", "field_hlc", "signed_off", "updated_at", "template_id", "template_version",
)
_JOB_SELECT: Final = f"SELECT {', '.join(WRITE_JOB_COLUMNS)} FROM jobs WHERE id = ?"

#: a changed job, written whole (so the last queued row of a job is the one that counts)
JOB_UPDATE: Final = (
    "UPDATE jobs SET status = ?, hold_reason = ?, times = ?, notes = ?, diagnosis = ?, resolution = ?, remote = ?, "
    "rating = ?, customer_comment = ?, field_hlc = ?, signed_off = ?, updated_at = ? WHERE id = ?"
)
AMENDMENT_INSERT: Final = ("INSERT INTO amendments (op_id, job_id, edit_op_id, target, key, value, reason, at, "
                           "engineer_id, device_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
ANSWER_UPSERT: Final = (
    "INSERT OR REPLACE INTO answers (job_id, item_key, value, note, na_reason, hlc, device_id, template_version, "
    "deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)"
)
#: a consumption of the van's stock, ``local`` until the ledger confirms it
MOVEMENT_INSERT: Final = (
    "INSERT INTO movements (id, kind, part_no, qty, serial, returned_serial, job_id, at, local) "
    "VALUES (?, 'consume', ?, ?, ?, ?, ?, ?, 1)"
)
#: attachment bytes, content-addressed (the same bytes on two jobs are stored once)
BLOB_INSERT: Final = "INSERT OR IGNORE INTO blobs (sha256, size, data, uploaded, created_at) VALUES (?, ?, ?, 0, ?)"
ATTACHMENT_UPSERT: Final = (
    "INSERT OR REPLACE INTO attachments (job_id, sha256, kind, size, content_type, deleted) VALUES (?, ?, ?, ?, ?, 0)"
)
SIGNOFF_INSERT: Final = (
    "INSERT INTO signoffs (job_id, signer_name, signer_role, signed_at, report_digest, strokes, "
    "device_signature, rating, comment, content, op_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def job_for_write(tx: Tx, job_id: str) -> Row | None:
    """The job's :data:`WRITE_JOB_COLUMNS`."""
    row = tx.conn.execute(_JOB_SELECT, (job_id,)).fetchone()
    return None if row is None else dict(zip(WRITE_JOB_COLUMNS, row, strict=True))


def answer_hlcs(tx: Tx, job_id: str) -> dict[str, int]:
    """The HLC of each answer of the job, by item key (deleted ones too: a new answer follows them)."""
    rows = tx.conn.execute("SELECT item_key, hlc FROM answers WHERE job_id = ?", (job_id,)).fetchall()
    return {k: int(h or 0) for k, h in rows}


def part_serialized(tx: Tx, part_no: str) -> bool | None:
    """Whether a catalog part is serialized (None: not in the catalog on this tablet)."""
    value = tx.scalar("SELECT serialized FROM parts WHERE part_no = ?", (part_no,))
    return None if value is None else bool(value)


def attached(tx: Tx, job_id: str, sha256: str) -> bool:
    """Whether the job holds a live (not deleted) attachment of these bytes."""
    row = tx.one("SELECT deleted FROM attachments WHERE job_id = ? AND sha256 = ?", (job_id, sha256))
    return row is not None and not row["deleted"]


def has_signoff(tx: Tx, job_id: str) -> bool:
    """Whether a sign-off of the job is stored (pulled or captured here)."""
    return tx.one("SELECT 1 FROM signoffs WHERE job_id = ?", (job_id,)) is not None


def record_enrollment(
    tx: Tx,
    *,
    device_id: str,
    engineer_id: str,
    name: str,
    private_key: bytes,
    key_encrypted: bool,
    public_key: bytes,
    server_public_key: bytes,
    server_key_id: str,
    certificate: bytes,
    enrolled_at: int,
) -> None:
    """Store the identity enrollment gave this device in the device row."""
    tx.execute(
        "UPDATE device SET device_id = ?, engineer_id = ?, name = ?, private_key = ?, key_encrypted = ?, "
        "public_key = ?, server_public_key = ?, server_key_id = ?, certificate = ?, enrolled_at = ? WHERE id = 1",
        (device_id, engineer_id, name, private_key, int(key_encrypted), public_key, server_public_key, server_key_id,
         certificate, enrolled_at),
    )
