"""Reading tickets incrementally: ``updated_since`` (RFC 3339) and an opaque cursor over the order of changes.

Every write of a ticket row gives it a new place in the order of commits (``tickets.change_pos``, see
``sync.storage.schema``).  A page lists tickets in that order and hands back a cursor; the next page starts
after it.  On PostgreSQL a page reads only below the ceiling under which no write is still in flight, so a
write that commits late is never skipped: a reader that follows the cursors sees every write of a ticket
after its cursor once -- the ticket as it is then -- and a ticket written again comes round again.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import NamedTuple

import msgspec

from schemas.domain import Ticket
from server.domain.tickets import store
from server.domain.tickets.service import get_ticket
from server.errors import BadRequest
from server.services import Services


class Page(NamedTuple):
    """One page of changed tickets and the cursor the next page starts from."""

    tickets: list[Ticket]
    cursor: str


def parse_rfc3339(value: str, name: str = "updated_since") -> int:
    """An RFC 3339 date-time with its offset (``2026-12-03T18:00:00Z``) as epoch ms; 400 ``bad_time`` else."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or "T" not in value.upper() or moment.tzinfo is None:
        raise BadRequest("bad_time", f"{name} must be an RFC 3339 date-time with an offset, e.g. "
                                     "2026-12-03T18:00:00Z")
    return int(moment.timestamp() * 1000)


def encode_cursor(pos: int, ticket_id: str, since: int) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([pos, ticket_id, since])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str, int]:
    """(position, ticket id, since) of a cursor this server issued; 400 ``bad_cursor`` else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        pos, ticket_id, since = msgspec.json.decode(raw, type=tuple[int, str, int])
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise BadRequest("bad_cursor", "cursor is not one this server issued") from None
    if len(ticket_id) > 100 or not -(2**63) <= pos < 2**63 or not -(2**63) <= since < 2**63:
        raise BadRequest("bad_cursor", "cursor is not one this server issued")
    return pos, ticket_id, since


def changed_tickets(services: Services, updated_since: str | None, cursor: str | None, limit: int) -> Page:
    """The next ``limit`` tickets written since ``updated_since`` (first page) or after ``cursor``.

    An empty page means: nothing more for now (ask again later with its cursor).
    """
    if cursor is not None:
        pos, last_id, since = decode_cursor(cursor)
        after: tuple[int, str] | None = (pos, last_id)
    else:
        since = parse_rfc3339(updated_since) if updated_since is not None else 0
        after = None
    while True:
        tickets, after, more = _page(services, since, after, limit)
        if tickets or not more:
            return Page(tickets, encode_cursor(*after, since))


def _page(services: Services, since: int, after: tuple[int, str] | None,
          limit: int) -> tuple[list[Ticket], tuple[int, str], bool]:
    """One page: its tickets, the position it ends at, and whether rows were read (more may follow)."""
    with services.db.read() as tx:
        ceiling = services.db.visible_xid_limit(tx)  # first: the rows below it are final
        rows = store.changed(tx, since, after, ceiling, limit)
    start = after or (0, "")
    if len(rows) == limit or (rows and ceiling is None):
        nxt = (int(rows[-1]["change_pos"]), str(rows[-1]["id"]))
    elif ceiling is not None:
        # everything below the ceiling is read (ids are never empty); the cursor never goes back, even when
        # a ceiling comes out lower than an earlier one
        nxt = max((ceiling, ""), start)
    else:
        nxt = start
    tickets = [get_ticket(services, r["id"]) for r in rows]
    with services.db.read() as tx:
        now = store.positions(tx, [r["id"] for r in rows])
    # a ticket written again while the page was read may show that newer version: it is left to the page
    # that reaches its new position (past this page's end), so no version is read twice
    kept = [t for t, r in zip(tickets, rows, strict=True) if now.get(r["id"]) == int(r["change_pos"])]
    return kept, nxt, bool(rows)
