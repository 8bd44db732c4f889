"""HTTP for complaints: the customer's confirmation and the complaint list."""

from __future__ import annotations

from litestar import Controller, get, post

from schemas.domain import Ticket
from server.domain.complaints import service as complaints
from server.domain.complaints.service import Complaint, ConfirmationIn
from server.domain.tickets.service import get_ticket
from server.security import Staff
from server.services import Services


def _limit(limit: int, top: int = 500) -> int:
    return max(1, min(limit, top))


class ComplaintController(Controller):
    """``/v1/complaints`` and ``/v1/tickets/{id}/customer-confirmation``."""

    path = "/v1"
    tags = ["complaints"]

    @post("/tickets/{ticket_id:str}/customer-confirmation", sync_to_thread=True, status_code=201)
    def confirm(self, ticket_id: str, data: ConfirmationIn, services: Services, staff: Staff) -> Ticket:
        staff.require("dispatcher", "backoffice")
        complaints.confirm_by_customer(services, ticket_id, data, staff.name)
        return get_ticket(services, ticket_id)

    @get("/complaints", sync_to_thread=True)
    def complaints(self, services: Services, staff: Staff, status: str | None = None,
                   limit: int = 200) -> list[Complaint]:
        return complaints.list_complaints(services, status, _limit(limit))
