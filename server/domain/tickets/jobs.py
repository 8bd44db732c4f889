"""A job with everything recorded on it: answers, parts, attachments, sign-off, conflicts."""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.domain import Job, Movement, TicketEvent
from schemas.instant import Instant
from server.domain.records import job_from_row, loads, movement_from_row, signoff_changed
from server.domain.tickets import store
from server.domain.tickets.service import event_from_row
from server.errors import NotFound
from server.services import Services


def job_detail(services: Services, job_id: str) -> dict[str, Any]:
    """The job page's data."""
    with services.db.read() as tx:
        row = store.job(tx, job_id)
        if row is None:
            raise NotFound("unknown_job", f"no job {job_id!r}")
        answers = store.answers_of(tx, job_id)
        moves = store.movements_of(tx, job_id)
        atts = store.attachments_of(tx, job_id)
        so = store.signoff_of(tx, job_id)
        events = store.job_events(tx, job_id)
        conflicts = store.job_conflicts(tx, job_id)
        changed = so is not None and signoff_changed(tx, job_id)
    signoff = None
    if so is not None:
        signoff = {"signer_name": so["signer_name"], "signer_role": so["signer_role"], "signed_at": so["signed_at"],
                   "report_digest": so["report_digest"], "device_id": so["device_id"],
                   "received_at": so["received_at"], "strokes": loads(so["strokes"], []),
                   "digest_matches": not changed, "rating": so["rating"], "comment": so["comment"]}
    return {
        "job": msgspec.to_builtins(job_from_row(row, changed)),
        "answers": [{"item_key": a["item_key"], "value": loads(a["value"]), "note": a["note"],
                     "na_reason": a["na_reason"], "device_id": a["device_id"], "at": a["at"],
                     "deleted": bool(a["deleted"])} for a in answers],
        "parts": [msgspec.to_builtins(movement_from_row(m)) for m in moves],
        "attachments": [{"sha256": a["sha256"], "kind": a["kind"], "size": a["size"], "deleted": bool(a["deleted"]),
                         "arrived": bool(a["complete"])} for a in atts],
        "evidence_missing": sum(1 for a in atts if not a["deleted"] and not a["complete"]),
        "signoff": signoff,
        "timeline": [msgspec.to_builtins(event_from_row(e)) for e in events],
        "conflicts": conflicts,
    }


class JobAnswer(msgspec.Struct, kw_only=True):
    """One checklist answer as the job page shows it (``deleted``: withdrawn on the tablet)."""

    item_key: str
    value: Any = None
    note: str | None = None
    na_reason: str | None = None
    device_id: str | None = None
    at: Instant
    deleted: bool = False


class JobAttachment(msgspec.Struct, kw_only=True):
    """A photo or file of the job; ``arrived``: its bytes are on the server."""

    sha256: str
    kind: str
    size: int
    deleted: bool
    arrived: bool


class JobSignoff(msgspec.Struct, kw_only=True):
    """The customer's sign-off; ``digest_matches`` is false once the job changed after it."""

    signer_name: str
    signer_role: str | None = None
    signed_at: Instant
    report_digest: str
    device_id: str | None = None
    received_at: Instant | None = None
    strokes: Any = None
    digest_matches: bool
    rating: int | None = None
    comment: str | None = None


class JobConflictRef(msgspec.Struct, kw_only=True):
    """A conflict on the job (``GET /v1/conflicts/{id}`` has the rest)."""

    id: str
    kind: str
    key: str
    status: str


class JobDetail(msgspec.Struct, kw_only=True):
    """``GET /v1/jobs/{job_id}``: the job with everything recorded on it."""

    job: Job
    answers: list[JobAnswer]
    parts: list[Movement]
    attachments: list[JobAttachment]
    evidence_missing: int
    signoff: JobSignoff | None
    timeline: list[TicketEvent]
    conflicts: list[JobConflictRef]


def job_detail_of(services: Services, job_id: str) -> JobDetail:
    """:func:`job_detail` as the typed document the API returns."""
    return msgspec.convert(job_detail(services, job_id), JobDetail)
