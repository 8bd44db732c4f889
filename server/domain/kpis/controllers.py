"""HTTP for the service KPIs over a period (JSON or CSV)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter

from server.domain.kpis import service as kpis
from server.domain.kpis import targets
from server.errors import BadRequest, Msg
from server.http_locale import content_language, request_locale
from server.security import Staff
from server.services import Services

DAY_MS = 86_400_000


class KpiController(Controller):
    """``/v1/kpis`` and ``/v1/kpis/targets``."""

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
    def kpi_targets(self, request: Request[Any, Any, Any], services: Services, staff: Staff, format: str = "json",
                    period_from: Annotated[str | None, QueryParameter(name="from")] = None,
                    to: str | None = None) -> Response[bytes]:
        """The service plans' KPIs against their targets for the period and per month (JSON or CSV)."""
        if format not in ("json", "csv"):
            raise BadRequest("invalid_parameter", Msg("format_json_or_csv"))
        end = kpis.parse_time(to, services.clock(), "to")
        start = kpis.parse_time(period_from, end - 30 * DAY_MS, "from")
        report = targets.kpi_targets_report(services, start, end)
        if format == "csv":
            locale = request_locale(request.headers.get("accept-language"))
            return Response(content=targets.kpi_targets_csv(report, locale).encode(),
                            media_type="text/csv; charset=utf-8",
                            headers={"content-language": content_language(locale), "vary": "Accept-Language"})
        return Response(content=msgspec.json.encode(report), media_type="application/json")
