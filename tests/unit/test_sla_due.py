"""Due times before a ticket exists: RFC 3339 in and out, the engine's own answer, the region setting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.rules import EVENT_TIME_MAX_MS, EVENT_TIME_MIN_MS
from server.domain.sla.due import due_times, local_text, parse_opened, utc_text
from server.domain.sla.policy import default_policies
from server.domain.sla.state import SlaEvent, compute_sla
from server.settings import SettingsError, get_settings

CN = default_policies("Asia/Shanghai", region="CN")


@pytest.mark.parametrize(("text", "utc"), [
    ("2026-10-09T20:00+08:00", "2026-10-09T12:00:00Z"),
    ("2026-10-09T12:00:00Z", "2026-10-09T12:00:00Z"),
    ("2026-10-09t12:00:00.250z", "2026-10-09T12:00:00.250Z"),
    ("2026-10-09 05:30:00-06:30", "2026-10-09T12:00:00Z"),
])
def test_rfc3339_with_an_offset_is_read(text: str, utc: str) -> None:
    assert utc_text(parse_opened(text)) == utc


@pytest.mark.parametrize("text", [
    "2026-10-09T20:00",  # no offset: which 20:00?
    "2026-10-09", "1790000000000", "yesterday", "2026-02-30T10:00:00Z", "2026-10-09T24:30:00Z",
    "1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "2026-10-09T20:00+08:00" + " " * 40, "2026-10-09T20:00+0800",
    "２０２６-10-09T20:00+08:00", "",
])
def test_anything_else_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339|exists|outside"):
        parse_opened(text)


@settings(max_examples=200, deadline=None)
@given(ms=st.integers(EVENT_TIME_MIN_MS, EVENT_TIME_MAX_MS - 1),
       tz=st.sampled_from(["UTC", "Asia/Shanghai", "Europe/Berlin", "America/St_Johns", "Pacific/Chatham"]))
def test_utc_and_local_texts_read_back_as_the_same_instant(ms: int, tz: str) -> None:
    assert parse_opened(utc_text(ms)) == ms
    assert parse_opened(local_text(ms, tz)) == ms


@settings(max_examples=100, deadline=None)
@given(opened=st.integers(EVENT_TIME_MIN_MS, EVENT_TIME_MAX_MS - 60 * 86_400_000),
       priority=st.sampled_from(["P1", "P2", "P3", "complaint"]))
def test_the_answer_is_the_clocks_a_ticket_opened_then_shows(opened: int, priority: str) -> None:
    answer = due_times(CN, priority, "fault", opened, "Asia/Shanghai")
    states = compute_sla(CN.for_ticket(priority), [SlaEvent(kind="opened", at=opened)], opened)
    assert {t.target: t.due_at for t in answer.targets} == {name: s.due_at for name, s in states.items()}
    for t in answer.targets:
        assert (t.due_utc is None) == (t.due_at is None) == ("opened" not in t.starts_on)
        if t.due_at is not None:
            assert parse_opened(t.due_utc or "") == parse_opened(t.due_local or "") == t.due_at


def test_a_complaint_category_uses_the_complaint_policy_and_shows_durations_as_configured() -> None:
    answer = due_times(CN, "P3", "complaint", parse_opened("2026-10-09T20:00+08:00"), "Asia/Shanghai")
    assert answer.policy == "complaint"
    p3 = due_times(CN, "P3", "fault", parse_opened("2026-10-09T20:00+08:00"), "Asia/Shanghai")
    assert [(t.target, t.duration, t.region) for t in p3.targets] == [
        ("respond", "2h", "CN"), ("on_site", "8h", "CN"), ("resolve", "3wd", "CN"), ("follow_up", "24h", None)]
    # a 24x7 clock has no zone of its own: its local time is in the default zone
    assert p3.targets[-1].tz == "Asia/Shanghai"


@pytest.mark.parametrize(("value", "region"), [("CN", "CN"), (" de-by ", "DE-BY"), ("", None)])
def test_fieldsync_holidays_names_a_region(monkeypatch: pytest.MonkeyPatch, value: str, region: str | None) -> None:
    monkeypatch.setenv("FIELDSYNC_HOLIDAYS", value)
    assert get_settings().sla_region == region


def test_an_unknown_fieldsync_holidays_region_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDSYNC_HOLIDAYS", "Atlantis")
    with pytest.raises(SettingsError, match="FIELDSYNC_HOLIDAYS: bad region 'Atlantis'"):
        get_settings()
