"""SQL of device identity: enrollment tokens, devices, nonces and sessions, and the names the back office
looks devices up by."""

from __future__ import annotations

from sync.storage import Row, Tx


def names(tx: Tx) -> dict[str, str]:
    """device id -> name, of every device."""
    return {r["id"]: r["name"] for r in tx.query("SELECT id, name FROM devices")}


def names_for_job(tx: Tx, engineer_id: str, job_id: str) -> dict[str, str]:
    """device id -> name, of the engineer's devices and of every device that answered on the job."""
    return {r["id"]: r["name"] for r in tx.query(
        "SELECT id, name FROM devices WHERE engineer_id = ? OR id IN (SELECT device_id FROM answers WHERE job_id = ?)",
        (engineer_id, job_id))}


def owners(tx: Tx) -> dict[str, tuple[str, str]]:
    """device id -> (name, engineer id), of every device."""
    return {r["id"]: (r["name"], r["engineer_id"]) for r in tx.query("SELECT id, name, engineer_id FROM devices")}


def engineer_exists(tx: Tx, engineer_id: str) -> bool:
    return tx.one("SELECT id FROM engineers WHERE id = ?", (engineer_id,)) is not None


def insert_enroll_token(tx: Tx, token_hash: str, engineer_id: str, now: int, expires_at: int) -> None:
    tx.execute("INSERT INTO enroll_tokens (token_hash, engineer_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
               (token_hash, engineer_id, now, expires_at))


def lock_enroll_token(tx: Tx, token_hash: str) -> Row | None:
    """``engineer_id``, ``expires_at``, ``used_at`` of an enrollment token, locked for the rest of the transaction."""
    return tx.lock("SELECT engineer_id, expires_at, used_at FROM enroll_tokens WHERE token_hash = ?", (token_hash,))


def use_enroll_token(tx: Tx, token_hash: str, device_id: str, now: int) -> None:
    tx.execute("UPDATE enroll_tokens SET used_at = ?, device_id = ? WHERE token_hash = ?", (now, device_id, token_hash))


def insert_device(tx: Tx, device_id: str, engineer_id: str, name: str, public_key: bytes, now: int,
                  clock_offset_ms: int, clock_known: bool) -> None:
    tx.execute("INSERT INTO devices (id, engineer_id, name, public_key, enrolled_at, clock_offset_ms, clock_known) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)",
               (device_id, engineer_id, name, public_key, now, clock_offset_ms, int(clock_known)))


def revoked_at(tx: Tx, device_id: str) -> Row | None:
    """``revoked_at`` of a device; None when there is no such device."""
    return tx.one("SELECT revoked_at FROM devices WHERE id = ?", (device_id,))


def insert_nonce(tx: Tx, nonce: str, device_id: str, now: int, expires_at: int) -> None:
    """A fresh nonce, the expired ones (by ``now``) dropped first."""
    tx.execute("DELETE FROM nonces WHERE expires_at < ?", (now,))
    tx.execute("INSERT INTO nonces (nonce, device_id, expires_at) VALUES (?, ?, ?)", (nonce, device_id, expires_at))


def lock_nonce(tx: Tx, nonce: str) -> Row | None:
    """``device_id``, ``expires_at`` of a nonce, locked for the rest of the transaction."""
    return tx.lock("SELECT device_id, expires_at FROM nonces WHERE nonce = ?", (nonce,))


def delete_nonce(tx: Tx, nonce: str) -> None:
    tx.execute("DELETE FROM nonces WHERE nonce = ?", (nonce,))


def lock_device_key(tx: Tx, device_id: str) -> Row | None:
    """``public_key``, ``revoked_at`` of a device, locked for the rest of the transaction."""
    return tx.lock("SELECT public_key, revoked_at FROM devices WHERE id = ?", (device_id,))


def set_clock_offset(tx: Tx, device_id: str, clock_offset_ms: int, clock_known: bool) -> None:
    tx.execute("UPDATE devices SET clock_offset_ms = ?, clock_known = ? WHERE id = ?",
               (clock_offset_ms, int(clock_known), device_id))


def insert_session(tx: Tx, token_hash: str, device_id: str, now: int, expires_at: int) -> None:
    """A session of the device, its expired ones (by ``now``) dropped first."""
    tx.execute("DELETE FROM device_sessions WHERE device_id = ? AND expires_at < ?", (device_id, now))
    tx.execute("INSERT INTO device_sessions (token_hash, device_id, expires_at) VALUES (?, ?, ?)",
               (token_hash, device_id, expires_at))


def revoke(tx: Tx, device_id: str, now: int) -> int:
    """Mark a device revoked (an earlier revocation's time is kept); the number of devices matched (0 or 1)."""
    return tx.execute("UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", (now, device_id))


def device(tx: Tx, device_id: str) -> Row | None:
    return tx.one("SELECT * FROM devices WHERE id = ?", (device_id,))


def devices(tx: Tx, engineer_id: str | None) -> list[Row]:
    """An engineer's devices by enrollment, or every device by engineer and enrollment."""
    if engineer_id:
        return tx.query("SELECT * FROM devices WHERE engineer_id = ? ORDER BY enrolled_at", (engineer_id,))
    return tx.query("SELECT * FROM devices ORDER BY engineer_id, enrolled_at")
