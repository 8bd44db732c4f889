"""The Litestar application factory.

``create_app()`` wires settings, the database, the controllers, the one error
mapper, OpenAPI (at ``/schema``), the web console (at ``/``), the tablet app (at ``/tablet/``) and, on the
leader process, the SLA scheduler.  Nothing happens at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import msgspec
from litestar import Litestar, Response, get
from litestar.datastructures import State
from litestar.di import Provide

from server.api_json import InstantSchemaPlugin, api_instants
from server.console import management_desk, parts_desk
from server.console.routes import console_router
from server.domain.archive.controllers import ArchiveController
from server.domain.blobs.controllers import BlobController
from server.domain.catalog.controllers import CatalogController
from server.domain.certifications.controllers import CertificationController
from server.domain.complaints.controllers import ComplaintController
from server.domain.conflicts.controllers import ConflictController
from server.domain.customers.controllers import CustomerController
from server.domain.devices.controllers import DeviceAdminController, DeviceAuthController
from server.domain.followups.controllers import FollowUpController
from server.domain.kb.controllers import KbController
from server.domain.kpis.controllers import KpiController
from server.domain.parts.controllers import PartsController
from server.domain.plans.controllers import PlanController
from server.domain.reconciliation.controllers import ReconciliationController
from server.domain.signed_reports.controllers import SignedReportController
from server.domain.sla.controllers import SlaController
from server.domain.surveys.controllers import SurveyController
from server.domain.sync.controllers import SyncController
from server.domain.sync.merger import Merger
from server.domain.tickets.controllers import TicketController
from server.domain.uploads.controllers import UploadController
from server.domain.webhooks.controllers import WebhookController
from server.errors import handle_exception
from server.http import QueryParameters, provide_device, provide_services, provide_staff
from server.observability import metrics_route, prometheus_config, request_id_middleware
from server.openapi import openapi_config, redoc_js
from server.scheduler import LeaderStatus, leader_status, start_scheduler
from server.services import Services
from server.settings import Settings, get_settings
from server.tablet import tablet_router
from sync.storage import open_database
from sync.storage.schema import latest_version, schema_version


class Health(msgspec.Struct, kw_only=True):
    """``/health``: the process answers and its database too."""

    status: str
    db: str


class Liveness(msgspec.Struct, kw_only=True):
    """``/health/live``: the process answers."""

    status: str


class Readiness(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``/health/ready``: ``ok``, or ``unavailable`` with the ``reason`` (HTTP 503)."""

    status: str
    db: str | None = None
    schema_version: int | None = None
    scheduler: LeaderStatus | None = None
    reason: str | None = None


@get("/health", sync_to_thread=True, tags=["ops"])
def health(services: Services) -> Health:
    """Liveness and database reachability (kept for existing monitors: ``/health/ready`` says more)."""
    with services.db.read() as tx:
        tx.one("SELECT 1 AS ok")
    return Health(status="ok", db=services.db.dialect)


@get("/health/live", tags=["ops"])
async def live() -> Liveness:
    """The process answers: restart it when this fails.  Touches nothing else (a slow database is not death)."""
    return Liveness(status="ok")


@get("/health/ready", sync_to_thread=True, tags=["ops"])
def ready(services: Services) -> Response[Readiness]:
    """Send traffic here: the database answers and holds the schema this code knows (503 with why, if not)."""
    try:
        with services.db.read() as tx:
            version = schema_version(tx)
    except Exception as exc:  # any failure to reach the database means "not ready", said in one line
        reason = f"database unreachable: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}"
        return Response(Readiness(status="unavailable", reason=reason), status_code=503)
    body = Readiness(status="ok", db=services.db.dialect, schema_version=version,
                     scheduler=msgspec.convert(leader_status(services), LeaderStatus))
    if version != latest_version():
        body.status, body.reason = "unavailable", f"schema version {version}, this code needs {latest_version()}"
        return Response(body, status_code=503)
    return Response(body)


def create_app(settings: Settings | None = None, services: Services | None = None,
               *, scheduler: bool | None = None, access_log: bool = False) -> Litestar:
    """Build the application; ``services`` may be given by tests (fixed clock, shared db).

    ``access_log``: one line per request (logger ``fieldsync.access``), as ``fieldsync serve`` runs it.
    """
    if services is None:
        settings = settings or get_settings()
        services = Services(db=open_database(settings.db_url), settings=settings)
    settings = services.settings
    run_scheduler = settings.run_scheduler if scheduler is None else scheduler

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Every request's database work runs in a worker thread.  More threads than this only take
        # turns at the interpreter lock: the one holding the database's write lock gets slower.
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(1, settings.worker_threads)
        sched = None
        if run_scheduler:
            sched = start_scheduler(services)
        merger = Merger(services, settings.merge_batch).start() if settings.run_merger else None
        try:
            yield
        finally:
            if merger is not None:
                merger.stop()
            if sched is not None:
                sched.shutdown(wait=False)

    route_handlers: list[Any] = [health, live, ready, metrics_route(services), redoc_js,
                                 TicketController, CatalogController, DeviceAuthController,
                                 DeviceAdminController, SyncController, UploadController, BlobController,
                                 ConflictController,
                                 PartsController, SignedReportController, ArchiveController, PlanController,
                                 FollowUpController, ComplaintController, CertificationController, KbController,
                                 KpiController, SlaController, ReconciliationController, WebhookController,
                                 CustomerController,
                                 SurveyController,
                                 tablet_router(),
                                 console_router(*parts_desk.ROUTES, *management_desk.ROUTES)]
    app = Litestar(
        route_handlers=route_handlers,
        dependencies={
            "services": Provide(provide_services),
            "staff": Provide(provide_staff),
            "device": Provide(provide_device),
        },
        exception_handlers={Exception: handle_exception},
        middleware=[request_id_middleware(access_log), prometheus_config().middleware],
        before_request=QueryParameters().check,
        after_request=api_instants,
        plugins=[InstantSchemaPlugin()],
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_body_bytes + 1024,
        lifespan=[lifespan],
        state=State({"services": services}),
        debug=False,
    )
    return app


#: collector thresholds for a long-running server: the default (700, 10, 10) runs a young-generation
#: pass every 700 allocations and a full pass over every live object far too often under a large push
SERVER_GC_THRESHOLD = (10_000, 20, 20)


def serve_app() -> Litestar:
    """The application as ``fieldsync serve`` runs it, with the garbage collector tuned for a server.

    Everything built at start-up (routes, schemas, the console's templates) lives as long as the
    process, so it is moved out of the collector's sight (``gc.freeze``) and the young generation is
    collected less often.  A 7,500-op push spent about a fifth of its time in collections before.
    """
    import gc

    app = create_app(access_log=True)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVER_GC_THRESHOLD)
    return app
