"""HTTP for the service lifecycle (thin: parse, check role, call the service).

Routes: asset history and customer archive, inspection plans, follow-ups and
complaints (acknowledge, customer confirmation, close), engineers'
certifications, the knowledge base and the service KPIs (JSON or CSV).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import QueryParameter

from server.context import Services
from server.domain.lifecycle import certifications, followup, history, kb, kpis
from server.domain.lifecycle.certifications import Certification, CertificationIn
from server.domain.lifecycle.followup import Complaint, ConfirmationIn, FollowUp, FollowUpIn, NoteIn
from server.domain.lifecycle.kb import KbCase, KbCaseIn
from server.domain.plans import service as plans
from server.domain.plans.service import Plan, PlanIn
from server.domain.tickets.service import get_ticket
from server.errors import BadRequest
from server.security import Staff

DAY_MS = 86_400_000


def _limit(limit: int, top: int = 500) -> int:
    return max(1, min(limit, top))


class LifecycleController(Controller):
    """Service archive, plans, follow-ups, complaints, certifications, knowledge base, KPIs."""

    path = "/v1"
    tags = ["lifecycle"]

    # -- archive ----------------------------------------------------------------------------------------
    @get("/assets/{serial:str}/history", sync_to_thread=True)
    def asset_history(self, serial: str, services: Services, staff: Staff) -> dict[str, Any]:
        return history.asset_history(services, serial)

    @get("/customers/{name:str}/archive", sync_to_thread=True)
    def customer_archive(self, name: str, services: Services, staff: Staff) -> dict[str, Any]:
        return history.customer_archive(services, name)

    # -- plans ------------------------------------------------------------------------------------------
    @post("/plans", sync_to_thread=True, status_code=201)
    def create_plan(self, data: PlanIn, services: Services, staff: Staff) -> Plan:
        staff.require("dispatcher", "backoffice")
        return plans.create_plan(services, data, staff)

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

    # -- follow-ups and complaints ----------------------------------------------------------------------
    @get("/followups", sync_to_thread=True)
    def list_follow_ups(self, services: Services, staff: Staff,
                        wanted: Annotated[str | None, QueryParameter(name="state")] = None,
                        limit: int = 200) -> list[FollowUp]:
        """Resolved tickets with their follow-up: ``state`` = due, overdue or done."""
        return followup.list_follow_ups(services, wanted, _limit(limit))

    @get("/tickets/{ticket_id:str}/follow-up", sync_to_thread=True)
    def get_follow_up(self, ticket_id: str, services: Services, staff: Staff) -> FollowUp:
        return followup.get_follow_up(services, ticket_id)

    @post("/tickets/{ticket_id:str}/follow-up", sync_to_thread=True, status_code=201)
    def record_follow_up(self, ticket_id: str, data: FollowUpIn, services: Services, staff: Staff) -> FollowUp:
        staff.require("dispatcher", "backoffice")
        return followup.record_follow_up(services, ticket_id, data, staff.name)

    @post("/tickets/{ticket_id:str}/acknowledge", sync_to_thread=True, status_code=200)
    def acknowledge(self, ticket_id: str, services: Services, staff: Staff, data: NoteIn | None = None) -> Any:
        staff.require("dispatcher", "backoffice")
        followup.acknowledge(services, ticket_id, data or NoteIn(), staff.name)
        return get_ticket(services, ticket_id)

    @post("/tickets/{ticket_id:str}/customer-confirmation", sync_to_thread=True, status_code=201)
    def confirm(self, ticket_id: str, data: ConfirmationIn, services: Services, staff: Staff) -> Any:
        staff.require("dispatcher", "backoffice")
        followup.confirm_by_customer(services, ticket_id, data, staff.name)
        return get_ticket(services, ticket_id)

    @post("/tickets/{ticket_id:str}/close", sync_to_thread=True, status_code=200)
    def close(self, ticket_id: str, services: Services, staff: Staff, data: NoteIn | None = None) -> Any:
        staff.require("dispatcher", "backoffice")
        followup.close_ticket(services, ticket_id, data or NoteIn(), staff.name)
        return get_ticket(services, ticket_id)

    @get("/complaints", sync_to_thread=True)
    def complaints(self, services: Services, staff: Staff, status: str | None = None,
                   limit: int = 200) -> list[Complaint]:
        return followup.list_complaints(services, status, _limit(limit))

    # -- certifications ---------------------------------------------------------------------------------
    @post("/engineers/{engineer_id:str}/certifications", sync_to_thread=True, status_code=201)
    def add_certification(self, engineer_id: str, data: CertificationIn, services: Services,
                          staff: Staff) -> Certification:
        staff.require("backoffice")
        return certifications.add_certification(services, engineer_id, data, staff.name)

    @get("/engineers/{engineer_id:str}/certifications", sync_to_thread=True)
    def certifications(self, engineer_id: str, services: Services, staff: Staff) -> list[Certification]:
        return certifications.list_certifications(services, engineer_id)

    # -- knowledge base ---------------------------------------------------------------------------------
    @post("/kb", sync_to_thread=True, status_code=201)
    def add_case(self, data: KbCaseIn, services: Services, staff: Staff) -> KbCase:
        staff.require("dispatcher", "backoffice")
        return kb.add_case(services, data, staff.name)

    @get("/kb", sync_to_thread=True)
    def search_kb(self, services: Services, staff: Staff, q: str = "", model: str | None = None,
                  limit: int = 50) -> list[KbCase]:
        if len(q) > 1000:
            raise BadRequest("invalid_parameter", "q is limited to 1000 characters")
        return kb.search(services, q, model, limit)

    @get("/kb/{case_id:str}", sync_to_thread=True)
    def get_case(self, case_id: str, services: Services, staff: Staff) -> KbCase:
        return kb.get_case(services, case_id)

    # -- KPIs -------------------------------------------------------------------------------------------
    @get("/kpis", sync_to_thread=True)
    def service_kpis(self, services: Services, staff: Staff, group_by: str = "all", format: str = "json",
                     period_from: Annotated[str | None, QueryParameter(name="from")] = None,
                     to: str | None = None) -> Response[bytes]:
        """First-time fix, remote share, respond/arrive/restore, parts availability, satisfaction (JSON or CSV)."""
        if format not in ("json", "csv"):
            raise BadRequest("invalid_parameter", "format is json or csv")
        end = kpis.parse_time(to, services.clock(), "to")
        start = kpis.parse_time(period_from, end - 30 * DAY_MS, "from")
        report = kpis.compute_kpis(services, start, end, group_by)
        if format == "csv":
            return Response(content=kpis.kpis_csv(report).encode(), media_type="text/csv; charset=utf-8")
        return Response(content=msgspec.json.encode(report), media_type="application/json")
