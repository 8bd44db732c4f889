"""SQL of the catalog: engineers, checklist templates (one row per version), parts, stock locations and the
append-only movements ledger with the stock derived from it."""

from __future__ import annotations

from sync.storage import Row, Tx


def engineer_exists(tx: Tx, engineer_id: str) -> bool:
    return bool(tx.one("SELECT id FROM engineers WHERE id = ?", (engineer_id,)))


def insert_engineer_with_van(tx: Tx, engineer_id: str, name: str, email: str, skills: str, van: str) -> None:
    """An engineer (``skills`` is encoded JSON) and their van stock location (kept when it exists already)."""
    tx.execute("INSERT INTO engineers (id, name, email, skills, van_location) VALUES (?, ?, ?, ?, ?)",
               (engineer_id, name, email, skills, van))
    tx.execute("INSERT INTO locations (id, kind, name, engineer_id) VALUES (?, 'van', ?, ?) "
               "ON CONFLICT (id) DO NOTHING", (van, f"Van of {name}", engineer_id))


def engineer(tx: Tx, engineer_id: str) -> Row | None:
    return tx.one("SELECT * FROM engineers WHERE id = ?", (engineer_id,))


def engineers(tx: Tx) -> list[Row]:
    return tx.query("SELECT * FROM engineers ORDER BY id")


def set_engineer_active(tx: Tx, engineer_id: str, active: bool) -> bool:
    """Take an engineer off dispatch (or back on); False when there is no such engineer."""
    return 0 < tx.execute("UPDATE engineers SET active = ? WHERE id = ?", (int(active), engineer_id))


def latest_template_version(tx: Tx, template_id: str) -> int:
    """The newest published version of a template; 0 when it has none."""
    row = tx.one("SELECT MAX(version) AS v FROM templates WHERE id = ?", (template_id,))
    return int(row["v"] or 0) if row else 0


def insert_template(tx: Tx, template_id: str, version: int, name: str, items: str, now: int) -> None:
    """One version of a checklist template (``items`` is encoded JSON)."""
    tx.execute("INSERT INTO templates (id, version, name, items, published_at) VALUES (?, ?, ?, ?, ?)",
               (template_id, version, name, items, now))


def template(tx: Tx, template_id: str, version: int | None = None) -> Row | None:
    """A version of a template; the newest one when ``version`` is None."""
    if version is None:
        return tx.one("SELECT * FROM templates WHERE id = ? ORDER BY version DESC LIMIT 1", (template_id,))
    return tx.one("SELECT * FROM templates WHERE id = ? AND version = ?", (template_id, version))


def templates(tx: Tx) -> list[Row]:
    """Every version of every template."""
    return tx.query("SELECT * FROM templates ORDER BY id, version")


def upsert_part(tx: Tx, part_no: str, name: str, serialized: bool, unit_price_cents: int,
                external_ref: str | None = None) -> None:
    """Add or update a part; ``external_ref`` None keeps the part's reference."""
    tx.execute("INSERT INTO parts (part_no, name, serialized, unit_price_cents, external_ref) VALUES (?, ?, ?, ?, ?) "
               "ON CONFLICT (part_no) DO UPDATE SET name = excluded.name, serialized = excluded.serialized, "
               "unit_price_cents = excluded.unit_price_cents, "
               "external_ref = COALESCE(excluded.external_ref, parts.external_ref)",
               (part_no, name, int(serialized), unit_price_cents, external_ref))


def part(tx: Tx, part_no: str) -> Row | None:
    return tx.one("SELECT * FROM parts WHERE part_no = ?", (part_no,))


def part_by_external_ref(tx: Tx, external_ref: str) -> str | None:
    """The part number of the part with this ERP reference."""
    row = tx.one("SELECT part_no FROM parts WHERE external_ref = ?", (external_ref,))
    return None if row is None else str(row["part_no"])


def movement_by_external_ref(tx: Tx, external_ref: str) -> str | None:
    """The id of the movement with this ERP reference."""
    row = tx.one("SELECT id FROM movements WHERE external_ref = ?", (external_ref,))
    return None if row is None else str(row["id"])


def parts(tx: Tx, external_ref: str | None = None) -> list[Row]:
    if external_ref is not None:
        return tx.query("SELECT * FROM parts WHERE external_ref = ? ORDER BY part_no", (external_ref,))
    return tx.query("SELECT * FROM parts ORDER BY part_no")


def part_serialized(tx: Tx, part_no: str) -> Row | None:
    """``serialized`` of a part; None when there is no such part."""
    return tx.one("SELECT serialized FROM parts WHERE part_no = ?", (part_no,))


def location_exists(tx: Tx, location_id: str) -> bool:
    return bool(tx.one("SELECT id FROM locations WHERE id = ?", (location_id,)))


def lock_location(tx: Tx, location_id: str) -> Row | None:
    """``kind`` of a stock location, its row locked for the rest of the transaction (None: no such location)."""
    return tx.lock("SELECT id, kind FROM locations WHERE id = ?", (location_id,))


def insert_location(tx: Tx, location_id: str, kind: str, name: str, engineer_id: str | None) -> None:
    tx.execute("INSERT INTO locations (id, kind, name, engineer_id) VALUES (?, ?, ?, ?)",
               (location_id, kind, name, engineer_id))


def locations(tx: Tx) -> list[Row]:
    return tx.query("SELECT * FROM locations ORDER BY kind, id")


def insert_office_movement(tx: Tx, movement_id: str, kind: str, part_no: str, qty: int, serial: str | None,
                           from_location: str | None, to_location: str | None, now: int,
                           external_ref: str | None = None) -> bool:
    """A movement the office records (``source`` ``office``), at and recorded at ``now``.

    False (nothing written) when another movement has its ``external_ref``.
    """
    return tx.execute("INSERT INTO movements (id, kind, part_no, qty, serial, from_location, to_location, at, "
                      "recorded_at, source, external_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'office', ?) "
                      "ON CONFLICT (external_ref) DO NOTHING",
                      (movement_id, kind, part_no, qty, serial, from_location, to_location, now, now,
                       external_ref)) == 1


def movement(tx: Tx, movement_id: str) -> Row | None:
    return tx.one("SELECT * FROM movements WHERE id = ?", (movement_id,))


def movements(tx: Tx, location: str | None, part_no: str | None, external_ref: str | None = None) -> list[Row]:
    """The ledger in the order it was recorded, of a location (either side) and/or a part when given."""
    sql, params = "SELECT * FROM movements WHERE 1 = 1", []
    if external_ref is not None:
        sql += " AND external_ref = ?"
        params.append(external_ref)
    if location:
        sql += " AND (from_location = ? OR to_location = ?)"
        params += [location, location]
    if part_no:
        sql += " AND part_no = ?"
        params.append(part_no)
    return tx.query(sql + " ORDER BY recorded_at, id", params)


def stock(tx: Tx) -> list[Row]:
    """``loc``, ``part_no``, ``qty`` per location and part, summed over the whole ledger."""
    return tx.query(
        "SELECT loc, part_no, SUM(q) AS qty FROM ("
        " SELECT to_location AS loc, part_no, qty AS q FROM movements WHERE to_location IS NOT NULL"
        " UNION ALL SELECT from_location AS loc, part_no, -qty AS q FROM movements WHERE from_location IS NOT NULL"
        ") x GROUP BY loc, part_no ORDER BY loc, part_no")
