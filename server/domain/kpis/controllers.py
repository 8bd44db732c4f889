"""HTTP for the service KPIs over a period (JSON or CSV)."""

from __future__ import annotations

from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, Request, Response, delete, get, put
from litestar.params import QueryParameter

from schemas.instant import Instant
from server.api_json import time_range
from server.domain.kpis import service as kpis
from server.domain.kpis import targets
from server.errors import BadRequest, Msg
from server.http_locale import content_language, request_locale
from server.security import Staff
from server.services import Services

DAY_MS = 86_400_000


class KpiReport(msgspec.Struct, kw_only=True):
    """``GET /v1/kpis``: one row of figures per group over tickets opened in ``[from, to)``."""

    start: Instant = msgspec.field(name="from")
    end: Instant = msgspec.field(name="to")
    group_by: str
    generated_at: Instant
    rows: list[dict[str, Any]]


class KpiTargetIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An admin's target for a KPI: a fraction for rates and shares (0.85), 1-5 for satisfaction, minutes
    for mean times."""

    target: float


class KpiTarget(msgspec.Struct, kw_only=True):
    """A KPI's target in force and where it comes from (``default``: the service plans, ``policy``: the SLA
    policy file, ``admin``: set through the API or the console, with ``set_at`` and ``set_by``).  ``target``
    and ``source`` are null for a KPI with no target; ``better`` says whether values at or above (``more``)
    or at or below it (``less``) meet it; ``within`` is a duration KPI's working time (``1wd``)."""

    kpi: str
    target: float | None
    better: str
    source: str | None
    within: str | None = None
    set_at: Instant | None = None
    set_by: str | None = None


def _out(t: targets.TargetInForce) -> KpiTarget:
    return KpiTarget(kpi=t.kpi, target=t.target, better=t.better, source=t.source, within=t.within,
                     set_at=t.set_at, set_by=t.set_by)


class KpiController(Controller):
    """``/v1/kpis`` and ``/v1/kpis/targets``: the KPIs, their report against their targets, an admin's targets."""

    path = "/v1"
    tags = ["kpis"]

    @get("/kpis", sync_to_thread=True)
    def service_kpis(self, request: Request[Any, Any, Any], services: Services, staff: Staff, group_by: str = "all",
                     format: str = "json",
                     period_from: Annotated[str | None, QueryParameter(name="from")] = None,
                     to: str | None = None) -> Response[KpiReport]:
        """First-time fix, remote share, respond/arrive/restore, parts availability, satisfaction (JSON or CSV).

        Over tickets opened in ``[from, to)`` (dates or RFC 3339; default: the 30 days before now).
        """
        if format not in ("json", "csv"):
            raise BadRequest("invalid_parameter", Msg("format_json_or_csv"))
        start, end = time_range(period_from, to, services.clock(), 30)
        report = kpis.compute_kpis(services, start, end, group_by)
        if format == "csv":
            locale = request_locale(request.headers.get("accept-language"))
            csv = Response(content=kpis.kpis_csv(report, locale).encode(), media_type="text/csv; charset=utf-8",
                           headers={"content-language": content_language(locale), "vary": "Accept-Language"})
            return cast("Response[KpiReport]", csv)  # the CSV form (documented beside the JSON one)
        return Response(msgspec.convert(report, KpiReport))

    @get("/kpis/targets", sync_to_thread=True)
    def kpi_targets(self, request: Request[Any, Any, Any], services: Services, staff: Staff, format: str = "json",
                    period_from: Annotated[str | None, QueryParameter(name="from")] = None,
                    to: str | None = None) -> Response[bytes]:
        """The service plans' KPIs against their targets for the period and per month (JSON or CSV)."""
        if format not in ("json", "csv"):
            raise BadRequest("invalid_parameter", Msg("format_json_or_csv"))
        start, end = time_range(period_from, to, services.clock(), 30)
        report = targets.kpi_targets_report(services, start, end)
        if format == "csv":
            locale = request_locale(request.headers.get("accept-language"))
            return Response(content=targets.kpi_targets_csv(report, locale).encode(),
                            media_type="text/csv; charset=utf-8",
                            headers={"content-language": content_language(locale), "vary": "Accept-Language"})
        return Response(content=msgspec.json.encode(report), media_type="application/json")

    @get("/kpis/targets/in-force", sync_to_thread=True)
    def targets_in_force(self, services: Services, staff: Staff) -> list[KpiTarget]:
        """Every KPI's target in force with its source (the plans', the policy file's or an admin's)."""
        return [_out(t) for t in targets.targets_in_force(services).values()]

    @put("/kpis/targets/{kpi:str}", sync_to_thread=True)
    def set_target(self, kpi: str, data: KpiTargetIn, services: Services, staff: Staff) -> KpiTarget:
        """Set a KPI's target (admin): it overrides the policy file's and the plans' until deleted."""
        staff.require("admin")
        return _out(targets.set_target(services, kpi, data.target, staff.name))

    @delete("/kpis/targets/{kpi:str}", sync_to_thread=True, status_code=200)
    def clear_target(self, kpi: str, services: Services, staff: Staff) -> KpiTarget:
        """Drop an admin's target: the policy file's or the plans' applies again (none for the others).
        Answers the target now in force."""
        staff.require("admin")
        return _out(targets.clear_target(services, kpi))
