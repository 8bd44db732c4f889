"""Webhook events: written to the outbox in the change's transaction, delivered signed with retries.

**Writing.** :func:`emit` adds one event to ``webhook_outbox`` through the
caller's transaction, so an event exists exactly when its change committed
(:func:`emit_rows` several at once: a push writes its events' webhooks in one statement).
Its ``id`` is the identity of the logical event (a timeline event's id, a
conflict's id with its transition): the same event written twice is kept once.
:func:`timeline_event` is the one rule saying which ticket timeline events are
integration events (:data:`TIMELINE_EVENTS`).

**Delivering.** :func:`deliver_due` (run by the scheduler's leader) claims the
event due longest with a lease, POSTs its body as JSON to ``FIELDSYNC_WEBHOOK``
and logs the attempt: a 2xx delivers it; a connection error, 408, 429 or 5xx
schedules a retry after :func:`backoff_ms` (exponential, with jitter); after
``FIELDSYNC_WEBHOOK_ATTEMPTS`` attempts, or at once on another 4xx, it is given
up (kept, with its log).  Delivery is at least once: a server killed between a
receiver's 2xx and the commit that records it sends that event again, with the
same ``id``, so a receiver dedupes by ``id``.

**Signing.** With ``FIELDSYNC_WEBHOOK_SECRET`` set, every POST carries
``X-Fieldsync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
(the body bytes as sent); :func:`verify_signature` is the receiver's check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any, Final

import httpx
import msgspec

from schemas.instant import Instant, rfc3339
from server.domain.webhooks import store
from server.domain.webhooks.store import OutboxRow
from server.services import Services
from sync.storage import Tx

__all__ = ["SIGNATURE_HEADER", "TIMELINE_EVENTS", "Delivery", "backlog", "backoff_ms", "claim_opened",
           "claim_opened_row", "deliver_due", "emit", "emit_rows", "list_deliveries", "outbox_row", "sign",
           "timeline_event", "timeline_row", "verify_signature"]

log = logging.getLogger("fieldsync.webhooks")

SIGNATURE_HEADER: Final = "X-Fieldsync-Signature"
EVENT_ID_HEADER: Final = "X-Fieldsync-Event-Id"
EVENT_HEADER: Final = "X-Fieldsync-Event"
#: one POST's time limit; a claim's lease outlasts it, so a live deliverer never loses its claim mid-POST
TIMEOUT_S: Final = 5.0
LEASE_MS: Final = 15_000
BACKOFF_CAP_MS: Final = 3_600_000
#: events one delivery run sends at most (the next run carries on)
BATCH: Final = 200

#: ticket timeline events an integrator is told about: timeline kind -> webhook event
TIMELINE_EVENTS: Final[dict[str, str]] = {
    "opened": "ticket_opened",
    "planned": "inspection_planned",
    "completed": "job_completed",
    "signed_off": "job_signed_off",
    "ticket_closed": "ticket_closed",
    "priority_changed": "ticket_priority_changed",
    "ticket_corrected": "ticket_corrected",
}


class Delivery(msgspec.Struct, kw_only=True):
    """One delivery attempt, as the admin's delivery log shows it."""

    event_id: str
    event: str
    attempt: int
    status_code: int | None
    error: str | None
    at: Instant
    duration_ms: int
    #: the event's state now: delivered, retrying (next_attempt_at) or given_up
    state: str
    next_attempt_at: Instant | None = None


#: the members of a webhook body that are instants (epoch ms here, RFC 3339 UTC strings on the wire); the free-form
#: ``data`` of a timeline event is sent as recorded
WEBHOOK_INSTANTS: Final = frozenset({"created_at", "at", "crossed_at", "met_at"})


def outbox_row(event_id: str, kind: str, fields: dict[str, Any], now: int) -> OutboxRow:
    """One event as the outbox keeps it, due at once.

    The body is ``{"id", "event", "created_at", **fields}``, fixed at this moment (a retry sends the same bytes);
    its instants (:data:`WEBHOOK_INSTANTS`) are RFC 3339 UTC strings, as in the back-office API.
    """
    members = {"id": event_id, "event": kind, "created_at": now, **fields}
    body = json.dumps({k: rfc3339(v) if k in WEBHOOK_INSTANTS and isinstance(v, int) else v
                       for k, v in members.items()}, separators=(",", ":"), ensure_ascii=False)
    return (event_id, kind, body, now, now)


def emit(tx: Tx, event_id: str, kind: str, fields: dict[str, Any], now: int) -> bool:
    """Write one event (:func:`outbox_row`) to the outbox in ``tx``; False when this event id was written before."""
    return store.enqueue(tx, outbox_row(event_id, kind, fields, now))


def emit_rows(tx: Tx, rows: list[OutboxRow]) -> None:
    """Write several events made by :func:`outbox_row` in one statement (an id written before is kept as it was)."""
    store.enqueue_many(tx, rows)


def timeline_row(event_id: str, ticket_id: str, job_id: str | None, kind: str, at: int, now: int,
                 data: dict[str, Any] | None = None) -> OutboxRow | None:
    """The webhook event of a ticket timeline event, when its kind is one (:data:`TIMELINE_EVENTS`); else None."""
    event = TIMELINE_EVENTS.get(kind)
    if event is None:
        return None
    return outbox_row(event_id, event, {"ticket_id": ticket_id, "job_id": job_id, "at": at, "data": data or {}}, now)


def timeline_event(tx: Tx, event_id: str, ticket_id: str, job_id: str | None, kind: str, at: int, now: int,
                   data: dict[str, Any] | None = None) -> None:
    """The webhook for a ticket timeline event just written, when its kind is one (:data:`TIMELINE_EVENTS`)."""
    row = timeline_row(event_id, ticket_id, job_id, kind, at, now, data)
    if row is not None:
        store.enqueue(tx, row)


def claim_opened_row(claim_id: str, job_id: str, part_no: str, serial: str | None, returned_serial: str | None,
                     now: int) -> OutboxRow:
    """The webhook event of a warranty claim just opened (a part consumed under warranty)."""
    return outbox_row(f"{claim_id}-opened", "warranty_claim_opened",
                      {"claim_id": claim_id, "job_id": job_id, "part_no": part_no, "serial": serial,
                       "returned_serial": returned_serial}, now)


def claim_opened(tx: Tx, claim_id: str, job_id: str, part_no: str, serial: str | None, returned_serial: str | None,
                 now: int) -> None:
    """Write the webhook of a warranty claim just opened (:func:`claim_opened_row`)."""
    store.enqueue(tx, claim_opened_row(claim_id, job_id, part_no, serial, returned_serial, now))


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, *, now_s: int | None = None,
                     tolerance_s: int = 300) -> bool:
    """A receiver's check: the header's ``v1`` is the HMAC of its ``t`` and ``body``, and ``t`` is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts.get("t", ""))
    except ValueError:
        return False
    now_s = int(time.time()) if now_s is None else now_s
    if abs(now_s - t) > tolerance_s:
        return False
    expected = sign(secret, t, body).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff_ms(attempt: int, base_ms: int, rng: Callable[[], float] = random.random) -> int:
    """Delay before retry after failed ``attempt`` (1-based): ``base * 2^(attempt-1)`` up to an hour, times 0.5-1."""
    full = min(BACKOFF_CAP_MS, base_ms * 2 ** min(attempt - 1, 30))
    return max(1, int(full * (0.5 + 0.5 * rng())))


def deliver_due(services: Services, *, client: httpx.Client | None = None, limit: int = BATCH) -> int:
    """Deliver events that are due, one claim at a time; the number of attempts made (0: nothing due)."""
    url = services.settings.webhook_url
    if not url:
        return 0
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT_S)
    done = 0
    try:
        while done < limit:
            now = services.clock()
            with services.db.write() as tx:
                row = store.claim_next(tx, now, now + LEASE_MS)
            if row is None:
                return done
            _attempt(services, http, url, row)
            done += 1
        return done
    finally:
        if own:
            http.close()


def _attempt(services: Services, http: httpx.Client, url: str, row: dict[str, Any]) -> None:
    body = row["body"].encode()
    headers = {"Content-Type": "application/json", EVENT_ID_HEADER: row["id"], EVENT_HEADER: row["kind"]}
    secret = services.settings.webhook_secret
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, int(time.time()), body)
    attempt = int(row["attempts"]) + 1
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    try:
        r = http.post(url, content=body, headers=headers)
        status = r.status_code
        retryable = status in (408, 429) or status >= 500
        error = None if r.is_success else f"HTTP {status}"
    except httpx.HTTPError as exc:
        retryable, error = True, f"{type(exc).__name__}: {exc}"[:500]
    took = int((time.monotonic() - started) * 1000)
    now = services.clock()
    delivered = error is None
    next_at: int | None = None
    if not delivered and retryable and attempt < services.settings.webhook_attempts:
        next_at = now + backoff_ms(attempt, services.settings.webhook_backoff_ms)
    with services.db.write() as tx:
        store.record_attempt(tx, row["id"], attempt, status, error, now, took, delivered=delivered,
                             next_attempt_at=next_at)
    if not delivered:
        if next_at is None:
            log.error("webhook %s (%s) given up after attempt %d: %s", row["id"], row["kind"], attempt, error)
        else:
            log.warning("webhook %s (%s) attempt %d failed (%s); retrying", row["id"], row["kind"], attempt, error)


def list_deliveries(services: Services, limit: int = 100, event_id: str | None = None) -> list[Delivery]:
    """The delivery log, newest attempt first."""
    with services.db.read() as tx:
        rows = store.deliveries(tx, limit, event_id)
    out = []
    for r in rows:
        state = "delivered" if r["delivered_at"] is not None else "given_up" if r["gave_up_at"] is not None \
            else "retrying"
        out.append(Delivery(event_id=r["event_id"], event=r["kind"], attempt=int(r["attempt"]),
                            status_code=r["status_code"], error=r["error"], at=int(r["at"]),
                            duration_ms=int(r["duration_ms"]), state=state,
                            next_attempt_at=int(r["next_attempt_at"]) if state == "retrying" else None))
    return out


def backlog(services: Services) -> dict[str, int | None]:
    """Events waiting for delivery, when the oldest of them was written, and events given up (for ops)."""
    with services.db.read() as tx:
        return store.backlog(tx)
