"""HTTP for the service archive: an asset's history and a customer's archive (staff)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get

from server.domain.archive import service as history
from server.security import Staff
from server.services import Services


class ArchiveController(Controller):
    """``/v1/assets/{serial}/history`` and ``/v1/customers/{name}/archive``."""

    path = "/v1"
    tags = ["archive"]

    @get("/assets/{serial:str}/history", sync_to_thread=True)
    def asset_history(self, serial: str, services: Services, staff: Staff) -> dict[str, Any]:
        return history.asset_history(services, serial)

    @get("/customers/{name:str}/archive", sync_to_thread=True)
    def customer_archive(self, name: str, services: Services, staff: Staff) -> dict[str, Any]:
        return history.customer_archive(services, name)
