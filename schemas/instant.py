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

#: an instant as epoch milliseconds, written as an RFC 3339 UTC string by the back-office JSON API
Instant = Annotated[int, INSTANT]

#: an instant sent in a request body: an RFC 3339 date-time with an offset (``2026-12-03T18:00:00Z``)
InstantIn = Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339 date-time with an offset")]


def rfc3339(ms: int) -> str:
    """``ms`` (epoch milliseconds) as RFC 3339 in UTC with milliseconds: ``2026-12-03T18:00:00.000Z``."""
    return instant_of(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def instant_of(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (what an :data:`InstantIn` field takes)."""
    return EPOCH + ms * _MS


def epoch_ms(moment: datetime) -> int:
    """An aware datetime as epoch milliseconds (sub-millisecond parts dropped)."""
    return (moment - EPOCH) // _MS


def epoch_ms_or_none(moment: datetime | None) -> int | None:
    """:func:`epoch_ms`, passing None through."""
    return None if moment is None else epoch_ms(moment)
