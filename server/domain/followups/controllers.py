"""HTTP for follow-up calls after a resolved ticket (thin: parse, check role, call the service)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import QueryParameter

from server.domain.followups import service as followup
from server.domain.followups.service import FollowUp, FollowUpIn
from server.security import Staff
from server.services import Services


def _limit(limit: int, top: int = 500) -> int:
    return max(1, min(limit, top))


class FollowUpController(Controller):
    """``/v1/followups`` and ``/v1/tickets/{id}/follow-up``."""

    path = "/v1"
    tags = ["followups"]

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
