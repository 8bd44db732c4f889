"""Resumable change-set uploads: open, append chunks at offsets, ask how far it got, commit.

A push of a large change-set need not arrive in one request: the device uploads the bytes as it would
send them to ``/v1/sync/push`` (gzip-coded or not) in chunks, addressed by their SHA-256, each chunk at
the offset the server has received so far; a cut link costs only the chunk in flight, and the chunks are
rows in the database, so an upload also survives a server restart.  Committing checks the SHA-256,
decodes the content coding within the push's size limit (a compression bomb is refused with 413 and
nothing changes) and applies the change-set through the one push path (:func:`server.domain.sync.intake.submit`:
signature over the decoded bytes, chain, exactly once).  The upload then keeps its row with the hash of
the change-set it carried, so a retried commit (the answer was lost) returns the same stored receipt;
and should the server stop between applying and marking, the change-set is a duplicate on its chain and
``push`` answers with the stored receipt all the same.

An upload belongs to the device that opened it; a device has one upload in progress at a time (it pushes
its chain in order), so opening another drops its earlier unfinished ones.
"""

from __future__ import annotations

import hashlib
from typing import Final

from server.domain.sync import accepted_store, intake
from server.domain.sync.intake import PushAnswer
from server.domain.uploads import store
from server.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from server.http import decode_coded
from server.security import DeviceAuth
from server.services import Services
from sync.core.changeset import digest, open_envelope
from sync.core.rules import is_sha256
from sync.transport.encoding import GZIP

#: the content codings an upload's bytes may be in
ENCODINGS: Final = ("identity", GZIP)
#: committed uploads a device keeps (their rows only) for retried commits
KEEP_COMMITTED: Final = 4


def _status(sha256: str, size: int, received: int, complete: bool) -> dict[str, object]:
    return {"sha256": sha256, "size": size, "received": received, "complete": complete}


def _check_address(sha256: str) -> None:
    if not is_sha256(sha256):
        raise BadRequest("bad_sha256", "an upload is addressed by 64 lowercase hex digits of SHA-256")


def upload_status(services: Services, device_id: str, sha256: str) -> dict[str, object]:
    """How far the device's upload has come; ``complete`` once its change-set is applied."""
    _check_address(sha256)
    with services.db.read() as tx:
        row = store.upload(tx, device_id, sha256)
    if row is None:
        raise NotFound("unknown_upload", "no upload with this address from this device")
    return _status(sha256, int(row["size"]), int(row["received"]), row["changeset_hash"] is not None)


def put_chunk(services: Services, device_id: str, sha256: str, offset: int, size: int, encoding: str,
              chunk: bytes) -> dict[str, object]:
    """Append ``chunk`` at ``offset``; the first chunk (offset 0) opens the upload with its size and coding.

    ``offset`` must be where the upload stands (409 ``offset_mismatch`` with ``received`` otherwise), so
    a chunk resent after a cut is refused rather than stored twice.  Opening again at offset 0 with
    another size or coding replaces the device's unfinished upload of this address.
    """
    _check_address(sha256)
    limit = services.settings.max_body_bytes
    if size <= 0 or size > limit:
        raise PayloadTooLarge("payload_too_large", f"a change-set upload is limited to {limit} bytes")
    if encoding not in ENCODINGS:
        raise BadRequest("unsupported_encoding", f"encoding is one of {', '.join(ENCODINGS)}")
    if offset < 0 or not chunk or offset + len(chunk) > size:
        raise BadRequest("bad_range", "chunk does not fit the declared size")
    now = services.clock()
    with services.db.write() as tx:
        row = store.upload(tx, device_id, sha256, lock=True)
        if row is not None and row["changeset_hash"] is not None:
            return _status(sha256, int(row["size"]), int(row["size"]), True)
        if row is not None and (int(row["size"]) != size or row["encoding"] != encoding):
            if offset != 0:
                raise Conflict("size_mismatch", f"this upload was opened with size {row['size']} "
                                                f"and encoding {row['encoding']}")
            store.drop_upload(tx, device_id, sha256)
            row = None
        if row is None:
            store.drop_other_uploads(tx, device_id, sha256, KEEP_COMMITTED)
            store.start_upload(tx, device_id, sha256, size, encoding, now)
            received = 0
        else:
            received = int(row["received"])
        if offset != received:
            raise Conflict("offset_mismatch", f"resume at offset {received}", received=received)
        received += len(chunk)
        store.add_chunk(tx, device_id, sha256, offset, chunk, received)
    return _status(sha256, size, received, False)


def commit(services: Services, auth: DeviceAuth, sha256: str, *, respond_async: bool = False) -> PushAnswer:
    """Apply (or, ``respond_async``, accept) the uploaded change-set through the one push path.

    The answer is the push's: the signed receipt (the same one on every retried commit), or 202 with the
    signed Accepted while an accepted change-set waits for its merge.
    """
    _check_address(sha256)
    device_id = auth.device_id
    with services.db.read() as tx:
        row = store.upload(tx, device_id, sha256)
        if row is None:
            raise NotFound("unknown_upload", "no upload with this address from this device")
        if row["changeset_hash"] is not None:
            receipt = store.stored_receipt(tx, device_id, row["changeset_hash"])
            if receipt is not None:
                return PushAnswer(200, receipt)
            waiting = accepted_store.by_hash(tx, device_id, row["changeset_hash"])
            if waiting is not None:  # accepted, not merged yet: its stored answer, or its merge now (synchronous)
                if respond_async:
                    return PushAnswer(202, bytes(waiting["accepted"]))
                return intake.submit(services, auth, bytes(waiting["envelope"]))
        size, received = int(row["size"]), int(row["received"])
        if received < size:
            raise Conflict("upload_incomplete", f"the server holds {received} of {size} bytes; resume there",
                           received=received)
        data = b"".join(store.chunks(tx, device_id, sha256))
    try:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BadRequest("digest_mismatch", "the uploaded bytes do not hash to the upload's address; "
                                                "upload again")
        envelope = decode_coded(data, row["encoding"], services.settings.max_body_bytes)
    except (BadRequest, PayloadTooLarge, NotFound):
        with services.db.write() as tx:
            store.drop_upload(tx, device_id, sha256)
        raise
    answer = intake.submit(services, auth, envelope, respond_async=respond_async)
    changeset_hash = digest(open_envelope(envelope).changeset)
    with services.db.write() as tx:
        store.mark_committed(tx, device_id, sha256, changeset_hash)
    return answer
