"""HTTP for assets, van stock and warranty claims (thin: parse, check role, call the service)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post

from server.domain import idempotency
from server.domain.idempotency.service import IdempotencyKey
from server.domain.parts import service
from server.domain.parts.service import Asset, AssetIn, DecideIn, ReturnIn, VanStock, WarrantyClaim
from server.security import Staff
from server.services import Services


class PartsController(Controller):
    """``/v1/assets``, ``/v1/vans/{engineer_id}`` and ``/v1/warranty/claims``."""

    path = "/v1"
    tags = ["parts"]

    @post("/assets", sync_to_thread=True, status_code=201)
    def create_asset(self, request: Request[Any, Any, Any], data: AssetIn, services: Services, staff: Staff,
                     idempotency_key: IdempotencyKey = None) -> Response[Asset]:
        staff.require("backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: service.create_asset(svc, data))

    @get("/assets", sync_to_thread=True)
    def list_assets(self, services: Services, staff: Staff, customer: str | None = None, limit: int = 200,
                    offset: int = 0) -> list[Asset]:
        return service.list_assets(services, customer, max(1, min(limit, 1000)), max(0, offset))

    @get("/assets/{serial:str}", sync_to_thread=True)
    def get_asset(self, serial: str, services: Services, staff: Staff) -> Asset:
        return service.get_asset(services, serial)

    @get("/vans/{engineer_id:str}", sync_to_thread=True)
    def van(self, engineer_id: str, services: Services, staff: Staff) -> VanStock:
        return service.van_stock(services, engineer_id)

    @get("/warranty/claims", sync_to_thread=True)
    def claims(self, services: Services, staff: Staff, status: str | None = None,
               job_id: str | None = None) -> list[WarrantyClaim]:
        return service.list_claims(services, status, job_id)

    @get("/warranty/claims/{claim_id:str}", sync_to_thread=True)
    def claim(self, claim_id: str, services: Services, staff: Staff) -> WarrantyClaim:
        return service.get_claim(services, claim_id)

    @post("/warranty/claims/{claim_id:str}/approve", sync_to_thread=True, status_code=200)
    def approve(self, claim_id: str, services: Services, staff: Staff, data: DecideIn | None = None) -> WarrantyClaim:
        staff.require("backoffice")
        return service.decide_claim(services, claim_id, "approved", staff.name, (data or DecideIn()).comment)

    @post("/warranty/claims/{claim_id:str}/returns", sync_to_thread=True, status_code=201)
    def return_old_parts(self, request: Request[Any, Any, Any], claim_id: str, data: ReturnIn, services: Services,
                         staff: Staff, idempotency_key: IdempotencyKey = None) -> Response[WarrantyClaim]:
        """Old parts of a claim for a part without serials, received at returns by quantity (partial returns add)."""
        staff.require("backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: service.return_by_quantity(svc, claim_id, data, staff.name))

    @post("/warranty/claims/{claim_id:str}/reject", sync_to_thread=True, status_code=200)
    def reject(self, claim_id: str, services: Services, staff: Staff, data: DecideIn | None = None) -> WarrantyClaim:
        staff.require("backoffice")
        return service.decide_claim(services, claim_id, "rejected", staff.name, (data or DecideIn()).comment)
