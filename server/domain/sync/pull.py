"""Pull: a device's scoped change feed, in signed pages, and resumable blob upload."""

from __future__ import annotations

import hashlib
import re

import msgspec

from schemas.codec import encode
from schemas.wire import PROTOCOL_VERSION, PullRequest, Signed
from server.context import Services
from server.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from server.feed import ALL, RawChange, engineer_scope, read_feed
from server.security import DeviceAuth

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class RawPullPage(msgspec.Struct, kw_only=True):
    """A :class:`~schemas.wire.PullPage` built from feed rows as stored; same bytes on the wire."""

    protocol_version: int
    device_id: str
    cursor: str
    more: bool
    server_time: int
    changes: list[RawChange]


#: a device's last sync time is kept to this precision by pulls
SYNC_MARK_MS = 30_000


def pull(services: Services, auth: DeviceAuth, req: PullRequest) -> bytes:
    """One signed page of the device's scope after ``req.cursor``."""
    limit = max(1, min(req.limit, services.settings.pull_page_limit))
    try:
        changes, cursor, more = read_feed(services.db, [ALL, engineer_scope(auth.engineer_id)], req.cursor, limit,
                                          services.settings.pull_page_bytes)
    except ValueError as exc:
        raise BadRequest("bad_cursor", "cursor is not one this server issued") from exc
    now = services.clock()
    if not more and (auth.last_sync_at is None or now - auth.last_sync_at >= SYNC_MARK_MS):
        # the end of a pull marks the device as synced; a push a moment ago already did (and a write
        # here would queue behind every push in flight)
        with services.db.write() as tx:
            tx.execute("UPDATE devices SET last_sync_at = ? WHERE id = ?", (now, auth.device_id))
    page = RawPullPage(protocol_version=PROTOCOL_VERSION, device_id=auth.device_id, cursor=cursor, more=more,
                    server_time=now, changes=changes)
    body = encode(page)
    key = services.key
    return encode(Signed(body=body, signature=key.sign(body), key_id=key.key_id))


def _status(sha256: str, size: int, received: int, complete: bool) -> dict[str, object]:
    return {"sha256": sha256, "size": size, "received": received, "complete": complete}


def blob_status(services: Services, sha256: str) -> dict[str, object]:
    """How much of a blob the server holds."""
    if not SHA256_RE.match(sha256):
        raise BadRequest("bad_sha256", "blob address must be 64 lowercase hex digits")
    with services.db.read() as tx:
        row = tx.one("SELECT size, received, complete FROM blobs WHERE sha256 = ?", (sha256,))
    if row is None:
        raise NotFound("unknown_blob", "no such blob yet")
    return _status(sha256, row["size"], row["received"], bool(row["complete"]))


def put_blob_chunk(services: Services, sha256: str, offset: int, size: int, chunk: bytes) -> dict[str, object]:
    """Append a chunk at ``offset``; when the last byte arrives, check the SHA-256."""
    if not SHA256_RE.match(sha256):
        raise BadRequest("bad_sha256", "blob address must be 64 lowercase hex digits")
    if size <= 0 or size > services.settings.max_blob_bytes:
        raise PayloadTooLarge("blob_too_large", f"blobs are limited to {services.settings.max_blob_bytes} bytes")
    if offset < 0 or offset + len(chunk) > size or not chunk:
        raise BadRequest("bad_range", "chunk does not fit the declared size")
    now = services.clock()
    mismatch = False
    with services.db.write() as tx:
        row = tx.lock("SELECT size, received, complete FROM blobs WHERE sha256 = ?", (sha256,))
        if row is None:
            tx.execute("INSERT INTO blobs (sha256, size, received, complete, created_at) VALUES (?, ?, 0, 0, ?)",
                       (sha256, size, now))
            received, complete = 0, False
        else:
            if row["size"] != size:
                raise Conflict("size_mismatch", f"blob was declared with size {row['size']}")
            received, complete = int(row["received"]), bool(row["complete"])
        if complete:
            return _status(sha256, size, size, True)
        if offset != received:
            raise Conflict("offset_mismatch", f"resume at offset {received}", received=received)
        tx.execute("INSERT INTO blob_chunks (sha256, offset_, data) VALUES (?, ?, ?)", (sha256, offset, chunk))
        received += len(chunk)
        if received == size:
            h = hashlib.sha256()
            for c in tx.query("SELECT data FROM blob_chunks WHERE sha256 = ? ORDER BY offset_", (sha256,)):
                h.update(bytes(c["data"]))
            if h.hexdigest() != sha256:
                tx.execute("DELETE FROM blob_chunks WHERE sha256 = ?", (sha256,))
                tx.execute("UPDATE blobs SET received = 0 WHERE sha256 = ?", (sha256,))
                mismatch = True
            else:
                complete = True
        if not mismatch:
            tx.execute("UPDATE blobs SET received = ?, complete = ? WHERE sha256 = ?",
                       (received, int(complete), sha256))
    if mismatch:
        raise BadRequest("digest_mismatch", "the uploaded bytes do not hash to the blob address; upload again")
    return _status(sha256, size, received, complete)


def read_blob(services: Services, sha256: str) -> bytes:
    """The bytes of a complete blob."""
    if not SHA256_RE.match(sha256):
        raise BadRequest("bad_sha256", "blob address must be 64 lowercase hex digits")
    with services.db.read() as tx:
        row = tx.one("SELECT complete FROM blobs WHERE sha256 = ?", (sha256,))
        if row is None or not row["complete"]:
            raise NotFound("unknown_blob", "no complete blob with this address")
        return b"".join(bytes(c["data"]) for c in tx.query(
            "SELECT data FROM blob_chunks WHERE sha256 = ? ORDER BY offset_", (sha256,)))
