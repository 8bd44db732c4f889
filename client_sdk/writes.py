"""The SDK's writes: each builds its op, puts it through the shared rules, then stores row and op together.

A write is one staged transaction (:meth:`client_sdk.store.LocalStore.stage`):

1. read what the checks need -- the job, its pinned checklist, the part's
   catalog entry -- from the memo, or through the lookups of
   :mod:`client_sdk.write_sql` on a miss;
2. build the op and run the check the server runs on it
   (:mod:`sync.core.rules`), then what only the tablet can judge from its local
   copy (the status machine from the job's current status, a complete
   checklist before ``completed``, a sign-off being write-once); a refused
   write raises a :class:`~client_sdk.errors.WriteRefused` whose ``reason`` is
   the server's reason and queues nothing;
3. stamp the op with the device HLC, queue the local row and append the op to
   the outbox (:mod:`client_sdk.outbox`): both commit together or not at all.

Each read comes before the first queued row (``WriteTx``: read first, defer
last).  Inside ``FieldClient.batch()`` the queued rows of many writes go to
SQLite in bulk when the batch ends, and the memo keeps a job, its answers'
HLCs, a parsed template and a part's catalog entry between writes.
"""

from __future__ import annotations

import functools
from typing import Final, cast

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client_sdk import outbox, read_sql
from client_sdk.apply import dumps, loads
from client_sdk.clock import Clock
from client_sdk.errors import (
    AlreadySignedOff,
    ChecklistIncomplete,
    InvalidAnswer,
    InvalidAttachment,
    InvalidField,
    InvalidPart,
    InvalidTransition,
    SignedContentLocked,
    UnknownJob,
    WriteRefused,
)
from client_sdk.models import LocalSignOff
from client_sdk.read_sql import answered_keys
from client_sdk.reads import template_of
from client_sdk.service_report import report_content
from client_sdk.store import LocalStore, Row, Tx, WriteTx
from client_sdk.write_sql import (
    AMENDMENT_INSERT,
    ANSWER_UPSERT,
    ATTACHMENT_UPSERT,
    BLOB_INSERT,
    JOB_UPDATE,
    MOVEMENT_INSERT,
    SIGNOFF_INSERT,
    answer_hlcs,
    attached,
    has_signoff,
    job_for_write,
)
from client_sdk.write_sql import part_serialized as catalog_serialized
from schemas.domain import ChecklistItem, ChecklistTemplate
from schemas.rules import REASONS, SIGNABLE_STATUSES, SIGNED_FIELDS
from schemas.status import can_transition
from schemas.wire import (
    Amend,
    AmendTarget,
    AnswerItem,
    Attach,
    AttachmentKind,
    JobField,
    MovePart,
    SetField,
    SetStatus,
    SignOff,
)
from sync.core.changeset import digest
from sync.core.checklist import missing_required
from sync.core.rules import (
    check_amend,
    check_answer,
    check_attach,
    check_field,
    check_move,
    check_signoff,
    check_status,
    check_strokes,
    stroke_shape,
)
from sync.core.signoff import report_digest, sign_off_message

#: a checklist answer's value
Scalar = bool | int | float | str | None
#: a job field's value
FieldValue = str | int | bool | None

_MISSING: Final = object()
_dumps: Final = msgspec.json.Encoder(order="sorted").encode  # bytes of client_sdk.apply.dumps (then .decode())


def _refused(error: type[WriteRefused], reason: str, what: str) -> WriteRefused:
    """``error`` carrying the shared rule's ``reason``, to raise before anything is stored."""
    return error(f"{what}: {REASONS.get(reason.partition(':')[0], reason)} ({reason})", reason)


def _sniff_content_type(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"%PDF"):
        return "application/pdf"
    return "application/octet-stream"


def set_status(
    store: LocalStore, clock: Clock, job_id: str, status: str, hold_reason: str | None = None, note: str | None = None
) -> str:
    """Move a job through the shared status machine; return the op id.

    ``on_hold`` needs ``hold_reason`` (awaiting_parts | awaiting_customer);
    ``completed`` needs every required checklist item answered.
    """
    with store.stage() as tx:
        job = tx.memo.get(("job", job_id)) or _job(tx, job_id)
        current = job["status"]
        now = clock()
        op = SetStatus(
            op_id=outbox.new_op_id(), hlc=0, job_id=job_id, at=now, status=status, hold_reason=hold_reason,
            note=note,
        )
        reason = check_status(op)
        if reason is not None:
            raise _refused(InvalidTransition, reason, f"job {job_id}: status {status!r}")
        if not can_transition(current, status, bool(job["remote"])):  # a remote job may skip the visit
            raise InvalidTransition(f"job {job_id}: {current} -> {status} is not allowed")
        if status == "completed":
            _check_checklist_complete(tx, job)
        op.hlc = outbox.next_hlc(tx, now)
        times = loads(job["times"], {})
        times[status] = now
        outbox.append(tx, op, now, "status")
        changed = {"status": status, "hold_reason": hold_reason, "times": dumps(times), "updated_at": now}
        _put_job(tx, {**job, **changed})
    return op.op_id


def set_field(store: LocalStore, clock: Clock, job_id: str, field: str, value: FieldValue,
              *, amending: bool = False) -> str:
    """Set a plain job field (notes, diagnosis, resolution, remote, rating, customer_comment).

    Once the customer signed, a field of the signed content (``schemas.rules.SIGNED_FIELDS``) changes only
    through :func:`amend` (``amending``); a plain edit raises ``SignedContentLocked``.
    """
    with store.stage() as tx:
        job = tx.memo.get(("job", job_id)) or _job(tx, job_id)
        field_hlc: dict[str, int] = loads(job["field_hlc"], {})
        now = clock()
        op = SetField(
            op_id=outbox.new_op_id(),
            hlc=0,
            job_id=job_id,
            at=now,
            field=cast("JobField", field),  # any name the app passes: check_field refuses the unknown
            value=value,
            base_hlc=int(field_hlc.get(field, 0)),
        )
        reason = check_field(op)
        if reason is not None:
            raise _refused(InvalidField, reason, f"job {job_id}: field {field!r}")
        # the server's checks first (it refuses what they refuse); the lock is the tablet's own
        if field in SIGNED_FIELDS and job["signed_off"] and not amending:
            raise SignedContentLocked(f"job {job_id}: the customer signed; change {field!r} with amend(reason)")
        op.hlc = outbox.next_hlc(tx, now)
        field_hlc[field] = op.hlc
        stored = int(value) if isinstance(value, bool) else value
        outbox.append(tx, op, now, f"field:{field}")
        _put_job(tx, {**job, field: stored, "field_hlc": dumps(field_hlc), "updated_at": now})
    return op.op_id


def answer(
    store: LocalStore,
    clock: Clock,
    job_id: str,
    item_key: str,
    value: Scalar,
    note: str | None = None,
    na_reason: str | None = None,
    *,
    amending: bool = False,
) -> str:
    """Answer a checklist item, validated against the job's pinned template version.

    Once the customer signed, an answer changes only through :func:`amend` (``amending``); a plain edit
    raises ``SignedContentLocked``.
    """
    with store.stage() as tx:
        checklist = tx.memo.get(("checklist", job_id)) or _checklist(tx, job_id, item_key)
        version, items, hlcs = checklist if checklist is not None else (0, None, {})
        now = clock()
        op = AnswerItem(
            op_id=outbox.new_op_id(),
            hlc=0,
            job_id=job_id,
            at=now,
            item_key=item_key,
            value=value,
            note=note,
            na_reason=na_reason,
            template_version=version,
            base_hlc=hlcs.get(item_key, 0),
        )
        reason = check_answer(op, items)
        if reason is not None:
            raise InvalidAnswer(item_key, reason)
        # the server's checks first (it refuses what they refuse); the lock is the tablet's own
        if not amending and _job(tx, job_id)["signed_off"]:
            raise SignedContentLocked(f"job {job_id}: the customer signed; change item {item_key!r} with "
                                      "amend(reason)")
        device = tx.memo.get("device") or outbox.device_state(tx)
        op.hlc = hlc = outbox.next_hlc(tx, now, device)
        row = (job_id, item_key, _dumps(value).decode(), note, na_reason, hlc, device[0], version)
        tx.defer(ANSWER_UPSERT, row)
        outbox.append(tx, op, now, "answer:" + item_key)
        hlcs[item_key] = hlc
    return op.op_id


def use_part(
    store: LocalStore,
    clock: Clock,
    job_id: str,
    part_no: str,
    qty: int = 1,
    serial: str | None = None,
    returned_serial: str | None = None,
) -> str:
    """Record parts consumed from the van at the job; return the op id (the movement id)."""
    with store.stage() as tx:
        if ("job", job_id) not in tx.memo:
            _job(tx, job_id)
        now = clock()
        op = MovePart(
            op_id=outbox.new_op_id(),
            hlc=0,
            job_id=job_id,
            at=now,
            kind="consume",
            part_no=part_no,
            qty=qty,
            serial=serial,
            returned_serial=returned_serial,
        )
        reason = check_move(op, functools.partial(_part_serialized, tx))
        if reason is not None:
            raise _refused(InvalidPart, reason, f"job {job_id}: part {part_no!r} x {qty!r}")
        op.hlc = outbox.next_hlc(tx, now)
        tx.defer(MOVEMENT_INSERT, (op.op_id, part_no, qty, serial, returned_serial, job_id, now))
        outbox.append(tx, op, now, "part:" + op.op_id)
    return op.op_id


def attach(
    store: LocalStore, clock: Clock, job_id: str, data: bytes, kind: str = "photo", content_type: str | None = None
) -> str:
    """Store bytes content-addressed on the tablet and reference them on the job; return the SHA-256.

    The bytes are uploaded resumably during ``sync()``.  Attaching the same
    bytes to the same job again is a no-op.
    """
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise InvalidAttachment("attachment data must be non-empty bytes", "invalid_attachment")
    blob = bytes(data)
    sha = digest(blob)
    ctype = content_type or _sniff_content_type(blob)
    with store.stage() as tx:
        _job(tx, job_id)
        if attached(tx, job_id, sha):
            return sha
        now = clock()
        op = Attach(
            op_id=outbox.new_op_id(),
            hlc=0,
            job_id=job_id,
            at=now,
            sha256=sha,
            kind=cast("AttachmentKind", kind),  # any kind the app passes: check_attach refuses the unknown
            size=len(blob),
            content_type=ctype,
        )
        reason = check_attach(op)
        if reason is not None:
            raise _refused(InvalidAttachment, reason, f"job {job_id}: attachment")
        op.hlc = outbox.next_hlc(tx, now)
        tx.defer(BLOB_INSERT, (sha, len(blob), blob, now))
        tx.defer(ATTACHMENT_UPSERT, (job_id, sha, kind, len(blob), ctype))
        outbox.append(tx, op, now)
    return sha


def sign_off(
    store: LocalStore,
    clock: Clock,
    key: Ed25519PrivateKey,
    job_id: str,
    signer_name: str,
    strokes: list[list[int]],
    signer_role: str = "customer",
    rating: int | None = None,
    comment: str | None = None,
) -> LocalSignOff:
    """Capture the customer's signature over the report content; write-once.

    The digest of the job's report content (:func:`~client_sdk.service_report.report_content`,
    as this transaction sees it) is what the signature confirms; the device ``key``
    countersigns ``sign_off_message(job_id, digest, signed_at, signer_name)``.
    """
    with store.stage() as tx:
        job = _job(tx, job_id)
        content = report_content(tx, job_id)
        digest_hex = report_digest(content)
        now = clock()
        op = SignOff(
            op_id=outbox.new_op_id(),
            hlc=0,
            job_id=job_id,
            at=now,
            signer_name=signer_name,
            signer_role=signer_role,
            signed_at=now,
            report_digest=digest_hex,
            strokes=strokes,
            device_signature=b"",
            rating=rating,
            comment=comment,
        )
        # the op's own fields first, then its strokes: the order the server checks them in
        reason = check_signoff(op) or stroke_shape(strokes) or check_strokes(strokes)
        if reason is not None:
            raise _refused(InvalidField, reason, f"job {job_id}: sign-off")
        if job["signed_off"] or has_signoff(tx, job_id):
            raise AlreadySignedOff(f"job {job_id} is already signed off")
        if job["status"] not in SIGNABLE_STATUSES:
            raise InvalidTransition(f"job {job_id} cannot be signed off while {job['status']}",
                                    "not_signable_in_status")
        op.device_signature = signature = key.sign(sign_off_message(job_id, digest_hex, now, signer_name))
        op.hlc = outbox.next_hlc(tx, now)
        tx.defer(
            SIGNOFF_INSERT,
            (
                job_id,
                signer_name,
                signer_role,
                now,
                digest_hex,
                dumps(strokes),
                signature,
                rating,
                comment,
                msgspec.json.encode(content).decode(),
                op.op_id,
            ),
        )
        status = "signed_off" if can_transition(job["status"], "signed_off") else job["status"]
        outbox.append(tx, op, now)
        _put_job(tx, {**job, "signed_off": 1, "status": status, "updated_at": now})
    return LocalSignOff(
        signer_name=signer_name,
        signer_role=signer_role,
        signed_at=now,
        report_digest=digest_hex,
        strokes=strokes,
        rating=rating,
        comment=comment,
        pending=True,
    )


def amend(
    store: LocalStore,
    clock: Clock,
    job_id: str,
    reason: str,
    *,
    item_key: str | None = None,
    field: str | None = None,
    value: Scalar = None,
    note: str | None = None,
    na_reason: str | None = None,
) -> str:
    """Change signed content knowingly: the edit (an answer or a signed field) and a ``signoff.amend`` op with
    ``reason``, in one transaction.  The customer's signature stays valid for what they signed; the service
    report lists the amendment (reason, time, author).  Returns the amendment's op id.
    """
    if (item_key is None) == (field is None):
        raise InvalidField("amend names one thing: item_key= (a checklist answer) or field= (a job field)",
                           "unknown_amend_target")
    target: AmendTarget = "answer" if item_key is not None else "field"
    key = item_key if item_key is not None else field
    assert key is not None
    now = clock()
    op = Amend(op_id=outbox.new_op_id(), hlc=0, job_id=job_id, at=now, edit_op_id="", target=target, key=key,
               value=value, reason=reason)
    reason_code = check_amend(op)
    if reason_code is not None:
        raise _refused(InvalidField, reason_code, f"job {job_id}: amendment")
    with store.batch():
        if item_key is not None:
            op.edit_op_id = answer(store, clock, job_id, item_key, value, note, na_reason, amending=True)
        else:
            assert field is not None
            if not isinstance(value, float):
                op.edit_op_id = set_field(store, clock, job_id, field, value, amending=True)
            else:
                raise InvalidField(f"job {job_id}: field {field!r} takes no number", "invalid_value")
        with store.stage() as tx:
            if not _job(tx, job_id)["signed_off"]:
                raise InvalidField(f"job {job_id} is not signed: edit it directly, no amendment needed",
                                   "not_signed")
            device = read_sql.device_row(tx.raw)
            op.hlc = outbox.next_hlc(tx, now)
            tx.defer(AMENDMENT_INSERT, (op.op_id, job_id, op.edit_op_id, target, key, _dumps(value).decode(), reason,
                                        now, device["engineer_id"] or "", device["device_id"] or ""))
            outbox.append(tx, op, now)
    return op.op_id


# -- what a staged write reads: the memo first, the store on a miss ---------------------------------


def _check_checklist_complete(tx: Tx, job: Row) -> None:
    """``ChecklistIncomplete`` unless every required item of the job's pinned template is answered."""
    if job["template_id"] is None:
        return
    template = template_of(tx, job["template_id"], job["template_version"])
    if template is None:
        raise InvalidTransition(
            f"checklist {job['template_id']} v{job['template_version']} is not on this tablet: sync first"
        )
    missing = missing_required(template, answered_keys(tx, job["id"]))
    if missing:
        raise ChecklistIncomplete(job["id"], missing)


def _job(tx: WriteTx, job_id: str) -> Row:
    """The job's row (:data:`~client_sdk.write_sql.WRITE_JOB_COLUMNS`) as this transaction or batch has left it."""
    job: Row | None = tx.memo.get(("job", job_id))
    if job is None:
        job = job_for_write(tx.raw, job_id)
        if job is None:
            raise UnknownJob(f"no job {job_id!r} on this tablet")
        tx.memo["job", job_id] = job
    return job


def _put_job(tx: WriteTx, job: Row) -> None:
    """Write a changed job row: kept in the memo, one full-row UPDATE per job when the batch flushes."""
    tx.defer(
        JOB_UPDATE,
        (
            job["status"], job["hold_reason"], job["times"], job["notes"], job["diagnosis"], job["resolution"],
            job["remote"], job["rating"], job["customer_comment"], job["field_hlc"], job["signed_off"],
            job["updated_at"], job["id"],
        ),
        job["id"],
    )
    tx.memo["job", job["id"]] = job


Checklist = tuple[int, dict[str, ChecklistItem], dict[str, int]]


def _checklist(tx: WriteTx, job_id: str, item_key: str) -> Checklist | None:
    """What an answer to the job is checked against and stamped with, kept in the memo under one key.

    ``(template version, its items by key, HLC of each local answer of the job)``;
    the HLCs are the ``base_hlc`` of the next answer to each item and follow the
    job's answers as staged writes add them.  None when the job has no checklist.  Raises
    ``UnknownJob``, or ``InvalidAnswer`` naming ``item_key`` when the job's template is not on the tablet.
    The job's template pin changes only through a pull or a direct write, which drop the memo.
    """
    job = _job(tx, job_id)
    template_id = job["template_id"]
    if template_id is None:
        return None
    pinned = _pinned_template(tx, template_id, job["template_version"])
    if pinned is None:
        raise InvalidAnswer(item_key, "template_not_on_tablet")
    template, items = pinned
    found: Checklist = (template.version, items, answer_hlcs(tx.raw, job_id))
    tx.memo["checklist", job_id] = found
    return found


def _pinned_template(
    tx: WriteTx, template_id: str, version: int | None
) -> tuple[ChecklistTemplate, dict[str, ChecklistItem]] | None:
    """A template version with its items by key, parsed once per transaction or batch."""
    key = ("template", template_id, version)
    found = tx.memo.get(key, _MISSING)
    if found is _MISSING:
        template = template_of(tx.raw, template_id, version)
        found = tx.memo[key] = None if template is None else (template, {i.key: i for i in reversed(template.items)})
    return cast("tuple[ChecklistTemplate, dict[str, ChecklistItem]] | None", found)


def _part_serialized(tx: WriteTx, part_no: str) -> bool | None:
    """Whether a catalog part is serialized (None: not in the catalog on this tablet)."""
    serialized = tx.memo.get(("part", part_no), _MISSING)
    if serialized is _MISSING:
        serialized = tx.memo["part", part_no] = catalog_serialized(tx.raw, part_no)
    return cast("bool | None", serialized)
