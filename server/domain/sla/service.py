"""SLA for a ticket: the pure engine applied to the ticket's event log (wired in the SLA issue)."""

from __future__ import annotations

from typing import Any

from schemas.domain import TicketEvent
from server.context import Services
from sync.storage import Row


def ticket_sla(services: Services, ticket: Row, events: list[TicketEvent]) -> dict[str, Any]:
    """The ``sla`` object of a ticket (empty until the SLA engine is wired)."""
    return {}
