"""The service plans' KPIs against their targets, per period and per month, through the HTTP API.

Tickets over two months with the server clock moved: remote fixes by the office, visits by a tablet
(one needing a second visit), follow-up calls on time and late in *working* time (a Friday completion
called back on Monday is on time), a low rating opening a complaint the customer confirms within
15 working days.  Complaints are not failed first-time fixes.

The targets in force: the plans' defaults, overridden by the policy file, overridden by an admin's
(``PUT``/``DELETE /v1/kpis/targets/{kpi}``), each with its ``source``; ``GET /v1/kpis/targets/in-force``
lists them all.  A value meets its target the KPI's way (rates at or above, mean times at or below).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from schemas.wire import SetStatus
from server.domain.kpis.targets import target_met
from server.domain.sla.policy import PolicyError, default_policies, policies_from_dict
from server.services import Services
from tests.support import RawDevice, iso

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
TUE = 1_790_035_200_000  # 2026-09-22 00:00 UTC, a Tuesday after the seeded data


def at(day: int, hour: float) -> int:
    """``day`` days after Tuesday 22 September 2026, at ``hour`` UTC."""
    return TUE + day * DAY + int(hour * HOUR)


def ticket(client: Any, staff: Any, clock: Any, opened: int, priority: str, engineer: str) -> tuple[str, str]:
    clock.now = opened
    r = client.post("/v1/tickets", headers=staff["dispatcher"], json={
        "customer": "Acme", "site": "Plant 1", "priority": priority, "opened_at": iso(opened)})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    r = client.post(f"/v1/tickets/{tid}/jobs", headers=staff["dispatcher"], json={"engineer_id": engineer})
    assert r.status_code == 201, r.text
    return tid, r.json()["jobs"][-1]["id"]


def remote_fix(client: Any, staff: Any, clock: Any, job_id: str, when: int) -> None:
    clock.now = when
    r = client.post(f"/v1/jobs/{job_id}/remote-resolution", json={"resolution": "Reset by phone"},
                    headers=staff["backoffice"])
    assert r.status_code == 200, r.text


def steps(dev: RawDevice, clock: Any, job_id: str, plan: list[tuple[int, str]]) -> None:
    for when, status in plan:
        clock.now = when
        dev.open_session()
        assert dev.push([SetStatus(**dev.stamp(), job_id=job_id, status=status)]).results[0].result == "applied"


def follow_up(client: Any, staff: Any, clock: Any, tid: str, when: int, rating: int) -> dict[str, Any]:
    clock.now = when
    r = client.post(f"/v1/tickets/{tid}/follow-up", json={"reached": True, "rating": rating},
                    headers=staff["dispatcher"])
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def figures(kpis: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {k["kpi"]: (k["count"], k["of"], k["value"], k["status"]) for k in kpis}


def test_kpis_against_their_targets_per_period_and_month_in_working_time(
        app_client: Any, staff: Any, services: Services, clock: Any, seeded: Any) -> None:
    ben = RawDevice(app_client, services, "e-ben")
    t1, j1 = ticket(app_client, staff, clock, at(0, 9), "P2", "e-ana")
    remote_fix(app_client, staff, clock, j1, at(0, 9.5))
    follow_up(app_client, staff, clock, t1, at(1, 9.5), 5)  # 7.5 + 1.5 working hours: one working day, on time
    t2, j2 = ticket(app_client, staff, clock, at(0, 10), "P1", "e-ben")
    steps(ben, clock, j2, [(at(0, 10.5), "en_route"), (at(0, 11), "on_site"), (at(3, 16), "completed")])
    # completed Friday 16:00, called Monday 16:00: 72 h of wall time, 9 working hours
    assert follow_up(app_client, staff, clock, t2, at(6, 16), 4)["breached"] is True  # the 24x7 SLA clock
    t3, j3 = ticket(app_client, staff, clock, at(1, 9), "P2", "e-ben")
    steps(ben, clock, j3, [(at(1, 9.2), "en_route"), (at(1, 9.7), "on_site"), (at(1, 10), "cannot_complete")])
    clock.now = at(1, 11)
    r = app_client.post(f"/v1/tickets/{t3}/jobs", headers=staff["dispatcher"], json={"engineer_id": "e-ben"})
    j3b = r.json()["jobs"][-1]["id"]
    steps(ben, clock, j3b, [(at(2, 10), "on_site"), (at(2, 11), "completed")])
    (complaint,) = follow_up(app_client, staff, clock, t3, at(6, 10), 1)["complaint_ids"]  # 17 working h: late
    clock.now = at(10, 10)  # Friday 2 October: the customer confirms, 4 working days after the complaint
    r = app_client.post(f"/v1/tickets/{complaint}/customer-confirmation", json={"confirmed_by": "Mr Zhang"},
                        headers=staff["dispatcher"])
    assert r.status_code == 201, r.text
    t4, j4 = ticket(app_client, staff, clock, at(9, 9), "P2", "e-ana")  # Thursday 1 October
    remote_fix(app_client, staff, clock, j4, at(9, 9.33))  # never called back: overdue by Friday evening
    t5, j5 = ticket(app_client, staff, clock, at(13, 9), "P3", "e-ana")  # Monday 5 October
    remote_fix(app_client, staff, clock, j5, at(13, 10))  # not called yet, still inside its working day
    clock.now = at(13, 12)

    hdr = staff["backoffice"]
    window = {"from": "2026-09-22", "to": "2026-11-01"}
    r = app_client.get("/v1/kpis/targets", params=window, headers=hdr)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["from"] == "2026-09-22T00:00:00.000Z" and report["to"] == "2026-11-01T00:00:00.000Z"
    assert report["targets"] == {"first_time_fix_rate": {"min": 0.95, "within": None, "source": "default"},
                                 "remote_share": {"min": 0.8, "within": None, "source": "default"},
                                 "follow_up_on_time": {"min": 1.0, "within": "1wd", "source": "default"},
                                 "complaint_closed_on_time": {"min": 1.0, "within": "15wd", "source": "default"}}
    # the complaint is resolved but is no fix: 4 of 5 fixes were first-time (T3 needed two visits)
    assert figures(report["kpis"]) == {"first_time_fix_rate": (4, 5, 0.8, "missed"),
                                       "remote_share": (3, 5, 0.6, "missed"),
                                       "follow_up_on_time": (3, 5, 0.6, "missed"),
                                       "complaint_closed_on_time": (1, 1, 1.0, "met")}
    assert [m["month"] for m in report["months"]] == ["2026-09", "2026-10"]
    sep, oct_ = (figures(m["kpis"]) for m in report["months"])
    assert sep == {"first_time_fix_rate": (2, 3, 0.6667, "missed"), "remote_share": (1, 3, 0.3333, "missed"),
                   "follow_up_on_time": (3, 4, 0.75, "missed"), "complaint_closed_on_time": (1, 1, 1.0, "met")}
    assert oct_ == {"first_time_fix_rate": (2, 2, 1.0, "met"), "remote_share": (2, 2, 1.0, "met"),
                    "follow_up_on_time": (0, 1, 0.0, "missed"), "complaint_closed_on_time": (0, 0, None, "no_data")}
    assert report["trend"] == {"months": ["2026-09", "2026-10"],
                               "series": {"first_time_fix_rate": [0.6667, 1.0], "remote_share": [0.3333, 1.0],
                                          "follow_up_on_time": [0.75, 0.0], "complaint_closed_on_time": [1.0, None]}}

    # the older KPI report no longer counts the complaint as a failed first-time fix either
    (row,) = app_client.get("/v1/kpis", params=window, headers=hdr).json()["rows"]
    assert (row["resolved"], row["first_time_fix_rate"], row["remote_share"]) == (6, 0.8, 0.6)

    table = list(csv.DictReader(io.StringIO(app_client.get("/v1/kpis/targets", params={**window, "format": "csv"},
                                                           headers=hdr).text)))
    assert table[0] == {"scope": "period", "kpi": "first_time_fix_rate", "value": "0.8", "count": "4", "of": "5",
                        "target": "0.95", "within": "", "status": "missed", "source": "default"}
    assert [(r["scope"], r["kpi"]) for r in table][-1] == ("2026-10", "complaint_closed_on_time")
    assert len(table) == 12
    zh = app_client.get("/v1/kpis/targets", params={**window, "format": "csv"},
                        headers={**hdr, "accept-language": "zh-CN"})
    assert zh.text.splitlines()[0] == "范围,指标,实际值,达标数,统计数,目标值,时限,状态,目标来源"
    for params, code in (({"format": "xml"}, "invalid_parameter"), ({"from": "yesterday"}, "bad_time"),
                         ({"from": "2026-10-01", "to": "2026-09-01"}, "bad_range")):
        r = app_client.get("/v1/kpis/targets", params=params, headers=hdr)
        assert r.status_code == 400 and r.json()["code"] == code, params

    # an admin's target overrides the plans' in the report and its CSV; deleting it brings the plans' back
    r = app_client.put("/v1/kpis/targets/first_time_fix_rate", json={"target": 0.8}, headers=staff["admin"])
    assert r.status_code == 200, r.text
    report = app_client.get("/v1/kpis/targets", params=window, headers=hdr).json()
    assert report["targets"]["first_time_fix_rate"] == {"min": 0.8, "within": None, "source": "admin"}
    assert figures(report["kpis"])["first_time_fix_rate"] == (4, 5, 0.8, "met")
    table = list(csv.DictReader(io.StringIO(app_client.get("/v1/kpis/targets", params={**window, "format": "csv"},
                                                           headers=hdr).text)))
    assert (table[0]["target"], table[0]["status"], table[0]["source"]) == ("0.8", "met", "admin")
    r = app_client.delete("/v1/kpis/targets/first_time_fix_rate", headers=staff["admin"])
    assert (r.status_code, r.json()["target"], r.json()["source"]) == (200, 0.95, "default"), r.text
    report = app_client.get("/v1/kpis/targets", params=window, headers=hdr).json()
    assert report["targets"]["first_time_fix_rate"] == {"min": 0.95, "within": None, "source": "default"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_targets_come_from_the_policy_file(app_client: Any, staff: Any, services: Services, clock: Any,
                                           tmp_path: Path) -> None:
    from litestar.testing import TestClient

    from server.app import create_app

    resolve = {"targets": [{"name": "resolve", "duration": "24h", "start": ["opened"], "stop": ["completed"]}]}
    path = tmp_path / "policies.json"
    path.write_text(json.dumps({"policies": {p: resolve for p in ("P1", "P2", "P3", "complaint")},
                                "kpi_targets": {"remote_share": {"min": 0.5},
                                                "follow_up_on_time": {"within": "24h"}}}), encoding="utf-8")
    configured = Services(db=services.db, settings=replace(services.settings, sla_policy_file=str(path)),
                          clock=clock)
    with TestClient(create_app(services=configured, scheduler=False)) as client:
        got = client.get("/v1/kpis/targets", headers=staff["backoffice"]).json()
        shown = client.get("/v1/sla/policies", headers=staff["dispatcher"]).json()["kpi_targets"]
        # an admin's target beats the policy file's; the duration KPI keeps the file's time
        assert client.put("/v1/kpis/targets/remote_share", json={"target": 0.6},
                          headers=staff["admin"]).status_code == 200
        r = client.put("/v1/kpis/targets/follow_up_on_time", json={"target": 0.9}, headers=staff["admin"])
        assert (r.status_code, r.json()["source"], r.json()["within"]) == (200, "admin", "24h"), r.text
        over = client.get("/v1/kpis/targets", headers=staff["backoffice"]).json()["targets"]
        assert client.delete("/v1/kpis/targets/remote_share", headers=staff["admin"]).json()["source"] == "policy"
        back = client.get("/v1/kpis/targets", headers=staff["backoffice"]).json()["targets"]
    assert got["targets"]["remote_share"] == {"min": 0.5, "within": None, "source": "policy"}
    assert got["targets"]["follow_up_on_time"] == {"min": 1.0, "within": "24h", "source": "policy"}
    assert got["targets"]["first_time_fix_rate"] == {"min": 0.95, "within": None, "source": "default"}  # the plans'
    assert over["remote_share"] == {"min": 0.6, "within": None, "source": "admin"}
    assert over["follow_up_on_time"] == {"min": 0.9, "within": "24h", "source": "admin"}
    assert back["remote_share"] == {"min": 0.5, "within": None, "source": "policy"}  # the file's again
    assert shown["follow_up_on_time"] == {"min": 1.0, "within": "24h", "within_ms": 24 * HOUR}

    base = {"policies": {p: resolve for p in ("P1", "P2", "P3", "complaint")}}
    for bad in ({"teleport": {"min": 1}}, {"remote_share": {"min": 80}}, {"remote_share": {"within": "1h"}},
                {"follow_up_on_time": {"within": "soon"}}, {"remote_share": 0.8}):
        with pytest.raises(PolicyError):
            policies_from_dict({**base, "kpi_targets": bad})
    assert default_policies().kpi_targets["complaint_closed_on_time"].within_ms == 15 * 9 * HOUR


def in_force(client: Any, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    r = client.get("/v1/kpis/targets/in-force", headers=headers)
    assert r.status_code == 200, r.text
    return {t["kpi"]: t for t in r.json()}


def test_admins_set_replace_and_clear_targets_over_the_plans(app_client: Any, staff: Any, clock: Any) -> None:
    admin, office = staff["admin"], staff["backoffice"]
    start = in_force(app_client, office)
    assert list(start) == ["first_time_fix_rate", "remote_share", "follow_up_on_time", "complaint_closed_on_time",
                           "parts_availability", "satisfaction", "mean_respond_min", "mean_arrive_min",
                           "mean_restore_min"]
    assert start["first_time_fix_rate"] == {"kpi": "first_time_fix_rate", "target": 0.95, "better": "more",
                                            "source": "default", "within": None, "set_at": None, "set_by": None}
    assert start["complaint_closed_on_time"]["within"] == "15wd"
    assert (start["mean_restore_min"]["target"], start["mean_restore_min"]["source"]) == (None, None)
    clock.now = 1_790_035_200_000
    r = app_client.put("/v1/kpis/targets/first_time_fix_rate", json={"target": 0.8}, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["kpi"], body["target"], body["better"], body["source"]) == ("first_time_fix_rate", 0.8, "more",
                                                                             "admin")
    assert body["set_at"] == iso(clock.now) == "2026-09-22T00:00:00.000Z" and body["set_by"]  # RFC 3339 UTC
    app_client.put("/v1/kpis/targets/mean_restore_min", json={"target": 240}, headers=admin)
    app_client.put("/v1/kpis/targets/first_time_fix_rate", json={"target": 0.85}, headers=admin)
    listed = in_force(app_client, office)
    assert {k: (t["target"], t["better"], t["source"]) for k, t in listed.items() if t["source"] == "admin"} == {
        "first_time_fix_rate": (0.85, "more", "admin"), "mean_restore_min": (240.0, "less", "admin")}
    for _ in range(2):  # nothing to drop the second time: the same answer
        r = app_client.delete("/v1/kpis/targets/mean_restore_min", headers=admin)
        assert (r.status_code, r.json()["target"], r.json()["source"]) == (200, None, None), r.text
    assert app_client.delete("/v1/kpis/targets/first_time_fix_rate", headers=admin).json()["source"] == "default"
    assert in_force(app_client, office) == start  # the plans' targets again, none for the others
    assert app_client.put("/v1/kpis/targets/remote_share", json={"target": 0.5}, headers=office).status_code == 403


@pytest.mark.parametrize(("kpi", "body", "status", "code"), [
    ("first_time_fix_rate", {"target": 1.5}, 400, "bad_target"),
    ("follow_up_on_time", {"target": -0.1}, 400, "bad_target"),
    ("satisfaction", {"target": 0}, 400, "bad_target"),
    ("mean_respond_min", {"target": -1}, 400, "bad_target"),
    ("first_time_fix_rate", {"target": "high"}, 400, "invalid_body"),
    ("first_time_fix_rate", {"target": 0.5, "note": "x"}, 400, "invalid_body"),
    ("tickets", {"target": 3}, 404, "unknown_kpi"),
])
def test_a_bad_target_is_refused_and_nothing_is_written(app_client: Any, staff: Any, kpi: str, body: Any,
                                                        status: int, code: str) -> None:
    before = in_force(app_client, staff["admin"])
    r = app_client.put(f"/v1/kpis/targets/{kpi}", json=body, headers=staff["admin"])
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert in_force(app_client, staff["admin"]) == before
    assert all(t["source"] != "admin" for t in before.values())


def test_a_value_meets_its_target_the_kpis_way() -> None:
    assert target_met("first_time_fix_rate", 0.8, 0.8) is True
    assert target_met("first_time_fix_rate", 0.79, 0.8) is False
    assert target_met("mean_restore_min", 200, 240) is True
    assert target_met("mean_restore_min", 241, 240) is False
    assert target_met("satisfaction", None, 4) is None
    assert target_met("satisfaction", 4.5, None) is None
