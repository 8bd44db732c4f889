"""HTTP for webhooks: the delivery log an admin reads (``GET /v1/webhooks/deliveries``)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from server.domain.webhooks import service
from server.security import Staff
from server.services import Services


class WebhookController(Controller):
    """``/v1/webhooks``: what was sent to the integration webhook, attempt by attempt."""

    path = "/v1/webhooks"
    tags = ["webhooks"]

    @get("/deliveries", sync_to_thread=True)
    def deliveries(self, services: Services, staff: Staff,
                   event_id: str | None = None,
                   limit: Annotated[int, Parameter(ge=1, le=1000)] = 100) -> list[service.Delivery]:
        """Delivery attempts, newest first (of one event with ``event_id``): status code or error, when, state."""
        staff.require("admin")
        return service.list_deliveries(services, limit, event_id)
