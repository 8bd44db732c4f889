"""The incremental-read cursor and ``updated_since``: what the server issues it reads back, anything else is a 400."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.tickets.changes import decode_cursor, encode_cursor, parse_rfc3339
from server.errors import BadRequest

ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(ints, st.text(max_size=100), ints)
def test_a_cursor_reads_back_as_issued(pos: int, ticket_id: str, since: int) -> None:
    cursor = encode_cursor(pos, ticket_id, since)
    assert cursor.isascii() and "=" not in cursor and "&" not in cursor
    assert decode_cursor(cursor) == (pos, ticket_id, since)


@given(st.text(max_size=80) | st.binary(max_size=60).map(lambda b: encode_cursor(0, "", 0)[:2] + b.hex()))
def test_any_other_text_is_a_400_never_a_crash(text: str) -> None:
    try:
        pos, ticket_id, since = decode_cursor(text)
    except BadRequest as exc:
        assert exc.code == "bad_cursor"
    else:  # it happened to spell a cursor: the position and time are 64-bit, the id short
        assert -(2**63) <= pos < 2**63 and -(2**63) <= since < 2**63 and len(ticket_id) <= 100


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 1, 1)),
       st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_rfc3339_with_any_offset_is_the_same_instant(moment: datetime, offset_min: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_min)),
                           microsecond=moment.microsecond // 1000 * 1000)
    expected = int(aware.astimezone(UTC).timestamp() * 1000)
    assert parse_rfc3339(aware.isoformat()) == expected
    if offset_min == 0:
        assert parse_rfc3339(aware.isoformat().replace("+00:00", "Z")) == expected


@pytest.mark.parametrize("text", ["2026-12-03", "2026-12-03T10:00:00", "yesterday", "", "1790000000000",
                                  "2026-13-01T00:00:00Z"])
def test_a_time_without_date_time_and_offset_is_refused(text: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_rfc3339(text)
    assert caught.value.code == "bad_time"
