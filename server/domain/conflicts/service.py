"""The review queue: list conflicts, resolve one by choosing a value or merging.

A resolution writes the chosen value with a fresh server HLC (so it wins over
both originals) and emits it on the change feed, so every device of the
job's engineer learns the outcome on its next pull.
"""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.domain import Conflict as ConflictItem
from schemas.domain import ResolveIn
from schemas.records import ConflictData, ConflictRecord, ConflictResolution, ConflictValue
from schemas.rules import JOB_FIELD_TYPES, TEXT_LIMITS
from schemas.status import JOB_STATUSES
from server.domain.conflicts import store
from server.domain.records import answer_record, dumps, job_record, loads
from server.domain.webhooks.service import emit
from server.errors import BadRequest, Conflict, NotFound
from server.feed import publish
from server.services import Services
from sync.core import hlc as hlc_mod
from sync.storage import Row, Tx


def conflict_from_row(r: Row) -> ConflictItem:
    vals = loads(r["vals"], [])
    return ConflictItem(id=r["id"], kind=r["kind"], job_id=r["job_id"], key=r["key"], status=r["status"],
                          values=vals, applied=vals[r["applied"]] if 0 <= r["applied"] < len(vals) else {},
                          created_at=r["created_at"], resolved_at=r["resolved_at"],
                          resolution=loads(r["resolution"], {}))


def conflict_record(r: Row) -> ConflictRecord:
    """A conflict as the devices of its job's engineer receive it."""
    return ConflictRecord(id=r["id"], data=ConflictData(
        id=r["id"], kind=r["kind"], job_id=r["job_id"], key=r["key"], status=r["status"],
        values=msgspec.convert(loads(r["vals"], []), list[ConflictValue]), applied=r["applied"],
        resolution=msgspec.convert(loads(r["resolution"], {}), ConflictResolution)))


def list_conflicts(services: Services, status: str | None = "open", job_id: str | None = None,
                   limit: int = 200) -> list[ConflictItem]:
    with services.db.read() as tx:
        rows = store.conflicts(tx, status, job_id, limit)
    return [conflict_from_row(r) for r in rows]


def get_conflict(services: Services, conflict_id: str) -> ConflictItem:
    with services.db.read() as tx:
        row = store.conflict(tx, conflict_id)
    if row is None:
        raise NotFound("unknown_conflict", f"no conflict {conflict_id!r}")
    return conflict_from_row(row)


def resolve(services: Services, conflict_id: str, data: ResolveIn, by: str) -> ConflictItem:
    """Resolve a conflict: ``choice`` picks one of its values, ``value`` gives a merged one."""
    now = services.clock()
    with services.db.write() as tx:
        row = store.conflict(tx, conflict_id, lock=True)
        if row is None:
            raise NotFound("unknown_conflict", f"no conflict {conflict_id!r}")
        if row["status"] != "open":
            raise Conflict("already_resolved", "this conflict is already resolved")
        if row["kind"] == "late_work":
            raise Conflict("adopt_or_discard", "work on a reassigned job is adopted or discarded as one visit: "
                           f"POST /v1/conflicts/{conflict_id}/adopt or /discard")
        vals: list[dict[str, Any]] = loads(row["vals"], [])
        if data.choice is not None:
            if data.choice >= len(vals):
                raise BadRequest("bad_choice", f"choice must be 0..{len(vals) - 1}")
            chosen = vals[data.choice]["value"]
        elif data.value is not None:
            chosen = data.value
        else:
            raise BadRequest("choice_required", "give choice (an index into values) or a merged value")
        _apply(tx, row, chosen, now)
        resolution = {"choice": data.choice, "value": chosen, "comment": data.comment, "by": by}
        store.mark_resolved(tx, conflict_id, dumps(resolution), by, now)
        job = store.job_engineer(tx, row["job_id"])
        emit(tx, f"{conflict_id}-resolved", "conflict_resolved",
             {"conflict_id": conflict_id, "ticket_id": job["ticket_id"] if job is not None else None,
              "job_id": row["job_id"], "kind": row["kind"], "key": row["key"], "resolution": resolution}, now)
        fresh = store.conflict(tx, conflict_id)
        assert fresh is not None
        rec = conflict_from_row(fresh)
        if job is not None:
            publish(tx, [conflict_record(fresh)], job["engineer_id"])
    return rec


def _apply(tx: Tx, conflict: Row, value: Any, now: int) -> None:
    """Write the resolved value so that it outranks both originals."""
    job = store.lock_job(tx, conflict["job_id"])
    if job is None:
        return
    server_hlc = hlc_mod.pack(now, 0xFFFF)
    kind, key = conflict["kind"], conflict["key"]
    if kind == "answer":
        store.set_answer(tx, job["id"], key, dumps(value), server_hlc)
        a = store.answer(tx, job["id"], key)
        if a is not None:
            publish(tx, [answer_record(a)], job["engineer_id"])
    elif kind == "field" and JOB_FIELD_TYPES.get(key) == "text":
        # a merged value is held to the limit a device's write is held to, so every device can take it back
        if not isinstance(value, str):
            raise BadRequest("invalid_value", f"{key} takes text")
        if len(value) > TEXT_LIMITS["job.field"][key]:
            raise BadRequest("text_too_long", f"{key} takes at most {TEXT_LIMITS['job.field'][key]} characters")
        meta = loads(job["field_meta"], {})
        meta[key] = {"hlc": server_hlc, "device_id": "server", "at": now}
        store.set_job_field(tx, job["id"], key, value, dumps(meta), now)
    elif kind == "status":
        if value not in JOB_STATUSES:
            raise BadRequest("invalid_value", "not a job status")
        store.set_job_status(tx, job["id"], value, now)
    # signoff resolutions record the decision only: the kept record stays as it is (late work is adopted or
    # discarded whole: server.domain.sync.late_work)
    fresh = store.job(tx, job["id"])
    ticket = store.ticket(tx, job["ticket_id"])
    if fresh is not None and ticket is not None:
        publish(tx, [job_record(fresh, ticket, tx)])
