"""Where a pushed change-set enters: verify it, place it on the device's chain, then merge it or accept it.

The signature is checked over the raw bytes before anything is decoded, and the chain against the
device's head under the device's row lock.  Then one of two answers (``docs/protocol.md`` §4.7):

- **synchronous** (no ``Prefer: respond-async``, every tablet before it): the change-set is merged in
  this transaction (:func:`server.domain.sync.push.apply_changeset`) after any change-set of the same
  device accepted before it and not merged yet, and answered ``200`` with its receipt;
- **accepted** (``Prefer: respond-async``): the verified envelope is stored
  (:mod:`server.domain.sync.accepted_store`) and the chain head moves, in one short transaction, and it
  is answered ``202`` with a signed :class:`~schemas.wire.Accepted`.  The merger
  (:mod:`server.domain.sync.merger`) merges it later through the same ``apply_changeset``, per device in
  seq order, in the transaction that removes its accepted row: exactly once, whoever merges it.

A repeat is answered from what is stored: the receipt once merged, the stored ``Accepted`` before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from schemas.codec import encode
from schemas.wire import PROTOCOL_VERSION, Accepted, ReceivedChangeSet, Signed
from server.domain.sync import accepted_store
from server.domain.sync.handoff import Handoff
from server.domain.sync.push import apply_changeset
from server.domain.sync.signoff_checks import SignoffChecks
from server.errors import Conflict, Forbidden, Unavailable
from server.keys import ServerKey
from server.observability import ACCEPTED_CHANGESETS, MERGE_FAILURES
from server.security import DeviceAuth
from server.services import Services
from sync.core.changeset import ChainHead, digest, judge_chain, open_envelope, receive_changeset, verify_signature
from sync.storage import Row, Tx

log = logging.getLogger("fieldsync.merge")

#: the device columns a push and a merge read under the device's row lock
DEVICE_COLUMNS: Final = "id, engineer_id, public_key, last_seq, last_hash, revoked_at, clock_offset_ms, clock_known"
#: a failed merge is tried again after this many ms, doubled per attempt up to :data:`RETRY_MAX_MS`
RETRY_FIRST_MS: Final = 1_000
RETRY_MAX_MS: Final = 60_000
#: the newest seq there can be (``waiting_through`` everything)
ALL: Final = 2**62


@dataclass(frozen=True, slots=True)
class PushAnswer:
    """A push's answer: ``200`` with the signed receipt or ``202`` with the signed Accepted."""

    status: int
    body: bytes


class MergeFailed(Exception):
    """Merging an accepted change-set raised: it stays queued (the cause is chained)."""

    def __init__(self, device_id: str, seq: int, cause: BaseException) -> None:
        super().__init__(f"merge of {device_id} seq {seq} failed: {type(cause).__name__}: {cause}")
        self.device_id = device_id
        self.seq = seq


def submit(services: Services, auth: DeviceAuth, envelope: bytes, *, respond_async: bool = False) -> PushAnswer:
    """Verify and place one signed change-set; merge it now (200) or, when ``respond_async``, accept it (202)."""
    signal = services.merge_signal
    signal.intake_started()  # the merger gives way meanwhile
    try:
        return _submit(services, auth, envelope, respond_async)
    finally:
        signal.intake_done()


def _submit(services: Services, auth: DeviceAuth, envelope: bytes, respond_async: bool) -> PushAnswer:
    signed = open_envelope(envelope)
    verify_signature(signed, auth.public_key)
    cs = receive_changeset(signed, auth.device_id)
    body_hash = digest(signed.changeset)
    checks = None if respond_async else SignoffChecks(auth.public_key, cs.ops)
    key = services.key
    now = services.clock()
    merged_now: list[tuple[str, int]] = []  # accepted change-sets of this device this push merged first
    try:
        with services.db.write() as tx:
            dev = tx.lock(f"SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?", (auth.device_id,))
            if dev is None or dev["revoked_at"] is not None:
                raise Forbidden("device_revoked", "this device has been revoked")
            head_seq, head_hash = int(dev["last_seq"]), dev["last_hash"]
            merged = waiting = None
            if cs.seq <= head_seq:
                merged = tx.one("SELECT hash, receipt FROM changesets WHERE device_id = ? AND seq = ?",
                                (auth.device_id, cs.seq))
                if merged is None:
                    waiting = accepted_store.one(tx, auth.device_id, cs.seq)
            stored = merged or waiting
            verdict = judge_chain(cs.seq, cs.prev_hash, body_hash, ChainHead(head_seq, head_hash),
                                  stored["hash"] if stored else None)
            if verdict == "gap":
                raise Conflict("chain_gap", f"expected seq {head_seq + 1}, got {cs.seq}", expected_seq=head_seq + 1)
            if verdict == "fork":
                raise Conflict("chain_fork", f"change-set {cs.seq} does not extend this device's chain",
                               expected_seq=head_seq + 1)
            if verdict == "duplicate":
                if merged is not None:
                    answer = PushAnswer(200, bytes(merged["receipt"]))
                elif respond_async:
                    assert waiting is not None
                    answer = PushAnswer(202, bytes(waiting["accepted"]))
                else:  # sent again without the header while still accepted: merged now, with those before it
                    answer = PushAnswer(200, merge_through(tx, key, dev, cs.seq, merged_now, services.handoff))
            else:
                answer = _place(tx, key, auth, dev, envelope, cs, body_hash, now, checks, merged_now,
                                services.handoff)
                tx.execute("UPDATE devices SET last_seq = ?, last_hash = ?, last_sync_at = ? WHERE id = ?",
                           (cs.seq, body_hash, now, auth.device_id))
    except MergeFailed as exc:
        keep_failure(services, exc)
        raise Unavailable("merge_pending", "an earlier change-set of this device is still being merged; "
                                           "send this one again later", retry_after_s=5) from exc
    if merged_now:
        services.merge_signal.merged(merged_now)
    if answer.status == 202 and verdict == "next":
        ACCEPTED_CHANGESETS.inc()
        services.handoff.keep(auth.device_id, cs.seq, body_hash, cs, len(envelope))  # committed: the merger's now
        services.merge_signal.accepted()
    return answer


def _place(tx: Tx, key: ServerKey, auth: DeviceAuth, dev: Row, envelope: bytes, cs: ReceivedChangeSet,
           body_hash: str, now: int, checks: SignoffChecks | None, merged_now: list[tuple[str, int]],
           handoff: Handoff) -> PushAnswer:
    """A new change-set on the chain: accepted (``checks`` None) or merged now after the device's accepted ones."""
    offset, known = int(dev["clock_offset_ms"]), bool(dev["clock_known"])
    if checks is None:
        accepted = Accepted(protocol_version=PROTOCOL_VERSION, device_id=auth.device_id, seq=cs.seq,
                            changeset_hash=body_hash, server_time=now, op_count=len(cs.ops))
        body = encode(accepted)
        out = encode(Signed(body=body, signature=key.sign(body), key_id=key.key_id))
        accepted_store.insert(tx, auth.device_id, cs.seq, body_hash, now, len(cs.ops), envelope, out, offset, known)
        return PushAnswer(202, out)
    merge_through(tx, key, dev, cs.seq - 1, merged_now, handoff)  # the device's accepted change-sets before this one
    return PushAnswer(200, apply_changeset(tx, key, auth, cs, body_hash, offset, known, now, checks))


def merge_queued(tx: Tx, key: ServerKey, dev: Row, row: Row, handoff: Handoff) -> bytes:
    """Merge one accepted change-set of the device locked as ``dev``; return its receipt bytes.

    Its accepted row is removed in ``tx``, the transaction that writes the receipt: merged exactly once.
    The ops are those verified when it was accepted (decoded then, when this process accepted it and
    the ``handoff`` kept them; else read back and decoded); the time and clock offset are the acceptance's.
    """
    seq = int(row["seq"])
    cs = handoff.take(dev["id"], seq, row["hash"])
    if cs is None:
        cs = receive_changeset(open_envelope(accepted_store.envelope(tx, dev["id"], seq)), dev["id"])
    offset = int(row["clock_offset_ms"])
    auth = DeviceAuth(device_id=dev["id"], engineer_id=dev["engineer_id"], public_key=bytes(dev["public_key"]),
                      clock_offset_ms=offset)
    out = apply_changeset(tx, key, auth, cs, row["hash"], offset, bool(row["clock_known"]), int(row["accepted_at"]),
                          SignoffChecks(auth.public_key, cs.ops))
    accepted_store.remove(tx, dev["id"], seq)
    return out


def merge_through(tx: Tx, key: ServerKey, dev: Row, seq: int, merged: list[tuple[str, int]],
                  handoff: Handoff) -> bytes:
    """Merge the device's accepted change-sets up to ``seq`` in order; the receipt of the last ('' if none).

    For a synchronous push: its device's earlier accepted change-sets go first (each appended to
    ``merged``).  One that raises is :class:`MergeFailed` (the caller's transaction rolls back; the
    change-sets stay queued).
    """
    out = b""
    for row in accepted_store.waiting_through(tx, dev["id"], seq):
        try:
            out = merge_queued(tx, key, dev, row, handoff)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the change-set queued
            raise MergeFailed(dev["id"], int(row["seq"]), exc) from exc
        merged.append((dev["id"], int(row["seq"])))
    return out


def retry_at(now: int, attempts: int) -> int:
    """When a change-set whose merge failed ``attempts`` times before is tried again."""
    return now + min(RETRY_MAX_MS, RETRY_FIRST_MS << min(attempts, 16))


def keep_failure(services: Services, exc: MergeFailed) -> None:
    """Record a failed merge on its queued change-set (attempts, error, next try), log it and count it."""
    MERGE_FAILURES.inc()
    log.error("%s; it stays queued", exc, exc_info=exc.__cause__)
    now = services.clock()
    with services.db.write() as tx:
        row = accepted_store.one(tx, exc.device_id, exc.seq)
        if row is not None:
            accepted_store.failed(tx, exc.device_id, exc.seq, str(exc), retry_at(now, int(row["attempts"])))


def outcome(services: Services, device_id: str, seq: int) -> PushAnswer | None:
    """The device's change-set ``seq``: its receipt (200), its Accepted while unmerged (202), or None."""
    with services.db.read() as tx:
        for _ in range(2):  # read committed: a merge between the two reads shows on the second look
            merged = tx.one("SELECT receipt FROM changesets WHERE device_id = ? AND seq = ?", (device_id, seq))
            if merged is not None:
                return PushAnswer(200, bytes(merged["receipt"]))
            waiting = tx.one("SELECT accepted FROM accepted_changesets WHERE device_id = ? AND seq = ?",
                             (device_id, seq))
            if waiting is not None:
                return PushAnswer(202, bytes(waiting["accepted"]))
    return None
