"""HTTP for the knowledge base of solved cases (add, search, read)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post

from server.domain import idempotency
from server.domain.idempotency.service import IdempotencyKey
from server.domain.kb import service as kb
from server.domain.kb.service import KbCase, KbCaseIn
from server.errors import BadRequest
from server.security import Staff
from server.services import Services


class KbController(Controller):
    """``/v1/kb``."""

    path = "/v1"
    tags = ["kb"]

    @post("/kb", sync_to_thread=True, status_code=201)
    def add_case(self, request: Request[Any, Any, Any], data: KbCaseIn, services: Services, staff: Staff,
                 idempotency_key: IdempotencyKey = None) -> Response[KbCase]:
        staff.require("dispatcher", "backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: kb.add_case(svc, data, staff.name))

    @get("/kb", sync_to_thread=True)
    def search_kb(self, services: Services, staff: Staff, q: str = "", model: str | None = None,
                  limit: int = 50) -> list[KbCase]:
        if len(q) > 1000:
            raise BadRequest("invalid_parameter", "q is limited to 1000 characters")
        return kb.search(services, q, model, limit)

    @get("/kb/{case_id:str}", sync_to_thread=True)
    def get_case(self, case_id: str, services: Services, staff: Staff) -> KbCase:
        return kb.get_case(services, case_id)
