"""SQL of idempotency keys: the answer a key was given, remembered in the transaction of its write."""

from __future__ import annotations

from sync.storage import Row, Tx


def try_hold(tx: Tx, lock_key: int) -> bool:
    """Hold the key for the rest of the transaction; False when another transaction holds it (in flight).

    PostgreSQL: a transaction-scoped advisory lock, seen by every process on the database.  SQLite has one
    writer at a time, so a transaction that got this far holds every key.
    """
    if tx.dialect != "postgresql":
        return True
    row = tx.one("SELECT pg_try_advisory_xact_lock(?) AS held", (lock_key,))
    return bool(row and row["held"])


def forget_before(tx: Tx, cutoff: int) -> None:
    """Drop the answers remembered before ``cutoff`` (epoch ms)."""
    tx.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (cutoff,))


def find(tx: Tx, principal: str, key: str) -> Row | None:
    """The remembered answer of ``principal``'s ``key``: ``fingerprint``, ``status``, ``body``, ``created_at``."""
    return tx.one("SELECT fingerprint, status, body, created_at FROM idempotency_keys WHERE principal = ? AND key = ?",
                  (principal, key))


def remember(tx: Tx, principal: str, key: str, fingerprint: str, status: int, body: str, now: int) -> bool:
    """Record the answer; False when the key already has one (another transaction committed it first)."""
    return tx.execute("INSERT INTO idempotency_keys (principal, key, fingerprint, status, body, created_at) "
                      "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (principal, key) DO NOTHING",
                      (principal, key, fingerprint, status, body, now)) == 1
