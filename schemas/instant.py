"""Instants: epoch milliseconds inside the server and on the device protocol, RFC 3339 UTC in the back-office API.

A field holding an instant is typed :data:`Instant` (an ``int`` of epoch milliseconds, marked).  Services,
stores, the console and the msgpack device protocol see the number; the back-office JSON API writes it as
an RFC 3339 UTC string (``2026-12-03T18:00:00.000Z``) and documents it as ``string, format: date-time``
(``server.api_json`` does both, from the mark).  Request bodies take instants as :data:`InstantIn`:
an RFC 3339 date-time with an offset, turned into epoch ms by :func:`epoch_ms`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

import msgspec


class InstantMark:
    """The mark of an :data:`Instant` field (one instance, :data:`INSTANT`)."""

    def __repr__(self) -> str:
        return "INSTANT"


INSTANT: Final = InstantMark()
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
#: the first and last instants RFC 3339 can write (0001-01-01T00:00:00.000Z, 9999-12-31T23:59:59.999Z)
FIRST_MS: Final = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // _MS
LAST_MS: Final = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - EPOCH) // _MS

#: an instant as epoch milliseconds, written as an RFC 3339 UTC string by the back-office JSON API
Instant = Annotated[int, INSTANT]

#: an instant sent in a request body: an RFC 3339 date-time with an offset (``2026-12-03T18:00:00Z``)
InstantIn = Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339 date-time with an offset")]


def rfc3339(ms: int) -> str:
    """``ms`` (epoch milliseconds) as RFC 3339 in UTC with milliseconds: ``2026-12-03T18:00:00.000Z``.

    RFC 3339 has years 0001-9999 only: a stored instant outside them (only an older server could have
    stored one; the device rules refuse such times now) is written as the nearest one it can show, so a
    read never fails on a stored value (the console shows it as "invalid time").
    """
    return instant_of(min(max(ms, FIRST_MS), LAST_MS)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def instant_of(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (what an :data:`InstantIn` field takes)."""
    return EPOCH + ms * _MS


def epoch_ms(moment: datetime) -> int:
    """An aware datetime as epoch milliseconds (sub-millisecond parts dropped)."""
    return (moment - EPOCH) // _MS


def epoch_ms_or_none(moment: datetime | None) -> int | None:
    """:func:`epoch_ms`, passing None through."""
    return None if moment is None else epoch_ms(moment)
