"""The one rule for instants in the back-office API: epoch ms inside, RFC 3339 UTC on the wire, from/to ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.domain import SlaTarget, Ticket, TicketEvent
from schemas.instant import Instant, epoch_ms, instant_of, rfc3339
from server.api_json import api_value, range_bound, time_range
from server.errors import BadRequest

DAY = 86_400_000


@given(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))
def test_rfc3339_round_trips_every_millisecond(ms: int) -> None:
    text = rfc3339(ms)
    assert text.endswith("Z") and len(text.split(".")[1]) == 4  # three digits of milliseconds and the Z
    assert epoch_ms(datetime.fromisoformat(text)) == ms == epoch_ms(instant_of(ms))


def test_an_offset_names_the_same_instant() -> None:
    assert epoch_ms(datetime(2026, 12, 3, 19, 0, tzinfo=timezone(timedelta(hours=1)))) == \
        epoch_ms(datetime(2026, 12, 3, 18, 0, tzinfo=UTC))


def test_marked_fields_become_rfc3339_and_nothing_else_changes() -> None:
    ticket = Ticket(id="T-1", customer="Acme", site="Plant", priority="P1", category="fault", opened_at=1000,
                    timeline=[TicketEvent(id="E-1", ticket_id="T-1", kind="opened", at=2000, device_time=None,
                                          data={"met_at": 5})],
                    sla={"respond": SlaTarget(due_at=3000, met_at=None, state="running", breached=False,
                                              paused_seconds=7)})
    out = msgspec.json.decode(msgspec.json.encode(api_value([ticket])))[0]
    assert out["opened_at"] == "1970-01-01T00:00:01.000Z"
    assert out["timeline"][0]["at"] == "1970-01-01T00:00:02.000Z" and out["timeline"][0]["device_time"] is None
    assert out["timeline"][0]["received_at"] == "1970-01-01T00:00:00.000Z"
    assert out["timeline"][0]["data"] == {"met_at": 5}  # free-form: as recorded
    assert out["sla"]["respond"]["due_at"] == "1970-01-01T00:00:03.000Z"
    assert out["sla"]["respond"]["paused_seconds"] == 7 and out["sla"]["respond"]["met_at"] is None
    assert ticket.opened_at == 1000  # the service's object is not changed


def test_a_struct_without_instants_is_passed_through() -> None:
    class Plain(msgspec.Struct):
        n: int

    class Timed(msgspec.Struct):
        at: Instant
        items: dict[str, list[Instant]]

    plain = Plain(n=1)
    assert api_value(plain) is plain
    assert msgspec.to_builtins(api_value(Timed(at=0, items={"a": [DAY]}))) == {
        "at": "1970-01-01T00:00:00.000Z", "items": {"a": ["1970-01-02T00:00:00.000Z"]}}


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),  # a date is its 00:00 UTC, as `from` and as `to`
    ("2026-12-03T19:00:00+01:00", datetime(2026, 12, 3, 18, tzinfo=UTC)),
    ("2026-12-03T18:00:00.250Z", datetime(2026, 12, 3, 18, 0, 0, 250_000, tzinfo=UTC)),
])
def test_range_bounds_take_dates_and_rfc3339(raw: str, expected: datetime) -> None:
    assert range_bound(raw, "from") == range_bound(raw, "to") == epoch_ms(expected)


@pytest.mark.parametrize("raw", ["yesterday", "1790035200000", "2026-12-03T18:00:00", "2026-13-01", "12/01/2026",
                                 "2026-12-03 18:00:00", "99999-01-01T00:00:00Z"])
def test_anything_else_is_a_400_naming_the_parameter(raw: str) -> None:
    with pytest.raises(BadRequest) as caught:
        range_bound(raw, "from")
    assert caught.value.code == "bad_time" and "from" in caught.value.detail


def test_a_range_defaults_and_must_not_be_empty() -> None:
    now = epoch_ms(datetime(2026, 12, 3, tzinfo=UTC))
    assert time_range(None, None, now, 30) == (now - 30 * DAY, now)
    assert time_range("2026-12-01", None, now, 30) == (now - 2 * DAY, now)
    assert time_range("2026-11-01", "2026-12-01", now, 30) == (now - 32 * DAY, now - 2 * DAY)  # November
    with pytest.raises(BadRequest) as caught:
        time_range("2026-12-01", "2026-12-01", now, 30)
    assert caught.value.code == "bad_range"
