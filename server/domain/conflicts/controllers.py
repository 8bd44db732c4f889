"""HTTP for the conflict review queue."""

from __future__ import annotations

from litestar import Controller, get, post

from schemas.domain import Conflict, ResolveIn
from server.domain.conflicts import service
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
