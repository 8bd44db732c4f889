"""Catalog work: engineers (each with a van), versioned checklist templates, parts, locations, movements.

Templates are immutable once published: publishing again makes version N+1,
and a job keeps the version pinned at dispatch.  The parts ledger is
append-only; stock is always derived from it.
"""

from __future__ import annotations

import msgspec

from schemas.domain import (
    ChecklistTemplate,
    ChecklistTemplateIn,
    Engineer,
    EngineerIn,
    Movement,
    MovementIn,
    Part,
    PartIn,
    StockLevel,
    StockLocation,
    StockLocationIn,
)
from schemas.records import PartData, PartRecord, TemplateData, TemplateRecord
from server.domain.records import dumps, loads, movement_from_row, publish_stock
from server.errors import BadRequest, Conflict, NotFound
from server.feed import publish
from server.ids import new_id
from server.services import Services
from sync.storage import Row, Tx


def _engineer(row: Row) -> Engineer:
    return Engineer(id=row["id"], name=row["name"], email=row["email"], skills=loads(row["skills"], []),
                    van_location=row["van_location"], active=bool(row["active"]))


def create_engineer(services: Services, data: EngineerIn) -> Engineer:
    """Create an engineer and their van stock location."""
    van = f"van-{data.id}"
    with services.db.write() as tx:
        if tx.one("SELECT id FROM engineers WHERE id = ?", (data.id,)):
            raise Conflict("engineer_exists", f"engineer {data.id!r} already exists")
        tx.execute("INSERT INTO engineers (id, name, email, skills, van_location) VALUES (?, ?, ?, ?, ?)",
                   (data.id, data.name, data.email, dumps(data.skills), van))
        tx.execute("INSERT INTO locations (id, kind, name, engineer_id) VALUES (?, 'van', ?, ?) "
                   "ON CONFLICT (id) DO NOTHING", (van, f"Van of {data.name}", data.id))
    return get_engineer(services, data.id)


def get_engineer(services: Services, engineer_id: str) -> Engineer:
    with services.db.read() as tx:
        row = tx.one("SELECT * FROM engineers WHERE id = ?", (engineer_id,))
    if row is None:
        raise NotFound("unknown_engineer", f"no engineer {engineer_id!r}")
    return _engineer(row)


def list_engineers(services: Services) -> list[Engineer]:
    with services.db.read() as tx:
        return [_engineer(r) for r in tx.query("SELECT * FROM engineers ORDER BY id")]


def _template(row: Row) -> ChecklistTemplate:
    return msgspec.convert({"id": row["id"], "version": row["version"], "name": row["name"],
                            "items": loads(row["items"]), "published_at": row["published_at"]}, ChecklistTemplate)


def publish_template(services: Services, data: ChecklistTemplateIn) -> ChecklistTemplate:
    """Publish a new version of a checklist template."""
    keys = [i.key for i in data.items]
    if len(set(keys)) != len(keys):
        raise BadRequest("duplicate_item_key", "checklist item keys must be unique")
    for item in data.items:
        if item.type == "choice" and not item.choices:
            raise BadRequest("choice_without_choices", f"item {item.key!r} is a choice with no choices")
        if item.min is not None and item.max is not None and item.min > item.max:
            raise BadRequest("bad_range", f"item {item.key!r} has min > max")
    now = services.clock()
    with services.db.write() as tx:
        row = tx.one("SELECT MAX(version) AS v FROM templates WHERE id = ?", (data.id,))
        version = int(row["v"] or 0) + 1 if row else 1
        items = msgspec.to_builtins(data.items)
        tx.execute("INSERT INTO templates (id, version, name, items, published_at) VALUES (?, ?, ?, ?, ?)",
                   (data.id, version, data.name, dumps(items), now))
        publish(tx, [TemplateRecord(id=f"{data.id}@{version}", data=TemplateData(
            id=data.id, version=version, name=data.name, items=data.items))])
    return get_template(services, data.id, version)


def get_template(services: Services, template_id: str, version: int | None = None) -> ChecklistTemplate:
    with services.db.read() as tx:
        row = load_template(tx, template_id, version)
    if row is None:
        raise NotFound("unknown_template", f"no checklist template {template_id!r}")
    return _template(row)


def load_template(tx: Tx, template_id: str, version: int | None = None) -> Row | None:
    if version is None:
        return tx.one("SELECT * FROM templates WHERE id = ? ORDER BY version DESC LIMIT 1", (template_id,))
    return tx.one("SELECT * FROM templates WHERE id = ? AND version = ?", (template_id, version))


def template_from_row(row: Row) -> ChecklistTemplate:
    return _template(row)


def list_templates(services: Services) -> list[ChecklistTemplate]:
    with services.db.read() as tx:
        return [_template(r) for r in tx.query("SELECT * FROM templates ORDER BY id, version")]


def upsert_part(services: Services, data: PartIn) -> Part:
    with services.db.write() as tx:
        tx.execute("INSERT INTO parts (part_no, name, serialized, unit_price_cents) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (part_no) DO UPDATE SET name = excluded.name, serialized = excluded.serialized, "
                   "unit_price_cents = excluded.unit_price_cents",
                   (data.part_no, data.name, int(data.serialized), data.unit_price_cents))
        publish(tx, [PartRecord(id=data.part_no, data=PartData(
            part_no=data.part_no, name=data.name, serialized=data.serialized, unit_price_cents=data.unit_price_cents))])
    return Part(part_no=data.part_no, name=data.name, serialized=data.serialized,
                unit_price_cents=data.unit_price_cents)


def list_parts(services: Services) -> list[Part]:
    with services.db.read() as tx:
        rows = tx.query("SELECT * FROM parts ORDER BY part_no")
    return [Part(part_no=r["part_no"], name=r["name"], serialized=bool(r["serialized"]),
                 unit_price_cents=r["unit_price_cents"]) for r in rows]


def create_location(services: Services, data: StockLocationIn) -> StockLocation:
    with services.db.write() as tx:
        if tx.one("SELECT id FROM locations WHERE id = ?", (data.id,)):
            raise Conflict("location_exists", f"location {data.id!r} already exists")
        if data.engineer_id and not tx.one("SELECT id FROM engineers WHERE id = ?", (data.engineer_id,)):
            raise NotFound("unknown_engineer", f"no engineer {data.engineer_id!r}")
        tx.execute("INSERT INTO locations (id, kind, name, engineer_id) VALUES (?, ?, ?, ?)",
                   (data.id, data.kind, data.name, data.engineer_id))
    return StockLocation(id=data.id, kind=data.kind, name=data.name, engineer_id=data.engineer_id)


def list_locations(services: Services) -> list[StockLocation]:
    with services.db.read() as tx:
        rows = tx.query("SELECT * FROM locations ORDER BY kind, id")
    return [StockLocation(id=r["id"], kind=r["kind"], name=r["name"], engineer_id=r["engineer_id"]) for r in rows]


def record_movement(services: Services, data: MovementIn) -> Movement:
    """Append a back-office movement (issue to a van, transfer, count adjustment, old part received)."""
    if data.kind in ("issue", "transfer") and (not data.from_location or not data.to_location):
        raise BadRequest("locations_required", f"a {data.kind} needs from_location and to_location")
    if data.kind == "adjust" and not (data.to_location or data.from_location):
        raise BadRequest("locations_required", "an adjustment names the location it corrects")
    if data.kind != "adjust" and data.qty <= 0:
        raise BadRequest("bad_quantity", "quantity must be positive")
    now = services.clock()
    mid = new_id("M-")
    with services.db.write() as tx:
        part = tx.one("SELECT serialized FROM parts WHERE part_no = ?", (data.part_no,))
        if part is None:
            raise NotFound("unknown_part", f"no part {data.part_no!r}")
        if part["serialized"] and data.kind != "adjust" and (not data.serial or data.qty != 1):
            raise BadRequest("serial_required", "a serialized part moves one serial at a time")
        for loc in (data.from_location, data.to_location):
            if loc and not tx.one("SELECT id FROM locations WHERE id = ?", (loc,)):
                raise NotFound("unknown_location", f"no stock location {loc!r}")
        tx.execute("INSERT INTO movements (id, kind, part_no, qty, serial, from_location, to_location, at, "
                   "recorded_at, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'office')",
                   (mid, data.kind, data.part_no, data.qty, data.serial, data.from_location, data.to_location,
                    now, now))
        publish_stock(tx, {x for x in (data.from_location, data.to_location) if x}, data.part_no)
        row = tx.one("SELECT * FROM movements WHERE id = ?", (mid,))
    assert row is not None
    return movement_from_row(row)


def list_movements(services: Services, location: str | None = None, part_no: str | None = None) -> list[Movement]:
    sql, params = "SELECT * FROM movements WHERE 1 = 1", []
    if location:
        sql += " AND (from_location = ? OR to_location = ?)"
        params += [location, location]
    if part_no:
        sql += " AND part_no = ?"
        params.append(part_no)
    with services.db.read() as tx:
        return [movement_from_row(r) for r in tx.query(sql + " ORDER BY recorded_at, id", params)]


def stock_levels(services: Services, location: str | None = None) -> list[StockLevel]:
    """Stock per location and part, derived from the whole ledger."""
    with services.db.read() as tx:
        rows = tx.query(
            "SELECT loc, part_no, SUM(q) AS qty FROM ("
            " SELECT to_location AS loc, part_no, qty AS q FROM movements WHERE to_location IS NOT NULL"
            " UNION ALL SELECT from_location AS loc, part_no, -qty AS q FROM movements WHERE from_location IS NOT NULL"
            ") x GROUP BY loc, part_no ORDER BY loc, part_no")
    levels = [StockLevel(location=r["loc"], part_no=r["part_no"], qty=int(r["qty"])) for r in rows]
    return [s for s in levels if location is None or s.location == location]
