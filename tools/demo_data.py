"""Demo data: engineers with vans, customers and sites, tickets of every priority, a template, parts.

A demo *world* (:class:`DemoWorld`) is data, not interface text: the English one
below and the Chinese one in :mod:`tools.demo_data_zh` (``fieldsync demo --locale
zh-CN``) have the same shape -- the same part numbers, checklist keys,
priorities and jobs -- with their own people, customers, faults and calendar.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
from server.domain.customers import service as customers
from server.domain.customers.service import Contact, Customer, CustomerIn, SiteIn
from server.domain.kb.service import KbCaseIn, add_case
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
#: customer name -> its contacts (name, phone, role) and ERP reference
CUSTOMERS: dict[str, tuple[list[tuple[str, str, str]], str]] = {
    "Hotel Aurora": ([("R. Larsen", "+46 40 123 456", "Facility manager")], "ERP-C-1001"),
    "City Hospital": ([("Dr. M. Berg", "+46 40 987 654", "Technical services")], "ERP-C-1002"),
    "Bakery Lund": ([("K. Lund", "+46 46 555 010", "Owner")], "ERP-C-1003"),
    "Office Park 7": ([("Front desk", "+46 40 700 700", "Reception")], "ERP-C-1004"),
}
#: checklist item key -> label (the keys, types and limits are the same in every world)
TEMPLATE_ITEMS: list[tuple[str, str]] = [
    ("gas_tight", "Gas tightness test passed"), ("flue_co2", "Flue CO2 (%)"),
    ("pressure_bar", "System pressure (bar)"), ("condition", "General condition"),
    ("photo_plate", "Photo of rating plate"), ("remarks", "Remarks"),
]


@dataclass(frozen=True, slots=True)
class OfflineDay:
    """What the demo's tablets write during the simulated offline day (see :mod:`tools.demo`)."""

    diagnosis: str = "Ignition electrode worn"
    other_diagnosis: str = "Gas valve sticking"  # the second tablet's, a conflict for review
    resolution: str = "Seals replaced, pressure restored"
    signer: str = "R. Larsen"
    tablet: str = "tablet {name}"


@dataclass(frozen=True, slots=True)
class DemoWorld:
    """One demo data set and the settings it is served with."""

    engineers: list[tuple[str, str, list[str]]] = field(default_factory=lambda: ENGINEERS)
    parts: list[tuple[str, str, bool, int]] = field(default_factory=lambda: PARTS)
    tickets: list[tuple[str, str, Priority, Category, str, str]] = field(default_factory=lambda: TICKETS)
    #: the customers of the tickets as records: name -> (contacts, ERP reference)
    customers: dict[str, tuple[list[tuple[str, str, str]], str]] = field(default_factory=lambda: CUSTOMERS)
    template_name: str = "Boiler service"
    template_items: list[tuple[str, str]] = field(default_factory=lambda: TEMPLATE_ITEMS)
    warehouse: str = "Main warehouse"
    returns: str = "Returns desk"
    email_domain: str = "example.com"
    #: solved cases for the knowledge base: (symptom, cause, fix, parts, model, equipment type)
    kb_cases: list[tuple[str, str, str, list[str], str, str]] = field(default_factory=list)
    offline_day: OfflineDay = field(default_factory=OfflineDay)
    #: ``FIELDSYNC_*`` settings the demo server runs with (time zone, holiday region, locale)
    env: dict[str, str] = field(default_factory=dict)


ENGLISH = DemoWorld()


def _template(world: DemoWorld) -> ChecklistTemplateIn:
    label = dict(world.template_items)
    return ChecklistTemplateIn(id="boiler-service", name=world.template_name, items=[
        ChecklistItem(key="gas_tight", label=label["gas_tight"], type="pass_fail"),
        ChecklistItem(key="flue_co2", label=label["flue_co2"], type="number", min=0, max=15),
        ChecklistItem(key="pressure_bar", label=label["pressure_bar"], type="number", min=0, max=4),
        ChecklistItem(key="condition", label=label["condition"], type="choice", choices=["good", "fair", "poor"]),
        ChecklistItem(key="photo_plate", label=label["photo_plate"], type="photo", required=False),
        ChecklistItem(key="remarks", label=label["remarks"], type="text", required=False),
    ])


def seed_demo(services: Services, world: DemoWorld = ENGLISH) -> dict[str, list[str]]:
    """Load a demo data set (English unless told) into an empty database; return the ids created."""
    for eid, name, skills in world.engineers:
        catalog.create_engineer(services, EngineerIn(id=eid, name=name, email=f"{eid}@{world.email_domain}",
                                                     skills=skills))
    catalog.create_location(services, StockLocationIn(id="wh-main", kind="warehouse", name=world.warehouse))
    catalog.create_location(services, StockLocationIn(id="returns", kind="returns", name=world.returns))
    for part_no, name, serialized, price in world.parts:
        catalog.upsert_part(services, PartIn(part_no=part_no, name=name, serialized=serialized,
                                             unit_price_cents=price))
        if not serialized:
            catalog.record_movement(services, MovementIn(kind="adjust", part_no=part_no, qty=100,
                                                         to_location="wh-main"))
    for eid, _, _ in world.engineers:
        for part_no in ("P-VALVE", "P-IGN", "P-SEAL"):
            catalog.record_movement(services, MovementIn(kind="issue", part_no=part_no, qty=5,
                                                         from_location="wh-main", to_location=f"van-{eid}"))
        for n in range(2):
            serial = f"PCB-{eid}-{n}"
            catalog.record_movement(services, MovementIn(kind="adjust", part_no="P-PCB", qty=1, serial=serial,
                                                         to_location=f"van-{eid}"))
    catalog.publish_template(services, _template(world))
    records: dict[str, Customer] = {}
    for name, (contacts, ref) in world.customers.items():
        sites = list(dict.fromkeys(site for customer, site, *_ in world.tickets if customer == name))
        records[name] = customers.create_customer(services, CustomerIn(
            name=name, contacts=[Contact(name=n, phone=p, role=r) for n, p, r in contacts], external_ref=ref,
            sites=[SiteIn(name=site) for site in sites]), "demo")
    ids: list[str] = []
    for i, (customer, site, priority, category, title, serial) in enumerate(world.tickets):
        record = records.get(customer)
        if record is not None:  # by id, as a dispatcher picks the customer from the list
            ticket_in = TicketIn(customer_id=record.id, site_id=next(s.id for s in record.sites if s.name == site),
                                 priority=priority, category=category, title=title, asset_serial=serial)
        else:
            ticket_in = TicketIn(customer=customer, site=site, priority=priority, category=category, title=title,
                                 asset_serial=serial)
        t = tickets.create_ticket(services, ticket_in, "demo")
        engineer = world.engineers[i % len(world.engineers)][0]
        tickets.create_job(services, t.id, JobIn(engineer_id=engineer, checklist_template="boiler-service"))
        ids.append(t.id)
    for symptom, cause, fix, parts, model, equipment_type in world.kb_cases:
        add_case(services, KbCaseIn(symptom=symptom, cause=cause, fix=fix, parts=parts, model=model,
                                    equipment_type=equipment_type), "demo")
    return {"engineers": [e[0] for e in world.engineers], "tickets": ids}
