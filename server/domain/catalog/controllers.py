"""HTTP for engineers, checklist templates, parts, stock locations, movements and stock."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post

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
from server.domain import idempotency
from server.domain.catalog import service
from server.domain.idempotency.service import IdempotencyKey
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
    def create_engineer(self, request: Request[Any, Any, Any], data: EngineerIn, services: Services, staff: Staff,
                           idempotency_key: IdempotencyKey = None) -> Response[Engineer]:
        staff.require("backoffice", "dispatcher")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: service.create_engineer(svc, data))

    @post("/engineers/{engineer_id:str}/deactivate", sync_to_thread=True, status_code=200)
    def deactivate_engineer(self, engineer_id: str, services: Services, staff: Staff) -> Engineer:
        """No new jobs for this engineer (dispatching to them is refused); what they hold stays."""
        staff.require("backoffice", "dispatcher")
        return service.set_engineer_active(services, engineer_id, False)

    @post("/engineers/{engineer_id:str}/activate", sync_to_thread=True, status_code=200)
    def activate_engineer(self, engineer_id: str, services: Services, staff: Staff) -> Engineer:
        staff.require("backoffice", "dispatcher")
        return service.set_engineer_active(services, engineer_id, True)

    @get("/templates", sync_to_thread=True)
    def templates(self, services: Services, staff: Staff) -> list[ChecklistTemplate]:
        return service.list_templates(services)

    @get("/templates/{template_id:str}", sync_to_thread=True)
    def template(self, template_id: str, services: Services, staff: Staff,
                 version: int | None = None) -> ChecklistTemplate:
        return service.get_template(services, template_id, version)

    @post("/templates", sync_to_thread=True, status_code=201)
    def publish(self, request: Request[Any, Any, Any], data: ChecklistTemplateIn, services: Services, staff: Staff,
                   idempotency_key: IdempotencyKey = None) -> Response[ChecklistTemplate]:
        staff.require("backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: service.publish_template(svc, data))

    @get("/parts", sync_to_thread=True)
    def parts(self, services: Services, staff: Staff, external_ref: str | None = None) -> list[Part]:
        return service.list_parts(services, external_ref)

    @post("/parts", sync_to_thread=True, status_code=201)
    def upsert_part(self, request: Request[Any, Any, Any], data: PartIn, services: Services, staff: Staff,
                       idempotency_key: IdempotencyKey = None) -> Response[Part]:
        staff.require("backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: service.upsert_part(svc, data))

    @get("/locations", sync_to_thread=True)
    def locations(self, services: Services, staff: Staff) -> list[StockLocation]:
        return service.list_locations(services)

    @post("/locations", sync_to_thread=True, status_code=201)
    def create_location(self, request: Request[Any, Any, Any], data: StockLocationIn, services: Services, staff: Staff,
                           idempotency_key: IdempotencyKey = None) -> Response[StockLocation]:
        staff.require("backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: service.create_location(svc, data))

    @get("/movements", sync_to_thread=True)
    def movements(self, services: Services, staff: Staff, location: str | None = None,
                  part_no: str | None = None, external_ref: str | None = None) -> list[Movement]:
        return service.list_movements(services, location, part_no, external_ref)

    @post("/movements", sync_to_thread=True, status_code=201)
    def record_movement(self, request: Request[Any, Any, Any], data: MovementIn, services: Services, staff: Staff,
                           idempotency_key: IdempotencyKey = None) -> Response[Movement]:
        staff.require("backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: service.record_movement(svc, data))

    @get("/stock", sync_to_thread=True)
    def stock(self, services: Services, staff: Staff, location: str | None = None) -> list[StockLevel]:
        return service.stock_levels(services, location)
