"""Escalating SLA warnings and breaches: a log line, and a webhook through the outbox.

The scheduler writes each mark's webhook (:meth:`SlaMark.payload`) to the
webhook outbox in the transaction that records the mark, and calls
:func:`escalate` (the log line) only after that transaction committed, so an
escalation never announces something the database does not hold.

Webhook: one JSON POST per mark to ``settings.webhook_url`` (``$FIELDSYNC_WEBHOOK``)::

    {"id": "E-sla-...", "event": "sla_breach", "created_at": 1790000000000, "ticket_id": "T-...",
     "target": "on_site", "threshold": 100, "crossed_at": 1790000000000, "priority": "P1", "customer": "...",
     "site": "...", "event_id": "E-sla-..."}

When a late sync replays a clock to met, every level it had announced is
withdrawn: one POST per level, ``"event": "sla_breach_withdrawn"`` (or
``sla_warning_withdrawn``), the same fields, plus ``"withdraws"`` (the
``event_id`` of the announcement) and ``"met_at"`` (when the clock was met,
or null).

Delivery, signing and retries are :mod:`server.domain.webhooks.service`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import msgspec

__all__ = ["SlaMark", "escalate", "event_kind", "withdrawn_kind"]

log = logging.getLogger("fieldsync.sla")


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


def escalate(marks: Sequence[SlaMark]) -> None:
    """Log every mark (their webhooks were written to the outbox with them)."""
    for m in marks:
        if m.withdraws is not None:
            log.warning("SLA %s: ticket %s (%s, %s) target %s never reached %d%% (met at %s)", m.kind, m.ticket_id,
                        m.priority, m.customer, m.target, m.threshold, m.met_at)
            continue
        level = logging.ERROR if m.threshold >= 100 else logging.WARNING
        log.log(level, "SLA %s: ticket %s (%s, %s) target %s reached %d%% at %d", m.kind, m.ticket_id, m.priority,
                m.customer, m.target, m.threshold, m.crossed_at)
