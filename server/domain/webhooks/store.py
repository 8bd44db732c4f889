"""SQL of the webhook outbox (``webhook_outbox``) and its delivery log (``webhook_deliveries``).

An outbox row is one logical event: its ``id`` is unique, so writing the same
event twice (a re-sent push, a double scheduler run) keeps one row.  A row is
due while ``delivered_at`` and ``gave_up_at`` are NULL and ``next_attempt_at``
has passed; a deliverer claims it by setting ``lease_until`` with a conditional
UPDATE, so of two processes that saw it due only one gets it until the lease
runs out (a deliverer killed mid-POST leaves a lease that simply expires).
"""

from __future__ import annotations

from typing import Final

from sync.storage import Row, Tx

__all__ = ["OUTBOX_COLUMNS", "OutboxRow", "backlog", "claim_next", "deliveries", "enqueue", "enqueue_many",
           "get_event", "record_attempt"]

#: the columns a new event is written with, in the order of an :data:`OutboxRow`
OUTBOX_COLUMNS: Final = ("id", "kind", "body", "created_at", "next_attempt_at")
#: one new event: (id, kind, body, created_at, next_attempt_at)
OutboxRow = tuple[str, str, str, int, int]

_DUE = ("delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= ? "
        "AND (lease_until IS NULL OR lease_until <= ?)")


def enqueue(tx: Tx, row: OutboxRow) -> bool:
    """Add one event (due at once); False when an event with this id is already in the outbox."""
    return tx.execute(f"INSERT INTO webhook_outbox ({', '.join(OUTBOX_COLUMNS)}) "
                      "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING", row) > 0


def enqueue_many(tx: Tx, rows: list[OutboxRow]) -> None:
    """Add several events in one statement; those whose id is in the outbox already are kept as they are."""
    tx.insert_new("webhook_outbox", OUTBOX_COLUMNS, ("id",), rows)


def claim_next(tx: Tx, now: int, lease_until: int) -> Row | None:
    """Claim the event due longest (lease until ``lease_until``); None when nothing is due or another took it."""
    row = tx.one(f"SELECT seq, id, kind, body, attempts FROM webhook_outbox WHERE {_DUE} "
                 "ORDER BY next_attempt_at, seq LIMIT 1", (now, now))
    if row is None:
        return None
    taken = tx.execute(f"UPDATE webhook_outbox SET lease_until = ? WHERE seq = ? AND {_DUE}",
                       (lease_until, row["seq"], now, now))
    return row if taken else None


def record_attempt(tx: Tx, event_id: str, attempt: int, status_code: int | None, error: str | None, at: int,
                   duration_ms: int, *, delivered: bool, next_attempt_at: int | None) -> None:
    """Log one attempt and settle the event: delivered, retried at ``next_attempt_at``, or given up (None)."""
    tx.execute("INSERT INTO webhook_deliveries (event_id, attempt, status_code, error, at, duration_ms) "
               "VALUES (?, ?, ?, ?, ?, ?)", (event_id, attempt, status_code, error, at, duration_ms))
    if delivered:
        tx.execute("UPDATE webhook_outbox SET attempts = ?, delivered_at = ?, lease_until = NULL, last_error = NULL "
                   "WHERE id = ?", (attempt, at, event_id))
    elif next_attempt_at is not None:
        tx.execute("UPDATE webhook_outbox SET attempts = ?, next_attempt_at = ?, lease_until = NULL, last_error = ? "
                   "WHERE id = ?", (attempt, next_attempt_at, error, event_id))
    else:
        tx.execute("UPDATE webhook_outbox SET attempts = ?, gave_up_at = ?, lease_until = NULL, last_error = ? "
                   "WHERE id = ?", (attempt, at, error, event_id))


def get_event(tx: Tx, event_id: str) -> Row | None:
    """One outbox row by event id."""
    return tx.one("SELECT id, kind, body, created_at, attempts, next_attempt_at, delivered_at, gave_up_at, "
                  "last_error FROM webhook_outbox WHERE id = ?", (event_id,))


def deliveries(tx: Tx, limit: int, event_id: str | None = None) -> list[Row]:
    """The newest delivery attempts first (of one event when ``event_id`` is given), with the event's state."""
    where, params = ("WHERE d.event_id = ?", [event_id]) if event_id else ("", [])
    return tx.query("SELECT d.event_id, o.kind, d.attempt, d.status_code, d.error, d.at, d.duration_ms, "
                    "o.delivered_at, o.gave_up_at, o.next_attempt_at FROM webhook_deliveries d "
                    f"JOIN webhook_outbox o ON o.id = d.event_id {where} ORDER BY d.seq DESC LIMIT ?",
                    [*params, limit])


def backlog(tx: Tx) -> Row:
    """Events waiting for delivery (and when the oldest was written), events given up (by the due index)."""
    pending = tx.one("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM webhook_outbox "
                     "WHERE delivered_at IS NULL AND gave_up_at IS NULL") or {}
    given_up = tx.one("SELECT COUNT(*) AS n FROM webhook_outbox WHERE delivered_at IS NULL "
                      "AND gave_up_at IS NOT NULL") or {}
    return {"pending": int(pending.get("n") or 0), "given_up": int(given_up.get("n") or 0),
            "oldest_pending_at": pending.get("oldest")}
