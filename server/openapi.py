"""The OpenAPI document integrators generate clients from, and its offline docs page.

Litestar builds the document from the routes; :func:`complete_document` then adds, in one pass over the
routes, what it cannot know: readable operation ids (:data:`OPERATION_IDS`, one per route, a test keeps the
table complete), the security scheme of each route (a staff bearer token, a device session, or none), the
problem documents (``application/problem+json``, :data:`PROBLEM`) of the 4xx statuses each route can
answer, and the binary bodies of the msgpack device protocol, blob chunks and PDFs.  The docs page at
``/schema`` renders with Redoc served from this package (``server/openapi_static``), never from a CDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from litestar import Litestar, Request, Response, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, RedocRenderPlugin
from litestar.routes import HTTPRoute

from schemas.instant import rfc3339

STATIC: Final = Path(__file__).with_name("openapi_static")
#: where the docs page loads the vendored Redoc bundle from (this server, never a CDN)
REDOC_JS: Final = "/schema/static/redoc.standalone.js"

#: the docs page loads images only from this server: Redoc's sidebar shows its maker's logo from a CDN,
#: which the browser then does not even ask for (the page is complete without it)
IMAGES_FROM_HERE: Final = """<meta http-equiv="Content-Security-Policy" content="img-src 'self' data:">"""

#: the readable, stable ``operationId`` of every route in the document ("METHOD path" -> id)
OPERATION_IDS: Final[dict[str, str]] = {
    "GET /health": "getHealth",
    "GET /health/live": "getLiveness",
    "GET /health/ready": "getReadiness",
    "POST /v1/tickets": "createTicket",
    "GET /v1/tickets": "listTickets",
    "GET /v1/tickets/{ticket_id}": "getTicket",
    "PATCH /v1/tickets/{ticket_id}": "patchTicket",
    "POST /v1/tickets/{ticket_id}/acknowledge": "acknowledgeTicket",
    "POST /v1/tickets/{ticket_id}/close": "closeTicket",
    "POST /v1/tickets/{ticket_id}/jobs": "createJob",
    "POST /v1/tickets/{ticket_id}/report-locale": "setTicketReportLocale",
    "GET /v1/jobs/{job_id}": "getJob",
    "POST /v1/jobs/{job_id}/assign": "assignJob",
    "POST /v1/jobs/{job_id}/schedule": "scheduleJob",
    "POST /v1/jobs/{job_id}/status": "setJobStatus",
    "POST /v1/jobs/{job_id}/remote-resolution": "resolveJobRemotely",
    "GET /v1/jobs/{job_id}/report.pdf": "getJobReportPdf",
    "GET /v1/engineers": "listEngineers",
    "POST /v1/engineers": "createEngineer",
    "POST /v1/engineers/{engineer_id}/enroll-token": "createEnrollToken",
    "GET /v1/engineers/{engineer_id}/certifications": "listCertifications",
    "POST /v1/engineers/{engineer_id}/certifications": "addCertification",
    "GET /v1/locations": "listLocations",
    "POST /v1/locations": "createLocation",
    "GET /v1/movements": "listMovements",
    "POST /v1/movements": "createMovement",
    "GET /v1/parts": "listParts",
    "POST /v1/parts": "upsertPart",
    "GET /v1/stock": "listStock",
    "GET /v1/vans/{engineer_id}": "getVanStock",
    "GET /v1/templates": "listTemplates",
    "POST /v1/templates": "publishTemplate",
    "GET /v1/templates/{template_id}": "getTemplate",
    "POST /v1/devices/challenge": "deviceChallenge",
    "POST /v1/devices/enroll": "deviceEnroll",
    "POST /v1/devices/session": "deviceSession",
    "GET /v1/devices": "listDevices",
    "POST /v1/devices/{device_id}/revoke": "revokeDevice",
    "POST /v1/sync/push": "syncPush",
    "GET /v1/sync/receipts/{seq}": "getSyncReceipt",
    "POST /v1/sync/pull": "syncPull",
    "GET /v1/blobs/{sha256}/status": "getBlobStatus",
    "GET /v1/blobs/{sha256}": "getBlob",
    "PUT /v1/blobs/{sha256}": "putBlobChunk",
    "GET /v1/sync/uploads/{sha256}": "getChangesetUpload",
    "PUT /v1/sync/uploads/{sha256}": "putChangesetUploadChunk",
    "POST /v1/sync/uploads/{sha256}/commit": "commitChangesetUpload",
    "GET /v1/conflicts": "listConflicts",
    "GET /v1/conflicts/{conflict_id}": "getConflict",
    "POST /v1/conflicts/{conflict_id}/resolve": "resolveConflict",
    "POST /v1/conflicts/{conflict_id}/adopt": "adoptLateVisit",
    "POST /v1/conflicts/{conflict_id}/discard": "discardLateVisit",
    "GET /v1/warranty/claims": "listWarrantyClaims",
    "GET /v1/warranty/claims/{claim_id}": "getWarrantyClaim",
    "POST /v1/warranty/claims/{claim_id}/approve": "approveWarrantyClaim",
    "POST /v1/warranty/claims/{claim_id}/reject": "rejectWarrantyClaim",
    "GET /v1/assets": "listAssets",
    "POST /v1/assets": "createAsset",
    "GET /v1/assets/{serial}": "getAsset",
    "GET /v1/assets/{serial}/history": "getAssetHistory",
    "GET /v1/customers/{customer_id}/archive": "getCustomerArchive",
    "GET /v1/customers": "listCustomers",
    "POST /v1/customers": "createCustomer",
    "GET /v1/customers/{customer_id}": "getCustomer",
    "PATCH /v1/customers/{customer_id}": "updateCustomer",
    "POST /v1/customers/{customer_id}/sites": "createCustomerSite",
    "POST /v1/warranty/claims/{claim_id}/returns": "returnOldParts",
    "GET /v1/plans": "listPlans",
    "POST /v1/plans": "createPlan",
    "GET /v1/plans/{plan_id}": "getPlan",
    "POST /v1/plans/{plan_id}/deactivate": "deactivatePlan",
    "GET /v1/tickets/{ticket_id}/follow-up": "getFollowUp",
    "POST /v1/tickets/{ticket_id}/follow-up": "recordFollowUp",
    "GET /v1/followups": "listFollowUps",
    "GET /v1/complaints": "listComplaints",
    "POST /v1/tickets/{ticket_id}/customer-confirmation": "recordCustomerConfirmation",
    "GET /v1/kb": "searchKb",
    "POST /v1/kb": "addKbCase",
    "GET /v1/kb/{case_id}": "getKbCase",
    "GET /v1/kpis": "getKpis",
    "GET /v1/sla/compliance": "getSlaCompliance",
    "GET /v1/sla/due": "getSlaDueTimes",
    "GET /v1/sla/leader": "getSlaLeader",
    "GET /v1/sla/policies": "listSlaPolicies",
    "GET /v1/sla/tickets": "listSlaQueue",
    "GET /v1/reconciliation": "listReconciliationItems",
    "POST /v1/reconciliation/{recon_id}/resolve": "resolveReconciliationItem",
    "GET /v1/webhooks/deliveries": "listWebhookDeliveries",
    "GET /metrics": "getMetrics",
    "GET /v1/engineers/{engineer_id}/trainings": "listTrainings",
    "POST /v1/engineers/{engineer_id}/trainings": "addTraining",
    "GET /v1/kpis/targets": "getKpiTargets",
    "GET /v1/kpis/targets/in-force": "listKpiTargetsInForce",
    "PUT /v1/kpis/targets/{kpi}": "setKpiTarget",
    "DELETE /v1/kpis/targets/{kpi}": "clearKpiTarget",
    "POST /v1/engineers/{engineer_id}/deactivate": "deactivateEngineer",
    "POST /v1/engineers/{engineer_id}/activate": "activateEngineer",
    "GET /v1/reconciliation/money": "getMoneyReconciliation",
    "GET /v1/surveys": "listSurveys",
    "POST /v1/surveys": "recordSurvey",
    "GET /v1/surveys/results": "getSurveyResults",
}

MSGPACK: Final = "application/msgpack"
#: routes whose request and response bodies are msgpack (the device protocol)
MSGPACK_ROUTES: Final = frozenset({"POST /v1/sync/push", "POST /v1/sync/pull", "POST /v1/devices/enroll",
                                   "POST /v1/devices/challenge", "POST /v1/devices/session"})
#: routes taking raw bytes as their body
BINARY_BODIES: Final = {"PUT /v1/blobs/{sha256}": "application/octet-stream",
                         "PUT /v1/sync/uploads/{sha256}": "application/octet-stream"}
#: routes answering raw bytes
BINARY_RESPONSES: Final = {"GET /v1/blobs/{sha256}": "application/octet-stream",
                           "POST /v1/sync/uploads/{sha256}/commit": MSGPACK,
                           "GET /v1/sync/receipts/{seq}": MSGPACK,
                           "GET /v1/jobs/{job_id}/report.pdf": "application/pdf",
                           "GET /metrics": "text/plain"}
#: JSON reports built as documents (no struct yet): described as objects with their top-level members
REPORT_DOCUMENTS: Final[dict[str, dict[str, Any]]] = {
    "GET /v1/customers/{customer_id}/archive": {
        "type": "object", "additionalProperties": True,
        "description": "A customer's archive: its record, sites, assets and tickets with their jobs (a customer "
                       "named instead of its id answers 308 to the id's URL)."},
    "GET /v1/kpis/targets": {"type": "object", "additionalProperties": True,
                             "required": ["from", "to", "timezone", "generated_at", "targets", "kpis", "months",
                                          "trend"],
                             "description": "The plans' KPIs against their targets in force (source: default, "
                                            "policy or admin) for the period and per month "
                                            "(from, to, generated_at: RFC 3339)."},
    "GET /v1/reconciliation/money": {"type": "object", "additionalProperties": True,
                                     "required": ["from", "to", "generated_at", "currency", "rates", "jobs",
                                                  "customers", "totals"],
                                     "description": "Amounts per job, per customer and in total, in integer minor "
                                                    "units of the currency (from, to, generated_at: RFC 3339)."},
}
#: routes that also answer CSV (``format=csv``)
CSV_TOO: Final = frozenset({"GET /v1/kpis", "GET /v1/reconciliation", "GET /v1/sla/compliance", "GET /v1/kpis/targets",
                            "GET /v1/reconciliation/money"})
#: what every range filter's bounds take (``server.api_json.range_bound`` reads them)
RANGE_BOUNDS: Final = {
    "from": "Start of the range, included: a date (YYYY-MM-DD, UTC) or an RFC 3339 date-time with an offset.",
    "to": "End of the range, excluded: a date (YYYY-MM-DD, its 00:00 UTC) or an RFC 3339 date-time with an "
          "offset; from=2026-11-01&to=2026-12-01 is November (UTC).",
}

#: routes whose callers are counted by the rate limiter (429 ``rate_limited``)
RATE_LIMITED: Final = frozenset({"POST /v1/devices/enroll", "POST /v1/devices/challenge",
                                 "POST /v1/devices/session"})

#: the problem document every 4xx and 5xx carries (RFC 9457; ``server.errors.problem`` writes it)
PROBLEM: Final[dict[str, Any]] = {
    "type": "object",
    "title": "Problem",
    "description": "An error (RFC 9457 problem document).  `code` is stable; `title` and `detail` are in the "
                   "language Accept-Language asks for.  Some codes add members (`errors`, `parameters`, ...).",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "https://fieldsync.dev/problems/<code>"},
        "title": {"type": "string", "description": "the status's title"},
        "status": {"type": "integer", "description": "the HTTP status"},
        "detail": {"type": "string", "description": "what went wrong, for a person"},
        "code": {"type": "string", "description": "stable machine-readable code, e.g. unknown_ticket"},
    },
    "additionalProperties": True,
}

STATUS_TEXT: Final = {400: "Bad request: invalid body, parameter or value", 401: "No, unknown or expired credentials",
                      403: "Not allowed for this role or device", 404: "No such record",
                      409: "The current state forbids it (or the Idempotency-Key is in flight)",
                      412: "If-Match names a version that is no longer current",
                      413: "The body is too large", 422: "The Idempotency-Key was used for another request",
                      428: "If-Match is required", 429: "Too many attempts: retry later",
                      503: "The database is unavailable: retry later"}

SECURITY_SCHEMES: Final[dict[str, Any]] = {
    "staffToken": {"type": "http", "scheme": "bearer",
                   "description": "A staff token (`fieldsync admin token` or the console): "
                                  "`Authorization: Bearer <token>`."},
    "deviceSession": {"type": "apiKey", "in": "header", "name": "Authorization",
                      "description": "A tablet's session token from `POST /v1/devices/session`: "
                                     "`Authorization: Device <token>`."},
}


def _statuses(key: str, op: dict[str, Any], auth: str | None, has_body: bool) -> list[int]:
    """The 4xx/5xx statuses the operation ``key`` ("METHOD path") can answer."""
    method, path = key.split(" ", 1)
    headers = {p.get("name", "").lower() for p in op.get("parameters", []) if p.get("in") == "header"}
    out = {400, 503}
    if auth is not None:
        out |= {401, 403}
    if "{" in path:
        out.add(404)
    if method in ("POST", "PUT", "PATCH"):
        out |= {409, 413} if has_body else {409}
    if "idempotency-key" in headers:
        out |= {409, 422}
    if "if-match" in headers:
        out |= {412, 428}
    if key in RATE_LIMITED:
        out.add(429)
    return sorted(out)


def _binary(media: str) -> dict[str, Any]:
    return {media: {"schema": {"type": "string", "format": "binary"}}}


def _instant_defaults(node: Any) -> None:
    """Write the default of every date-time property as RFC 3339 (a struct's default is epoch ms, e.g. 0)."""
    if isinstance(node, dict):
        if node.get("format") == "date-time" and isinstance(node.get("default"), int):
            node["default"] = rfc3339(node["default"])
        for value in node.values():
            _instant_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _instant_defaults(value)


def complete_document(app: Litestar, doc: dict[str, Any]) -> None:
    """Add operation ids, security, problem responses and binary bodies to ``doc`` (in place, once)."""
    components = doc.setdefault("components", {})
    _instant_defaults(components.get("schemas", {}))
    components.setdefault("schemas", {})["Problem"] = PROBLEM
    components["securitySchemes"] = SECURITY_SCHEMES
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        item = doc.get("paths", {}).get(route.path_format)
        if item is None:
            continue
        for handler in route.route_handlers:
            params = handler.parsed_fn_signature.parameters
            auth = "staffToken" if "staff" in params else "deviceSession" if "device" in params else None
            for method in handler.http_methods:
                op = item.get(method.lower())
                if op is None:
                    continue
                key = f"{method} {route.path_format}"
                if key in OPERATION_IDS:
                    op["operationId"] = OPERATION_IDS[key]
                op["security"] = [{auth: []}] if auth else []
                responses = op.setdefault("responses", {})
                if key in MSGPACK_ROUTES:
                    op["requestBody"] = {"required": True, "content": _binary(MSGPACK),
                                         "description": "msgpack (see the README's device protocol)"}
                    for status, response in responses.items():
                        if status.startswith("2"):
                            response["content"] = _binary(MSGPACK)
                if key in BINARY_BODIES:
                    op["requestBody"] = {"required": True, "content": _binary(BINARY_BODIES[key])}
                if key in BINARY_RESPONSES:
                    for status, response in responses.items():
                        if status.startswith("2"):
                            response["content"] = _binary(BINARY_RESPONSES[key])
                if key in REPORT_DOCUMENTS:
                    responses["200"].setdefault("content", {})["application/json"] = {"schema": REPORT_DOCUMENTS[key]}
                if key in CSV_TOO:
                    responses["200"].setdefault("content", {})["text/csv"] = {"schema": {"type": "string"}}
                for param in op.get("parameters", []):
                    if param.get("in") == "query" and param.get("name") in RANGE_BOUNDS:
                        param["description"] = RANGE_BOUNDS[param["name"]]
                for status in _statuses(key, op, auth, "requestBody" in op):
                    responses[str(status)] = {"description": STATUS_TEXT[status],
                                              "content": {"application/problem+json": {"schema": problem_ref}}}


class CompleteJsonRenderPlugin(JsonRenderPlugin):
    """``/schema/openapi.json``: Litestar's document, completed by :func:`complete_document` at first use."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if "securitySchemes" not in openapi_schema.get("components", {}):
            complete_document(request.app, openapi_schema)
        return super().render(request, openapi_schema)


class OfflineRedocRenderPlugin(RedocRenderPlugin):
    """The docs page (``/schema``, ``/schema/redoc``) with Redoc from this server and no CDN favicon."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if "securitySchemes" not in openapi_schema.get("components", {}):
            complete_document(request.app, openapi_schema)
        return super().render(request, openapi_schema)


def openapi_config() -> OpenAPIConfig:
    """The app's OpenAPI settings: document at ``/schema/openapi.json``, Redoc at ``/schema``."""
    return OpenAPIConfig(
        title="fieldsync", version="1", path="/schema",
        description="Back-office API (JSON; instants are RFC 3339 UTC strings) and the device sync protocol "
                    "(msgpack; instants are epoch milliseconds).",
        render_plugins=[OfflineRedocRenderPlugin(path="/redoc", js_url=REDOC_JS, favicon=IMAGES_FROM_HERE,
                                                 google_fonts=False),
                        CompleteJsonRenderPlugin()],
    )


@get("/schema/static/redoc.standalone.js", include_in_schema=False, sync_to_thread=False,
     media_type="text/javascript", cache_control=None)
def redoc_js() -> Response[bytes]:
    """The vendored Redoc bundle (``server/openapi_static``, see its ``VENDORED.json``)."""
    return Response((STATIC / "redoc.standalone.js").read_bytes(), media_type="text/javascript",
                    headers={"cache-control": "public, max-age=86400"})
