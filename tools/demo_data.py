"""Demo data: engineers with vans, customers and sites, tickets of every priority, a template, parts."""

from __future__ import annotations

from schemas.domain import (
    Category,
    ChecklistItem,
    ChecklistTemplateIn,
    EngineerIn,
    JobIn,
    MovementIn,
    PartIn,
    Priority,
    StockLocationIn,
    TicketIn,
)
from server.domain.catalog import service as catalog
from server.domain.tickets import service as tickets
from server.services import Services

ENGINEERS = [("e-ana", "Ana Alves", ["boiler", "heat-pump"]), ("e-ben", "Ben Brandt", ["boiler"]),
             ("e-chen", "Chen Li", ["chiller", "boiler"])]
PARTS = [("P-VALVE", "Gas valve", False, 4200), ("P-IGN", "Ignition electrode", False, 1500),
         ("P-PCB", "Control board", True, 18900), ("P-PUMP", "Circulation pump", True, 24500),
         ("P-SEAL", "Seal kit", False, 600)]
TICKETS: list[tuple[str, str, Priority, Category, str, str]] = [
    ("Hotel Aurora", "Aurora - plant room", "P1", "fault", "Boiler down, no hot water", "SN-1001"),
    ("City Hospital", "Wing B", "P2", "fault", "Chiller alarm, reduced cooling", "SN-2002"),
    ("Bakery Lund", "Main shop", "P3", "fault", "Pressure drops overnight", "SN-3003"),
    ("Office Park 7", "Building C", "P3", "inspection", "Annual boiler inspection", "SN-4004"),
    ("Hotel Aurora", "Aurora - spa", "complaint", "complaint", "Engineer left site without testing", "SN-1002"),
]


def seed_demo(services: Services) -> dict[str, list[str]]:
    """Load the demo data set into an empty database; return the ids created."""
    for eid, name, skills in ENGINEERS:
        catalog.create_engineer(services, EngineerIn(id=eid, name=name, email=f"{eid}@example.com", skills=skills))
    catalog.create_location(services, StockLocationIn(id="wh-main", kind="warehouse", name="Main warehouse"))
    catalog.create_location(services, StockLocationIn(id="returns", kind="returns", name="Returns desk"))
    for part_no, name, serialized, price in PARTS:
        catalog.upsert_part(services, PartIn(part_no=part_no, name=name, serialized=serialized,
                                             unit_price_cents=price))
        if not serialized:
            catalog.record_movement(services, MovementIn(kind="adjust", part_no=part_no, qty=100,
                                                         to_location="wh-main"))
    for eid, _, _ in ENGINEERS:
        for part_no in ("P-VALVE", "P-IGN", "P-SEAL"):
            catalog.record_movement(services, MovementIn(kind="issue", part_no=part_no, qty=5,
                                                         from_location="wh-main", to_location=f"van-{eid}"))
        for n in range(2):
            serial = f"PCB-{eid}-{n}"
            catalog.record_movement(services, MovementIn(kind="adjust", part_no="P-PCB", qty=1, serial=serial,
                                                         to_location=f"van-{eid}"))
    catalog.publish_template(services, ChecklistTemplateIn(id="boiler-service", name="Boiler service", items=[
        ChecklistItem(key="gas_tight", label="Gas tightness test passed", type="pass_fail"),
        ChecklistItem(key="flue_co2", label="Flue CO2 (%)", type="number", min=0, max=15),
        ChecklistItem(key="pressure_bar", label="System pressure (bar)", type="number", min=0, max=4),
        ChecklistItem(key="condition", label="General condition", type="choice", choices=["good", "fair", "poor"]),
        ChecklistItem(key="photo_plate", label="Photo of rating plate", type="photo", required=False),
        ChecklistItem(key="remarks", label="Remarks", type="text", required=False),
    ]))
    ids: list[str] = []
    for i, (customer, site, priority, category, title, serial) in enumerate(TICKETS):
        t = tickets.create_ticket(services, TicketIn(customer=customer, site=site, priority=priority,
                                                     category=category, title=title, asset_serial=serial), "demo")
        engineer = ENGINEERS[i % len(ENGINEERS)][0]
        tickets.create_job(services, t.id, JobIn(engineer_id=engineer, checklist_template="boiler-service"))
        ids.append(t.id)
    return {"engineers": [e[0] for e in ENGINEERS], "tickets": ids}
