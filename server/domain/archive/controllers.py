"""HTTP for the service archive: an asset's history and a customer's archive (staff)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get
from litestar.response import Redirect

from server.domain.archive import service as history
from server.domain.customers import service as customers
from server.security import Staff
from server.services import Services


class ArchiveController(Controller):
    """``/v1/assets/{serial}/history`` and ``/v1/customers/{id}/archive`` (by exact name: 308 to it)."""

    path = "/v1"
    tags = ["archive"]

    @get("/assets/{serial:str}/history", sync_to_thread=True)
    def asset_history(self, serial: str, services: Services, staff: Staff) -> dict[str, Any]:
        return history.asset_history(services, serial)

    @get("/customers/{customer_id:str}/archive", sync_to_thread=True)
    def customer_archive(self, request: Request[Any, Any, Any], customer_id: str, services: Services,
                         staff: Staff) -> Response[dict[str, Any]] | Redirect:
        """The customer's archive by id; the old form by exact name answers 308 to the id's URL."""
        cid, by_name = customers.resolve_archive(services, customer_id)
        if by_name:
            return Redirect(f"/v1/customers/{quote(cid, safe='')}/archive", status_code=308)
        return Response(history.customer_archive(services, cid))
