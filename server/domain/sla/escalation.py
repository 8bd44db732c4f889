"""Escalating SLA warnings and breaches: a log line, and optionally a webhook POST.

The scheduler calls :func:`escalate` only after the transaction that recorded
the marks has committed, so an escalation never announces something the
database does not hold; since a mark is recorded exactly once, it is escalated
once per recording (a webhook that stays down is logged, not retried forever).

Webhook: one JSON POST per mark to ``settings.webhook_url`` (``$FIELDSYNC_WEBHOOK``)::

    {"event": "sla_breach", "ticket_id": "T-...", "target": "on_site", "threshold": 100,
     "crossed_at": 1790000000000, "priority": "P1", "customer": "...", "site": "...", "event_id": "E-sla-..."}

When a late sync replays a clock to met, every level it had announced is
withdrawn: one POST per level, ``"event": "sla_breach_withdrawn"`` (or
``sla_warning_withdrawn``), the same fields, plus ``"withdraws"`` (the
``event_id`` of the announcement) and ``"met_at"`` (when the clock was met,
or null).

Deliveries run on a background thread so a slow receiver never holds up the
SLA tick; connection errors, 429 and 5xx are retried with exponential backoff,
other 4xx are given up at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import msgspec

__all__ = ["SlaMark", "deliver_webhook", "escalate", "event_kind", "withdrawn_kind"]

log = logging.getLogger("fieldsync.sla")

WEBHOOK_ATTEMPTS = 4
WEBHOOK_BACKOFF_S = 0.5
WEBHOOK_TIMEOUT_S = 5.0


class SlaMark(msgspec.Struct, frozen=True, kw_only=True):
    """One warning or breach recorded on a ticket (a row of ``sla_marks`` plus its timeline event).

    ``mark`` is the stored target key: the target name, or ``resolve#2`` for the
    second run of a clock that was reset (e.g. a follow-up after a reopen).
    """

    ticket_id: str
    target: str
    mark: str
    threshold: int
    crossed_at: int
    recorded_at: int
    event_id: str
    priority: str
    customer: str
    site: str
    #: a withdrawal: the ``event_id`` of the announcement it takes back (``event_id`` is the withdrawal's own)
    withdraws: str | None = None
    #: for a withdrawal, when the clock was met (None: it no longer runs, e.g. not applicable)
    met_at: int | None = None

    @property
    def kind(self) -> str:
        return event_kind(self.threshold) if self.withdraws is None else withdrawn_kind(self.threshold)

    def payload(self) -> dict[str, Any]:
        out = {"event": self.kind, "ticket_id": self.ticket_id, "target": self.target, "threshold": self.threshold,
               "crossed_at": self.crossed_at, "priority": self.priority, "customer": self.customer,
               "site": self.site, "event_id": self.event_id}
        if self.withdraws is not None:
            out |= {"withdraws": self.withdraws, "met_at": self.met_at}
        return out


def event_kind(threshold: int) -> str:
    """``sla_breach`` at 100 %, else ``sla_warning_<pct>``."""
    return "sla_breach" if threshold >= 100 else f"sla_warning_{threshold}"


def withdrawn_kind(threshold: int) -> str:
    """``sla_breach_withdrawn`` at 100 %, else ``sla_warning_withdrawn``."""
    return "sla_breach_withdrawn" if threshold >= 100 else "sla_warning_withdrawn"


def escalate(marks: Sequence[SlaMark], webhook_url: str | None) -> threading.Thread | None:
    """Log every mark; POST them to ``webhook_url`` on a background thread (returned, or None)."""
    for m in marks:
        if m.withdraws is not None:
            log.warning("SLA %s: ticket %s (%s, %s) target %s never reached %d%% (met at %s)", m.kind, m.ticket_id,
                        m.priority, m.customer, m.target, m.threshold, m.met_at)
            continue
        level = logging.ERROR if m.threshold >= 100 else logging.WARNING
        log.log(level, "SLA %s: ticket %s (%s, %s) target %s reached %d%% at %d", m.kind, m.ticket_id, m.priority,
                m.customer, m.target, m.threshold, m.crossed_at)
    if not webhook_url or not marks:
        return None
    payloads = [m.payload() for m in marks]
    thread = threading.Thread(target=_deliver_all, args=(webhook_url, payloads), name="sla-webhook", daemon=True)
    thread.start()
    return thread


def _deliver_all(url: str, payloads: list[dict[str, Any]]) -> None:
    with httpx.Client(timeout=WEBHOOK_TIMEOUT_S) as client:
        for payload in payloads:
            deliver_webhook(url, payload, client=client)


def deliver_webhook(url: str, payload: dict[str, Any], *, client: httpx.Client | None = None,
                    attempts: int = WEBHOOK_ATTEMPTS, backoff_s: float = WEBHOOK_BACKOFF_S,
                    sleep: Callable[[float], None] = time.sleep) -> bool:
    """POST one payload with retries; True when the receiver answered 2xx. Never raises."""
    own = client is None
    http = client or httpx.Client(timeout=WEBHOOK_TIMEOUT_S)
    try:
        for attempt in range(1, attempts + 1):
            try:
                r = http.post(url, json=payload)
                if r.is_success:
                    return True
                retryable = r.status_code == 429 or r.status_code >= 500
                reason = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                retryable, reason = True, f"{type(exc).__name__}: {exc}"
            if not retryable or attempt == attempts:
                log.error("SLA webhook gave up on %s for ticket %s after %d attempt(s): %s", payload.get("event"),
                          payload.get("ticket_id"), attempt, reason)
                return False
            log.warning("SLA webhook attempt %d failed (%s); retrying", attempt, reason)
            sleep(backoff_s * 2 ** (attempt - 1))
        return False
    finally:
        if own:
            http.close()
