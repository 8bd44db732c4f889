"""The outbox: unsynced ops in write order, stamped with the device HLC.

Each op is stored as its msgpack bytes plus a ``key`` naming the local value it
wrote (``status``, ``field:diagnosis``, ``answer:<item>``, ``signoff``,
``part:<op_id>``, ``attachment:<sha256>``).  While an op with a key is
pending, a pulled server value for that key does not overwrite the local one.
"""

from __future__ import annotations

import os
from typing import Any, Final

import msgspec

from client_sdk.store import Tx, WriteTx
from schemas.codec import encode
from schemas.wire import AnswerItem, Attach, Delete, MovePart, Op, SetField, SetStatus, SignOff
from sync.core.hlc import tick

op_decoder: Final = msgspec.msgpack.Decoder(Op)

APPEND_SQL: Final = "INSERT INTO outbox (op_id, job_id, type, key, body, created_at) VALUES (?, ?, ?, ?, ?, ?)"
HLC_SQL: Final = "UPDATE device SET hlc_last = ? WHERE id = 1"
# uuid4's fixed bits (RFC 4122 variant, version 4), as uuid.UUID(version=4) sets them
_UUID4_CLEAR: Final = ~(0xC000 << 48) & ~(0xF000 << 64)
_UUID4_SET: Final = (0x8000 << 48) | (4 << 76)


def new_op_id() -> str:
    """A fresh op id (uuid4 hex, 122 random bits): what makes an op idempotent on the server.

    The same value ``uuid.uuid4().hex`` gives, built without the ``UUID``
    object (a third of the cost on the write path).
    """
    n = (int.from_bytes(os.urandom(16), "big") & _UUID4_CLEAR) | _UUID4_SET
    return n.to_bytes(16, "big").hex()


def device_state(tx: WriteTx) -> list[Any]:
    """``[device_id, hlc_last]`` of this transaction or batch (read once, then kept in the memo)."""
    state: list[Any] | None = tx.memo.get("device")
    if state is None:
        row = tx.raw.conn.execute("SELECT device_id, hlc_last FROM device WHERE id = 1").fetchone()
        state = tx.memo["device"] = [row[0], int(row[1] or 0)]
    return state


def next_hlc(tx: WriteTx, now_ms: int) -> int:
    """Tick the device HLC and persist it in the same transaction as the op using it."""
    state = device_state(tx)
    hlc = tick(state[1], now_ms)
    state[1] = hlc  # a write that fails later only skips a value: the clock stays monotonic
    tx.defer(HLC_SQL, (hlc,), "hlc")
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


def append(tx: WriteTx, op: Op, now_ms: int, key: str | None = None) -> None:
    """Add an op at the end of the outbox (with the caller's write; ``key`` defaults to :func:`key_for`)."""
    tx.defer(APPEND_SQL, (op.op_id, op.job_id, type_of(op), key or key_for(op), encode(op), now_ms))



def pending_keys(tx: Tx, job_id: str) -> set[str]:
    """Keys of a job's local values that still have unsynced ops."""
    return {r["key"] for r in tx.query("SELECT DISTINCT key FROM outbox WHERE job_id = ?", (job_id,))}


def decode(body: bytes) -> Op:
    """An outbox body back into its op."""
    op: Op = op_decoder.decode(body)
    return op
