"""SQL of reconciliation: the records each kind of discrepancy is derived from, the stored decisions, and the
jobs, times and parts the money reconciliation prices."""

from __future__ import annotations

from server.domain.parts.service import OLD_SERIALS
from sync.storage import Row, Tx


def job_engineers(tx: Tx) -> dict[str, str]:
    """Every job's engineer, by job id."""
    return {r["id"]: r["engineer_id"] for r in tx.query("SELECT id, engineer_id FROM jobs")}


def device_engineers(tx: Tx) -> dict[str, str]:
    """Every device's engineer, by device id."""
    return {r["id"]: r["engineer_id"] for r in tx.query("SELECT id, engineer_id FROM devices")}


def completed_jobs_without_signoff(tx: Tx) -> list[Row]:
    """Jobs completed or closed with no sign-off, with ``done_at``: their last completed/closed event."""
    return tx.query(
        "SELECT j.id, j.engineer_id, j.status, j.updated_at, (SELECT MAX(e.at) FROM ticket_events e "
        "WHERE e.job_id = j.id AND e.kind IN ('completed', 'closed')) AS done_at FROM jobs j "
        "WHERE j.status IN ('completed', 'closed') AND j.signed_off = 0 ORDER BY j.id")


def signoffs_received(tx: Tx, start: int | None, end: int | None) -> list[Row]:
    """Sign-offs (with their job's engineer) received in [start, end] (either bound optional), by job."""
    sql, params = "SELECT s.*, j.engineer_id FROM signoffs s JOIN jobs j ON j.id = s.job_id WHERE 1 = 1", []
    if start is not None:
        sql += " AND s.received_at >= ?"
        params.append(start)
    if end is not None:
        sql += " AND s.received_at <= ?"
        params.append(end)
    return tx.query(sql + " ORDER BY s.job_id", params)


def negative_van_stock(tx: Tx) -> list[Row]:
    """(loc, part_no, qty, engineer_id) of each van whose good stock of a part is below zero (old parts left out)."""
    good = f"kind <> 'return_old' AND (serial IS NULL OR serial NOT IN ({OLD_SERIALS}))"
    return tx.query(
        "SELECT x.loc, x.part_no, SUM(x.q) AS qty, l.engineer_id FROM ("
        f" SELECT to_location AS loc, part_no, qty AS q FROM movements WHERE to_location IS NOT NULL AND {good}"
        f" UNION ALL SELECT from_location AS loc, part_no, -qty AS q FROM movements"
        f" WHERE from_location IS NOT NULL AND {good}"
        ") x JOIN locations l ON l.id = x.loc AND l.kind = 'van' "
        "GROUP BY x.loc, x.part_no, l.engineer_id HAVING SUM(x.q) < 0 ORDER BY x.loc, x.part_no")


def consumptions_from(tx: Tx, location: str, part_no: str, limit: int) -> list[Row]:
    """The latest ``limit`` consumptions of a part from a location, newest first."""
    return tx.query("SELECT * FROM movements WHERE from_location = ? AND part_no = ? AND kind = 'consume' "
                    "ORDER BY at DESC, id DESC LIMIT ?", (location, part_no, limit))


def serials_consumed_twice(tx: Tx) -> list[Row]:
    """(part_no, serial) consumed more than once."""
    return tx.query("SELECT part_no, serial FROM movements WHERE kind = 'consume' AND serial IS NOT NULL "
                    "GROUP BY part_no, serial HAVING COUNT(*) > 1 ORDER BY part_no, serial")


def consumptions_of_serial(tx: Tx, part_no: str, serial: str) -> list[Row]:
    return tx.query("SELECT * FROM movements WHERE kind = 'consume' AND part_no = ? AND serial = ? ORDER BY at, id",
                    (part_no, serial))


def open_warranty_claims(tx: Tx) -> list[Row]:
    return tx.query("SELECT * FROM warranty_claims WHERE status = 'open' ORDER BY created_at, id")


def attachments_not_received(tx: Tx) -> list[Row]:
    """Live attachments whose blob is not complete, with ``received``: the furthest of the uploads in progress
    (each device has its own)."""
    return tx.query("SELECT a.job_id, a.sha256, a.kind, a.size, a.at, a.device_id, "
                    "(SELECT MAX(u.received) FROM blob_uploads u WHERE u.sha256 = a.sha256) AS received "
                    "FROM attachments a LEFT JOIN blobs b ON b.sha256 = a.sha256 WHERE a.deleted = 0 "
                    "AND (b.complete IS NULL OR b.complete = 0) ORDER BY a.job_id, a.sha256")


def conflicts(tx: Tx, status: str | None) -> list[Row]:
    """The review queue's conflicts (only those in ``status`` when given), oldest first."""
    sql, params = "SELECT * FROM conflicts", []
    if status is not None:
        sql += " WHERE status = ?"
        params.append(status)
    return tx.query(sql + " ORDER BY created_at, id", params)


def late_device_events(tx: Tx, threshold_ms: int) -> list[Row]:
    """Device events of a job with a trusted time, received more than ``threshold_ms`` after their corrected
    device time (so a tablet with a wrong clock is neither flagged nor excused by it)."""
    return tx.query(
        "SELECT id, job_id, kind, device_time, corrected_time, received_at, source FROM ticket_events "
        "WHERE source LIKE 'device:%' AND job_id IS NOT NULL AND COALESCE(corrected_time, device_time) IS NOT NULL "
        "AND time_flag IS NULL "  # an untrusted time is its own kind (implausible_event_time), not a late sync
        "AND received_at - COALESCE(corrected_time, device_time) > ? ORDER BY job_id, received_at, id",
        (threshold_ms,))


def flagged_event_times(tx: Tx) -> list[Row]:
    """Events of a job whose time was not trusted (``time_flag`` set)."""
    return tx.query(
        "SELECT id, job_id, kind, at, device_time, corrected_time, received_at, source, time_flag FROM ticket_events "
        "WHERE time_flag IS NOT NULL AND job_id IS NOT NULL ORDER BY job_id, received_at, id")


def stored_items(tx: Tx) -> dict[str, Row]:
    """The stored decisions, by item id."""
    return {r["id"]: r for r in tx.query("SELECT * FROM recon_items")}


def save_resolved(tx: Tx, item_id: str, kind: str, key: str, engineer_id: str | None, job_id: str | None,
                  records_json: str, created_at: int, history_json: str) -> None:
    """Store (or update) an item as resolved with the records it covered and its history."""
    tx.execute("INSERT INTO recon_items (id, kind, key, status, engineer_id, job_id, records, created_at, history) "
               "VALUES (?, ?, ?, 'resolved', ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = 'resolved', "
               "records = excluded.records, history = excluded.history",
               (item_id, kind, key, engineer_id, job_id, records_json, created_at, history_json))


def completed_jobs(tx: Tx, start: int, end: int, customer: str | None) -> list[Row]:
    """Jobs (not cancelled) whose last completion falls in ``[start, end)``, with their ticket's customer and site
    and their asset's warranty (``asset_known``, ``warranty_until``), by completion."""
    sql = ("SELECT j.id, j.ticket_id, j.engineer_id, j.remote, t.customer, t.site, t.category, "
           "a.serial AS asset_known, a.warranty_until, c.completed_at FROM jobs j "
           "JOIN (SELECT job_id, MAX(at) AS completed_at FROM ticket_events WHERE kind = 'completed' "
           "AND job_id IS NOT NULL GROUP BY job_id) c ON c.job_id = j.id "
           "JOIN tickets t ON t.id = j.ticket_id LEFT JOIN assets a ON a.serial = t.asset_serial "
           "WHERE j.status <> 'cancelled' AND c.completed_at >= ? AND c.completed_at < ?")
    params: list[object] = [start, end]
    if customer is not None:
        sql += " AND t.customer = ?"
        params.append(customer)
    return tx.query(sql + " ORDER BY c.completed_at, j.id", params)


def job_status_events(tx: Tx, job_ids: list[str]) -> list[Row]:
    """(job_id, kind, at) of the jobs' status events, in time order."""
    if not job_ids:
        return []
    marks = ",".join("?" for _ in job_ids)
    return tx.query(f"SELECT job_id, kind, at FROM ticket_events WHERE job_id IN ({marks}) AND kind IN "
                    "('acknowledged', 'en_route', 'on_site', 'work_started', 'on_hold', 'completed', "
                    "'cannot_complete', 'reopened') ORDER BY at, received_at, id", job_ids)


def job_consumptions(tx: Tx, job_ids: list[str]) -> list[Row]:
    """(job_id, part_no, qty, billable, unit_price_cents) of the jobs' consumptions."""
    if not job_ids:
        return []
    marks = ",".join("?" for _ in job_ids)
    return tx.query(f"SELECT m.job_id, m.part_no, m.qty, m.billable, COALESCE(p.unit_price_cents, 0) AS unit_price "
                    f"FROM movements m LEFT JOIN parts p ON p.part_no = m.part_no WHERE m.kind = 'consume' "
                    f"AND m.job_id IN ({marks}) ORDER BY m.job_id, m.id", job_ids)
