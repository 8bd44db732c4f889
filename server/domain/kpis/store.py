"""SQL of the KPIs: the tickets opened in ``[start, end)`` (cancelled ones left out) and what was done on them.

Each read takes the period and selects by the same ticket subquery, so one KPI report is a fixed handful of
queries whatever its size.
"""

from __future__ import annotations

from sync.storage import Row, Tx

#: the tickets of the period: opened in [start, end), not cancelled (two parameters: start, end)
_WHERE = "t.opened_at >= ? AND t.opened_at < ? AND t.status <> 'cancelled'"
_TICKETS = f"SELECT t.id FROM tickets t WHERE {_WHERE}"


def _marks(items: list[str]) -> str:
    return ",".join("?" for _ in items)


def tickets(tx: Tx, start: int, end: int) -> list[Row]:
    """The period's tickets, oldest first."""
    return tx.query(f"SELECT t.* FROM tickets t WHERE {_WHERE} ORDER BY t.opened_at, t.id", (start, end))


def jobs(tx: Tx, start: int, end: int) -> list[Row]:
    return tx.query(f"SELECT id, ticket_id, engineer_id, status, remote FROM jobs WHERE ticket_id IN ({_TICKETS})",
                    (start, end))


def timeline_events(tx: Tx, start: int, end: int) -> list[Row]:
    """The period's events the figures read (opened, responses, reopened, remote_resolved, follow_up_done), in
    time order."""
    return tx.query(f"SELECT ticket_id, job_id, kind, at FROM ticket_events WHERE ticket_id IN ({_TICKETS}) "
                    "AND kind IN ('opened', 'acknowledged', 'en_route', 'on_site', 'completed', 'reopened', "
                    "'remote_resolved', 'follow_up_done') "
                    "ORDER BY at, received_at", (start, end))


def consumptions(tx: Tx, start: int, end: int) -> list[Row]:
    return tx.query(f"SELECT m.id, m.job_id, m.part_no, m.from_location, m.recorded_at FROM movements m "
                    f"JOIN jobs j ON j.id = m.job_id WHERE m.kind = 'consume' AND j.ticket_id IN ({_TICKETS})",
                    (start, end))


def signoff_ratings(tx: Tx, start: int, end: int) -> list[Row]:
    """(ticket_id, engineer_id, rating) of the sign-offs that carry a rating."""
    return tx.query(f"SELECT j.ticket_id, j.engineer_id, s.rating FROM signoffs s "
                    f"JOIN jobs j ON j.id = s.job_id WHERE s.rating IS NOT NULL AND j.ticket_id IN ({_TICKETS})",
                    (start, end))


def followup_ratings(tx: Tx, start: int, end: int) -> list[Row]:
    """(ticket_id, NULL engineer_id, rating) of the follow-up calls that carry a rating."""
    return tx.query(f"SELECT f.ticket_id, NULL AS engineer_id, f.rating FROM followups f "
                    f"WHERE f.rating IS NOT NULL AND f.ticket_id IN ({_TICKETS})", (start, end))


def van_movements(tx: Tx, vans: list[str]) -> list[Row]:
    """Every movement into or out of the vans (old parts' returns left out), in ledger order."""
    return tx.query(f"SELECT id, part_no, from_location, to_location, qty, recorded_at FROM movements "
                    f"WHERE kind <> 'return_old' AND (from_location IN ({_marks(vans)}) "
                    f"OR to_location IN ({_marks(vans)})) ORDER BY recorded_at, id", [*vans, *vans])


def confirmations(tx: Tx, start: int, end: int) -> dict[str, int]:
    """When the customer confirmed each of the period's tickets resolved (complaints), by ticket id."""
    return {r["ticket_id"]: int(r["at"]) for r in tx.query(
        f"SELECT ticket_id, at FROM customer_confirmations WHERE ticket_id IN ({_TICKETS})", (start, end))}


def targets(tx: Tx) -> list[Row]:
    """Every KPI target (``kpi``, ``target``, ``set_at``, ``set_by``), by KPI."""
    return tx.query("SELECT kpi, target, set_at, set_by FROM kpi_targets ORDER BY kpi")


def set_target(tx: Tx, kpi: str, target: float, now: int, by: str) -> None:
    tx.execute("INSERT INTO kpi_targets (kpi, target, set_at, set_by) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (kpi) DO UPDATE SET target = excluded.target, set_at = excluded.set_at, "
               "set_by = excluded.set_by", (kpi, target, now, by))


def clear_target(tx: Tx, kpi: str) -> bool:
    """Drop a KPI's target; False when it had none."""
    return 0 < tx.execute("DELETE FROM kpi_targets WHERE kpi = ?", (kpi,))
