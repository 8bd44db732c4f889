"""The outbox: unsynced ops in write order, stamped with the device HLC.

Each op is stored as its msgpack bytes plus a ``key`` naming the local value it
wrote (``status``, ``field:diagnosis``, ``answer:<item>``, ``signoff``,
``part:<op_id>``, ``attachment:<sha256>``).  While an op with a key is
pending, a pulled server value for that key does not overwrite the local one.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Final, get_args

import msgspec

from client_sdk.store import Tx, WriteTx
from schemas.codec import msgpack_encoder
from schemas.wire import Amend, AnswerItem, Attach, Delete, MovePart, Op, SetField, SetStatus, SignOff
from sync.core.hlc import COUNTER_BITS

op_decoder: Final = msgspec.msgpack.Decoder(Op)

APPEND_SQL: Final = "INSERT INTO outbox (op_id, job_id, type, key, body, created_at) VALUES (?, ?, ?, ?, ?, ?)"
HLC_SQL: Final = "UPDATE device SET hlc_last = ? WHERE id = 1"
_IDS_PER_READ: Final = 64
# uuid4's fixed bits (RFC 4122 variant, version 4) as byte maps: byte 6 gets version 4 in its high
# nibble, byte 8 the variant bits 10 -- what uuid.UUID(version=4) sets
_VERSION_4: Final = bytes((b & 0x0F) | 0x40 for b in range(256))
_VARIANT: Final = bytes((b & 0x3F) | 0x80 for b in range(256))
#: op ids made ahead from one read of the OS random source (deque pops and extends are atomic)
_ready_ids: deque[str] = deque()
os.register_at_fork(after_in_child=_ready_ids.clear)  # a forked child never reuses its parent's ids


def _make_op_ids() -> None:
    raw = bytearray(os.urandom(16 * _IDS_PER_READ))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT)
    text = raw.hex()
    _ready_ids.extend([text[i : i + 32] for i in range(0, len(text), 32)])


def new_op_id() -> str:
    """A fresh op id (uuid4 hex, 122 random bits): what makes an op idempotent on the server.

    The same values ``uuid.uuid4().hex`` gives, built without the ``UUID``
    object and from one ``os.urandom`` read per 64 ids (the system call was
    most of the cost on the write path).
    """
    while True:
        try:
            return _ready_ids.popleft()
        except IndexError:
            _make_op_ids()


def device_state(tx: WriteTx) -> list[Any]:
    """``[device_id, hlc_last]`` of this transaction or batch (read once, then kept in the memo)."""
    state: list[Any] | None = tx.memo.get("device")
    if state is None:
        row = tx.raw.conn.execute("SELECT device_id, hlc_last FROM device WHERE id = 1").fetchone()
        state = tx.memo["device"] = [row[0], int(row[1] or 0)]
    return state


def next_hlc(tx: WriteTx, now_ms: int, state: list[Any] | None = None) -> int:
    """Tick the device HLC and persist it in the same transaction as the op using it.

    ``state`` is :func:`device_state` when the caller holds it already.
    """
    if state is None:
        state = tx.memo.get("device") or device_state(tx)
    # sync.core.hlc.tick(state[1], now_ms), inlined: it runs once per SDK write
    hlc = now_ms << COUNTER_BITS
    if hlc <= state[1]:
        hlc = state[1] + 1
    state[1] = hlc  # a write that fails later only skips a value: the clock stays monotonic
    tx.defer_state(HLC_SQL, (hlc,))
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
    if isinstance(op, Amend):
        return f"amend:{op.op_id}"
    raise TypeError(f"not an op: {op!r}")


_TAGS: Final[dict[type, str]] = {cls: str(cls.__struct_config__.tag) for cls in get_args(Op)}
_encode: Final = msgpack_encoder.encode


def type_of(op: Op) -> str:
    """The op's wire tag (``job.status``, ``checklist.answer`` ...)."""
    return _TAGS[type(op)]


def append(tx: WriteTx, op: Op, now_ms: int, key: str | None = None) -> None:
    """Add an op at the end of the outbox (with the caller's write; ``key`` defaults to :func:`key_for`)."""
    tx.defer(APPEND_SQL, (op.op_id, op.job_id, _TAGS[type(op)], key or key_for(op), _encode(op), now_ms))


def pending_keys(tx: Tx, job_id: str) -> set[str]:
    """Keys of a job's local values that still have unsynced ops."""
    return {r["key"] for r in tx.query("SELECT DISTINCT key FROM outbox WHERE job_id = ?", (job_id,))}


def decode(body: bytes) -> Op:
    """An outbox body back into its op."""
    op: Op = op_decoder.decode(body)
    return op
