"""SLA policies: the default table, the JSON format and the configurations it refuses."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.sla.calendar import CALENDAR_24X7, business_hours
from server.domain.sla.policy import (
    PolicyError,
    default_policies,
    load_policies,
    parse_duration,
)

H = 3_600_000
D = 24 * H


@pytest.mark.parametrize(
    ("priority", "target", "duration_ms", "is_24x7"),
    [
        ("P1", "respond", 1 * H, True),
        ("P1", "on_site", 2 * H, True),
        ("P1", "resolve", 24 * H, True),
        ("P2", "respond", 1 * H, True),
        ("P2", "on_site", 4 * H, True),
        ("P2", "resolve", 48 * H, True),
        ("P3", "respond", 2 * H, False),
        ("P3", "on_site", 8 * H, False),
        ("P3", "resolve", 3 * 9 * H, False),  # 3 working days of 08:00-17:00
        ("complaint", "respond", 2 * H, True),
        ("complaint", "resolve", 15 * D, True),
        ("P1", "follow_up", 24 * H, True),
        ("P3", "follow_up", 24 * H, True),  # the follow-up call is 24 h wall time on every priority
        ("complaint", "follow_up", 24 * H, True),
    ],
)
def test_default_table(priority: str, target: str, duration_ms: int, is_24x7: bool) -> None:
    spec = default_policies("Europe/Berlin").for_ticket(priority).target(target)
    assert spec.duration_ms == duration_ms
    assert spec.calendar.is_24x7 is is_24x7


def test_complaint_has_no_on_site_target() -> None:
    with pytest.raises(KeyError):
        default_policies().for_ticket("complaint").target("on_site")


def test_default_start_pause_stop_semantics() -> None:
    p1 = default_policies().for_ticket("P1")
    assert p1.target("respond").stop_on == {"acknowledged", "en_route", "on_site", "completed"}
    assert not p1.target("respond").pause_on  # responding does not pause
    assert p1.target("resolve").pause_on == {"on_hold"}
    assert p1.target("resolve").resume_on == {"resumed"}
    assert p1.target("follow_up").start_on == {"completed"}
    assert p1.target("follow_up").stop_on == {"follow_up_done"}


def test_p3_uses_business_hours_with_holidays() -> None:
    p3 = default_policies("Europe/Berlin", ["2025-12-25"]).for_ticket("P3")
    assert p3.calendar == business_hours("Europe/Berlin", holidays=[date(2025, 12, 25)], name="business")


@pytest.mark.parametrize(
    ("priority", "category", "policy"),
    [("P1", "fault", "P1"), ("P3", "inspection", "P3"), ("P1", "complaint", "complaint"), ("P2", None, "P2")],
)
def test_complaints_use_the_complaint_policy(priority: str, category: str | None, policy: str) -> None:
    assert default_policies().for_ticket(priority, category).name == policy


def test_unknown_priority_is_an_error() -> None:
    with pytest.raises(PolicyError, match="P9"):
        default_policies().for_ticket("P9")


@pytest.mark.parametrize(
    ("text", "ms"),
    [("2h", 2 * H), ("30m", 30 * 60_000), ("1h30m", 90 * 60_000), ("15d", 15 * D), ("45s", 45_000)],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


def test_working_days_use_the_calendars_business_day() -> None:
    assert parse_duration("3wd", business_hours("UTC")) == 27 * H
    assert parse_duration("3wd", CALENDAR_24X7) == 3 * D


def _config(**target_overrides: object) -> dict[str, object]:
    resolve: dict[str, object] = {"duration": "3wd", "start": ["opened"], "stop": ["completed"]}
    resolve.update(target_overrides)
    simple = {"targets": {"respond": {"duration": "1h", "start": ["opened"], "stop": ["acknowledged"]}}}
    return {
        "calendars": {
            "office": {
                "tz": "Europe/Berlin",
                "hours": {"mon": ["08:00-12:00", "13:00-17:00"], "tue": ["07:00-15:00"]},
                "holidays": ["2025-12-25"],
            }
        },
        "policies": {
            "P1": simple,
            "P2": simple,
            "P3": {"calendar": "office", "targets": {"resolve": resolve}},
            "complaint": simple,
        },
    }


def test_load_policies_reads_the_documented_format() -> None:
    policies = load_policies(json.dumps(_config(pause=["on_hold"], resume=["resumed"])))
    resolve = policies.for_ticket("P3").target("resolve")
    assert resolve.duration_ms == 3 * 8 * H  # both opening days are 8 h long
    assert resolve.pause_on == {"on_hold"}
    assert resolve.calendar.tz == "Europe/Berlin"
    assert policies.for_ticket("P1").thresholds == (50, 75, 100)


def test_defaults_load_from_json_too() -> None:
    assert default_policies().for_ticket("P2").target("resolve").duration_ms == 48 * H


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"start": []}, "no start event"),
        ({"stop": []}, "no stop event"),
        ({"stop": ["opened"]}, "both starts and stops"),
        ({"pause": ["on_hold"]}, "never resume"),
        ({"pause": ["on_hold"], "resume": ["on_hold"]}, "both pauses and resumes"),
        ({"stop": ["closed"]}, "unknown event kind"),
        ({"stop": ["cancelled"]}, "cannot be configured"),
        ({"calendar": "moon"}, "unknown calendar"),
        ({"duration": "0h"}, "must be positive"),
        ({"duration": "-2h"}, "bad duration"),
        ({"duration": "soon"}, "bad duration"),
        ({"deadline": "2h"}, "unknown key"),
    ],
)
def test_unworkable_targets_are_rejected(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policies(json.dumps(_config(**overrides)))


def test_unknown_time_zone_is_rejected() -> None:
    config = _config()
    config["calendars"]["office"]["tz"] = "Europe/Atlantis"  # type: ignore[index]
    with pytest.raises(PolicyError, match="unknown time zone"):
        load_policies(json.dumps(config))


def test_every_priority_needs_a_policy() -> None:
    config = _config()
    del config["policies"]["complaint"]  # type: ignore[attr-defined]
    with pytest.raises(PolicyError, match="complaint"):
        load_policies(json.dumps(config))


def test_invalid_json_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="not valid JSON"):
        load_policies("{")


# -- targets as a list ------------------------------------------------------------------------------------


def _listed(targets: object) -> str:
    simple = {"targets": [{"name": "respond", "duration": "1h", "start": ["opened"], "stop": ["acknowledged"]}]}
    return json.dumps({"policies": {"P1": {"targets": targets}, "P2": simple, "P3": simple, "complaint": simple}})


def test_a_target_list_keeps_its_order_and_may_name_new_clocks() -> None:
    policies = load_policies(_listed([
        {"name": "register", "duration": "15m", "start": ["opened"], "stop": ["job_assigned", "completed"]},
        {"name": "depart", "duration": "2h", "start": ["opened"], "stop": ["en_route"], "calendar": "24x7"},
        {"name": "resolve", "duration": "24h", "start": ["opened"], "stop": ["completed"]},
    ]))
    p1 = policies.for_ticket("P1")
    assert [t.name for t in p1.targets] == ["register", "depart", "resolve"]
    assert p1.target("register").duration_ms == 15 * 60_000
    assert p1.target("register").stop_on == {"job_assigned", "completed"}


def test_the_keyed_form_still_reads_with_the_default_names_first() -> None:
    body = {"duration": "1h", "start": ["opened"], "stop": ["completed"]}
    policies = load_policies(_listed({"depart": body, "resolve": body, "respond": body}))
    assert [t.name for t in policies.for_ticket("P1").targets] == ["respond", "resolve", "depart"]


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ([], "at least one target"),
        ({}, "at least one target"),
        ("resolve", "a list of targets"),
        ([{"duration": "1h", "start": ["opened"], "stop": ["completed"]}], r"\[0\]\.name"),
        ([{"name": "Resolve!", "duration": "1h", "start": ["opened"], "stop": ["completed"]}], r"\[0\]\.name"),
        ([{"name": "a#2", "duration": "1h", "start": ["opened"], "stop": ["completed"]}], r"\[0\]\.name"),
        ([{"name": "x", "duration": "1h", "start": ["opened"], "stop": ["completed"]},
          {"name": "x", "duration": "2h", "start": ["opened"], "stop": ["completed"]}], "more than once"),
        ([{"name": "x", "duration": "1h", "start": ["opened"], "stop": ["completed"], "colour": "red"}],
         "unknown key"),
        ([{"name": "x", "duration": "1h", "start": ["opened"], "stop": ["classified"]}], "unknown event kind"),
    ],
)
def test_a_bad_target_list_is_refused_with_where_and_why(targets: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policies(_listed(targets))


_BODIES = {
    "register": {"duration": "15m", "start": ["opened"], "stop": ["job_assigned"]},
    "respond": {"duration": "1h", "start": ["opened"], "stop": ["acknowledged"]},
    "depart": {"duration": "2h", "start": ["opened"], "stop": ["en_route"], "not_applicable": ["remote_resolved"]},
    "resolve": {"duration": "1d", "start": ["opened"], "stop": ["completed"], "pause": ["on_hold"],
                "resume": ["resumed"]},
}


@settings(max_examples=60, deadline=None)
@given(st.permutations(sorted(_BODIES)).flatmap(lambda names: st.integers(1, len(names)).map(lambda n: names[:n])))
def test_a_target_list_in_any_order_is_reported_in_that_order_and_reads_like_the_keyed_form(names: list[str]) -> None:
    listed = load_policies(_listed([{"name": n, **_BODIES[n]} for n in names])).for_ticket("P1")
    keyed = load_policies(_listed({n: _BODIES[n] for n in names})).for_ticket("P1")
    assert [t.name for t in listed.targets] == names
    assert sorted(listed.targets, key=lambda t: t.name) == sorted(keyed.targets, key=lambda t: t.name)
