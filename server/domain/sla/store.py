"""SQL of the SLA marks (``sla_marks``): the warnings and breaches recorded on a ticket, and their withdrawal.

A mark is one ``(ticket, target run, threshold)``.  ``fired`` is 0 for a level
recorded without an event because a higher level of the same run was crossed in
the same first evaluation (only that one is announced); ``withdrawn_at`` is set
when a later replay of the log (a late sync) shows the level was never reached;
``event_id`` names the timeline event that announced it (NULL on marks recorded
before migration 12: their id is the deterministic ``E-sla-<ticket>-<mark>-<pct>``).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from sync.storage import Row, Tx

__all__ = ["insert_mark", "mark_event_withdrawn", "marks_of", "open_marks", "refire_mark", "withdraw_mark"]


def open_marks(tx: Tx, open_tickets_sql: str) -> list[Row]:
    """Every mark of the tickets ``open_tickets_sql`` (a ``SELECT id FROM tickets ...``) selects."""
    return tx.query(f"SELECT ticket_id, target, threshold, withdrawn_at FROM sla_marks "
                    f"WHERE ticket_id IN ({open_tickets_sql})")


def marks_of(tx: Tx, ticket_id: str) -> list[Row]:
    """One ticket's marks (read under the ticket's lock)."""
    return tx.query("SELECT target, threshold, crossed_at, withdrawn_at, fired, event_id FROM sla_marks "
                    "WHERE ticket_id = ?", (ticket_id,))


def insert_mark(tx: Tx, ticket_id: str, mark: str, pct: int, at: int, now: int, fired: bool,
                event_id: str | None) -> bool:
    """Record a level once; False when it was already there (another leader won)."""
    return tx.execute("INSERT INTO sla_marks (ticket_id, target, threshold, crossed_at, recorded_at, fired, event_id) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ticket_id, target, threshold) DO NOTHING",
                      (ticket_id, mark, pct, at, now, int(fired), event_id)) == 1


def refire_mark(tx: Tx, ticket_id: str, mark: str, pct: int, at: int, now: int, fired: bool,
                event_id: str | None) -> bool:
    """A withdrawn level reached again: it counts again from ``at``."""
    return tx.execute("UPDATE sla_marks SET withdrawn_at = NULL, crossed_at = ?, recorded_at = ?, fired = ?, "
                      "event_id = ? WHERE ticket_id = ? AND target = ? AND threshold = ? "
                      "AND withdrawn_at IS NOT NULL", (at, now, int(fired), event_id, ticket_id, mark, pct)) == 1


def withdraw_mark(tx: Tx, ticket_id: str, mark: str, pct: int, now: int) -> bool:
    """Mark a level as never reached after all; False when it was already withdrawn."""
    return tx.execute("UPDATE sla_marks SET withdrawn_at = ? WHERE ticket_id = ? AND target = ? AND threshold = ? "
                      "AND withdrawn_at IS NULL", (now, ticket_id, mark, pct)) == 1


def mark_event_withdrawn(tx: Tx, event_id: str, extra: dict[str, Any]) -> None:
    """Add ``extra`` (``withdrawn_at``, ``withdrawn_by``) to the data of the event that announced a level."""
    row = tx.one("SELECT data FROM ticket_events WHERE id = ?", (event_id,))
    if row is None:
        return
    data = json.loads(row["data"] or "{}")
    data.update(extra)
    tx.execute("UPDATE ticket_events SET data = ? WHERE id = ?",
               (msgspec.json.encode(data, order="sorted").decode(), event_id))
