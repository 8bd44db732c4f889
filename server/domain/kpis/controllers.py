"""HTTP for the service KPIs over a period (JSON or CSV)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, put
from litestar.params import QueryParameter

from server.domain.kpis import service as kpis
from server.domain.kpis.service import KpiTarget, KpiTargetIn
from server.errors import BadRequest, Msg
from server.http_locale import content_language, request_locale
from server.security import Staff
from server.services import Services

DAY_MS = 86_400_000


class KpiController(Controller):
    """``/v1/kpis`` and the KPIs' targets."""

    path = "/v1"
    tags = ["kpis"]

    @get("/kpis", sync_to_thread=True)
    def service_kpis(self, request: Request[Any, Any, Any], services: Services, staff: Staff, group_by: str = "all",
                     format: str = "json",
                     period_from: Annotated[str | None, QueryParameter(name="from")] = None,
                     to: str | None = None) -> Response[bytes]:
        """First-time fix, remote share, respond/arrive/restore, parts availability, satisfaction (JSON or CSV)."""
        if format not in ("json", "csv"):
            raise BadRequest("invalid_parameter", Msg("format_json_or_csv"))
        end = kpis.parse_time(to, services.clock(), "to")
        start = kpis.parse_time(period_from, end - 30 * DAY_MS, "from")
        report = kpis.compute_kpis(services, start, end, group_by)
        if format == "csv":
            locale = request_locale(request.headers.get("accept-language"))
            return Response(content=kpis.kpis_csv(report, locale).encode(), media_type="text/csv; charset=utf-8",
                            headers={"content-language": content_language(locale), "vary": "Accept-Language"})
        return Response(content=msgspec.json.encode(report), media_type="application/json")

    @get("/kpis/targets", sync_to_thread=True)
    def targets(self, services: Services, staff: Staff) -> list[KpiTarget]:
        """The targets the management set, one per KPI at most (a KPI without one is not listed)."""
        return kpis.list_targets(services)

    @put("/kpis/targets/{kpi:str}", sync_to_thread=True)
    def set_target(self, kpi: str, data: KpiTargetIn, services: Services, staff: Staff) -> KpiTarget:
        """Set a KPI's target (a fraction for rates and shares, 1-5 for satisfaction, minutes for times)."""
        staff.require("admin")
        return kpis.set_target(services, kpi, data.target, staff.name)

    @delete("/kpis/targets/{kpi:str}", sync_to_thread=True, status_code=204)
    def clear_target(self, kpi: str, services: Services, staff: Staff) -> None:
        """Drop a KPI's target."""
        staff.require("admin")
        kpis.clear_target(services, kpi)
