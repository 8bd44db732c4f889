"""Pull: a device's scoped change feed, in signed pages."""

from __future__ import annotations

import msgspec

from schemas.codec import encode
from schemas.wire import PROTOCOL_VERSION, PullRequest, Signed
from server.errors import BadRequest
from server.feed import RawChange, device_scopes, read_feed
from server.security import DeviceAuth
from server.services import Services


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
        changes, cursor, more = read_feed(services.db, device_scopes(auth.engineer_id), req.cursor, limit,
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
