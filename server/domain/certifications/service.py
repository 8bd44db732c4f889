"""Engineers' certifications per equipment type, and the dispatch check that uses them.

A certification names an equipment type (``boiler``, ``chiller`` ...) and may
expire.  Dispatching a job (create or reassign) to an engineer who holds no
valid certification for the equipment type of the ticket's asset is refused
with ``engineer_not_certified``; an admin may override with a reason, and the
override is written on the ticket's timeline (``certification_override``).
Tickets without a known asset, or assets without an equipment type, are not
checked.

Training records sit behind certifications: a course on a date, its trainer and its result
(``pass`` or ``fail``, with an optional score 0-100).  A certification may name the training that
earned it (``training_id``): the training must be the same engineer's and passed (409
``training_not_passed`` otherwise, 404 ``unknown_training`` for an id that is not the engineer's); a
training lists the certifications earned with it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from schemas.instant import Instant, InstantIn, epoch_ms_or_none
from server.domain.certifications import store
from server.errors import BadRequest, Conflict, Forbidden, NotFound
from server.ids import new_id
from server.services import Services
from sync.storage import Row, Tx

if TYPE_CHECKING:
    from server.security import Staff

Label = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CertificationIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Record a certification of an engineer for one equipment type."""

    equipment_type: Label
    name: Label
    expires_at: InstantIn | None = None
    issued_at: InstantIn | None = None
    #: the training that earned it (the same engineer's, passed)
    training_id: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class TrainingIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A training an engineer took: course, date (``YYYY-MM-DD``), trainer, result and optional score."""

    course: Label
    date: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    trainer: Label
    result: Annotated[str, msgspec.Meta(pattern="^(pass|fail)$")]
    score: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    notes: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class Training(msgspec.Struct, kw_only=True):
    """A training record with the certifications earned with it; ``created_at`` RFC 3339 UTC."""

    id: str
    engineer_id: str
    course: str
    date: str
    trainer: str
    result: str
    score: int | None
    notes: str
    certification_ids: list[str]
    created_at: datetime
    created_by: str


class Certification(msgspec.Struct, kw_only=True):
    """A certification; ``valid`` is evaluated at the time of the request."""

    id: str
    engineer_id: str
    equipment_type: str
    name: str
    issued_at: Instant | None
    expires_at: Instant | None
    created_at: Instant
    created_by: str
    valid: bool
    training_id: str | None = None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def _valid(row: Row, at: int) -> bool:
    return (row["expires_at"] is None or int(row["expires_at"]) > at) and (
        row["issued_at"] is None or int(row["issued_at"]) <= at)


def _cert(row: Row, now: int) -> Certification:
    return Certification(id=row["id"], engineer_id=row["engineer_id"], equipment_type=row["equipment_type"],
                         name=row["name"], issued_at=row["issued_at"], expires_at=row["expires_at"],
                         created_at=row["created_at"], created_by=row["created_by"], valid=_valid(row, now),
                         training_id=row["training_id"])


def add_certification(services: Services, engineer_id: str, data: CertificationIn, by: str) -> Certification:
    issued, expires = epoch_ms_or_none(data.issued_at), epoch_ms_or_none(data.expires_at)
    if issued is not None and expires is not None and expires <= issued:
        raise BadRequest("bad_expiry", "expires_at must be after issued_at")
    now = services.clock()
    cid = new_id("CERT-")
    with services.db.write() as tx:
        if not store.engineer_exists(tx, engineer_id):
            raise NotFound("unknown_engineer", f"no engineer {engineer_id!r}")
        if data.training_id is not None:
            training = store.training(tx, data.training_id)
            if training is None or training["engineer_id"] != engineer_id:
                raise NotFound("unknown_training", f"engineer {engineer_id} has no training {data.training_id!r}")
            if training["result"] != "pass":
                raise Conflict("training_not_passed",
                               f"training {data.training_id} ({training['course']}) was not passed",
                               training_id=data.training_id)
        store.insert(tx, cid, engineer_id, data.equipment_type.strip().lower(), data.name, issued,
                     expires, now, by, data.training_id)
        row = store.certification(tx, cid)
    assert row is not None
    return _cert(row, now)


def list_certifications(services: Services, engineer_id: str) -> list[Certification]:
    with services.db.read() as tx:
        if not store.engineer_exists(tx, engineer_id):
            raise NotFound("unknown_engineer", f"no engineer {engineer_id!r}")
        rows = store.of_engineer(tx, engineer_id)
    now = services.clock()
    return [_cert(r, now) for r in rows]


def _training(row: Row, certs: list[str]) -> Training:
    return Training(id=row["id"], engineer_id=row["engineer_id"], course=row["course"], date=row["held_on"],
                    trainer=row["trainer"], result=row["result"], score=row["score"], notes=row["notes"],
                    certification_ids=certs, created_at=datetime.fromtimestamp(int(row["created_at"]) / 1000, tz=UTC),
                    created_by=row["created_by"])


def add_training(services: Services, engineer_id: str, data: TrainingIn, by: str) -> Training:
    """Record a training the engineer took (any result)."""
    try:
        held_on = date.fromisoformat(data.date).isoformat()
    except ValueError:
        raise BadRequest("invalid_value", f"date is YYYY-MM-DD, not {data.date!r}") from None
    course, trainer = data.course.strip(), data.trainer.strip()
    if not course or not trainer:
        raise BadRequest("invalid_value", "course and trainer must not be blank")
    if any("\x00" in text for text in (course, trainer, data.notes)):
        raise BadRequest("invalid_value", "text may not contain NUL characters")
    now = services.clock()
    tid = new_id("TR-")
    with services.db.write() as tx:
        if not store.engineer_exists(tx, engineer_id):
            raise NotFound("unknown_engineer", f"no engineer {engineer_id!r}")
        store.insert_training(tx, tid, engineer_id, course, held_on, trainer, data.result, data.score, data.notes,
                              now, by)
        row = store.training(tx, tid)
    assert row is not None
    return _training(row, [])


def list_trainings(services: Services, engineer_id: str) -> list[Training]:
    """An engineer's training records, oldest first, each with the certifications it earned."""
    with services.db.read() as tx:
        if not store.engineer_exists(tx, engineer_id):
            raise NotFound("unknown_engineer", f"no engineer {engineer_id!r}")
        rows = store.trainings_of(tx, engineer_id)
        certs = store.certified_by(tx, [r["id"] for r in rows])
    return [_training(r, certs.get(r["id"], [])) for r in rows]


def ticket_equipment_type(tx: Tx, ticket_id: str) -> str | None:
    """The equipment type of the ticket's asset (None when unknown or not set)."""
    kind = store.ticket_equipment_type(tx, ticket_id) or ""
    return kind.strip().lower() or None


def certification_gap(tx: Tx, engineer_id: str, equipment_type: str, at: int) -> dict[str, Any] | None:
    """Why ``engineer_id`` may not work on ``equipment_type`` at ``at`` (None when certified)."""
    rows = store.for_equipment(tx, engineer_id, equipment_type)
    if any(_valid(r, at) for r in rows):
        return None
    if not rows:
        return {"detail": f"engineer {engineer_id} holds no certification for equipment type {equipment_type!r}",
                "equipment_type": equipment_type, "expires_at": None}
    latest = max(rows, key=lambda r: int(r["expires_at"] or 0))
    if latest["expires_at"] is not None and int(latest["expires_at"]) <= at:
        detail = (f"engineer {engineer_id}'s certification {latest['name']!r} for equipment type "
                  f"{equipment_type!r} expired on {_iso(int(latest['expires_at']))}")
    else:
        detail = (f"engineer {engineer_id}'s certification {latest['name']!r} for equipment type "
                  f"{equipment_type!r} is not valid yet")
    return {"detail": detail, "equipment_type": equipment_type, "expires_at": latest["expires_at"]}


def dispatch_check(tx: Tx, ticket_id: str, engineer_id: str, at: int, override: bool, reason: str,
                   by: Staff | None) -> dict[str, Any] | None:
    """Refuse an uncertified engineer (409 ``engineer_not_certified``) unless an admin overrides.

    Returns the data of the ``certification_override`` event to record when an
    override was used, else None.
    """
    equipment_type = ticket_equipment_type(tx, ticket_id)
    if equipment_type is None:
        return None
    gap = certification_gap(tx, engineer_id, equipment_type, at)
    if gap is None:
        return None
    if not override:
        raise Conflict("engineer_not_certified", gap["detail"], engineer_id=engineer_id,
                       equipment_type=equipment_type, expires_at=gap["expires_at"])
    if by is None or by.role != "admin":
        raise Forbidden("override_forbidden", "only an admin may dispatch an engineer who is not certified")
    if not reason.strip():
        raise BadRequest("override_reason_required", "an override needs a reason (override_reason)")
    return {"engineer_id": engineer_id, "equipment_type": equipment_type, "reason": reason.strip(),
            "by": by.name, "refusal": gap["detail"]}
