"""HTTP for preventive inspection plans (thin: parse, check role, call the service)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post

from server.domain import idempotency
from server.domain.idempotency.service import IdempotencyKey
from server.domain.plans import service as plans
from server.domain.plans.service import Plan, PlanIn
from server.security import Staff
from server.services import Services


def _limit(limit: int, top: int = 500) -> int:
    return max(1, min(limit, top))


class PlanController(Controller):
    """``/v1/plans``: create, list (``overdue=1``), read and deactivate plans."""

    path = "/v1"
    tags = ["plans"]

    @post("/plans", sync_to_thread=True, status_code=201)
    def create_plan(self, request: Request[Any, Any, Any], data: PlanIn, services: Services, staff: Staff,
                    idempotency_key: IdempotencyKey = None) -> Response[Plan]:
        staff.require("dispatcher", "backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: plans.create_plan(svc, data, staff))

    @get("/plans", sync_to_thread=True)
    def list_plans(self, services: Services, staff: Staff, overdue: bool = False, asset_serial: str | None = None,
                   customer: str | None = None, limit: int = 200) -> list[Plan]:
        return plans.list_plans(services, overdue, asset_serial, customer, _limit(limit))

    @get("/plans/{plan_id:str}", sync_to_thread=True)
    def get_plan(self, plan_id: str, services: Services, staff: Staff) -> Plan:
        return plans.get_plan(services, plan_id)

    @post("/plans/{plan_id:str}/deactivate", sync_to_thread=True, status_code=200)
    def deactivate_plan(self, plan_id: str, services: Services, staff: Staff) -> Plan:
        staff.require("dispatcher", "backoffice")
        return plans.deactivate_plan(services, plan_id)
