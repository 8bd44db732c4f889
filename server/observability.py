"""What an operator watches: Prometheus metrics, a request id and one JSON log line per request.

- ``GET /metrics`` (Prometheus text format): request counts and latency per route template and status
  (Litestar's Prometheus plugin, prefix ``fieldsync``), push and pull sizes and durations, the database
  pool (PostgreSQL), the SLA scheduler's lag, the webhook outbox's backlog,
  accepted change-sets (merged, failed, waiting), the schema version.  Each
  serve process answers for itself: scrape every process (one port each, as in the deployment topology),
  not a shared port of several ``--workers``.
- Every response carries ``X-Request-ID``: the caller's own when it sent a sane one (a proxy's id),
  else a new one; the access line logged for the request (logger ``fieldsync.access``) carries it too.
- :class:`JsonFormatter` writes log records as one JSON object per line (``FIELDSYNC_LOG_FORMAT=json``).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Final

from litestar import Response, get
from litestar.enums import ScopeType
from litestar.plugins.prometheus import PrometheusConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from server.domain.sync.accepted_store import backlog as accepted_backlog
from server.domain.webhooks.service import backlog as webhook_backlog
from server.scheduler import leader_status
from server.services import Services
from sync.storage.postgres import PostgresDatabase

#: metric names start with this (Litestar's request metrics too)
PREFIX: Final = "fieldsync"
REQUEST_ID_HEADER: Final = "x-request-id"
_SANE_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_SIZE_BUCKETS: Final = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216)

PUSH_BYTES: Final = Histogram(f"{PREFIX}_push_bytes", "Size of pushed change-sets, in bytes", buckets=_SIZE_BUCKETS)
PUSH_SECONDS: Final = Histogram(f"{PREFIX}_push_duration_seconds", "Time to apply a pushed change-set")
PULL_BYTES: Final = Histogram(f"{PREFIX}_pull_bytes", "Size of pulled pages, in bytes", buckets=_SIZE_BUCKETS)
PULL_SECONDS: Final = Histogram(f"{PREFIX}_pull_duration_seconds", "Time to build a pull page")
ACCEPTED_CHANGESETS: Final = Counter(f"{PREFIX}_accepted_changesets", "Change-sets accepted (202) for a later merge")
MERGED_CHANGESETS: Final = Counter(f"{PREFIX}_merged_changesets", "Accepted change-sets merged by this process")
MERGE_FAILURES: Final = Counter(f"{PREFIX}_merge_failures", "Merges of accepted change-sets that raised "
                                "(each stays queued and is tried again)")

access_log = logging.getLogger("fieldsync.access")


def prometheus_config() -> PrometheusConfig:
    """Request metrics labelled by route template (``/v1/jobs/{job_id}``), never by raw path."""
    return PrometheusConfig(app_name="fieldsync", prefix=PREFIX, group_path=True,
                            exclude=["^/metrics$", "^/health"])


class ServicesCollector(Collector):
    """Gauges read from one app's services when scraped: database pool, scheduler lag, schema version."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        db = self.services.db
        if isinstance(db, PostgresDatabase):
            stats = db.pool.get_stats()
            for key, doc in (("pool_size", "Connections the pool holds"),
                             ("pool_available", "Idle connections in the pool"),
                             ("requests_waiting", "Requests waiting for a connection")):
                yield GaugeMetricFamily(f"{PREFIX}_db_{key}", doc, value=stats.get(key, 0))
        status = leader_status(self.services)
        yield GaugeMetricFamily(f"{PREFIX}_sla_scheduler_leader", "1 when this process led the last SLA tick",
                                value=1 if status["leader"] else 0)
        if status["leader"] and status["last_tick_at"] is not None:
            lag = max(0, self.services.clock() - int(status["last_tick_at"])) / 1000
            yield GaugeMetricFamily(f"{PREFIX}_sla_scheduler_lag_seconds",
                                    "Seconds since this leader last completed an SLA tick", value=lag)
        with self.services.db.read() as tx:
            merges = accepted_backlog(tx)
        yield GaugeMetricFamily(f"{PREFIX}_merge_backlog", "Accepted change-sets waiting for a merge",
                                value=merges["pending"] or 0)
        yield GaugeMetricFamily(f"{PREFIX}_merge_failing", "Accepted change-sets whose merge failed and is retried",
                                value=merges["failing"] or 0)
        oldest_merge = merges["oldest_accepted_at"]
        yield GaugeMetricFamily(f"{PREFIX}_merge_oldest_pending_seconds",
                                "Age of the oldest accepted change-set not merged yet (0: none waits)",
                                value=0.0 if oldest_merge is None else
                                max(0, self.services.clock() - int(oldest_merge)) / 1000)
        hooks = webhook_backlog(self.services)
        yield GaugeMetricFamily(f"{PREFIX}_webhook_backlog", "Webhook events waiting for delivery",
                                value=hooks["pending"] or 0)
        yield GaugeMetricFamily(f"{PREFIX}_webhook_given_up", "Webhook events given up after their attempts",
                                value=hooks["given_up"] or 0)
        oldest = hooks["oldest_pending_at"]
        age = 0.0 if oldest is None else max(0, self.services.clock() - oldest) / 1000
        yield GaugeMetricFamily(f"{PREFIX}_webhook_oldest_pending_seconds",
                                "Age of the oldest webhook event waiting for delivery (0: none waits)", value=age)


def metrics_route(services: Services) -> Any:
    """``GET /metrics``: the process-wide metrics, then this app's gauges (one registry per app)."""
    own = CollectorRegistry(auto_describe=False)
    own.register(ServicesCollector(services))

    @get("/metrics", include_in_schema=False, sync_to_thread=True)
    def metrics() -> Response[bytes]:
        return Response(generate_latest(REGISTRY) + generate_latest(own), media_type=CONTENT_TYPE_LATEST)

    return metrics


def request_id_middleware(log_requests: bool) -> Callable[[ASGIApp], ASGIApp]:
    """Give each HTTP request an id (the caller's when sane), answer it as ``X-Request-ID``; log the request
    when ``log_requests`` (``fieldsync serve``; not the demo, whose terminal shows the sign-in lines)."""
    return functools.partial(_with_request_id, log_requests=log_requests)


def _with_request_id(app: ASGIApp, *, log_requests: bool) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        method = str(scope.get("method", ""))
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            if log_requests and access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %d", method, scope["path"], status, extra={
                    "request_id": request_id, "method": method, "path": scope["path"],
                    "route": scope.get("path_template", ""), "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "client": (scope.get("client") or ("", 0))[0]})

    return middleware


#: attributes every LogRecord has; the rest came from ``extra=`` and go into the JSON object
_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (RFC 3339 UTC), level, logger, message, and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def logging_config(fmt: str, level: str) -> dict[str, Any]:
    """uvicorn's ``log_config``: its loggers and ours, as text for a person or JSON lines for a collector."""
    formatter: dict[str, Any] = ({"()": f"{__name__}.JsonFormatter"} if fmt == "json"
                                 else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"})
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"main": {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}},
        "loggers": {"uvicorn": {"handlers": ["main"], "level": level.upper(), "propagate": False},
                    "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
                    "fieldsync": {"handlers": ["main"], "level": level.upper(), "propagate": False}},
        "root": {"handlers": ["main"], "level": level.upper()},
    }

