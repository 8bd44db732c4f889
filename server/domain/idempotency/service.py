"""``Idempotency-Key`` on the back office's creating POSTs (the IETF httpapi draft, as Stripe does it).

A request sent with a key runs its whole work -- the service's writes and the reading of its answer -- in
one transaction, which also records the answer under (principal, key) before it commits.  So the write and
its remembered answer commit together or not at all: a server that dies before the commit did nothing and
the retry does it; one that dies after it answers the retry from the record.  Nothing in between exists.

- same key, same principal, same request (method, path, body) within 24 h: the first answer again (status,
  body), with ``Idempotent-Replayed: true``;
- same key, another request: 422 ``idempotency_key_reused``;
- same key while the first is still running: 409 ``idempotency_in_flight`` (retry later);
- a request that failed (any problem) recorded nothing and changed nothing: its retry runs anew;
- no key: the request runs as it always did.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, Final

import msgspec
from litestar import Request, Response
from litestar.params import HeaderParameter

from server.api_json import api_value
from server.domain.idempotency import store
from server.errors import BadRequest, Conflict, Unprocessable
from server.security import Staff
from server.services import Services
from sync.storage.joined import Joined

HEADER: Final = "Idempotency-Key"
REPLAYED: Final = "Idempotent-Replayed"
#: the header parameter of a creating POST (documented in OpenAPI with the route)
IdempotencyKey = Annotated[str | None, HeaderParameter(
    name=HEADER, required=False,
    description="A key of the client's choosing (a UUID): a retry with the same key and body gets the first "
                "answer again (Idempotent-Replayed: true) instead of doing the work twice; kept 24 hours.")]
#: how long an answer is remembered (ms)
KEEP_MS: Final = 24 * 3600 * 1000
MAX_KEY_LEN: Final = 255

_held: set[tuple[str, str, str]] = set()  # (database, principal, key) in flight here; PostgreSQL also locks
_held_lock = threading.Lock()


def principal_of(staff: Staff) -> str:
    """Whose keys these are: a key means the same only to the same caller (role and name of the token)."""
    return f"{staff.role}:{staff.name}"


def fingerprint(method: str, path: str, payload: object) -> str:
    """What makes two requests the same: method, path and the decoded body (whitespace and key order aside)."""
    digest = hashlib.sha256(f"{method.upper()}\n{path}\n".encode())
    digest.update(msgspec.json.encode(payload, order="sorted"))
    return digest.hexdigest()


def check_key(key: str) -> None:
    """A key is 1-255 visible ASCII characters (a UUID is the usual choice)."""
    if not 0 < len(key) <= MAX_KEY_LEN or not all(" " < c <= "~" for c in key):
        raise BadRequest("bad_idempotency_key", f"{HEADER} must be 1 to {MAX_KEY_LEN} visible ASCII characters")


def _lock_key(principal: str, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{principal}\n{key}".encode()).digest()[:8], "big", signed=True)


def run(services: Services, staff: Staff, key: str | None, request: Request[Any, Any, Any], payload: object,
        status: int, work: Callable[[Services], object]) -> Response[Any]:
    """Answer a creating request: ``work`` once per key, its answer (``status``, JSON) remembered 24 h."""
    if key is None:
        return Response(content=work(services), status_code=status)
    check_key(key)
    principal, print_ = principal_of(staff), fingerprint(request.method, request.url.path, payload)
    slot = (services.db.url, principal, key)
    with _held_lock:
        if slot in _held:
            raise Conflict("idempotency_in_flight", "a request with this Idempotency-Key is still running; retry later")
        _held.add(slot)
    try:
        with services.db.write() as tx:
            if not store.try_hold(tx, _lock_key(principal, key)):
                raise Conflict("idempotency_in_flight",
                               "a request with this Idempotency-Key is still running; retry later")
            now = services.clock()
            store.forget_before(tx, now - KEEP_MS)
            seen = store.find(tx, principal, key)
            if seen is None:
                body = msgspec.json.encode(api_value(work(replace(services, db=Joined(services.db, tx))))).decode()
                if not store.remember(tx, principal, key, print_, status, body, now):  # raced by another process
                    raise Conflict("idempotency_in_flight",
                                   "a request with this Idempotency-Key is still running; retry later")
                return Response(content=body.encode(), status_code=status, media_type="application/json")
        if seen["fingerprint"] != print_:
            raise Unprocessable("idempotency_key_reused",
                                "this Idempotency-Key was used for another request; use a new key")
        return Response(content=str(seen["body"]).encode(), status_code=int(seen["status"]),
                        media_type="application/json", headers={REPLAYED: "true"})
    finally:
        with _held_lock:
            _held.discard(slot)
