"""``FieldClient``: the tablet's one entry point, a facade over the modules that do the work.

=================  =====================================================================
identity           :mod:`client_sdk.identity` -- the device key, enrollment
reads              :mod:`client_sdk.reads` (rows to :mod:`client_sdk.models` structs),
                   :mod:`client_sdk.lifecycle` (assets, knowledge base)
writes             :mod:`client_sdk.writes` -- each write: the shared rules check, then one
                   local transaction of row + outbox op
sync               :mod:`client_sdk.syncer` -- session, push, blobs, pull
service report     :mod:`client_sdk.service_report` -- report content, sealed PDF
storage            :mod:`client_sdk.store` (+ :mod:`client_sdk.migrations`, the SQL in
                   :mod:`client_sdk.read_sql` and :mod:`client_sdk.write_sql`)
=================  =====================================================================

A refused write raises a :class:`~client_sdk.errors.WriteRefused` whose
``reason`` is the reason the server would give the op, and leaves the store
untouched.  Reads return fresh msgspec Structs.  The network is one seam
(:class:`~sync.transport.base.SyncTransport`): ``open(transport=...)`` takes an
httpx transport, an ``httpx.Client`` or any ``SyncTransport``.

A client is meant for one thread; open one per process and close it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Final

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client_sdk import lifecycle, read_sql, reads, service_report, writes
from client_sdk.clock import Clock, system_clock
from client_sdk.errors import AlreadyEnrolled, NotEnrolled, SdkError
from client_sdk.identity import enroll_device, open_device_key
from client_sdk.models import JobDetail, LocalJob, LocalSignOff, OpOutcome, PendingOp, SyncReport
from client_sdk.store import LocalStore
from client_sdk.syncer import OUTCOME_WAIT_S, ProgressFn, SyncLoop
from client_sdk.writes import FieldValue, Scalar
from schemas.domain import ChecklistTemplate, Conflict, Part, StockLevel
from schemas.signoff import ReportContent
from sync.transport.base import SyncTransport
from sync.transport.http import HttpTransport

DEFAULT_SERVER: Final = "http://127.0.0.1:8000"


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
        self._key: Ed25519PrivateKey | None = open_device_key(store, passphrase)

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
        value = read_sql.device_row(self._store.read)["device_id"]
        return None if value is None else str(value)

    @property
    def engineer_id(self) -> str | None:
        """The engineer this tablet belongs to (None before enrollment)."""
        value = read_sql.device_row(self._store.read)["engineer_id"]
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
        device_id, self._key = enroll_device(
            self._store, self._transport, token, name=name or self._device_name, passphrase=self._passphrase,
            clock=self._clock,
        )
        return device_id

    def _device_key(self, needed_for: str) -> Ed25519PrivateKey:
        """The device key, or ``NotEnrolled`` saying what needed it."""
        if self._key is None:
            raise NotEnrolled(needed_for)
        return self._key

    # -- sync --------------------------------------------------------------

    def sync(self, progress: ProgressFn | None = None, *, outcome_wait_s: float = OUTCOME_WAIT_S) -> SyncReport:
        """Push the outbox, upload blobs, pull changes.  Offline returns ``offline=True``; never raises for it.

        ``outcome_wait_s``: how long the run waits in all for the receipts of change-sets the server
        accepted (protocol §4.7); those still merging then are ``report.accepted_pending``, safe on the
        server, and their receipts are fetched by the next sync.
        """
        key = self._device_key("enroll(token) before sync()")
        if self._store.in_batch:
            raise SdkError("sync() inside batch(): end the batch first so its writes are committed")
        return SyncLoop(self._store, self._transport, key, self._clock, outcome_wait_s).run(progress)

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
        return reads.jobs(self._store.read)

    def job(self, job_id: str) -> JobDetail:
        """One job with its answers, parts, attachments, sign-off and pinned template."""
        return reads.job_detail(self._store.read, job_id)

    def pending(self) -> list[PendingOp]:
        """Ops not yet acknowledged by the server, in write order."""
        return reads.pending(self._store.read)

    def conflicts(self, status: str | None = None) -> list[Conflict]:
        """Review items the server raised on this tablet's jobs (optionally by status)."""
        return reads.conflicts(self._store.read, status)

    def op_results(self, result: str | None = None) -> list[OpOutcome]:
        """The server's results for pushed ops, e.g. ``op_results("rejected")``."""
        return reads.op_results(self._store.read, result)

    def parts(self) -> list[Part]:
        """The parts catalog as last pulled."""
        return reads.parts(self._store.read)

    def stock(self) -> list[StockLevel]:
        """Van stock: the server's figure minus consumptions still waiting in the outbox."""
        return reads.stock(self._store.read)

    def template(self, template_id: str, version: int) -> ChecklistTemplate | None:
        """A pulled checklist template version, if on the tablet."""
        return reads.template_of(self._store.read, template_id, version)

    def blob(self, sha256: str) -> bytes | None:
        """The bytes of a locally held attachment."""
        return reads.blob(self._store.read, sha256)

    def asset(self, serial: str) -> lifecycle.LocalAsset | None:
        """The asset of an assigned job with its last service visits (None when not on this tablet)."""
        return lifecycle.local_asset(self._store.read, serial, self._clock())

    def search_kb(self, words: str, model: str | None = None, limit: int = 20) -> list[lifecycle.KbCase]:
        """Offline search of the solved cases synced for this tablet's jobs, by the server's rule
        (:mod:`sync.core.search`: ``异响`` finds ``风机异响``, ``bearings`` finds ``bearing``): every token must
        match, best first; an empty query lists the newest."""
        return lifecycle.search(self._store.read, words, model, max(1, min(limit, 200)))

    # -- writes ------------------------------------------------------------

    def set_status(self, job_id: str, status: str, hold_reason: str | None = None, note: str | None = None) -> str:
        """Move a job through the shared status machine; return the op id.

        ``on_hold`` needs ``hold_reason`` (awaiting_parts | awaiting_customer);
        ``completed`` needs every required checklist item answered.
        """
        return writes.set_status(self._store, self._clock, job_id, status, hold_reason, note)

    def set_field(self, job_id: str, field: str, value: FieldValue) -> str:
        """Set a plain job field (notes, diagnosis, resolution, remote, rating, customer_comment)."""
        return writes.set_field(self._store, self._clock, job_id, field, value)

    def answer(
        self,
        job_id: str,
        item_key: str,
        value: Scalar,
        note: str | None = None,
        na_reason: str | None = None,
    ) -> str:
        """Answer a checklist item, validated against the job's pinned template version."""
        return writes.answer(self._store, self._clock, job_id, item_key, value, note, na_reason)

    def amend(
        self,
        job_id: str,
        reason: str,
        *,
        item_key: str | None = None,
        field: str | None = None,
        value: Scalar = None,
        note: str | None = None,
        na_reason: str | None = None,
    ) -> str:
        """Change signed content knowingly, with ``reason``: one answer (``item_key``) or signed field (``field``).

        After the customer signed, ``answer`` and ``set_field`` on the signed content raise
        ``SignedContentLocked``; this is the way to change it.  The signature stays valid for what was signed;
        the service report and ``fieldsync verify`` list the amendment.  Returns the amendment's op id.
        """
        return writes.amend(self._store, self._clock, job_id, reason, item_key=item_key, field=field, value=value,
                            note=note, na_reason=na_reason)

    def use_part(
        self,
        job_id: str,
        part_no: str,
        qty: int = 1,
        serial: str | None = None,
        returned_serial: str | None = None,
    ) -> str:
        """Record parts consumed from the van at the job; return the op id (the movement id)."""
        return writes.use_part(self._store, self._clock, job_id, part_no, qty, serial, returned_serial)

    def attach(self, job_id: str, data: bytes, kind: str = "photo", content_type: str | None = None) -> str:
        """Store bytes content-addressed on the tablet and reference them on the job; return the SHA-256.

        The bytes are uploaded resumably during ``sync()``.  Attaching the same
        bytes to the same job again is a no-op.
        """
        return writes.attach(self._store, self._clock, job_id, data, kind, content_type)

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
        key = self._device_key("a sign-off is countersigned by the device key: enroll first")
        return writes.sign_off(self._store, self._clock, key, job_id, signer_name, strokes, signer_role, rating,
                               comment)

    # -- service report ----------------------------------------------------

    def report_content(self, job_id: str) -> ReportContent:
        """What a sign-off of ``job_id`` would digest, from local state."""
        return service_report.report_content(self._store.read, job_id)

    def service_report(self, job_id: str, path: str | Path) -> Path:
        """Write the signed service report of ``job_id`` as a PDF sealed by the device key; return its path.

        The PDF embeds the sign-off bundle (content, digest, signature, the
        server's certificate of this device key), so ``fieldsync verify`` checks
        it offline.  Raises ``SdkError`` when the job has no sign-off yet.
        """
        key = self._device_key("a service report is sealed by the device key: enroll first")
        return service_report.write_service_report(self._store.read, key, job_id, path, self._clock)
