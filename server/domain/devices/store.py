"""SQL of devices the back office looks up by name (the device table's other reads and writes are in the service)."""

from __future__ import annotations

from sync.storage import Tx


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
