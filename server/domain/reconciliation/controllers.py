"""HTTP for reconciliation: the discrepancy list (JSON or CSV), resolving an item, and the money (JSON or CSV)."""

from __future__ import annotations

from typing import Any, cast

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from schemas.instant import Instant
from server.api_json import range_bound, time_range
from server.domain.reconciliation import money, service
from server.domain.reconciliation.service import Filters, ReconItem, ResolveReconIn
from server.errors import BadRequest, Msg
from server.http_locale import content_language, request_locale
from server.security import Staff
from server.services import Services

try:  # litestar >= 2.2x names query parameters this way; older ones only with Parameter(query=...)
    from litestar.params import QueryParameter

    def _query(name: str, **kw: Any) -> Any:
        return QueryParameter(name=name, **kw)
except ImportError:  # pragma: no cover - older litestar
    def _query(name: str, **kw: Any) -> Any:
        return Parameter(query=name, **kw)


class ReconList(msgspec.Struct, kw_only=True):
    """``GET /v1/reconciliation``: the items, how many of each kind, how many open, and when."""

    items: list[ReconItem]
    counts: dict[str, int]
    open: int
    generated_at: Instant


class ReconciliationController(Controller):
    """``GET /v1/reconciliation``, ``GET /v1/reconciliation/money`` and ``POST /v1/reconciliation/{id}/resolve``."""

    path = "/v1/reconciliation"
    tags = ["reconciliation"]

    @get("/", sync_to_thread=True)
    def list_items(
        self, request: Request[Any, Any, Any], services: Services, staff: Staff,
        start: str | None = _query("from", default=None, description="created at or after (date or RFC 3339)"),
        end: str | None = _query("to", default=None, description="created before (date or RFC 3339)"),
        engineer: str | None = None, kind: str | None = Parameter(default=None, description="comma-separated kinds"),
        status: str | None = Parameter(default=None, description="open, resolved or all (the default)"),
        format: str = "json",  # noqa: A002 - the public query parameter's name
    ) -> Response[ReconList]:
        """Discrepancies created in ``[from, to)`` (JSON, or CSV with ``format=csv``)."""
        if format not in ("json", "csv"):
            raise BadRequest("invalid_parameter", Msg("format_json_or_csv"))
        kinds = tuple(k.strip() for k in (kind or "").split(",") if k.strip())
        items = service.reconcile(services, Filters(start=range_bound(start, "from"),
                                                    end=range_bound(end, "to"),
                                                    engineer_id=engineer, kinds=kinds,
                                                    status=None if status == "all" else status))
        if format == "csv":
            locale = request_locale(request.headers.get("accept-language"))
            csv = Response(content=service.to_csv(items, locale), media_type="text/csv; charset=utf-8",
                           headers={"content-disposition": 'attachment; filename="reconciliation.csv"',
                                    "content-language": content_language(locale), "vary": "Accept-Language"})
            return cast("Response[ReconList]", csv)  # the CSV form (documented beside the JSON one)
        counts: dict[str, int] = {}
        for i in items:
            counts[i.kind] = counts.get(i.kind, 0) + 1
        return Response(content=ReconList(items=items, counts=counts,
                                          open=sum(1 for i in items if i.status == "open"),
                                          generated_at=services.clock()))

    @get("/money", sync_to_thread=True)
    def money(self, request: Request[Any, Any, Any], services: Services, staff: Staff,
              period_from: str | None = _query("from", default=None), to: str | None = None,
              customer: str | None = None, format: str = "json",  # noqa: A002 - the public query parameter's name
              ) -> Response[Any]:
        """Parts at price, labour, travel, billable and warranty amounts of the jobs completed in the period."""
        if format not in ("json", "csv"):
            raise BadRequest("invalid_parameter", Msg("format_json_or_csv"))
        start, end = time_range(period_from, to, services.clock(), 30)
        report = money.money_report(services, start, end, customer)
        if format == "csv":
            locale = request_locale(request.headers.get("accept-language"))
            return Response(content=money.money_csv(report, locale), media_type="text/csv; charset=utf-8",
                            headers={"content-disposition": 'attachment; filename="money.csv"',
                                     "content-language": content_language(locale), "vary": "Accept-Language"})
        return Response(content=report)

    @post("/{recon_id:str}/resolve", sync_to_thread=True, status_code=200)
    def resolve(self, recon_id: str, data: ResolveReconIn, services: Services, staff: Staff) -> ReconItem:
        staff.require("backoffice")
        return service.resolve(services, recon_id, data.comment, staff.name)
