"""SQL of assets, van stock, where serials are, and warranty claims.

Stock is read from the append-only ``movements`` ledger; nothing here stores a level.
"""

from __future__ import annotations

from typing import Final

from sync.storage import Row, Tx

#: the serials taken back from customers as old parts (a subquery: those serials are not good stock)
OLD_SERIALS: Final = "SELECT serial FROM movements WHERE kind = 'return_old' AND serial IS NOT NULL"


def asset_exists(tx: Tx, serial: str) -> bool:
    return bool(tx.one("SELECT serial FROM assets WHERE serial = ?", (serial,)))


def insert_asset(tx: Tx, serial: str, model: str, equipment_type: str, customer: str, site: str,
                 installed_at: int | None, warranty_until: int | None, contract_until: int | None, now: int,
                 customer_id: str | None = None, site_id: str | None = None) -> None:
    tx.execute("INSERT INTO assets (serial, model, equipment_type, customer, site, installed_at, warranty_until, "
               "contract_until, created_at, customer_id, site_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (serial, model, equipment_type, customer, site, installed_at, warranty_until, contract_until, now,
                customer_id, site_id))


def asset(tx: Tx, serial: str) -> Row | None:
    return tx.one("SELECT * FROM assets WHERE serial = ?", (serial,))


def assets(tx: Tx, customer: str | None, limit: int, offset: int) -> list[Row]:
    """One page of assets by serial, of one customer when given."""
    sql, params = "SELECT * FROM assets", []
    if customer:
        sql += " WHERE customer = ?"
        params.append(customer)
    return tx.query(sql + " ORDER BY serial LIMIT ? OFFSET ?", [*params, limit, offset])


def ticket_asset_warranty(tx: Tx, ticket_id: str) -> Row | None:
    """``warranty_until`` of the asset a ticket names; None when it names no known asset."""
    return tx.one("SELECT a.warranty_until FROM tickets t JOIN assets a ON a.serial = t.asset_serial "
                  "WHERE t.id = ?", (ticket_id,))


def insert_claim(tx: Tx, claim_id: str, movement_id: str, job_id: str, part_no: str, serial: str | None,
                 returned_serial: str | None, now: int) -> bool:
    """An open warranty claim, once per movement; False when the movement had its claim already."""
    return 0 < tx.execute("INSERT INTO warranty_claims (id, movement_id, job_id, part_no, serial, returned_serial, "
                          "status, created_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?) "
                          "ON CONFLICT (movement_id) DO NOTHING",
                          (claim_id, movement_id, job_id, part_no, serial, returned_serial, now))


def serial_location(tx: Tx, part_no: str, serial: str) -> str | None:
    """The location the ledger nets a serial at (the largest positive balance); None when there is none."""
    row = tx.one(
        "SELECT loc, SUM(q) AS n FROM ("
        " SELECT to_location AS loc, qty AS q FROM movements"
        " WHERE part_no = ? AND serial = ? AND to_location IS NOT NULL"
        " UNION ALL SELECT from_location AS loc, -qty AS q FROM movements"
        " WHERE part_no = ? AND serial = ? AND from_location IS NOT NULL"
        ") x GROUP BY loc HAVING SUM(q) > 0 ORDER BY SUM(q) DESC, loc LIMIT 1", (part_no, serial, part_no, serial))
    return None if row is None else str(row["loc"])


def location_kind(tx: Tx, location: str) -> str | None:
    row = tx.one("SELECT kind FROM locations WHERE id = ?", (location,))
    return None if row is None else str(row["kind"])


def good_stock(tx: Tx, location: str) -> dict[str, int]:
    """part number -> net quantity at ``location``, old parts (and their serials' later moves) left out."""
    rows = tx.query(
        "SELECT part_no, SUM(CASE WHEN to_location = ? THEN qty ELSE -qty END) AS q FROM movements "
        f"WHERE (to_location = ? OR from_location = ?) AND kind <> 'return_old' "
        f"AND (serial IS NULL OR serial NOT IN ({OLD_SERIALS})) GROUP BY part_no ORDER BY part_no",
        (location, location, location))
    return {r["part_no"]: int(r["q"]) for r in rows}


def van_location(tx: Tx, engineer_id: str) -> Row | None:
    """``van_location`` of an engineer; None when there is no such engineer."""
    return tx.one("SELECT van_location FROM engineers WHERE id = ?", (engineer_id,))


def good_serials(tx: Tx, location: str) -> list[Row]:
    """``part_no``, ``serial``, ``q`` (net quantity) of each good serial with a movement at ``location``."""
    return tx.query(
        "SELECT part_no, serial, SUM(CASE WHEN to_location = ? THEN qty ELSE -qty END) AS q FROM movements "
        "WHERE serial IS NOT NULL AND (to_location = ? OR from_location = ?) AND kind <> 'return_old' "
        f"AND serial NOT IN ({OLD_SERIALS}) GROUP BY part_no, serial ORDER BY part_no, serial",
        (location, location, location))


def old_parts_taken_to(tx: Tx, location: str) -> list[Row]:
    """``part_no``, ``serial``, ``job_id`` of the old parts taken back into ``location``."""
    return tx.query(
        "SELECT m.part_no, m.serial, m.job_id FROM movements m WHERE m.kind = 'return_old' "
        "AND m.serial IS NOT NULL AND m.to_location = ? ORDER BY m.part_no, m.serial", (location,))


def claims(tx: Tx, status: str | None, job_id: str | None, limit: int) -> list[Row]:
    """Warranty claims, oldest first, of a status and/or a job when given."""
    sql, params = "SELECT * FROM warranty_claims WHERE 1 = 1", []
    if status:
        sql += " AND status = ?"
        params.append(status)
    if job_id:
        sql += " AND job_id = ?"
        params.append(job_id)
    return tx.query(sql + " ORDER BY created_at, id LIMIT ?", [*params, limit])


def claim(tx: Tx, claim_id: str, *, lock: bool = False) -> Row | None:
    """A warranty claim (locked for the rest of the transaction when ``lock``)."""
    sql = "SELECT * FROM warranty_claims WHERE id = ?"
    return tx.lock(sql, (claim_id,)) if lock else tx.one(sql, (claim_id,))


def decide_claim(tx: Tx, claim_id: str, decision: str, by: str, comment: str, now: int) -> None:
    tx.execute("UPDATE warranty_claims SET status = ?, decided_at = ?, decided_by = ?, comment = ? WHERE id = ?",
               (decision, now, by, comment, claim_id))


def consumed_qty(tx: Tx, movement_id: str) -> int:
    """The quantity of a consumption (1 when the movement is unknown)."""
    row = tx.one("SELECT qty FROM movements WHERE id = ?", (movement_id,))
    return 1 if row is None else int(row["qty"])


def is_serialized(tx: Tx, part_no: str) -> bool:
    row = tx.one("SELECT serialized FROM parts WHERE part_no = ?", (part_no,))
    return row is not None and bool(row["serialized"])


def returned_qty(tx: Tx, claim_id: str) -> int:
    """Old parts returned by quantity against a claim that have reached a returns location."""
    row = tx.one("SELECT COALESCE(SUM(m.qty), 0) AS n FROM movements m JOIN locations l ON l.id = m.to_location "
                 "WHERE m.claim_id = ? AND m.kind = 'return_old' AND l.kind = 'returns'", (claim_id,))
    return 0 if row is None else int(row["n"])


def first_returns_location(tx: Tx) -> str | None:
    row = tx.one("SELECT id FROM locations WHERE kind = 'returns' ORDER BY id LIMIT 1")
    return None if row is None else str(row["id"])


def insert_claim_return(tx: Tx, movement_id: str, claim_id: str, job_id: str, part_no: str, qty: int,
                        from_location: str | None, to_location: str, now: int) -> None:
    """Old parts of a claim returned by quantity (``return_old``, no serial), booked by the office."""
    tx.execute("INSERT INTO movements (id, kind, part_no, qty, serial, from_location, to_location, job_id, at, "
               "recorded_at, source, claim_id) VALUES (?, 'return_old', ?, ?, NULL, ?, ?, ?, ?, ?, 'office', ?)",
               (movement_id, part_no, qty, from_location, to_location, job_id, now, now, claim_id))
