"""The statements the sync loop runs on the tablet store: sealing, receipts, blob uploads, the pull cursor.

:mod:`client_sdk.syncer` decides what happens and in which transaction; the
SQL it runs is here.  Each function runs on the transaction (or reader) it is
given and commits nothing itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from client_sdk.store import Row, Tx

# -- device row: clock offset, chain head, cursor ----------------------------------------------------


def clock_offset(tx: Tx) -> int | None:
    """The device-minus-server clock offset the server last measured (None when unknown)."""
    value = tx.scalar("SELECT clock_offset_ms FROM device WHERE id = 1")
    return None if value is None else int(value)


def set_clock_offset(tx: Tx, offset_ms: int | None) -> None:
    tx.execute("UPDATE device SET clock_offset_ms = ? WHERE id = 1", (offset_ms,))


def chain_head(tx: Tx) -> tuple[int, str]:
    """``(seq, hash)`` of the last change-set this device sealed (``(0, "")`` before the first)."""
    row = tx.one("SELECT head_seq, head_hash FROM device WHERE id = 1")
    assert row is not None, "the device row is made by the store's first migration"
    return int(row["head_seq"]), str(row["head_hash"])


def pull_cursor(tx: Tx) -> str:
    """Where the next pull starts (``""``: from the beginning)."""
    return str(tx.scalar("SELECT pull_cursor FROM device WHERE id = 1") or "")


def set_pull_cursor(tx: Tx, cursor: str) -> None:
    tx.execute("UPDATE device SET pull_cursor = ? WHERE id = 1", (cursor,))


def set_last_sync(tx: Tx, at_ms: int) -> None:
    tx.execute("UPDATE device SET last_sync_at = ? WHERE id = 1", (at_ms,))


# -- push: outbox, sealed change-sets, results -------------------------------------------------------


def outbox_size(tx: Tx) -> int:
    return int(tx.scalar("SELECT COUNT(*) FROM outbox") or 0)


def oldest_sealed(tx: Tx) -> Row | None:
    """The oldest change-set sealed and not yet accepted or acknowledged: its exact envelope, hash, op ids."""
    return tx.one("SELECT * FROM sealed WHERE accepted_at IS NULL ORDER BY seq LIMIT 1")


def mark_accepted(tx: Tx, seq: int, at: int) -> None:
    """The server accepted change-set ``seq`` (signed Accepted): never send it again, ask for its receipt."""
    tx.execute("UPDATE sealed SET accepted_at = ? WHERE seq = ? AND accepted_at IS NULL", (at, seq))


def unaccept(tx: Tx, seq: int) -> None:
    """The server does not know accepted change-set ``seq`` (a restored server): send it again."""
    tx.execute("UPDATE sealed SET accepted_at = NULL WHERE seq = ?", (seq,))


def accepted_waiting(tx: Tx) -> list[Row]:
    """Change-sets accepted whose receipts have not come (``seq``, ``hash``), in chain order."""
    return tx.query("SELECT seq, hash FROM sealed WHERE accepted_at IS NOT NULL ORDER BY seq")


def accepted_ops(tx: Tx) -> int:
    """Ops in accepted change-sets whose outcomes are not known yet."""
    return int(tx.scalar("SELECT COUNT(*) FROM outbox WHERE sealed_seq IN "
                         "(SELECT seq FROM sealed WHERE accepted_at IS NOT NULL)") or 0)


def unsealed_ops(tx: Tx, limit: int) -> list[Row]:
    """The oldest outbox ops not in a change-set yet (``seq``, ``op_id``, ``body``), in write order."""
    return tx.query("SELECT seq, op_id, body FROM outbox WHERE sealed_seq IS NULL ORDER BY seq LIMIT ?", (limit,))


def store_sealed(
    tx: Tx, *, seq: int, envelope: bytes, hash: str, prev_hash: str, op_ids: Sequence[str], sealed_at: int,
    last_outbox_seq: int,
) -> Row:
    """Record a sealed change-set, mark its outbox ops (up to ``last_outbox_seq``) and move the chain head."""
    tx.execute(
        "INSERT INTO sealed (seq, envelope, hash, prev_hash, op_ids, sealed_at) VALUES (?, ?, ?, ?, ?, ?)",
        (seq, envelope, hash, prev_hash, json.dumps(list(op_ids)), sealed_at),
    )
    tx.execute("UPDATE outbox SET sealed_seq = ? WHERE sealed_seq IS NULL AND seq <= ?", (seq, last_outbox_seq))
    tx.execute("UPDATE device SET head_seq = ?, head_hash = ? WHERE id = 1", (seq, hash))
    row = tx.one("SELECT * FROM sealed WHERE seq = ?", (seq,))
    assert row is not None
    return row


def sealed_ops(tx: Tx, seq: int) -> list[Row]:
    """The outbox ops of change-set ``seq`` (``op_id``, ``job_id``, ``type``, ``key``)."""
    return tx.query("SELECT op_id, job_id, type, key FROM outbox WHERE sealed_seq = ?", (seq,))


def record_results(tx: Tx, results: Sequence[tuple[object, ...]]) -> None:
    """Keep the server's result of each op: ``(op_id, job_id, type, result, reason, conflict_id,
    changeset_seq, received_at)`` rows."""
    tx.conn.executemany(
        "INSERT OR REPLACE INTO op_results (op_id, job_id, type, result, reason, conflict_id, "
        "changeset_seq, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        results,
    )


def drop_local_movements(tx: Tx, movement_ids: Sequence[str]) -> None:
    """Remove provisional local movements (their op was rejected: the ledger never got them)."""
    tx.conn.executemany("DELETE FROM movements WHERE id = ? AND local = 1", [(m,) for m in movement_ids])


def clear_sealed(tx: Tx, seq: int) -> None:
    """Forget acknowledged change-set ``seq`` and its ops."""
    tx.execute("DELETE FROM outbox WHERE sealed_seq = ?", (seq,))
    tx.execute("DELETE FROM sealed WHERE seq = ?", (seq,))


# -- blobs -------------------------------------------------------------------------------------------


def blobs_to_upload(tx: Tx) -> list[Row]:
    """Blobs not uploaded whose attachment op the server has seen (not in the outbox), oldest first."""
    return tx.query(
        "SELECT sha256, size FROM blobs WHERE uploaded = 0 AND sha256 NOT IN "
        "(SELECT substr(key, 12) FROM outbox WHERE key LIKE 'attachment:%') ORDER BY created_at, sha256"
    )


def blob_chunk(tx: Tx, sha256: str, offset: int, size: int) -> bytes:
    """Up to ``size`` bytes of a blob from ``offset``."""
    chunk = tx.scalar("SELECT substr(data, ?, ?) FROM blobs WHERE sha256 = ?", (offset + 1, size, sha256))
    return bytes(chunk)


def mark_uploaded(tx: Tx, sha256: str) -> None:
    tx.execute("UPDATE blobs SET uploaded = 1 WHERE sha256 = ?", (sha256,))
