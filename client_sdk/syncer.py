"""The tablet's sync loop: session, push the outbox, upload blobs, pull pages.

Every step is crash-safe because every state change is one local transaction:

1. *session* -- sign the server's nonce with the device key (no clock needed).
2. *push* -- if a sealed change-set is stored but unacknowledged, re-send its
   exact bytes; otherwise seal up to :data:`MAX_OPS_PER_PUSH` outbox ops into
   the next change-set and store envelope + new chain head + op ids in one
   transaction *before* sending.  A verified receipt records every op's
   result, drops those ops from the outbox and clears the sealed record, in
   one transaction.  Repeat until the outbox is empty.  The server answers a
   re-sent change-set with its stored receipt, so nothing applies twice.
   A server that accepts first (``Prefer: respond-async``, protocol §4.7)
   answers a signed ``Accepted``: the change-set is marked accepted (one
   transaction), never sent again, and the next one goes at once.
2b. *outcomes* -- at the start of a run and after its pushes, the receipts of
   accepted change-sets are asked for (``GET /v1/sync/receipts/{seq}``, a
   long poll of at most :data:`OUTCOME_WAIT_S` in all) and each is recorded
   exactly as a push's receipt.  Those still merging are reported as
   ``accepted_pending`` and fetched by the next run.
3. *blobs* -- upload attachment bytes in chunks, resuming from what the server
   already received.
4. *pull* -- fetch pages after the stored cursor; each page is applied and the
   new cursor stored in one transaction.  The next page is requested (on a
   helper thread that touches no local state) while one is being applied.
   Pages before the last commit without waiting for the disk; the last
   page's commit makes them all durable (:meth:`SyncLoop._apply_pulled`).

Being offline is the normal case: it ends the run with ``offline=True`` and
leaves everything in place for next time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Final, TypeVar

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from client_sdk import outbox, sync_sql
from client_sdk.apply import TypedPullPage, apply_page, decode_page
from client_sdk.errors import ServerSignatureInvalid
from client_sdk.models import SyncReport
from client_sdk.read_sql import device_row
from client_sdk.store import LocalStore, Row
from schemas.codec import decode_push_answer
from schemas.wire import Accepted, PullRequest, Receipt, SessionRequest, Signed
from sync.core.changeset import ChainHead, seal
from sync.core.signoff import endorsed_keys
from sync.transport.base import BadResponse, Offline, ProtocolError, SyncTransport, TransportError

MAX_OPS_PER_PUSH: Final = 2_000
BLOB_CHUNK: Final = 256 * 1024
PULL_LIMIT: Final = 5_000
#: how long a run waits in all, after its pushes, for the outcomes of change-sets the server accepted
OUTCOME_WAIT_S: Final = 10.0
#: the longest one receipt request asks the server to hold (below the transport's read timeout)
MAX_POLL_S: Final = 20

#: ``progress(phase, done, total)``; phases are ``push`` (ops), ``blobs`` and ``pull``
#: (changes; ``total`` is 0 while more pages are expected).
ProgressFn = Callable[[str, int, int], None]

T = TypeVar("T")


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


class SyncLoop:
    """One device's sync run over a transport; built by ``FieldClient.sync()``."""

    def __init__(
        self,
        store: LocalStore,
        transport: SyncTransport,
        key: Ed25519PrivateKey,
        clock: Callable[[], int],
        outcome_wait_s: float = OUTCOME_WAIT_S,
    ) -> None:
        self.store = store
        #: seconds a run waits in all for accepted change-sets' outcomes after its pushes (0: ask once)
        self.outcome_wait_s = outcome_wait_s
        self.transport = transport
        self.key = key
        self.clock = clock
        device = device_row(store.read)
        assert device["device_id"], "sync needs an enrolled device"
        self.device_id: str = device["device_id"]
        self.server_public_key: bytes = device["server_public_key"]
        #: the enrolled server key and each later one endorsed by the key before it (from the session's chain)
        self.trusted_keys: list[bytes] = [self.server_public_key]
        self._chain_checked = False

    def run(self, progress: ProgressFn | None = None) -> SyncReport:
        """Session, push, blobs, pull; offline or refused steps end the run with a report."""
        report = SyncReport()
        step = progress or _no_progress
        try:
            if self.transport.token is None:
                self.open_session(report)
            self._fetch_outcomes(report, 0.0)  # accepted by an earlier run: merged by now, most likely
            self._push(report, step)
            self._fetch_outcomes(report, self.outcome_wait_s)
            self._upload_blobs(report, step)
            self._pull(report, step)  # its last page also records the sync's end (one commit less)
        except Offline:
            report.offline = True
        except ProtocolError as exc:
            report.errors.append(f"{exc.code}: {exc.detail}")
        except ServerSignatureInvalid as exc:
            report.errors.append(f"bad_server_signature: {exc}")
        except TransportError as exc:
            report.errors.append(f"transport_error: {exc}")
        if report.clock_offset_ms is None:
            report.clock_offset_ms = sync_sql.clock_offset(self.store.read)
        report.accepted_pending = sync_sql.accepted_ops(self.store.read)
        return report

    # -- session ---------------------------------------------------------

    def open_session(self, report: SyncReport | None = None) -> None:
        """Prove possession of the device key: sign the server's nonce, keep the token."""
        challenge = self.transport.challenge(self.device_id)
        session = self.transport.session(
            SessionRequest(
                device_id=self.device_id,
                nonce=challenge.nonce,
                signature=self.key.sign(challenge.nonce.encode()),
                device_clock=self.clock(),
            )
        )
        self.transport.token = session.token
        if session.server_keys:  # a rotated server key is trusted only when endorsed by one trusted already
            self.trusted_keys = endorsed_keys(self.server_public_key,
                                              [(k.public_key, k.endorsement) for k in session.server_keys])
        self._chain_checked = True
        with self.store.write() as tx:
            sync_sql.set_clock_offset(tx, session.clock_offset_ms)
        if report is not None:
            report.clock_offset_ms = session.clock_offset_ms

    def _authed(self, report: SyncReport, call: Callable[[], T]) -> T:
        """Run an authenticated call; on an expired session open a new one and retry once."""
        if self.transport.token is None:
            self.open_session(report)
        try:
            return call()
        except ProtocolError as exc:
            if not exc.needs_new_session:
                raise
        self.open_session(report)
        return call()

    # -- server signatures -------------------------------------------------

    def verified_body(self, signed: Signed) -> bytes:
        """The body of a server-signed answer, after checking the signature with a trusted server key.

        Trusted: the enrolled key and the keys it endorsed (key rotation).  A signature none of them checks,
        before this loop has read the server's key chain, opens a session (which carries the chain) first.
        """
        if not self._signed_by_trusted(signed) and not self._chain_checked:
            self.open_session()
        if not self._signed_by_trusted(signed):
            raise ServerSignatureInvalid(f"server signature (key {signed.key_id!r}) does not verify")
        return signed.body

    def _signed_by_trusted(self, signed: Signed) -> bool:
        for public in reversed(self.trusted_keys):  # the newest first: it signs nearly everything
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(signed.signature, signed.body)
                return True
            except (InvalidSignature, ValueError):
                continue
        return False

    # -- push --------------------------------------------------------------

    def _push(self, report: SyncReport, progress: ProgressFn) -> None:
        total = sync_sql.outbox_size(self.store.read)
        progress("push", 0, total)
        sent = 0
        while True:
            sealed = sync_sql.oldest_sealed(self.store.read) or self.seal_next()
            if sealed is None:
                return
            envelope: bytes = sealed["envelope"]
            signed = self._authed(report, partial(self.transport.push, envelope))
            answer = _decode_answer(self.verified_body(signed))
            _check_answer(answer, self.device_id, sealed["seq"], sealed["hash"])
            if isinstance(answer, Accepted):
                with self.store.write() as tx:  # safe on the server: never sent again; its receipt is asked for
                    sync_sql.mark_accepted(tx, answer.seq, self.clock())
                sent += answer.op_count
            else:
                before = report.pushed_ops
                self._record_receipt(answer, report)
                sent += report.pushed_ops - before
            progress("push", sent, max(total, sent))

    def _fetch_outcomes(self, report: SyncReport, wait_s: float) -> None:
        """Record the receipts of accepted change-sets, waiting for their merges up to ``wait_s`` seconds in all.

        In chain order; the first still merging when the time is up ends the look (the server merges a
        device's change-sets in order, so the ones after it are merging too).
        """
        deadline = time.monotonic() + wait_s
        for row in sync_sql.accepted_waiting(self.store.read):
            seq, changeset_hash = int(row["seq"]), str(row["hash"])
            while True:
                poll = max(0, min(MAX_POLL_S, int(deadline - time.monotonic())))
                try:
                    signed = self._authed(report, partial(self.transport.receipt, seq, poll))
                except ProtocolError as exc:
                    if exc.status != 404 or exc.code != "unknown_changeset":
                        raise
                    # the server does not hold it (restored from a backup): send it again, the chain decides
                    with self.store.write() as tx:
                        sync_sql.unaccept(tx, seq)
                    report.errors.append(f"unknown_changeset: accepted change-set {seq} is unknown to the server; "
                                         "it is sent again")
                    return
                answer = _decode_answer(self.verified_body(signed))
                _check_answer(answer, self.device_id, seq, changeset_hash)
                if isinstance(answer, Receipt):
                    self._record_receipt(answer, report)
                    break
                if poll == 0:
                    return

    def seal_next(self) -> Row | None:
        """Seal the oldest unsealed outbox ops into the next change-set (one transaction)."""
        with self.store.write() as tx:
            head_seq, head_hash = sync_sql.chain_head(tx)
            rows = sync_sql.unsealed_ops(tx, MAX_OPS_PER_PUSH)
            if not rows:
                return None
            now = self.clock()
            ops = [outbox.decode(r["body"]) for r in rows]
            head = ChainHead(seq=head_seq, hash=head_hash)
            envelope, new_head = seal(self.key, self.device_id, head, ops, device_clock=now)
            return sync_sql.store_sealed(
                tx, seq=new_head.seq, envelope=envelope, hash=new_head.hash, prev_hash=head.hash,
                op_ids=[r["op_id"] for r in rows], sealed_at=now, last_outbox_seq=rows[-1]["seq"],
            )

    def _record_receipt(self, receipt: Receipt, report: SyncReport) -> None:
        results = {r.op_id: r for r in receipt.results}
        now = self.clock()
        with self.store.write() as tx:
            ops = sync_sql.sealed_ops(tx, receipt.seq)
            recorded: list[tuple[object, ...]] = []
            dropped: list[str] = []
            for op in ops:
                result = results.get(op["op_id"])
                kind = result.result if result is not None else "missing"
                recorded.append((
                    op["op_id"],
                    op["job_id"],
                    op["type"],
                    kind,
                    result.reason if result is not None else "no result in receipt",
                    result.conflict_id if result is not None else None,
                    receipt.seq,
                    now,
                ))
                if kind == "rejected" and op["type"] == "part.move":
                    # The ledger never got it: drop the provisional local movement.
                    dropped.append(op["op_id"])
                if kind in ("applied", "merged", "rejected", "needs_review"):
                    setattr(report, kind, getattr(report, kind) + 1)
                else:
                    report.errors.append(f"missing_result: op {op['op_id']} has no result in receipt")
            sync_sql.record_results(tx, recorded)
            sync_sql.drop_local_movements(tx, dropped)
            sync_sql.clear_sealed(tx, receipt.seq)
            sync_sql.set_clock_offset(tx, receipt.clock_offset_ms)
        report.pushed_ops += len(ops)
        report.clock_offset_ms = receipt.clock_offset_ms

    # -- blobs -------------------------------------------------------------

    def _upload_blobs(self, report: SyncReport, progress: ProgressFn) -> None:
        # Only blobs whose attachment op the server has seen: their hash is in a pushed change-set.
        blobs = sync_sql.blobs_to_upload(self.store.read)
        progress("blobs", 0, len(blobs))
        for done, blob in enumerate(blobs, start=1):
            try:
                if self._upload_blob(report, blob["sha256"], int(blob["size"])):
                    report.uploaded_blobs += 1
            except ProtocolError as exc:
                if exc.needs_new_session or isinstance(exc, BadResponse):
                    raise
                report.errors.append(f"{exc.code}: blob {blob['sha256']}: {exc.detail}")
            progress("blobs", done, len(blobs))

    def _upload_blob(self, report: SyncReport, sha256: str, size: int) -> bool:
        status = self._authed(report, lambda: self.transport.blob_status(sha256))
        offset = 0 if status is None else status.received
        complete = status is not None and status.complete
        while not complete and offset < size:
            chunk = sync_sql.blob_chunk(self.store.read, sha256, offset, BLOB_CHUNK)
            put = self._authed(report, partial(self.transport.blob_put, sha256, offset, size, chunk))
            if put.received <= offset and not put.complete:
                report.errors.append(f"blob_stalled: blob {sha256} stuck at {offset} of {size}")
                return False
            offset, complete = put.received, put.complete
        if not complete:
            report.errors.append(f"blob_incomplete: blob {sha256}: server holds {offset} of {size}")
            return False
        with self.store.write() as tx:
            sync_sql.mark_uploaded(tx, sha256)
        return True

    # -- pull --------------------------------------------------------------

    def _pull(self, report: SyncReport, progress: ProgressFn) -> None:
        cursor = sync_sql.pull_cursor(self.store.read)
        progress("pull", 0, 0)
        request = PullRequest(cursor=cursor, limit=PULL_LIMIT, device_clock=self.clock())
        page = self._authed(report, partial(self._fetch_page, request))
        # One page is fetched ahead while the one before it is applied: the requests and their order are
        # the same as one by one, the server's and the network's time overlaps the local writes.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldsync-pull") as reader:
            while True:
                ahead: Future[TypedPullPage] | None = None
                if page.more and page.cursor and page.cursor != cursor:
                    request = PullRequest(cursor=page.cursor, limit=PULL_LIMIT, device_clock=self.clock())
                    ahead = reader.submit(self._fetch_page, request)
                self._apply_pulled(page)
                report.pulled_changes += len(page.changes)
                progress("pull", report.pulled_changes, 0 if page.more else report.pulled_changes)
                if not page.more:
                    return
                if ahead is None:
                    report.errors.append(f"cursor_stuck: server said more but cursor stayed {cursor!r}")
                    return
                cursor = page.cursor
                page = self._page_ahead(report, ahead, request)

    def _apply_pulled(self, page: TypedPullPage) -> None:
        """Apply one page and store its cursor in one transaction; the last page also records the sync's end.

        A page that more pages follow commits without waiting for the disk (``LocalStore.write(durable=False)``:
        in WAL mode a commit is still atomic, and commits reach the disk in order); the last page commits
        with ``FULL``, whose flush of the log makes every page before it durable with it.  A power cut
        in between loses whole pages from the end, each with its cursor, and the next pull fetches them
        again: no change is skipped or half applied, and a finished pull is as durable as before.  Local
        writes commit with ``FULL`` as always (and flush any page before them).
        """
        with self.store.write(durable=not page.more) as tx:
            apply_page(tx, page.changes)
            if page.cursor:
                sync_sql.set_pull_cursor(tx, page.cursor)
            if not page.more:
                sync_sql.set_last_sync(tx, self.clock())

    def _fetch_page(self, request: PullRequest) -> TypedPullPage:
        """Request, verify and decode one page; touches no local state (runs on the read-ahead thread)."""
        return _decode_page(self.verified_body(self.transport.pull(request)))

    def _page_ahead(self, report: SyncReport, ahead: Future[TypedPullPage], request: PullRequest) -> TypedPullPage:
        """The page read ahead; when its session had expired, a new session and the same request again."""
        try:
            return ahead.result()
        except ProtocolError as exc:
            if not exc.needs_new_session:
                raise
        self.open_session(report)
        return self._fetch_page(request)


def _decode_answer(body: bytes) -> Receipt | Accepted:
    """A verified push answer or receipt body: the receipt, or the server's Accepted."""
    try:
        return decode_push_answer(body)
    except msgspec.DecodeError as exc:  # ValidationError is one
        raise BadResponse("bad_response", 200, f"signed body is not a receipt: {exc}") from exc


def _check_answer(answer: Receipt | Accepted, device_id: str, seq: int, changeset_hash: str) -> None:
    """The answer is about the change-set sent: its device, seq and hash."""
    if answer.seq != seq or answer.changeset_hash != changeset_hash or answer.device_id != device_id:
        what = "accepted" if isinstance(answer, Accepted) else "receipt"
        raise BadResponse(
            "receipt_mismatch",
            200,
            f"{what} for seq {answer.seq} ({answer.changeset_hash[:12]}) "
            f"does not match change-set {seq} ({changeset_hash[:12]})",
        )


def _decode_page(body: bytes) -> TypedPullPage:
    """A verified page body as typed records (:func:`client_sdk.apply.decode_page`)."""
    try:
        return decode_page(body)
    except msgspec.DecodeError as exc:
        raise BadResponse("bad_response", 200, f"signed body is not a pull page: {exc}") from exc


def _decode(decoder: msgspec.msgpack.Decoder[T], body: bytes, what: str) -> T:
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise BadResponse("bad_response", 200, f"signed body is not a {what}: {exc}") from exc
