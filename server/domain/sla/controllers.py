"""HTTP for SLA: the queue by time left, compliance reports, due times, the policies in force, the leader.

Thin: parse and check the query, call ``server.domain.sla.service``, return.
Every route needs a staff token (any role).
"""

from __future__ import annotations

from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter

from server.api_json import time_range
from server.domain.sla import service
from server.domain.sla.due import CATEGORIES, DueTimes, parse_opened
from server.domain.sla.policy import PRIORITIES
from server.errors import BadRequest
from server.http_locale import content_language, request_locale
from server.scheduler import LeaderStatus, leader_status
from server.security import Staff
from server.services import Services

DAY_MS = 86_400_000
MAX_REPORT_DAYS = 400
FORMATS = ("json", "csv")
DUE_PARAMETERS = frozenset({"priority", "category", "opened_at"})


class SlaController(Controller):
    """``/v1/sla``: queue, compliance, policies, leader."""

    path = "/v1/sla"
    tags = ["sla"]

    @get("/tickets", sync_to_thread=True)
    def queue(self, services: Services, staff: Staff, priority: str | None = None, engineer_id: str | None = None,
              sla_state: Annotated[str | None, QueryParameter(name="state")] = None) -> list[service.SlaQueueItem]:
        """Open tickets with their most urgent clock, overdue first, then by time left."""
        if sla_state is not None and sla_state not in service.QUEUE_STATES:
            raise BadRequest("bad_state", f"state must be one of {', '.join(service.QUEUE_STATES)}")
        if priority is not None and priority not in PRIORITIES:
            raise BadRequest("bad_priority", f"priority must be one of {', '.join(PRIORITIES)}")
        return service.list_by_sla(services, state=sla_state, priority=priority, engineer_id=engineer_id or None)

    @get("/compliance", sync_to_thread=True)
    def compliance(self, request: Request[Any, Any, Any], services: Services, staff: Staff,
                   start: Annotated[str | None, QueryParameter(name="from")] = None,
                   end: Annotated[str | None, QueryParameter(name="to")] = None,
                   group_by: str = "priority",
                   fmt: Annotated[str, QueryParameter(name="format")] = "json") -> Response[service.ComplianceReport]:
        """Met vs breached per target over tickets opened in ``[from, to)`` (default: the last 30 days)."""
        if group_by not in service.GROUP_BY:
            raise BadRequest("bad_group_by", f"group_by must be one of {', '.join(service.GROUP_BY)}")
        if fmt not in FORMATS:
            raise BadRequest("bad_format", f"format must be one of {', '.join(FORMATS)}")
        start_ms, end_ms = time_range(start, end, services.clock(), 30)
        if end_ms - start_ms > MAX_REPORT_DAYS * DAY_MS:
            raise BadRequest("bad_range", f"a report covers at most {MAX_REPORT_DAYS} days")
        report = service.compliance_report(services, start_ms, end_ms, group_by)
        if fmt == "csv":
            name = f"sla-compliance-{group_by}.csv"
            locale = request_locale(request.headers.get("accept-language"))
            csv = Response(content=service.compliance_csv(report, locale), media_type="text/csv",
                           headers={"content-disposition": f'attachment; filename="{name}"',
                                    "content-language": content_language(locale), "vary": "Accept-Language"})
            return cast("Response[service.ComplianceReport]", csv)  # the CSV form (documented beside the JSON)
        return Response(content=report, media_type="application/json")

    @get("/due", sync_to_thread=True)
    def due(self, request: Request[Any, Any, Any], services: Services, staff: Staff, priority: str | None = None,
            opened_at: str | None = None, category: str = "fault") -> DueTimes:
        """Each target's due time for a ticket of ``priority`` opened at ``opened_at`` (RFC 3339 with an offset)."""
        unknown = sorted(set(request.query_params) - DUE_PARAMETERS)
        if unknown:
            raise BadRequest("unknown_parameter", f"unknown query parameter(s) {', '.join(unknown)[:200]}; "
                                                  f"known: {', '.join(sorted(DUE_PARAMETERS))}")
        if priority not in PRIORITIES:
            raise BadRequest("bad_priority", f"priority must be one of {', '.join(PRIORITIES)}")
        if category not in CATEGORIES:
            raise BadRequest("bad_category", f"category must be one of {', '.join(CATEGORIES)}")
        if opened_at is None:
            raise BadRequest("bad_time", "opened_at is required: an RFC 3339 date-time such as 2026-10-09T20:00+08:00")
        try:
            opened_ms = parse_opened(opened_at)
        except ValueError as exc:
            raise BadRequest("bad_time", f"opened_at: {exc}") from None
        return service.due(services, priority, category, opened_ms)

    @get("/policies", sync_to_thread=True)
    def policies(self, services: Services, staff: Staff) -> dict[str, Any]:
        """The SLA policies in force (calendars, thresholds, targets with their events)."""
        out = service.policies_as_dict(service.policy_set(services))
        out["source"] = services.settings.sla_policy_file or "default"
        out["timezone"] = services.settings.sla_timezone
        out["region"] = services.settings.sla_region
        return out

    @get("/leader", sync_to_thread=True)
    def leader(self, services: Services, staff: Staff) -> LeaderStatus:
        """Whether this process runs the SLA scheduler and held the leader lock on its last tick."""
        return msgspec.convert(leader_status(services), LeaderStatus)
