"""Blobs (photos, attachments): resumable upload by each device, its status, and reading a complete blob.

A blob is addressed by the SHA-256 of its bytes.  Each device uploads into its
own ``blob_uploads`` row in chunks at increasing offsets; the first upload whose
bytes hash to the address completes the blob for everyone.
"""

from __future__ import annotations

import hashlib

from schemas.wire import BlobStatus
from server.domain.blobs import store
from server.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from server.services import Services
from sync.core.rules import is_sha256


def _status(sha256: str, size: int, received: int, complete: bool) -> BlobStatus:
    return BlobStatus(sha256=sha256, size=size, received=received, complete=complete)


def _check_address(sha256: str) -> None:
    if not is_sha256(sha256):
        raise BadRequest("bad_sha256", "blob address must be 64 lowercase hex digits")


def blob_status(services: Services, device_id: str, sha256: str) -> BlobStatus:
    """How much of a blob the server holds: complete, or as far as this device's own upload has come."""
    _check_address(sha256)
    with services.db.read() as tx:
        size = store.complete_size(tx, sha256)
        if size is not None:
            return _status(sha256, size, size, True)
        row = store.upload(tx, sha256, device_id)
    if row is None:
        raise NotFound("unknown_blob", "no such blob yet")
    return _status(sha256, row["size"], row["received"], False)


def put_blob_chunk(services: Services, device_id: str, sha256: str, offset: int, size: int,
                   chunk: bytes) -> BlobStatus:
    """Append a chunk at ``offset`` to this device's upload; when the last byte arrives, check the SHA-256.

    An upload in progress belongs to the device that started it: another device uploading the same
    bytes has its own (a wrong size or wrong bytes there cannot block this one), and the first
    upload whose bytes hash to the address completes the blob for everyone.  A device that starts
    again at offset 0 with another size replaces its own upload.
    """
    _check_address(sha256)
    if size <= 0 or size > services.settings.max_blob_bytes:
        raise PayloadTooLarge("blob_too_large", f"blobs are limited to {services.settings.max_blob_bytes} bytes")
    if offset < 0 or offset + len(chunk) > size or not chunk:
        raise BadRequest("bad_range", "chunk does not fit the declared size")
    now = services.clock()
    mismatch = False
    with services.db.write() as tx:
        done = store.complete_size(tx, sha256)
        if done is not None:
            return _status(sha256, done, done, True)
        row = store.upload(tx, sha256, device_id, lock=True)
        if row is not None and row["size"] != size:
            if offset != 0:
                raise Conflict("size_mismatch", f"this upload was started with size {row['size']}")
            store.drop_upload(tx, sha256, device_id)
            row = None
        if row is None:
            store.start_upload(tx, sha256, device_id, size, now)
            received = 0
        else:
            received = int(row["received"])
        if offset != received:
            raise Conflict("offset_mismatch", f"resume at offset {received}", received=received)
        store.add_chunk(tx, sha256, device_id, offset, chunk)
        received += len(chunk)
        if received < size:
            store.set_received(tx, sha256, device_id, received)
            return _status(sha256, size, received, False)
        h = hashlib.sha256()
        for c in store.upload_chunks(tx, sha256, device_id):
            h.update(c)
        mismatch = h.hexdigest() != sha256
        if not mismatch:
            store.complete_from_upload(tx, sha256, device_id, size, now)
        store.drop_upload(tx, sha256, device_id)
    if mismatch:
        raise BadRequest("digest_mismatch", "the uploaded bytes do not hash to the blob address; upload again")
    return _status(sha256, size, size, True)


def read_blob(services: Services, sha256: str) -> bytes:
    """The bytes of a complete blob."""
    _check_address(sha256)
    with services.db.read() as tx:
        if not store.is_complete(tx, sha256):
            raise NotFound("unknown_blob", "no complete blob with this address")
        return b"".join(store.chunks(tx, sha256))


def content_type(services: Services, sha256: str) -> str | None:
    """The content type an attachment declared for the blob, None when no attachment names it."""
    with services.db.read() as tx:
        return store.content_type(tx, sha256)


def attachment_content_types(services: Services, job_id: str) -> dict[str, str]:
    """sha256 -> declared content type, for the job's attachments."""
    with services.db.read() as tx:
        return store.attachment_content_types(tx, job_id)
