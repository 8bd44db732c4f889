"""The queries the SDK's reads run on the tablet store, each returning plain rows.

Rows are dicts keyed by column (:data:`client_sdk.store.Row`); turning them
into the structs an app sees is :mod:`client_sdk.reads`' work, and the write
path's statements are in :mod:`client_sdk.write_sql`.  Every function takes
the reader or transaction to run on: ``LocalStore.read`` for a read, the open
write's transaction when a write needs to read (a sign-off digests the report
content as its own transaction sees it).
"""

from __future__ import annotations

from typing import Final

from client_sdk.store import Row, Tx

#: a job row with the number of its ops still in the outbox
_JOB_WITH_PENDING: Final = (
    "SELECT j.*, (SELECT COUNT(*) FROM outbox o WHERE o.job_id = j.id) AS pending_ops FROM jobs j"
)


# -- device ------------------------------------------------------------------------------------------


def device_row(tx: Tx) -> Row:
    """The device row: identity, keys, certificate, chain head, cursor (always present: migration 0001)."""
    row = tx.one("SELECT * FROM device WHERE id = 1")
    assert row is not None, "the device row is made by the store's first migration"
    return row


# -- jobs and their records --------------------------------------------------------------------------


def job_rows(tx: Tx) -> list[Row]:
    """Every job with ``pending_ops``, by scheduled start."""
    return tx.query(f"{_JOB_WITH_PENDING} ORDER BY COALESCE(j.scheduled_start, 0), j.id")


def job_row(tx: Tx, job_id: str) -> Row | None:
    """One job with ``pending_ops``."""
    return tx.one(f"{_JOB_WITH_PENDING} WHERE j.id = ?", (job_id,))


def plain_job_row(tx: Tx, job_id: str) -> Row | None:
    """One job's row as stored."""
    return tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))


def answer_rows(tx: Tx, job_id: str) -> list[Row]:
    """A job's live answers by item key (``value`` as JSON text)."""
    return tx.query("SELECT * FROM answers WHERE job_id = ? AND deleted = 0 ORDER BY item_key", (job_id,))


def answered_keys(tx: Tx, job_id: str) -> list[str]:
    """Item keys of a job that hold a value or a not-applicable reason."""
    rows = tx.query(
        "SELECT item_key FROM answers WHERE job_id = ? AND deleted = 0 "
        "AND (value IS NOT NULL AND value != 'null' OR na_reason IS NOT NULL)",
        (job_id,),
    )
    return [r["item_key"] for r in rows]


def movement_rows(tx: Tx, job_id: str) -> list[Row]:
    """A job's parts movements in time order (``local`` while the ledger has not confirmed them)."""
    return tx.query("SELECT * FROM movements WHERE job_id = ? ORDER BY at, id", (job_id,))


def attachment_rows(tx: Tx, job_id: str) -> list[Row]:
    """A job's live attachments with ``uploaded`` and ``have_data`` (NULL when no local bytes) of their blob."""
    return tx.query(
        "SELECT a.*, b.uploaded AS uploaded, b.sha256 AS have_data FROM attachments a "
        "LEFT JOIN blobs b ON b.sha256 = a.sha256 WHERE a.job_id = ? AND a.deleted = 0 ORDER BY a.sha256",
        (job_id,),
    )


def signoff_row(tx: Tx, job_id: str) -> Row | None:
    """A job's sign-off (with the content it digested and the device signature, when captured here)."""
    return tx.one("SELECT * FROM signoffs WHERE job_id = ?", (job_id,))


def template_row(tx: Tx, template_id: str, version: int) -> Row | None:
    """A checklist template version (``items`` as JSON text)."""
    return tx.one("SELECT * FROM templates WHERE id = ? AND version = ?", (template_id, version))


def blob_data(tx: Tx, sha256: str) -> bytes | None:
    """The bytes of a locally held blob."""
    data = tx.scalar("SELECT data FROM blobs WHERE sha256 = ?", (sha256,))
    return None if data is None else bytes(data)


# -- what a sign-off digests -------------------------------------------------------------------------


def report_answer_rows(tx: Tx, job_id: str) -> list[Row]:
    """A job's live answers as the report content takes them (``value`` as JSON text)."""
    return tx.query("SELECT item_key, value, note, na_reason FROM answers WHERE job_id = ? AND deleted = 0", (job_id,))


def report_part_rows(tx: Tx, job_id: str) -> list[Row]:
    """A job's parts movements as the report content takes them."""
    return tx.query("SELECT id, kind, part_no, qty, serial, returned_serial FROM movements WHERE job_id = ?",
                    (job_id,))


def photo_hashes(tx: Tx, job_id: str) -> list[str]:
    """SHA-256 of a job's live photos."""
    rows = tx.query("SELECT sha256 FROM attachments WHERE job_id = ? AND deleted = 0 AND kind = 'photo'", (job_id,))
    return [r["sha256"] for r in rows]


# -- outbox, results, review items -------------------------------------------------------------------


def outbox_rows(tx: Tx) -> list[Row]:
    """Every op not yet acknowledged, in write order."""
    return tx.query("SELECT * FROM outbox ORDER BY seq")


def op_result_rows(tx: Tx, result: str | None) -> list[Row]:
    """The server's results for pushed ops (all, or those with ``result``), in push order."""
    sql = "SELECT * FROM op_results"
    params: tuple[str, ...] = ()
    if result is not None:
        sql, params = sql + " WHERE result = ?", (result,)
    return tx.query(sql + " ORDER BY changeset_seq, received_at, op_id", params)


def conflict_rows(tx: Tx, status: str | None) -> list[Row]:
    """Review items on this tablet's jobs (all, or those with ``status``), by id."""
    sql = "SELECT * FROM conflicts"
    params: tuple[str, ...] = ()
    if status is not None:
        sql, params = sql + " WHERE status = ?", (status,)
    return tx.query(sql + " ORDER BY id", params)


# -- catalog and van stock ---------------------------------------------------------------------------


def part_rows(tx: Tx) -> list[Row]:
    """The parts catalog by part number."""
    return tx.query("SELECT * FROM parts ORDER BY part_no")


def stock_rows(tx: Tx) -> list[Row]:
    """Stock levels as last pulled."""
    return tx.query("SELECT * FROM stock")


def unsynced_consumption_rows(tx: Tx) -> list[Row]:
    """Quantities per part of consumptions whose op is still in the outbox (``part_no``, ``qty``)."""
    return tx.query(
        "SELECT m.part_no, SUM(m.qty) AS qty FROM movements m JOIN outbox o ON o.op_id = m.id "
        "WHERE m.kind = 'consume' GROUP BY m.part_no"
    )


def amendment_rows(tx: Tx, job_id: str) -> list[Row]:
    """The amendments of a job's signed content made on this tablet, oldest first (``value`` as JSON)."""
    return tx.query("SELECT target, key, value, reason, at, engineer_id, device_id FROM amendments "
                    "WHERE job_id = ? ORDER BY at, op_id", (job_id,))
