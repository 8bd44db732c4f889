"""``FieldClient``: the tablet facade over the local store, the outbox and the sync loop.

Every write method is one local SQLite transaction that validates against the
local copy (the shared status machine, the pinned checklist template), updates
the local row and appends its op to the outbox.  Each op is built first and put
through the same checks the server runs on it (:mod:`sync.core.rules`): a
refused write raises a :class:`~client_sdk.errors.WriteRefused` whose
``reason`` is the server's reason, and leaves the store untouched.
Reads return fresh msgspec Structs (:mod:`client_sdk.models`).

A client is meant for one thread; open one per process and close it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, Final, cast

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client_sdk import lifecycle, outbox
from client_sdk.apply import dumps, loads
from client_sdk.content import build_report_content
from client_sdk.errors import (
    AlreadyEnrolled,
    AlreadySignedOff,
    ChecklistIncomplete,
    EnrollmentFailed,
    InvalidAnswer,
    InvalidAttachment,
    InvalidField,
    InvalidPart,
    InvalidTransition,
    NotEnrolled,
    SdkError,
    UnknownJob,
    WriteRefused,
)
from client_sdk.keys import dump_private_key, generate_key, load_private_key, public_bytes
from client_sdk.models import (
    JobDetail,
    LocalAnswer,
    LocalAttachment,
    LocalJob,
    LocalMovement,
    LocalSignOff,
    OpOutcome,
    PendingOp,
    SyncReport,
)
from client_sdk.store import LocalStore, Row, Tx, WriteTx
from client_sdk.syncer import ProgressFn, SyncLoop
from schemas.domain import ChecklistItem, ChecklistTemplate, Conflict, Part, StockLevel
from schemas.enrollment_link import enrollment_token
from schemas.report import ReportContent
from schemas.rules import REASONS, SIGNABLE_STATUSES
from schemas.status import can_transition
from schemas.wire import (
    AnswerItem,
    Attach,
    EnrollRequest,
    MovePart,
    SetField,
    SetStatus,
    SignOff,
)
from sync.core.changeset import digest
from sync.core.checklist import missing_required
from sync.core.rules import (
    check_answer,
    check_attach,
    check_field,
    check_move,
    check_signoff,
    check_status,
    check_strokes,
    stroke_shape,
)
from sync.core.signoff import certificate_message, report_digest, sign_off_message, verify_signature
from sync.transport.base import Offline, ProtocolError, SyncTransport, TransportError
from sync.transport.http import HttpTransport

Clock = Callable[[], int]
Scalar = bool | int | float | str | None
FieldValue = str | int | bool | None

DEFAULT_SERVER: Final = "http://127.0.0.1:8000"


def _refused(error: type[WriteRefused], reason: str, what: str) -> WriteRefused:
    """``error`` carrying the shared rule's ``reason``, to raise before anything is stored."""
    return error(f"{what}: {REASONS.get(reason.partition(':')[0], reason)} ({reason})", reason)


def system_clock() -> int:
    """Device wall time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def _sniff_content_type(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"%PDF"):
        return "application/pdf"
    return "application/octet-stream"


class FieldClient:
    """The field engineer's tablet: local jobs, offline writes, and sync with the server."""

    def __init__(
        self,
        store: LocalStore,
        transport: SyncTransport,
        *,
        passphrase: str | bytes | None = None,
        clock: Clock | None = None,
        device_name: str = "tablet",
    ) -> None:
        self._store = store
        self._transport = transport
        self._passphrase = passphrase
        self._clock: Clock = clock or system_clock
        self._device_name = device_name
        self._key: Ed25519PrivateKey | None = None
        device = store.read.one("SELECT private_key FROM device WHERE id = 1")
        if device is not None and device["private_key"]:
            self._key = load_private_key(device["private_key"], passphrase)

    @classmethod
    def open(
        cls,
        path: str | Path,
        server_url: str = DEFAULT_SERVER,
        *,
        passphrase: str | bytes | None = None,
        clock: Clock | None = None,
        transport: SyncTransport | httpx.BaseTransport | httpx.AsyncBaseTransport | httpx.Client | None = None,
        device_name: str = "tablet",
    ) -> FieldClient:
        """Open (creating and migrating) the tablet database at ``path``.

        ``passphrase`` encrypts the device key at rest (and must be given again
        on every open; a wrong one raises ``BadPassphrase``).  ``clock`` returns
        device wall time in epoch ms.  ``transport`` swaps the network: a
        :class:`SyncTransport`, an httpx transport (``httpx.ASGITransport(app)``
        for in-process tests) or a ready ``httpx.Client``.
        """
        store = LocalStore(path)
        if transport is None or isinstance(transport, httpx.BaseTransport | httpx.AsyncBaseTransport):
            sync_transport: SyncTransport = HttpTransport(server_url, transport=transport)
        elif isinstance(transport, httpx.Client):
            sync_transport = HttpTransport(server_url, client=transport)
        else:
            sync_transport = transport
        try:
            return cls(store, sync_transport, passphrase=passphrase, clock=clock, device_name=device_name)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Close the network client and the database file."""
        self._transport.close()
        self._store.close()

    def __enter__(self) -> FieldClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- identity ----------------------------------------------------------

    @property
    def enrolled(self) -> bool:
        """True once the device holds an identity registered with the server."""
        return self._key is not None

    @property
    def device_id(self) -> str | None:
        """The server-assigned device id (None before enrollment)."""
        value = self._store.read.scalar("SELECT device_id FROM device WHERE id = 1")
        return None if value is None else str(value)

    @property
    def engineer_id(self) -> str | None:
        """The engineer this tablet belongs to (None before enrollment)."""
        value = self._store.read.scalar("SELECT engineer_id FROM device WHERE id = 1")
        return None if value is None else str(value)

    def enroll(self, token: str, name: str | None = None) -> str:
        """Register a key made on this device with a one-time token; return the device id.

        ``token`` is the bare token or the console's enrollment link
        (``<server>/tablet/#/enroll?token=...``, URL-encoded).  Raises ``AlreadyEnrolled``, or
        ``EnrollmentFailed`` whose ``code`` is the server's problem code (``token_used`` ...),
        ``offline`` or ``invalid_link``.
        """
        if self.enrolled:
            raise AlreadyEnrolled(f"this tablet is already enrolled as device {self.device_id}")
        try:
            token = enrollment_token(token)
        except ValueError as exc:
            raise EnrollmentFailed("invalid_link", str(exc)) from exc
        key = generate_key()
        public = public_bytes(key)
        request = EnrollRequest(
            token=token, public_key=public, name=name or self._device_name, device_clock=self._clock()
        )
        try:
            enrollment = self._transport.enroll(request)
        except Offline as exc:
            raise EnrollmentFailed("offline", str(exc)) from exc
        except ProtocolError as exc:
            raise EnrollmentFailed(exc.code, exc.detail) from exc
        except TransportError as exc:
            raise EnrollmentFailed("transport_error", str(exc)) from exc
        cert = certificate_message(enrollment.device_id, enrollment.engineer_id, public)
        if not verify_signature(enrollment.server_public_key, enrollment.certificate, cert):
            raise EnrollmentFailed("bad_certificate", "the server's certificate of the device key does not verify")
        with self._store.write() as tx:
            tx.execute(
                "UPDATE device SET device_id = ?, engineer_id = ?, name = ?, private_key = ?, key_encrypted = ?, "
                "public_key = ?, server_public_key = ?, server_key_id = ?, certificate = ?, enrolled_at = ? "
                "WHERE id = 1",
                (
                    enrollment.device_id,
                    enrollment.engineer_id,
                    request.name,
                    dump_private_key(key, self._passphrase),
                    int(bool(self._passphrase)),
                    public,
                    enrollment.server_public_key,
                    enrollment.server_key_id,
                    enrollment.certificate,
                    self._clock(),
                ),
            )
        self._key = key
        return enrollment.device_id

    # -- sync --------------------------------------------------------------

    def sync(self, progress: ProgressFn | None = None) -> SyncReport:
        """Push the outbox, upload blobs, pull changes.  Offline returns ``offline=True``; never raises for it."""
        if self._key is None:
            raise NotEnrolled("enroll(token) before sync()")
        if self._store.in_batch:
            raise SdkError("sync() inside batch(): end the batch first so its writes are committed")
        return SyncLoop(self._store, self._transport, self._key, self._clock).run(progress)

    def batch(self) -> AbstractContextManager[None]:
        """Group many writes in one local transaction (one disk flush instead of one per write).

        ``with client.batch(): ...`` -- each write still validates and raises
        as usual (a refused write is undone alone); the writes commit together
        when the block ends, or none of them if it raises.  Don't ``sync()``
        inside a batch.
        """
        return self._store.batch()

    # -- reads -------------------------------------------------------------

    def jobs(self) -> list[LocalJob]:
        """The jobs on this tablet, by scheduled start."""
        rows = self._store.read.query(
            "SELECT j.*, (SELECT COUNT(*) FROM outbox o WHERE o.job_id = j.id) AS pending_ops FROM jobs j "
            "ORDER BY COALESCE(j.scheduled_start, 0), j.id"
        )
        return [_local_job(r) for r in rows]

    def job(self, job_id: str) -> JobDetail:
        """One job with its answers, parts, attachments, sign-off and pinned template."""
        read = self._store.read
        row = read.one(
            "SELECT j.*, (SELECT COUNT(*) FROM outbox o WHERE o.job_id = j.id) AS pending_ops FROM jobs j "
            "WHERE j.id = ?",
            (job_id,),
        )
        if row is None:
            raise UnknownJob(f"no job {job_id!r} on this tablet")
        pending = outbox.pending_keys(read, job_id)
        answers = [
            LocalAnswer(
                item_key=a["item_key"],
                value=loads(a["value"]),
                note=a["note"],
                na_reason=a["na_reason"],
                hlc=a["hlc"],
                device_id=a["device_id"],
                template_version=a["template_version"],
                pending=f"answer:{a['item_key']}" in pending,
            )
            for a in read.query("SELECT * FROM answers WHERE job_id = ? AND deleted = 0 ORDER BY item_key", (job_id,))
        ]
        parts = [
            LocalMovement(
                id=m["id"],
                kind=m["kind"],
                part_no=m["part_no"],
                qty=m["qty"],
                serial=m["serial"],
                returned_serial=m["returned_serial"],
                at=m["at"],
                billable=None if m["billable"] is None else bool(m["billable"]),
                pending=bool(m["local"]),
            )
            for m in read.query("SELECT * FROM movements WHERE job_id = ? ORDER BY at, id", (job_id,))
        ]
        attachments = [
            LocalAttachment(
                sha256=a["sha256"],
                kind=a["kind"],
                size=a["size"],
                content_type=a["content_type"],
                uploaded=bool(a["uploaded"]),
                have_data=a["have_data"] is not None,
            )
            for a in read.query(
                "SELECT a.*, b.uploaded AS uploaded, b.sha256 AS have_data FROM attachments a "
                "LEFT JOIN blobs b ON b.sha256 = a.sha256 WHERE a.job_id = ? AND a.deleted = 0 ORDER BY a.sha256",
                (job_id,),
            )
        ]
        # A pulled attachment without local bytes is on the server already.
        attachments = [msgspec.structs.replace(a, uploaded=True) if not a.have_data else a for a in attachments]
        so = read.one("SELECT * FROM signoffs WHERE job_id = ?", (job_id,))
        signoff = (
            None
            if so is None
            else LocalSignOff(
                signer_name=so["signer_name"],
                signer_role=so["signer_role"],
                signed_at=so["signed_at"],
                report_digest=so["report_digest"],
                strokes=loads(so["strokes"], []),
                rating=so["rating"],
                comment=so["comment"],
                pending="signoff" in pending,
            )
        )
        template = self._template(read, row["template_id"], row["template_version"])
        missing = missing_required(template, self._answered(read, job_id)) if template is not None else []
        return JobDetail(
            job=_local_job(row),
            answers=answers,
            parts=parts,
            attachments=attachments,
            signoff=signoff,
            template=template,
            missing_required=missing,
        )

    def pending(self) -> list[PendingOp]:
        """Ops not yet acknowledged by the server, in write order."""
        return [
            PendingOp(
                seq=r["seq"],
                op_id=r["op_id"],
                job_id=r["job_id"],
                type=r["type"],
                op=outbox.decode(r["body"]),
                sealed_seq=r["sealed_seq"],
            )
            for r in self._store.read.query("SELECT * FROM outbox ORDER BY seq")
        ]

    def conflicts(self, status: str | None = None) -> list[Conflict]:
        """Review items the server raised on this tablet's jobs (optionally by status)."""
        sql = "SELECT * FROM conflicts"
        params: tuple[str, ...] = ()
        if status is not None:
            sql, params = sql + " WHERE status = ?", (status,)
        out = []
        for r in self._store.read.query(sql + " ORDER BY id", params):
            applied = loads(r["applied"], {})
            out.append(
                Conflict(
                    id=r["id"],
                    kind=r["kind"],
                    job_id=r["job_id"],
                    key=r["key"],
                    status=r["status"],
                    values=loads(r["vals"], []),
                    applied=applied if isinstance(applied, dict) else {"index": applied},
                    resolution=loads(r["resolution"], {}),
                )
            )
        return out

    def op_results(self, result: str | None = None) -> list[OpOutcome]:
        """The server's results for pushed ops, e.g. ``op_results("rejected")``."""
        sql = "SELECT * FROM op_results"
        params: tuple[str, ...] = ()
        if result is not None:
            sql, params = sql + " WHERE result = ?", (result,)
        rows = self._store.read.query(sql + " ORDER BY changeset_seq, received_at, op_id", params)
        return [msgspec.convert(r, OpOutcome) for r in rows]

    def parts(self) -> list[Part]:
        """The parts catalog as last pulled."""
        rows = self._store.read.query("SELECT * FROM parts ORDER BY part_no")
        return [
            Part(
                part_no=r["part_no"],
                name=r["name"],
                serialized=bool(r["serialized"]),
                unit_price_cents=r["unit_price_cents"],
            )
            for r in rows
        ]

    def stock(self) -> list[StockLevel]:
        """Van stock: the server's figure minus consumptions still waiting in the outbox."""
        read = self._store.read
        levels = {(r["location"], r["part_no"]): int(r["qty"]) for r in read.query("SELECT * FROM stock")}
        van = next(iter(sorted({loc for loc, _ in levels})), None)
        if van is not None:
            for r in read.query(
                "SELECT m.part_no, SUM(m.qty) AS qty FROM movements m JOIN outbox o ON o.op_id = m.id "
                "WHERE m.kind = 'consume' GROUP BY m.part_no"
            ):
                levels[(van, r["part_no"])] = levels.get((van, r["part_no"]), 0) - int(r["qty"])
        return [StockLevel(location=loc, part_no=p, qty=q) for (loc, p), q in sorted(levels.items())]

    def asset(self, serial: str) -> lifecycle.LocalAsset | None:
        """The asset of an assigned job with its last service visits (None when not on this tablet)."""
        return lifecycle.local_asset(self._store.read, serial, self._clock())

    def search_kb(self, words: str, model: str | None = None, limit: int = 20) -> list[lifecycle.KbCase]:
        """Offline search of the solved cases synced for this tablet's jobs: every word must match."""
        return lifecycle.search(self._store.read, words, model, max(1, min(limit, 200)))

    def template(self, template_id: str, version: int) -> ChecklistTemplate | None:
        """A pulled checklist template version, if on the tablet."""
        return self._template(self._store.read, template_id, version)

    def report_content(self, job_id: str) -> ReportContent:
        """What a sign-off of ``job_id`` would digest, from local state."""
        return build_report_content(self._store.read, job_id)

    def service_report(self, job_id: str, path: str | Path) -> Path:
        """Write the signed service report of ``job_id`` as a PDF sealed by the device key; return its path.

        The PDF embeds the sign-off bundle (content, digest, signature, the
        server's certificate of this device key), so ``fieldsync verify`` checks
        it offline.  Raises ``SdkError`` when the job has no sign-off yet.
        """
        from client_sdk.errors import SdkError
        from schemas.report import SignOffBundle
        from sync.report_pdf import render_report_pdf

        if self._key is None:
            raise NotEnrolled("a service report is sealed by the device key: enroll first")
        read = self._store.read
        job = read.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if job is None:
            raise UnknownJob(f"no job {job_id!r} on this tablet")
        so = read.one("SELECT * FROM signoffs WHERE job_id = ?", (job_id,))
        if so is None or not so["content"] or so["device_signature"] is None:
            raise SdkError(f"job {job_id} has no sign-off captured on this tablet: sign_off() first")
        dev = read.one("SELECT * FROM device WHERE id = 1")
        assert dev is not None
        bundle = SignOffBundle(
            content=msgspec.json.decode(so["content"], type=ReportContent),
            report_digest=so["report_digest"],
            signer_name=so["signer_name"],
            signer_role=so["signer_role"],
            signed_at=so["signed_at"],
            strokes=loads(so["strokes"], []),
            device_id=dev["device_id"],
            device_public_key=bytes(dev["public_key"]),
            device_signature=bytes(so["device_signature"]),
            server_public_key=bytes(dev["server_public_key"] or b""),
            certificate=bytes(dev["certificate"] or b""),
        )
        ticket = loads(job["ticket"], {})
        details = {k.replace("_", " ").capitalize(): str(ticket[k])
                   for k in ("customer", "site", "title", "asset_serial") if ticket.get(k)}
        pdf = render_report_pdf(bundle, self._key, "device", details=details, generated_at=self._clock())
        out = Path(path)
        tmp = out.with_name(out.name + ".part")
        tmp.write_bytes(pdf)
        tmp.replace(out)
        return out

    # -- writes ------------------------------------------------------------

    def set_status(self, job_id: str, status: str, hold_reason: str | None = None, note: str | None = None) -> str:
        """Move a job through the shared status machine; return the op id.

        ``on_hold`` needs ``hold_reason`` (awaiting_parts | awaiting_customer);
        ``completed`` needs every required checklist item answered.
        """
        with self._store.stage() as tx:
            job = tx.memo.get(("job", job_id)) or _job(tx, job_id)
            current = job["status"]
            now = self._clock()
            op = SetStatus(
                op_id=outbox.new_op_id(), hlc=0, job_id=job_id, at=now, status=status, hold_reason=hold_reason,
                note=note,
            )
            reason = check_status(op)
            if reason is not None:
                raise _refused(InvalidTransition, reason, f"job {job_id}: status {status!r}")
            if not can_transition(current, status):
                raise InvalidTransition(f"job {job_id}: {current} -> {status} is not allowed")
            if status == "completed":
                self._check_checklist_complete(tx, job)
            op.hlc = outbox.next_hlc(tx, now)
            times = loads(job["times"], {})
            times[status] = now
            outbox.append(tx, op, now, "status")
            changed = {"status": status, "hold_reason": hold_reason, "times": dumps(times), "updated_at": now}
            _put_job(tx, {**job, **changed})
        return op.op_id

    def set_field(self, job_id: str, field: str, value: FieldValue) -> str:
        """Set a plain job field (notes, diagnosis, resolution, remote, rating, customer_comment)."""
        with self._store.stage() as tx:
            job = tx.memo.get(("job", job_id)) or _job(tx, job_id)
            field_hlc: dict[str, int] = loads(job["field_hlc"], {})
            now = self._clock()
            op = SetField(
                op_id=outbox.new_op_id(),
                hlc=0,
                job_id=job_id,
                at=now,
                field=field,  # type: ignore[arg-type]
                value=value,
                base_hlc=int(field_hlc.get(field, 0)),
            )
            reason = check_field(op)
            if reason is not None:
                raise _refused(InvalidField, reason, f"job {job_id}: field {field!r}")
            op.hlc = outbox.next_hlc(tx, now)
            field_hlc[field] = op.hlc
            stored = int(value) if isinstance(value, bool) else value
            outbox.append(tx, op, now, f"field:{field}")
            _put_job(tx, {**job, field: stored, "field_hlc": dumps(field_hlc), "updated_at": now})
        return op.op_id

    def answer(
        self,
        job_id: str,
        item_key: str,
        value: Scalar,
        note: str | None = None,
        na_reason: str | None = None,
    ) -> str:
        """Answer a checklist item, validated against the job's pinned template version."""
        with self._store.stage() as tx:
            checklist = tx.memo.get(("checklist", job_id)) or _checklist(tx, job_id, item_key)
            version, items, hlcs = checklist if checklist is not None else (0, None, {})
            now = self._clock()
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
            device = tx.memo.get("device") or outbox.device_state(tx)
            op.hlc = hlc = outbox.next_hlc(tx, now, device)
            row = (job_id, item_key, _dumps(value).decode(), note, na_reason, hlc, device[0], version)
            tx.defer(ANSWER_UPSERT, row)
            outbox.append(tx, op, now, "answer:" + item_key)
            hlcs[item_key] = hlc
        return op.op_id

    def use_part(
        self,
        job_id: str,
        part_no: str,
        qty: int = 1,
        serial: str | None = None,
        returned_serial: str | None = None,
    ) -> str:
        """Record parts consumed from the van at the job; return the op id (the movement id)."""
        with self._store.stage() as tx:
            if ("job", job_id) not in tx.memo:
                _job(tx, job_id)
            now = self._clock()
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

    def attach(self, job_id: str, data: bytes, kind: str = "photo", content_type: str | None = None) -> str:
        """Store bytes content-addressed on the tablet and reference them on the job; return the SHA-256.

        The bytes are uploaded resumably during ``sync()``.  Attaching the same
        bytes to the same job again is a no-op.
        """
        if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
            raise InvalidAttachment("attachment data must be non-empty bytes", "invalid_attachment")
        blob = bytes(data)
        sha = digest(blob)
        ctype = content_type or _sniff_content_type(blob)
        with self._store.stage() as tx:
            _job(tx, job_id)
            existing = tx.one("SELECT deleted FROM attachments WHERE job_id = ? AND sha256 = ?", (job_id, sha))
            if existing is not None and not existing["deleted"]:
                return sha
            now = self._clock()
            op = Attach(
                op_id=outbox.new_op_id(),
                hlc=0,
                job_id=job_id,
                at=now,
                sha256=sha,
                kind=kind,  # type: ignore[arg-type]
                size=len(blob),
                content_type=ctype,
            )
            reason = check_attach(op)
            if reason is not None:
                raise _refused(InvalidAttachment, reason, f"job {job_id}: attachment")
            op.hlc = outbox.next_hlc(tx, now)
            tx.defer(
                "INSERT OR IGNORE INTO blobs (sha256, size, data, uploaded, created_at) VALUES (?, ?, ?, 0, ?)",
                (sha, len(blob), blob, now),
            )
            tx.defer(
                "INSERT OR REPLACE INTO attachments (job_id, sha256, kind, size, content_type, deleted) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                (job_id, sha, kind, len(blob), ctype),
            )
            outbox.append(tx, op, now)
        return sha

    def blob(self, sha256: str) -> bytes | None:
        """The bytes of a locally held attachment."""
        data = self._store.read.scalar("SELECT data FROM blobs WHERE sha256 = ?", (sha256,))
        return None if data is None else bytes(data)

    def sign_off(
        self,
        job_id: str,
        signer_name: str,
        strokes: list[list[int]],
        signer_role: str = "customer",
        rating: int | None = None,
        comment: str | None = None,
    ) -> LocalSignOff:
        """Capture the customer's signature over the report content; write-once.

        The digest of :meth:`report_content` is what the signature confirms; the
        device key countersigns ``sign_off_message(job_id, digest, signed_at, signer_name)``.
        """
        if self._key is None:
            raise NotEnrolled("a sign-off is countersigned by the device key: enroll first")
        with self._store.stage() as tx:
            job = _job(tx, job_id)
            content = build_report_content(tx, job_id)
            digest_hex = report_digest(content)
            now = self._clock()
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
            if job["signed_off"] or tx.one("SELECT 1 FROM signoffs WHERE job_id = ?", (job_id,)):
                raise AlreadySignedOff(f"job {job_id} is already signed off")
            if job["status"] not in SIGNABLE_STATUSES:
                raise InvalidTransition(f"job {job_id} cannot be signed off while {job['status']}",
                                        "not_signable_in_status")
            op.device_signature = signature = self._key.sign(sign_off_message(job_id, digest_hex, now, signer_name))
            op.hlc = outbox.next_hlc(tx, now)
            tx.defer(
                "INSERT INTO signoffs (job_id, signer_name, signer_role, signed_at, report_digest, strokes, "
                "device_signature, rating, comment, content, op_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    # -- helpers -----------------------------------------------------------

    @staticmethod
    def _template(tx: Tx, template_id: str | None, version: int | None) -> ChecklistTemplate | None:
        if template_id is None or version is None:
            return None
        row = tx.one("SELECT * FROM templates WHERE id = ? AND version = ?", (template_id, version))
        if row is None:
            return None
        return msgspec.convert(
            {"id": row["id"], "version": row["version"], "name": row["name"], "items": loads(row["items"], [])},
            ChecklistTemplate,
        )

    @staticmethod
    def _answered(tx: Tx, job_id: str) -> list[str]:
        return [
            r["item_key"]
            for r in tx.query(
                "SELECT item_key FROM answers WHERE job_id = ? AND deleted = 0 "
                "AND (value IS NOT NULL AND value != 'null' OR na_reason IS NOT NULL)",
                (job_id,),
            )
        ]

    def _check_checklist_complete(self, tx: Tx, job: Row) -> None:
        if job["template_id"] is None:
            return
        template = self._template(tx, job["template_id"], job["template_version"])
        if template is None:
            raise InvalidTransition(
                f"checklist {job['template_id']} v{job['template_version']} is not on this tablet: sync first"
            )
        missing = missing_required(template, self._answered(tx, job["id"]))
        if missing:
            raise ChecklistIncomplete(job["id"], missing)


# -- what a staged write reads and writes (see store.WriteTx: read from the memo, defer row writes) --------

JOB_UPDATE: Final = (
    "UPDATE jobs SET status = ?, hold_reason = ?, times = ?, notes = ?, diagnosis = ?, resolution = ?, remote = ?, "
    "rating = ?, customer_comment = ?, field_hlc = ?, signed_off = ?, updated_at = ? WHERE id = ?"
)
ANSWER_UPSERT: Final = (
    "INSERT OR REPLACE INTO answers (job_id, item_key, value, note, na_reason, hlc, device_id, template_version, "
    "deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)"
)
MOVEMENT_INSERT: Final = (
    "INSERT INTO movements (id, kind, part_no, qty, serial, returned_serial, job_id, at, local) "
    "VALUES (?, 'consume', ?, ?, ?, ?, ?, ?, 1)"
)
_MISSING: Final = object()


#: the job columns a write reads or writes (what the memo keeps of a job: not its ticket snapshot)
WRITE_JOB_COLUMNS: Final = (
    "id", "status", "hold_reason", "times", "notes", "diagnosis", "resolution", "remote", "rating",
    "customer_comment", "field_hlc", "signed_off", "updated_at", "template_id", "template_version",
)
_JOB_SELECT: Final = f"SELECT {', '.join(WRITE_JOB_COLUMNS)} FROM jobs WHERE id = ?"
_dumps: Final = msgspec.json.Encoder(order="sorted").encode  # bytes of client_sdk.apply.dumps (then .decode())


def _job(tx: WriteTx, job_id: str) -> Row:
    """The job's row (:data:`WRITE_JOB_COLUMNS`) as this transaction or batch has left it."""
    job: Row | None = tx.memo.get(("job", job_id))
    if job is None:
        row = tx.raw.conn.execute(_JOB_SELECT, (job_id,)).fetchone()
        if row is None:
            raise UnknownJob(f"no job {job_id!r} on this tablet")
        job = tx.memo["job", job_id] = dict(zip(WRITE_JOB_COLUMNS, row, strict=True))
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
    rows = tx.raw.conn.execute("SELECT item_key, hlc FROM answers WHERE job_id = ?", (job_id,)).fetchall()
    found: Checklist = (template.version, items, {k: int(h or 0) for k, h in rows})
    tx.memo["checklist", job_id] = found
    return found


def _pinned_template(
    tx: WriteTx, template_id: str, version: int | None
) -> tuple[ChecklistTemplate, dict[str, ChecklistItem]] | None:
    """A template version with its items by key, parsed once per transaction or batch."""
    key = ("template", template_id, version)
    found = tx.memo.get(key, _MISSING)
    if found is _MISSING:
        template = FieldClient._template(tx.raw, template_id, version)
        found = tx.memo[key] = None if template is None else (template, {i.key: i for i in reversed(template.items)})
    return cast("tuple[ChecklistTemplate, dict[str, ChecklistItem]] | None", found)


def _part_serialized(tx: WriteTx, part_no: str) -> bool | None:
    """Whether a catalog part is serialized (None: not in the catalog on this tablet)."""
    serialized = tx.memo.get(("part", part_no), _MISSING)
    if serialized is _MISSING:
        value = tx.raw.scalar("SELECT serialized FROM parts WHERE part_no = ?", (part_no,))
        serialized = tx.memo["part", part_no] = None if value is None else bool(value)
    return cast("bool | None", serialized)


def _local_job(r: dict[str, Any]) -> LocalJob:
    return LocalJob(
        id=r["id"],
        ticket_id=r["ticket_id"],
        engineer_id=r["engineer_id"],
        status=r["status"],
        hold_reason=r["hold_reason"],
        notes=r["notes"],
        diagnosis=r["diagnosis"],
        resolution=r["resolution"],
        remote=bool(r["remote"]),
        template_id=r["template_id"],
        template_version=r["template_version"],
        scheduled_start=r["scheduled_start"],
        scheduled_end=r["scheduled_end"],
        signed_off=bool(r["signed_off"]),
        changed_after_signoff=bool(r["changed_after_signoff"]),
        ticket=loads(r["ticket"], {}),
        times=loads(r["times"], {}),
        rating=r["rating"],
        customer_comment=r["customer_comment"],
        pending_ops=int(r.get("pending_ops") or 0),
    )
