"""HTTP for the conflict review queue."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post

from schemas.domain import AdoptIn, Conflict, DiscardIn, ResolveIn
from server.domain import idempotency
from server.domain.conflicts import service
from server.domain.idempotency.service import IdempotencyKey
from server.domain.sync import late_work
from server.security import Staff
from server.services import Services


class ConflictController(Controller):
    """``/v1/conflicts``."""

    path = "/v1/conflicts"
    tags = ["conflicts"]

    @get("/", sync_to_thread=True)
    def list_conflicts(self, services: Services, staff: Staff, status: str | None = "open",
                       job_id: str | None = None) -> list[Conflict]:
        return service.list_conflicts(services, None if status == "all" else status, job_id)

    @get("/{conflict_id:str}", sync_to_thread=True)
    def get_conflict(self, conflict_id: str, services: Services, staff: Staff) -> Conflict:
        return service.get_conflict(services, conflict_id)

    @post("/{conflict_id:str}/resolve", sync_to_thread=True, status_code=200)
    def resolve(self, conflict_id: str, data: ResolveIn, services: Services, staff: Staff) -> Conflict:
        staff.require("backoffice")
        return service.resolve(services, conflict_id, data, staff.name)

    @post("/{conflict_id:str}/adopt", sync_to_thread=True, status_code=200)
    def adopt(self, conflict_id: str, request: Request[Any, Any, Any], data: AdoptIn, services: Services,
              staff: Staff, idempotency_key: IdempotencyKey = None) -> Response[Conflict]:
        """Apply a late visit (work on a job reassigned away) to the job, as its engineer's."""
        staff.require("backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 200,
                               lambda svc: late_work.decide(svc, conflict_id, staff.name, adopt=True,
                                                            comment=data.comment))

    @post("/{conflict_id:str}/discard", sync_to_thread=True, status_code=200)
    def discard(self, conflict_id: str, request: Request[Any, Any, Any], data: DiscardIn, services: Services,
                staff: Staff, idempotency_key: IdempotencyKey = None) -> Response[Conflict]:
        """Leave a late visit unapplied, with a reason (its parts movements stay in the ledger)."""
        staff.require("backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 200,
                               lambda svc: late_work.decide(svc, conflict_id, staff.name, adopt=False,
                                                            comment=data.reason))
