"""``FakeSyncServer``: an in-memory stand-in for the sync server, for tests and demos.

It implements :class:`~sync.transport.base.SyncTransport` with the real
protocol rules from ``sync.core`` (change-set signature and chain checks,
exactly-once receipts signed by a server key, cursor pages, resumable blobs)
but none of the merge logic: every op is ``applied`` unless ``results``
says otherwise.  Failure switches reproduce a field tablet's day:
``offline`` (no link), ``lose_next_receipt`` (the push lands, the answer is
lost) and ``expire_session()``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Final

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.codec import encode
from schemas.wire import (
    PROTOCOL_VERSION,
    Challenge,
    ChangeSet,
    Enrollment,
    EnrollRequest,
    Op,
    OpResult,
    PullRequest,
    Receipt,
    Session,
    SessionRequest,
    Signed,
)
from sync.core.changeset import (
    ChainHead,
    ChangeSetError,
    decode_changeset,
    digest,
    judge_chain,
    open_envelope,
    verify_signature,
)
from sync.core.signoff import certificate_message
from sync.core.signoff import verify_signature as verify_detached
from sync.transport.base import BlobStatus, Offline, ProtocolError


class Change(msgspec.Struct, kw_only=True):
    """A pull record as a test (or a newer server) writes it: ``kind``, ``id`` and plain ``data``.

    It encodes like a record of :mod:`schemas.records`, but takes any kind and any data, so a test can
    send what a newer server or a broken one would.
    """

    kind: str
    id: str
    data: dict[str, Any] = {}


_TICKET: Final = {"customer": "ACME", "site": "Plant 1", "priority": "P2", "category": "fault", "title": "",
                  "asset_serial": None}


def _defaults(kind: str, rid: str) -> dict[str, Any]:
    """Every field a record of ``kind`` requires, those naming the record taken from its id."""
    head, _, tail = rid.partition("/")
    if kind == "job":
        return {"id": rid, "ticket_id": "T-1", "engineer_id": "eng-1", "status": "assigned", "hold_reason": None,
                "notes": "", "diagnosis": "", "resolution": "", "remote": False, "rating": None,
                "customer_comment": None, "template_id": None, "template_version": None, "scheduled_start": None,
                "scheduled_end": None, "signed_off": False, "field_hlc": {}, "ticket": dict(_TICKET)}
    if kind == "answer":
        return {"job_id": head, "item_key": tail, "value": None, "note": None, "na_reason": None, "hlc": 0,
                "device_id": "server", "deleted": False}
    if kind == "movement":
        return {"id": rid, "kind": "consume", "part_no": "P-100", "qty": 1, "serial": None, "from_location": None,
                "to_location": None, "job_id": None, "at": 0, "billable": None}
    if kind == "signoff":
        return {"job_id": rid, "signer_name": "", "signer_role": "customer", "signed_at": 0, "report_digest": ""}
    if kind == "attachment":
        return {"job_id": head, "sha256": tail, "kind": "photo", "size": 0, "deleted": False}
    if kind == "template":
        tid, _, version = rid.partition("@")
        return {"id": tid, "version": int(version or 1), "name": tid, "items": []}
    if kind == "part":
        return {"part_no": rid, "name": rid, "serialized": False, "unit_price_cents": 0}
    if kind == "stock":
        return {"location": head, "part_no": tail, "qty": 0}
    if kind == "conflict":
        return {"id": rid, "kind": "field", "job_id": "", "key": "", "status": "open", "values": [], "applied": 0,
                "resolution": {}}
    if kind == "job_removed":
        return {"id": rid, "reason": "reassigned"}
    if kind == "asset":
        return {"serial": rid, "model": "", "equipment_type": "", "customer": "", "site": "", "installed_at": None,
                "warranty_until": None, "contract_until": None, "under_warranty": False, "under_contract": False,
                "history": []}
    if kind == "kb":
        return {"id": rid, "model": "", "equipment_type": "", "symptom": "", "cause": "", "fix": "", "parts": [],
                "ticket_id": None, "created_at": 0, "created_by": ""}
    return {}


def record(kind: str, rid: str, /, **data: Any) -> Change:
    """A record of ``kind`` with every field its kind requires (:mod:`schemas.records`), ``data`` over them.

    The fields that name the record come from ``rid`` as the server forms it (``<job_id>/<item_key>`` for an
    answer, ``<location>/<part_no>`` for stock, ``<template_id>@<version>`` for a template, ...).
    """
    return Change(kind=kind, id=rid, data={**_defaults(kind, rid), **data})


class _Page(msgspec.Struct, kw_only=True):
    """A :class:`~schemas.wire.PullPage` of :class:`Change` records (the same fields)."""

    protocol_version: int
    device_id: str
    cursor: str
    more: bool
    server_time: int
    changes: list[Change]


class FakeSyncServer:
    """One server, in memory; see the module docstring."""

    def __init__(self, *, engineer_id: str = "eng-1", server_time: Callable[[], int] | None = None) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.key_id = "fake-1"
        self.engineer_id = engineer_id
        self.server_time = server_time or (lambda: 1_700_000_000_000)
        self.token: str | None = None
        self.offline = False
        self.lose_next_receipt = False
        self.results: Callable[[Op], OpResult | None] = lambda op: None
        self.enroll_tokens: set[str] = set()
        self.devices: dict[str, bytes] = {}
        self.revoked: set[str] = set()
        self.sessions: dict[str, str] = {}
        self.nonces: dict[str, str] = {}
        self.heads: dict[str, ChainHead] = {}
        self.chain: dict[tuple[str, int], str] = {}
        self.receipts: dict[tuple[str, int], Signed] = {}
        self.envelopes: list[bytes] = []
        self.applied_ops: list[Op] = []
        self.feed: list[Change] = []
        self.page_size = 500
        self.blobs: dict[str, bytearray] = {}
        self.blob_sizes: dict[str, int] = {}
        self.last_device_clock = 0

    # -- test helpers -------------------------------------------------------

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def issue_token(self) -> str:
        token = uuid.uuid4().hex
        self.enroll_tokens.add(token)
        return token

    def publish(self, kind: str, id: str, data: dict[str, Any]) -> None:
        """Append a change to every device's feed."""
        self.feed.append(Change(kind=kind, id=id, data=data))

    def expire_session(self) -> None:
        self.sessions.clear()

    def sign(self, body: bytes) -> Signed:
        return Signed(body=body, signature=self.key.sign(body), key_id=self.key_id)

    # -- SyncTransport --------------------------------------------------------

    def _link(self) -> None:
        if self.offline:
            raise Offline("fake server: no link")

    def _device(self) -> str:
        self._link()
        device = self.sessions.get(self.token or "")
        if device is None:
            raise ProtocolError("session_expired", 401, "session expired or unknown")
        if device in self.revoked:
            raise ProtocolError("device_revoked", 403, "device revoked")
        return device

    def enroll(self, req: EnrollRequest) -> Enrollment:
        self._link()
        if req.token not in self.enroll_tokens:
            raise ProtocolError("token_invalid", 400, "unknown enrollment token")
        self.enroll_tokens.discard(req.token)
        device_id = f"dev-{len(self.devices) + 1}"
        self.devices[device_id] = req.public_key
        self.heads[device_id] = ChainHead(0, "")
        cert = self.key.sign(certificate_message(device_id, self.engineer_id, req.public_key))
        return Enrollment(
            device_id=device_id,
            engineer_id=self.engineer_id,
            server_public_key=self.public_key,
            server_key_id=self.key_id,
            certificate=cert,
        )

    def challenge(self, device_id: str) -> Challenge:
        self._link()
        nonce = uuid.uuid4().hex
        self.nonces[nonce] = device_id
        return Challenge(device_id=device_id, nonce=nonce, expires_in_s=60)

    def session(self, req: SessionRequest) -> Session:
        self._link()
        if self.nonces.pop(req.nonce, None) != req.device_id or req.device_id not in self.devices:
            raise ProtocolError("unauthorized", 401, "unknown nonce")
        if not verify_detached(self.devices[req.device_id], req.signature, req.nonce.encode()):
            raise ProtocolError("bad_signature", 401, "nonce signature does not verify")
        token = uuid.uuid4().hex
        self.sessions[token] = req.device_id
        offset = req.device_clock - self.server_time() if req.device_clock else 0
        return Session(token=token, expires_in_s=900, server_time=self.server_time(), clock_offset_ms=offset)

    def push(self, envelope: bytes) -> Signed:
        device_id = self._device()
        self.envelopes.append(envelope)
        try:
            signed = open_envelope(envelope)
            verify_signature(signed, self.devices[device_id])
            cs: ChangeSet = decode_changeset(signed, device_id)
        except ChangeSetError as exc:
            raise ProtocolError(exc.code, 400, exc.message) from exc
        body_hash = digest(signed.changeset)
        head = self.heads[device_id]
        verdict = judge_chain(cs.seq, cs.prev_hash, body_hash, head, self.chain.get((device_id, cs.seq)))
        if verdict == "duplicate":
            answer = self.receipts[(device_id, cs.seq)]
        elif verdict in ("gap", "fork"):
            raise ProtocolError(f"chain_{verdict}", 409, f"seq {cs.seq} against head {head.seq}")
        else:
            results = []
            for op in cs.ops:
                self.applied_ops.append(op)
                results.append(self.results(op) or OpResult(op_id=op.op_id, result="applied"))
            offset = cs.device_clock - self.server_time()
            receipt = Receipt(
                protocol_version=PROTOCOL_VERSION,
                device_id=device_id,
                seq=cs.seq,
                changeset_hash=body_hash,
                server_time=self.server_time(),
                clock_offset_ms=offset,
                results=results,
            )
            answer = self.sign(encode(receipt))
            self.heads[device_id] = ChainHead(cs.seq, body_hash)
            self.chain[(device_id, cs.seq)] = body_hash
            self.receipts[(device_id, cs.seq)] = answer
        if self.lose_next_receipt:
            self.lose_next_receipt = False
            raise Offline("fake server: link dropped before the receipt arrived")
        return answer

    def pull(self, req: PullRequest) -> Signed:
        device_id = self._device()
        self.last_device_clock = req.device_clock
        start = int(req.cursor or 0)
        limit = min(req.limit, self.page_size)
        changes = self.feed[start : start + limit]
        end = start + len(changes)
        page = _Page(
            protocol_version=PROTOCOL_VERSION,
            device_id=device_id,
            cursor=str(end),
            more=end < len(self.feed),
            server_time=self.server_time(),
            changes=changes,
        )
        return self.sign(encode(page))

    def blob_status(self, sha256: str) -> BlobStatus | None:
        self._device()
        if sha256 not in self.blobs:
            return None
        return self._blob_status(sha256)

    def _blob_status(self, sha256: str) -> BlobStatus:
        data, size = self.blobs[sha256], self.blob_sizes[sha256]
        complete = len(data) == size and digest(bytes(data)) == sha256
        return BlobStatus(sha256=sha256, size=size, received=len(data), complete=complete)

    def blob_put(self, sha256: str, offset: int, size: int, chunk: bytes) -> BlobStatus:
        self._device()
        data = self.blobs.setdefault(sha256, bytearray())
        self.blob_sizes[sha256] = size
        if offset != len(data):
            raise ProtocolError("bad_offset", 409, f"expected offset {len(data)}")
        data.extend(chunk)
        return self._blob_status(sha256)

    def close(self) -> None:
        return None


def publish_demo_job(server: FakeSyncServer, job_id: str = "job-1", status: str = "assigned") -> None:
    """Publish a job pinned to a three-item checklist, a small catalog and van stock."""
    server.publish(
        "template",
        "boiler@2",
        {
            "id": "boiler",
            "version": 2,
            "name": "Boiler service",
            "items": [
                {"key": "gas_tight", "label": "Gas tightness", "type": "pass_fail", "required": True},
                {
                    "key": "pressure",
                    "label": "Pressure (bar)",
                    "type": "number",
                    "required": True,
                    "min": 0.5,
                    "max": 3.0,
                },
                {"key": "flue", "label": "Flue", "type": "choice", "required": False, "choices": ["ok", "blocked"]},
            ],
        },
    )
    server.publish(
        "part", "P-100", {"part_no": "P-100", "name": "Valve", "serialized": False, "unit_price_cents": 1250}
    )
    server.publish("part", "P-200", {"part_no": "P-200", "name": "Pump", "serialized": True, "unit_price_cents": 9900})
    server.publish("stock", "van-1/P-100", {"location": "van-1", "part_no": "P-100", "qty": 5})
    server.publish(
        "job",
        job_id,
        {
            "id": job_id,
            "ticket_id": "T-1",
            "engineer_id": server.engineer_id,
            "status": status,
            "hold_reason": None,
            "notes": "",
            "diagnosis": "",
            "resolution": "",
            "remote": False,
            "rating": None,
            "customer_comment": None,
            "template_id": "boiler",
            "template_version": 2,
            "scheduled_start": 1_700_000_000_000,
            "scheduled_end": None,
            "signed_off": False,
            "field_hlc": {},
            "ticket": {
                "customer": "ACME",
                "site": "Plant 1",
                "priority": "P2",
                "category": "fault",
                "title": "No heat",
                "asset_serial": "B-77",
            },
        },
    )
