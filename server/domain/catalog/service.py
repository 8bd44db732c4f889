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
from server.domain.catalog import store
from server.domain.parts.service import good_stock, serial_location
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
        if store.engineer_exists(tx, data.id):
            raise Conflict("engineer_exists", f"engineer {data.id!r} already exists")
        store.insert_engineer_with_van(tx, data.id, data.name, data.email, dumps(data.skills), van)
    return get_engineer(services, data.id)


def get_engineer(services: Services, engineer_id: str) -> Engineer:
    with services.db.read() as tx:
        row = store.engineer(tx, engineer_id)
    if row is None:
        raise NotFound("unknown_engineer", f"no engineer {engineer_id!r}")
    return _engineer(row)


def set_engineer_active(services: Services, engineer_id: str, active: bool) -> Engineer:
    """Disable an engineer (no new jobs are dispatched to them; their jobs, van and tablets stay as they are)
    or enable them again."""
    with services.db.write() as tx:
        if not store.set_engineer_active(tx, engineer_id, active):
            raise NotFound("unknown_engineer", f"no engineer {engineer_id!r}")
    return get_engineer(services, engineer_id)


def list_engineers(services: Services) -> list[Engineer]:
    with services.db.read() as tx:
        return [_engineer(r) for r in store.engineers(tx)]


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
        version = store.latest_template_version(tx, data.id) + 1
        items = msgspec.to_builtins(data.items)
        store.insert_template(tx, data.id, version, data.name, dumps(items), now)
        publish(tx, [TemplateRecord(id=f"{data.id}@{version}", data=TemplateData(
            id=data.id, version=version, name=data.name, items=data.items))])
    return get_template(services, data.id, version)


def get_template(services: Services, template_id: str, version: int | None = None) -> ChecklistTemplate:
    with services.db.read() as tx:
        row = store.template(tx, template_id, version)
    if row is None:
        raise NotFound("unknown_template", f"no checklist template {template_id!r}")
    return _template(row)


def template_from_row(row: Row) -> ChecklistTemplate:
    return _template(row)


def list_templates(services: Services) -> list[ChecklistTemplate]:
    with services.db.read() as tx:
        return [_template(r) for r in store.templates(tx)]


def _part(row: Row) -> Part:
    return Part(part_no=row["part_no"], name=row["name"], serialized=bool(row["serialized"]),
                unit_price_cents=row["unit_price_cents"], external_ref=row["external_ref"])


def upsert_part(services: Services, data: PartIn) -> Part:
    """Add or update a part; its ``external_ref``, when given, must not be another part's (409)."""
    with services.db.write() as tx:
        if data.external_ref is not None:
            other = store.part_by_external_ref(tx, data.external_ref)
            if other is not None and other != data.part_no:
                raise Conflict("external_ref_exists", f"part {other!r} already has external_ref {data.external_ref!r}",
                               part_no=other)
        store.upsert_part(tx, data.part_no, data.name, data.serialized, data.unit_price_cents, data.external_ref)
        publish(tx, [PartRecord(id=data.part_no, data=PartData(
            part_no=data.part_no, name=data.name, serialized=data.serialized, unit_price_cents=data.unit_price_cents))])
        row = store.part(tx, data.part_no)
    assert row is not None
    return _part(row)


def list_parts(services: Services, external_ref: str | None = None) -> list[Part]:
    with services.db.read() as tx:
        rows = store.parts(tx, external_ref)
    return [_part(r) for r in rows]


def create_location(services: Services, data: StockLocationIn) -> StockLocation:
    with services.db.write() as tx:
        if store.location_exists(tx, data.id):
            raise Conflict("location_exists", f"location {data.id!r} already exists")
        if data.engineer_id and not store.engineer_exists(tx, data.engineer_id):
            raise NotFound("unknown_engineer", f"no engineer {data.engineer_id!r}")
        store.insert_location(tx, data.id, data.kind, data.name, data.engineer_id)
    return StockLocation(id=data.id, kind=data.kind, name=data.name, engineer_id=data.engineer_id)


def list_locations(services: Services) -> list[StockLocation]:
    with services.db.read() as tx:
        rows = store.locations(tx)
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
        part = store.part_serialized(tx, data.part_no)
        if part is None:
            raise NotFound("unknown_part", f"no part {data.part_no!r}")
        if part["serialized"] and data.kind != "adjust" and (not data.serial or data.qty != 1):
            raise BadRequest("serial_required", "a serialized part moves one serial at a time")
        for loc in (data.from_location, data.to_location):
            if loc and not store.location_exists(tx, loc):
                raise NotFound("unknown_location", f"no stock location {loc!r}")
        if data.external_ref is not None and (known := store.movement_by_external_ref(tx, data.external_ref)):
            raise Conflict("external_ref_exists", f"movement {known!r} already has external_ref {data.external_ref!r}",
                           movement_id=known)
        if data.kind in ("issue", "transfer") and data.from_location:
            _refuse_overdraw(tx, data, bool(part["serialized"]))
        if not store.insert_office_movement(tx, mid, data.kind, data.part_no, data.qty, data.serial,
                                            data.from_location, data.to_location, now, data.external_ref):
            raise Conflict("external_ref_exists", f"a movement already has external_ref {data.external_ref!r}")
        publish_stock(tx, {x for x in (data.from_location, data.to_location) if x}, [data.part_no])
        row = store.movement(tx, mid)
    assert row is not None
    return movement_from_row(row)


def _refuse_overdraw(tx: Tx, data: MovementIn, serialized: bool) -> None:
    """An office issue or transfer out of a van takes only what the van holds (409 ``insufficient_stock``).

    The van's location row is locked first, so two transfers racing out of one van are checked one after
    the other against the ledger as the first left it (PostgreSQL; SQLite has one writer anyway).
    Warehouses are not checked: their goods receipts are booked in the ERP, not in this ledger.  The
    tablet's consumption is never refused (a van below zero is a reconciliation item).
    """
    assert data.from_location is not None
    source = store.lock_location(tx, data.from_location)
    if source is None or source["kind"] != "van":
        return
    if serialized:
        at = serial_location(tx, data.part_no, data.serial or "")
        if at != data.from_location:
            raise Conflict("insufficient_stock", f"serial {data.serial!r} of {data.part_no} is not in "
                           f"{data.from_location} (it is at {at or 'no known location'})",
                           location=data.from_location, part_no=data.part_no, available=0, requested=1)
        return
    available = max(0, good_stock(tx, data.from_location).get(data.part_no, 0))
    if data.qty > available:
        raise Conflict("insufficient_stock", f"{data.from_location} holds {available} of {data.part_no}, "
                       f"not {data.qty}", location=data.from_location, part_no=data.part_no,
                       available=available, requested=data.qty)


def list_movements(services: Services, location: str | None = None, part_no: str | None = None,
                   external_ref: str | None = None) -> list[Movement]:
    with services.db.read() as tx:
        return [movement_from_row(r) for r in store.movements(tx, location, part_no, external_ref)]


def stock_levels(services: Services, location: str | None = None) -> list[StockLevel]:
    """Stock per location and part, derived from the whole ledger."""
    with services.db.read() as tx:
        rows = store.stock(tx)
    levels = [StockLevel(location=r["loc"], part_no=r["part_no"], qty=int(r["qty"])) for r in rows]
    return [s for s in levels if location is None or s.location == location]
