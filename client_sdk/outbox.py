"""The outbox: unsynced ops in write order, stamped with the device HLC.

Each op is stored as its msgpack bytes plus a ``key`` naming the local value it
wrote (``status``, ``field:diagnosis``, ``answer:<item>``, ``signoff``,
``part:<op_id>``, ``attachment:<sha256>``).  While an op with a key is
pending, a pulled server value for that key does not overwrite the local one.
"""

from __future__ import annotations

import uuid
from typing import Final

import msgspec

from client_sdk.store import Tx
from schemas.codec import encode
from schemas.wire import AnswerItem, Attach, Delete, MovePart, Op, SetField, SetStatus, SignOff
from sync.core.hlc import tick

op_decoder: Final = msgspec.msgpack.Decoder(Op)


def new_op_id() -> str:
    """A fresh op id (uuid4 hex): what makes an op idempotent on the server."""
    return uuid.uuid4().hex


def next_hlc(tx: Tx, now_ms: int) -> int:
    """Tick the device HLC and persist it in the same transaction as the op using it."""
    last = int(tx.scalar("SELECT hlc_last FROM device WHERE id = 1") or 0)
    hlc = tick(last, now_ms)
    tx.execute("UPDATE device SET hlc_last = ? WHERE id = 1", (hlc,))
    return hlc


def key_for(op: Op) -> str:
    """The local value an op writes (used to keep pulled values off unsynced writes)."""
    if isinstance(op, SetStatus):
        return "status"
    if isinstance(op, SetField):
        return f"field:{op.field}"
    if isinstance(op, AnswerItem):
        return f"answer:{op.item_key}"
    if isinstance(op, SignOff):
        return "signoff"
    if isinstance(op, MovePart):
        return f"part:{op.op_id}"
    if isinstance(op, Attach):
        return f"attachment:{op.sha256}"
    if isinstance(op, Delete):
        return f"{op.entity}:{op.key}"
    raise TypeError(f"not an op: {op!r}")


def type_of(op: Op) -> str:
    """The op's wire tag (``job.status``, ``checklist.answer`` ...)."""
    return str(type(op).__struct_config__.tag)


def append(tx: Tx, op: Op, now_ms: int) -> None:
    """Add an op at the end of the outbox (inside the caller's write transaction)."""
    tx.execute(
        "INSERT INTO outbox (op_id, job_id, type, key, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (op.op_id, op.job_id, type_of(op), key_for(op), encode(op), now_ms),
    )


def pending_keys(tx: Tx, job_id: str) -> set[str]:
    """Keys of a job's local values that still have unsynced ops."""
    return {r["key"] for r in tx.query("SELECT DISTINCT key FROM outbox WHERE job_id = ?", (job_id,))}


def decode(body: bytes) -> Op:
    """An outbox body back into its op."""
    op: Op = op_decoder.decode(body)
    return op
