"""Late work: one engineer's visit to a job reassigned away while her tablet was offline, adopted or discarded.

A push keeps every op a device sends for a job its engineer no longer holds in one review item per visit
(kind ``late_work``, key ``visit``; see :meth:`server.domain.sync.push.PushApplier.late_work_conflict`):
``values[0]`` names the engineer holding the job when the work arrived, ``values[1:]`` are the device's ops
as sent, in order.  Parts it used or took back went into its engineer's van ledger at once: that happened,
and the tablet acknowledged it offline (DESIGN: consumption is never refused).

The back office decides the visit as a whole:

- **adopt**: the ops are applied to the job as the original device's, through the same checks and merge
  rules as a push (:class:`~server.domain.sync.push.PushApplier`, nothing re-implemented here): statuses
  replayed through the status machine, answers and fields merged, the sign-off stored and checked against
  the content its customer saw.  Their timeline events carry the device's corrected event times and the
  device as source, so the SLA clocks (on site, resolve ...) count the visit as it happened.  Every record
  goes to the devices of the engineer who holds the job now: her tablet pulls the job as it really is.
  An op the job no longer takes (a status the job moved past) gets its own review item, as in a push.
- **discard**: nothing of the visit is applied but its parts movements, which stay in the ledger; a
  reason is required.

Either way the item is resolved once (``choice`` 1 adopted, 0 discarded), a ``visit_adopted`` or
``visit_discarded`` event goes on the ticket's timeline, and the ``conflict_resolved`` webhook fires.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from schemas.codec import encode
from schemas.domain import Conflict as ConflictItem
from schemas.wire import MovePart, ReceivedOp, ReceivedSignOff, SignOff
from server.domain.conflicts import store
from server.domain.conflicts.service import conflict_from_row, conflict_record
from server.domain.records import dumps, loads
from server.domain.sync.push import VISIT_KEY, PushApplier
from server.domain.sync.signoff_checks import SignoffChecks
from server.domain.tickets.service import add_event
from server.domain.webhooks.service import emit
from server.errors import Conflict, NotFound
from server.feed import publish
from server.security import DeviceAuth
from server.services import Services
from sync.storage import Row, Tx

ADOPTED: Final = "adopted"
DISCARDED: Final = "discarded"
_OP: Final = msgspec.json.Decoder(ReceivedOp)


def decode_op(text: object) -> ReceivedOp | None:
    """One op of a visit as stored (the JSON of the op sent; a sign-off's strokes as lists): None if unreadable."""
    if not isinstance(text, str):
        return None
    try:
        body = msgspec.json.decode(text)
        if isinstance(body, dict) and body.get("type") == "signoff":
            signoff = msgspec.convert(body, SignOff)
            fields = {f: getattr(signoff, f) for f in SignOff.__struct_fields__ if f != "strokes"}
            return ReceivedSignOff(**fields, strokes=msgspec.Raw(encode(signoff.strokes)))
        return _OP.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _open_item(tx: Tx, conflict_id: str) -> Row:
    row = store.conflict(tx, conflict_id, lock=True)
    if row is None:
        raise NotFound("unknown_conflict", f"no conflict {conflict_id!r}")
    if row["kind"] != "late_work":
        raise Conflict("not_late_work", "only work on a reassigned job is adopted or discarded; resolve this one")
    if row["status"] != "open":
        raise Conflict("already_resolved", "this conflict is already resolved")
    return row


def _replay(tx: Tx, row: Row, now: int, *, only_parts: bool) -> tuple[str, str, list[dict[str, Any]]]:
    """Apply the visit's ops (or only its parts movements) as its device's; (device, engineer, op results)."""
    vals: list[dict[str, Any]] = loads(row["vals"], [])
    device_id = str(vals[1]["device_id"]) if len(vals) > 1 else ""
    dev = store.device(tx, device_id)
    job = store.job_engineer(tx, row["job_id"])
    if dev is None or job is None:  # nothing left to apply it to: the decision is recorded
        return device_id, str(dev["engineer_id"]) if dev is not None else "", []
    ops: list[ReceivedOp] = []
    results: list[dict[str, Any]] = []
    for v in vals[1:]:
        op = decode_op(v.get("value"))
        if op is None:
            results.append({"op_id": None, "result": "rejected", "reason": "unreadable_late_work"})
        elif not only_parts or isinstance(op, MovePart):
            ops.append(op)
    offset = int(dev["clock_offset_ms"])
    auth = DeviceAuth(device_id, str(dev["engineer_id"]), bytes(dev["public_key"]), offset)
    applier = PushApplier(tx, auth, offset if dev["clock_known"] else None, now,
                          SignoffChecks(auth.public_key, ops), adopting_for=str(job["engineer_id"]))
    applier.preload(ops)
    for op in ops:
        r = applier.apply(op)
        results.append(msgspec.to_builtins(r))
    applier.flush()
    return device_id, auth.engineer_id, results


def decide(services: Services, conflict_id: str, by: str, *, adopt: bool, comment: str) -> ConflictItem:
    """Adopt (apply) or discard (with ``comment`` as the reason) one late visit; see the module docstring."""
    now = services.clock()
    with services.db.write() as tx:
        row = _open_item(tx, conflict_id)
        device_id, engineer_id, results = _replay(tx, row, now, only_parts=not adopt)
        resolution: dict[str, Any] = {"choice": 1 if adopt else 0, "value": ADOPTED if adopt else DISCARDED,
                                      "comment": comment, "by": by}
        if adopt:
            resolution["results"] = results
        store.mark_resolved(tx, conflict_id, dumps(resolution), by, now)
        job = store.job_engineer(tx, row["job_id"])
        ticket_id = job["ticket_id"] if job is not None else None
        if ticket_id is not None:
            add_event(tx, ticket_id, "visit_adopted" if adopt else "visit_discarded", now, now,
                      job_id=row["job_id"], source=f"staff:{by}", event_id=f"E-{conflict_id}-decided",
                      data={"conflict_id": conflict_id, "engineer_id": engineer_id, "device_id": device_id,
                            "by": by, "comment": comment, "ops": len(results)})
        emit(tx, f"{conflict_id}-resolved", "conflict_resolved",
             {"conflict_id": conflict_id, "ticket_id": ticket_id, "job_id": row["job_id"], "kind": row["kind"],
              "key": row["key"], "resolution": resolution}, now)
        fresh = store.conflict(tx, conflict_id)
        assert fresh is not None
        if engineer_id:  # the visit's engineer learns what became of it
            publish(tx, [conflict_record(fresh)], engineer_id)
        return conflict_from_row(fresh)


__all__ = ["ADOPTED", "DISCARDED", "VISIT_KEY", "decide", "decode_op"]
