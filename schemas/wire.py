"""Sync protocol messages: change-sets, ops, receipts and pull pages.

Rules kept for schema evolution (see msgspec's schema-evolution guide):
every op has an explicit tag (never the class name), new fields get defaults
and go at the end, and no wire type forbids unknown fields, so an older
tablet keeps talking to a newer server and the other way round.

A change-set is encoded to msgpack once on the tablet, signed, and those exact
bytes travel inside :class:`SignedChangeSet`; the server verifies the
signature over the bytes before it decodes them.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from schemas.records import Record

PROTOCOL_VERSION: Final[int] = 1

OpResultKind = Literal["applied", "merged", "rejected", "needs_review"]
JobField = Literal["notes", "diagnosis", "resolution", "remote", "rating", "customer_comment"]
MoveKind = Literal["issue", "consume", "return_old", "transfer", "adjust"]
AttachmentKind = Literal["photo", "signature", "document"]
DeleteEntity = Literal["answer", "attachment"]
AmendTarget = Literal["answer", "field"]


class _Op(msgspec.Struct, tag_field="type", kw_only=True):
    """Fields every op carries.

    ``op_id`` makes the op idempotent; ``hlc`` is the device's hybrid logical
    clock (milliseconds << 16 | counter) used for ordering; ``at`` is the
    device wall time in epoch milliseconds when the thing happened.
    """

    op_id: str
    hlc: int
    job_id: str
    at: int = 0


class SetStatus(_Op, tag="job.status"):
    """Move a job through the status machine (replayed on the server)."""

    status: str
    hold_reason: str | None = None
    note: str | None = None


class SetField(_Op, tag="job.field"):
    """Set one plain field of a job; per-field last-writer-wins by HLC.

    ``base_hlc`` is the HLC of the value the device overwrote (0 if none): when
    it equals the server's current HLC for the field the write is a causal
    successor, not a conflict.
    """

    field: JobField
    value: str | int | bool | None
    base_hlc: int = 0


class AnswerItem(_Op, tag="checklist.answer"):
    """Answer one checklist item (per-item merge, both answers kept on conflict)."""

    item_key: str
    value: bool | int | float | str | None
    note: str | None = None
    na_reason: str | None = None
    template_version: int = 0
    base_hlc: int = 0


class MovePart(_Op, tag="part.move"):
    """Append one parts-ledger movement (idempotent by ``op_id``).

    ``consume`` takes ``qty`` of ``part_no`` (and ``serial`` for serialized
    parts) from the engineer's van at the job; ``returned_serial`` names the old
    defective part taken back.
    """

    kind: MoveKind
    part_no: str
    qty: int = 1
    serial: str | None = None
    returned_serial: str | None = None
    from_location: str | None = None
    to_location: str | None = None


class SignOff(_Op, tag="signoff"):
    """The customer's signature over the digest of the service-report content.

    ``device_signature`` is the device key's Ed25519 signature over
    ``sign_off_message(job_id, report_digest, signed_at, signer_name)``.
    ``strokes`` are the pen strokes: each a flat list ``[x0, y0, x1, y1, ...]``.
    """

    signer_name: str
    signer_role: str
    signed_at: int
    report_digest: str
    strokes: list[list[int]]
    device_signature: bytes
    rating: int | None = None
    comment: str | None = None


class Attach(_Op, tag="attachment"):
    """Reference a content-addressed blob (photo, signature image) on a job."""

    sha256: str
    kind: AttachmentKind = "photo"
    size: int = 0
    content_type: str = "application/octet-stream"


class Delete(_Op, tag="delete"):
    """Tombstone a record of the job (a checklist answer or an attachment)."""

    entity: DeleteEntity
    key: str


class Amend(_Op, tag="signoff.amend"):
    """An edit of signed content made knowingly: the engineer changed what the customer signed, and why.

    The edit itself is its own op, sent just before (``edit_op_id``: a ``checklist.answer`` for ``target``
    ``answer``, a ``job.field`` for ``field``; ``key`` is the item key or field name, ``value`` what it wrote)
    and merges by its own rule.  This op records the amendment (reason, time, author): the service report
    lists it apart from the signed content, whose signature stays valid for what the customer saw.  A
    tablet refuses a plain edit of signed content; it writes an edit only together with this op.
    """

    edit_op_id: str
    target: AmendTarget
    key: str
    value: str | int | float | bool | None
    reason: str


Op = SetStatus | SetField | AnswerItem | MovePart | SignOff | Attach | Delete | Amend

OP_TYPES: Final[tuple[type, ...]] = (SetStatus, SetField, AnswerItem, MovePart, SignOff, Attach, Delete, Amend)


class ReceivedSignOff(_Op, tag="signoff"):
    """A :class:`SignOff` as the server decodes it: ``strokes`` still the msgpack bytes sent.

    A day's change-set carries thousands of pen points per sign-off.  Decoded into lists up
    front, they were most of a push's decoding time and, living as long as the push, most of
    its garbage-collector work; the server decodes them one sign-off at a time instead
    (:data:`schemas.codec.strokes_decoder`), when it stores them.  Same fields, same order.
    """

    signer_name: str
    signer_role: str
    signed_at: int
    report_digest: str
    strokes: msgspec.Raw
    device_signature: bytes
    rating: int | None = None
    comment: str | None = None


ReceivedOp = SetStatus | SetField | AnswerItem | MovePart | ReceivedSignOff | Attach | Delete | Amend


class ChangeSet(msgspec.Struct, kw_only=True):
    """One signed batch of ops from one device; ``seq`` 1, 2, 3 ... per device.

    ``prev_hash`` is the hex SHA-256 of the previous change-set's bytes (the
    empty string for seq 1), so a device's log is a hash chain.
    ``device_clock`` is the device wall time (epoch ms) when the set was sealed.
    """

    protocol_version: int
    device_id: str
    seq: int
    prev_hash: str
    device_clock: int
    ops: list[Op]


class ReceivedChangeSet(msgspec.Struct, kw_only=True):
    """A :class:`ChangeSet` as the server decodes it (its sign-offs as :class:`ReceivedSignOff`)."""

    protocol_version: int
    device_id: str
    seq: int
    prev_hash: str
    device_clock: int
    ops: list[ReceivedOp]


class SignedChangeSet(msgspec.Struct, kw_only=True):
    """The change-set bytes exactly as signed, with the device's signature."""

    changeset: bytes
    signature: bytes


class OpResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the server did with one op."""

    op_id: str
    result: OpResultKind
    reason: str | None = None
    conflict_id: str | None = None


class Receipt(msgspec.Struct, kw_only=True):
    """The server's answer to a push: a result for every op, in op order."""

    protocol_version: int
    device_id: str
    seq: int
    changeset_hash: str
    server_time: int
    clock_offset_ms: int
    results: list[OpResult]


class Accepted(msgspec.Struct, kw_only=True, tag_field="kind", tag="accepted"):
    """The server holds this change-set's verified bytes durably; its merge follows.

    The answer to a push that asked ``Prefer: respond-async``.  Encoded as a map whose first key is
    ``"kind": "accepted"``; a :class:`Receipt` has no ``kind``, so one is never taken for the other.
    """

    protocol_version: int
    device_id: str
    seq: int
    changeset_hash: str  # hex SHA-256 of the change-set bytes, as in Receipt
    server_time: int  # epoch ms when accepted
    op_count: int


class Signed(msgspec.Struct, kw_only=True):
    """Bytes signed by the server key (receipts, accepted receipts and pull pages)."""

    body: bytes
    signature: bytes
    key_id: str


class PullRequest(msgspec.Struct, kw_only=True):
    """Ask for changes in the device's scope after ``cursor`` ('' = from the start)."""

    cursor: str = ""
    limit: int = 500
    device_clock: int = 0


class PullPage(msgspec.Struct, kw_only=True):
    """One page of records; pull again with ``cursor`` while ``more`` is true.

    ``changes`` holds the records in feed order, each tagged by its ``kind``: job, job_removed,
    answer, template, part, stock, movement, signoff, attachment, conflict, asset, kb (their
    fields: :mod:`schemas.records`).  A tablet skips a kind it does not know.
    """

    protocol_version: int
    device_id: str
    cursor: str
    more: bool
    server_time: int
    changes: list[Record]


class Challenge(msgspec.Struct, kw_only=True):
    """A server nonce the device signs to open a session (clock-independent)."""

    device_id: str
    nonce: str
    expires_in_s: int


class SessionRequest(msgspec.Struct, kw_only=True):
    """Proof of possession of the device key: a signature over the nonce."""

    device_id: str
    nonce: str
    signature: bytes
    device_clock: int = 0


class ServerKeyLink(msgspec.Struct, kw_only=True):
    """One server public key of the rotation chain: the key before it signed it (``key_rotation_message``)."""

    key_id: str
    public_key: bytes
    #: the previous key's Ed25519 signature over ``key_rotation_message(previous, public_key)``; None for the first
    endorsement: bytes | None = None


class Session(msgspec.Struct, kw_only=True):
    """A short-lived device session token (expiry counted in server time).

    ``server_keys`` is every server public key, oldest first: a device trusts its enrolled key and each later
    one endorsed by the key before it, and checks server signatures against those.
    """

    token: str
    expires_in_s: int
    server_time: int
    clock_offset_ms: int
    server_keys: list[ServerKeyLink] = msgspec.field(default_factory=list)


class EnrollRequest(msgspec.Struct, kw_only=True):
    """Register a device public key with a one-time enrollment token."""

    token: str
    public_key: bytes
    name: str = "tablet"
    device_clock: int = 0


class Enrollment(msgspec.Struct, kw_only=True):
    """The server's answer to enrollment: the device id and the server key."""

    device_id: str
    engineer_id: str
    server_public_key: bytes
    server_key_id: str
    certificate: bytes


class BlobStatus(msgspec.Struct, kw_only=True):
    """Upload state of one content-addressed blob on the server (``/v1/blobs/{sha256}``, JSON)."""

    sha256: str
    size: int
    received: int
    complete: bool
