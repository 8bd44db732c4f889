"""What the SDK hands back: the sync report and read-only views of local records.

These are plain msgspec Structs built from the local store on each call;
changing one changes nothing on the tablet (writes go through ``FieldClient``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.domain import ChecklistTemplate
from schemas.wire import Op


class SyncReport(msgspec.Struct, kw_only=True):
    """The outcome of one ``FieldClient.sync()``.

    ``pushed_ops`` counts ops acknowledged by a receipt in this run, split
    into ``applied``, ``merged``, ``rejected`` and ``needs_review``.
    ``offline`` is true when the server could not be reached; whatever was
    done before that point is kept and the rest is retried on the next sync.
    ``errors`` lists problems as ``"code: detail"``; ``clock_offset_ms`` is the
    device-minus-server clock offset the server measured (None when unknown).
    ``accepted_pending`` counts ops the server accepted (safe there, never sent
    again) whose outcomes had not come when the run ended; the next sync fetches them.
    """

    pushed_ops: int = 0
    applied: int = 0
    merged: int = 0
    rejected: int = 0
    needs_review: int = 0
    pulled_changes: int = 0
    uploaded_blobs: int = 0
    offline: bool = False
    errors: list[str] = []
    clock_offset_ms: int | None = None
    accepted_pending: int = 0

    @property
    def ok(self) -> bool:
        """True when the sync ran to the end without being offline or hitting an error."""
        return not self.offline and not self.errors


class LocalJob(msgspec.Struct, kw_only=True):
    """A job as the tablet holds it (server state plus this tablet's unsynced writes)."""

    id: str
    ticket_id: str
    engineer_id: str
    status: str
    hold_reason: str | None
    notes: str
    diagnosis: str
    resolution: str
    remote: bool
    template_id: str | None
    template_version: int | None
    scheduled_start: int | None
    scheduled_end: int | None
    signed_off: bool
    ticket: dict[str, Any]
    times: dict[str, int]
    rating: int | None = None
    customer_comment: str | None = None
    pending_ops: int = 0
    changed_after_signoff: bool = False  # the server says the signed report content changed later


class LocalAnswer(msgspec.Struct, kw_only=True):
    """One checklist answer; ``pending`` while the op that wrote it is unsynced."""

    item_key: str
    value: bool | int | float | str | None
    note: str | None
    na_reason: str | None
    hlc: int
    device_id: str | None
    template_version: int | None
    pending: bool


class LocalMovement(msgspec.Struct, kw_only=True):
    """A parts-ledger movement of a job (``pending`` until the server has it)."""

    id: str
    kind: str
    part_no: str
    qty: int
    serial: str | None
    returned_serial: str | None
    at: int
    billable: bool | None
    pending: bool


class LocalAttachment(msgspec.Struct, kw_only=True):
    """A content-addressed attachment; ``uploaded`` once the server holds the blob."""

    sha256: str
    kind: str
    size: int
    content_type: str
    uploaded: bool
    have_data: bool


class LocalSignOff(msgspec.Struct, kw_only=True):
    """The job's sign-off (write-once)."""

    signer_name: str
    signer_role: str
    signed_at: int
    report_digest: str
    strokes: list[list[int]]
    rating: int | None
    comment: str | None
    pending: bool


class JobDetail(msgspec.Struct, kw_only=True):
    """Everything the tablet knows about one job."""

    job: LocalJob
    answers: list[LocalAnswer]
    parts: list[LocalMovement]
    attachments: list[LocalAttachment]
    signoff: LocalSignOff | None
    template: ChecklistTemplate | None
    missing_required: list[str]


class PendingOp(msgspec.Struct, kw_only=True):
    """An op waiting in the outbox; ``sealed_seq`` is the change-set holding it, if sealed."""

    seq: int
    op_id: str
    job_id: str
    type: str
    op: Op
    sealed_seq: int | None


class OpOutcome(msgspec.Struct, kw_only=True):
    """The server's result for one pushed op, kept after the op leaves the outbox."""

    op_id: str
    job_id: str
    type: str
    result: str
    reason: str | None
    conflict_id: str | None
    changeset_seq: int
    received_at: int
