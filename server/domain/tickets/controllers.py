"""HTTP for tickets and jobs (thin: parse, check role, call the service)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import HeaderParameter

from schemas.domain import AssignIn, JobIn, ReportLocaleIn, Ticket, TicketIn, TicketPatch
from server.domain import idempotency
from server.domain.idempotency.service import IdempotencyKey
from server.domain.tickets import changes, closing, editing, remote, service
from server.domain.tickets.closing import NoteIn
from server.domain.tickets.jobs import JobDetail, job_detail_of
from server.errors import BadRequest
from server.security import Staff
from server.services import Services

OFFICE_STATUSES = ("cancelled", "closed", "reopened")

IfMatch = Annotated[str | None, HeaderParameter(
    name="If-Match", required=False,
    description="The ETag of the ticket as last read (required: 428 without it, 412 when it is no longer current)")]


class StatusIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A back-office status change."""

    status: str


class TicketController(Controller):
    """``/v1/tickets`` and ``/v1/jobs``."""

    path = "/v1"
    tags = ["tickets"]

    @post("/tickets", sync_to_thread=True, status_code=201)
    def create_ticket(self, request: Request[Any, Any, Any], data: TicketIn, services: Services, staff: Staff,
                      idempotency_key: IdempotencyKey = None) -> Response[Ticket]:
        staff.require("dispatcher")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: service.create_ticket(svc, data, staff.name))

    @get("/tickets", sync_to_thread=True)
    def list_tickets(self, request: Request[Any, Any, Any], services: Services, staff: Staff,
                     status: str | None = None, priority: str | None = None, engineer_id: str | None = None,
                     limit: int = 100, offset: int = 0, updated_since: str | None = None,
                     cursor: str | None = None, external_ref: str | None = None,
                     customer_id: str | None = None) -> Response[list[Ticket]]:
        """Tickets, newest first; with ``updated_since`` (RFC 3339) or ``cursor``: in the order of their changes.

        An incremental page answers with ``Next-Cursor`` (and a ``Link`` ``rel="next"``): the next page starts
        after it; an empty page's cursor is where to ask again later.
        """
        limit = max(1, min(limit, 500))
        if updated_since is None and cursor is None:
            return Response(service.list_tickets(services, status, priority, engineer_id, limit, max(0, offset),
                                                 external_ref, customer_id))
        given = [name for name, value in (("status", status), ("priority", priority), ("engineer_id", engineer_id),
                                          ("offset", offset or None), ("external_ref", external_ref),
                                          ("customer_id", customer_id))
                 if value is not None]
        if given:
            raise BadRequest("invalid_parameter", f"an incremental read (updated_since, cursor) takes only limit; "
                                                  f"not {', '.join(given)}")
        page = changes.changed_tickets(services, updated_since, cursor, limit)
        link = f'<{request.url.path}?cursor={page.cursor}&limit={limit}>; rel="next"'
        return Response(page.tickets, headers={"Next-Cursor": page.cursor, "Link": link})

    @get("/tickets/{ticket_id:str}", sync_to_thread=True)
    def get_ticket(self, ticket_id: str, services: Services, staff: Staff) -> Response[Ticket]:
        """The ticket; its ``ETag`` is the version a ``PATCH`` names in ``If-Match``."""
        tag = editing.current_etag(services, ticket_id)  # before the body: a tag never newer than what it shows
        return Response(service.get_ticket(services, ticket_id), headers={"ETag": tag})

    @patch("/tickets/{ticket_id:str}", sync_to_thread=True, status_code=200)
    def patch_ticket(self, ticket_id: str, data: TicketPatch, services: Services, staff: Staff,
                     if_match: IfMatch = None) -> Response[Ticket]:
        """Correct customer, site, priority, title or description (a JSON merge patch), if unchanged since read.

        A new priority puts the SLA clocks under that priority's policy from the ticket's opening.
        """
        staff.require("dispatcher")
        ticket, tag = editing.patch_ticket(services, ticket_id, data, if_match, staff.name)
        return Response(ticket, headers={"ETag": tag})

    @post("/tickets/{ticket_id:str}/report-locale", sync_to_thread=True, status_code=200)
    def set_report_locale(self, ticket_id: str, data: ReportLocaleIn, services: Services, staff: Staff) -> Ticket:
        staff.require("dispatcher")
        return service.set_report_locale(services, ticket_id, data.report_locale)

    @post("/tickets/{ticket_id:str}/jobs", sync_to_thread=True, status_code=201)
    def create_job(self, request: Request[Any, Any, Any], ticket_id: str, data: JobIn, services: Services,
                   staff: Staff, idempotency_key: IdempotencyKey = None) -> Response[Ticket]:
        staff.require("dispatcher")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: service.create_job(svc, ticket_id, data, staff))

    @post("/jobs/{job_id:str}/assign", sync_to_thread=True, status_code=200)
    def assign(self, job_id: str, data: AssignIn, services: Services, staff: Staff) -> Ticket:
        staff.require("dispatcher")
        return service.assign_job(services, job_id, data, staff.name, staff)

    @post("/jobs/{job_id:str}/status", sync_to_thread=True, status_code=200)
    def set_status(self, job_id: str, data: StatusIn, services: Services, staff: Staff) -> Ticket:
        staff.require("dispatcher", "backoffice")
        if data.status not in OFFICE_STATUSES:
            raise BadRequest("status_not_settable", f"the back office sets only {', '.join(OFFICE_STATUSES)}")
        return service.set_job_status_office(services, job_id, data.status, staff.name)

    @post("/jobs/{job_id:str}/remote-resolution", sync_to_thread=True, status_code=200)
    def resolve_remotely(self, job_id: str, data: remote.RemoteResolutionIn, services: Services,
                         staff: Staff) -> Ticket:
        """A fault fixed by phone: the job completes without a visit (``remote_resolved``)."""
        staff.require("dispatcher", "backoffice")
        return service.get_ticket(services, remote.resolve_remotely(services, job_id, data, staff.name))

    @get("/jobs/{job_id:str}", sync_to_thread=True)
    def get_job(self, job_id: str, services: Services, staff: Staff) -> JobDetail:
        return job_detail_of(services, job_id)

    @post("/tickets/{ticket_id:str}/acknowledge", sync_to_thread=True, status_code=200)
    def acknowledge(self, ticket_id: str, services: Services, staff: Staff, data: NoteIn | None = None) -> Ticket:
        staff.require("dispatcher", "backoffice")
        closing.acknowledge(services, ticket_id, data or NoteIn(), staff.name)
        return service.get_ticket(services, ticket_id)

    @post("/tickets/{ticket_id:str}/close", sync_to_thread=True, status_code=200)
    def close(self, ticket_id: str, services: Services, staff: Staff, data: NoteIn | None = None) -> Ticket:
        staff.require("dispatcher", "backoffice")
        closing.close_ticket(services, ticket_id, data or NoteIn(), staff.name)
        return service.get_ticket(services, ticket_id)
