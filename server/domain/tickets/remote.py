"""Remote resolution by the back office: a fault fixed over the phone completes its job without a visit.

The plans aim to solve most simple faults remotely (远程诊断).  On the tablet a
job with ``remote=true`` goes ``accepted -> in_progress -> completed`` (see
``schemas.status.REMOTE_TRANSITIONS``); the office, having talked the customer
through the fix, completes the job here.  Either way the ticket's timeline gets
``completed`` and ``remote_resolved``, and the SLA ``on_site`` clock no longer
applies (``not_applicable``, not met, not breached).  The office's path needs
no checklist and no signature; the engineer's tablet receives the job as
completed at its next pull.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from server.domain.records import job_record
from server.domain.tickets import store
from server.domain.tickets.service import add_event
from server.errors import BadRequest, Conflict, NotFound
from server.feed import publish
from server.services import Services

__all__ = ["REMOTE_RESOLVABLE", "RemoteResolutionIn", "resolve_remotely"]

#: job statuses the office may resolve remotely from: every active one but on site (someone is there)
REMOTE_RESOLVABLE: Final = ("assigned", "accepted", "en_route", "in_progress", "on_hold", "reopened")


class RemoteResolutionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What was done over the phone: the resolution (required) and, optionally, the diagnosis."""

    resolution: Annotated[str, msgspec.Meta(max_length=10_000)]
    diagnosis: Annotated[str, msgspec.Meta(max_length=10_000)] = ""


def resolve_remotely(services: Services, job_id: str, data: RemoteResolutionIn, by: str) -> str:
    """Complete a job resolved by phone; returns its ticket id.  Nothing changes when it is refused."""
    if not data.resolution.strip():
        raise BadRequest("resolution_required", "say what fixed it: resolution is blank")
    if "\x00" in data.resolution or "\x00" in data.diagnosis:
        raise BadRequest("nul_in_text", "a text contains the NUL character")
    now = services.clock()
    with services.db.write() as tx:
        job = store.lock_job(tx, job_id)
        if job is None:
            raise NotFound("unknown_job", f"no job {job_id!r}")
        if job["status"] not in REMOTE_RESOLVABLE:
            raise Conflict("not_remotely_resolvable",
                           f"a job that is {job['status']} cannot be resolved remotely "
                           f"(only when {', '.join(REMOTE_RESOLVABLE)})")
        if store.job_was_on_site(tx, job_id):
            raise Conflict("visited_on_site", "someone was on site for this job: complete it on the tablet")
        ticket_id = job["ticket_id"]
        store.complete_remotely(tx, job_id, data.resolution, data.diagnosis or job["diagnosis"] or "", now)
        add_event(tx, ticket_id, "completed", now, now, job_id=job_id, source=f"staff:{by}")
        add_event(tx, ticket_id, "remote_resolved", now, now, job_id=job_id, source=f"staff:{by}",
                  data={"by": "office", "resolution": data.resolution})
        fresh = store.job(tx, job_id)
        ticket = store.ticket(tx, ticket_id)
        assert fresh is not None and ticket is not None
        publish(tx, [job_record(fresh, ticket)])  # a job goes to its engineer (feed.scopes_for)
    return str(ticket_id)
