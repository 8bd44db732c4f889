"""HTTP for engineers, checklist templates, parts, stock locations, movements and stock."""

from __future__ import annotations

from litestar import Controller, get, post

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
from server.domain.catalog import service
from server.security import Staff
from server.services import Services


class CatalogController(Controller):
    """Back-office master data."""

    path = "/v1"
    tags = ["catalog"]

    @get("/engineers", sync_to_thread=True)
    def engineers(self, services: Services, staff: Staff) -> list[Engineer]:
        return service.list_engineers(services)

    @post("/engineers", sync_to_thread=True, status_code=201)
    def create_engineer(self, data: EngineerIn, services: Services, staff: Staff) -> Engineer:
        staff.require("backoffice", "dispatcher")
        return service.create_engineer(services, data)

    @get("/templates", sync_to_thread=True)
    def templates(self, services: Services, staff: Staff) -> list[ChecklistTemplate]:
        return service.list_templates(services)

    @get("/templates/{template_id:str}", sync_to_thread=True)
    def template(self, template_id: str, services: Services, staff: Staff,
                 version: int | None = None) -> ChecklistTemplate:
        return service.get_template(services, template_id, version)

    @post("/templates", sync_to_thread=True, status_code=201)
    def publish(self, data: ChecklistTemplateIn, services: Services, staff: Staff) -> ChecklistTemplate:
        staff.require("backoffice")
        return service.publish_template(services, data)

    @get("/parts", sync_to_thread=True)
    def parts(self, services: Services, staff: Staff) -> list[Part]:
        return service.list_parts(services)

    @post("/parts", sync_to_thread=True, status_code=201)
    def upsert_part(self, data: PartIn, services: Services, staff: Staff) -> Part:
        staff.require("backoffice")
        return service.upsert_part(services, data)

    @get("/locations", sync_to_thread=True)
    def locations(self, services: Services, staff: Staff) -> list[StockLocation]:
        return service.list_locations(services)

    @post("/locations", sync_to_thread=True, status_code=201)
    def create_location(self, data: StockLocationIn, services: Services, staff: Staff) -> StockLocation:
        staff.require("backoffice")
        return service.create_location(services, data)

    @get("/movements", sync_to_thread=True)
    def movements(self, services: Services, staff: Staff, location: str | None = None,
                  part_no: str | None = None) -> list[Movement]:
        return service.list_movements(services, location, part_no)

    @post("/movements", sync_to_thread=True, status_code=201)
    def record_movement(self, data: MovementIn, services: Services, staff: Staff) -> Movement:
        staff.require("backoffice")
        return service.record_movement(services, data)

    @get("/stock", sync_to_thread=True)
    def stock(self, services: Services, staff: Staff, location: str | None = None) -> list[StockLevel]:
        return service.stock_levels(services, location)
