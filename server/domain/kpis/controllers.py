"""HTTP for the service KPIs over a period (JSON or CSV)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, get
from litestar.params import QueryParameter

from server.domain.kpis import service as kpis
from server.errors import BadRequest
from server.security import Staff
from server.services import Services

DAY_MS = 86_400_000


class KpiController(Controller):
    """``/v1/kpis``."""

    path = "/v1"
    tags = ["kpis"]

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
