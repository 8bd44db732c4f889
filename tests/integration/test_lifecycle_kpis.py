"""Service KPIs per period and group: first-time fix, remote share, response times, parts availability, satisfaction."""

from __future__ import annotations

import csv
import io
from typing import Any

from schemas.wire import MovePart, SetStatus
from server.services import Services
from tests.support import RawDevice, iso

MIN = 60_000


def job_on_new_ticket(app_client: Any, staff: Any, engineer: str, customer: str, priority: str,
                      remote: bool = False) -> tuple[str, str]:
    t = app_client.post("/v1/tickets", json={"customer": customer, "site": "S", "priority": priority},
                        headers=staff["dispatcher"]).json()
    r = app_client.post(f"/v1/tickets/{t['id']}/jobs", json={"engineer_id": engineer, "remote": remote},
                        headers=staff["dispatcher"])
    return t["id"], r.json()["jobs"][-1]["id"]


def walk(dev: RawDevice, clock: Any, job_id: str, steps: list[tuple[str, int]]) -> None:
    for status, minutes in steps:
        clock.advance(minutes * MIN)
        dev.open_session()  # sessions last an hour of server time
        assert dev.push([SetStatus(**dev.stamp(), job_id=job_id, status=status)]).results[0].result == "applied"


def test_kpis_per_engineer_customer_and_priority_in_json_and_csv(
        app_client: Any, staff: Any, seeded: Any, services: Services, clock: Any) -> None:
    clock.advance(MIN)
    start = clock.now  # after the demo tickets
    ben = RawDevice(app_client, services, "e-ben")
    # A: fixed remotely in one go (P2), responded in 10 min, restored after 40, nobody on site
    ta, ja = job_on_new_ticket(app_client, staff, "e-ben", "Acme", "P2", remote=True)
    walk(ben, clock, ja, [("accepted", 10), ("in_progress", 10), ("completed", 20)])
    # B: needs a second visit (P1); the first visit uses 6 valves from a van holding 5
    tb, jb1 = job_on_new_ticket(app_client, staff, "e-ben", "Bravo", "P1")
    walk(ben, clock, jb1, [("en_route", 30), ("on_site", 30)])
    assert ben.push([MovePart(**ben.stamp(), job_id=jb1, kind="consume", part_no="P-VALVE", qty=6)]
                    ).results[0].result == "applied"
    walk(ben, clock, jb1, [("cannot_complete", 10)])
    r = app_client.post(f"/v1/tickets/{tb}/jobs", json={"engineer_id": "e-ben"}, headers=staff["dispatcher"])
    jb2 = r.json()["jobs"][-1]["id"]
    ben.open_session()
    assert ben.push([MovePart(**ben.stamp(), job_id=jb2, kind="consume", part_no="P-SEAL", qty=1)]
                    ).results[0].result == "applied"
    walk(ben, clock, jb2, [("on_site", 60), ("completed", 30)])
    app_client.post(f"/v1/tickets/{ta}/follow-up", json={"reached": True, "rating": 5}, headers=staff["dispatcher"])
    app_client.post(f"/v1/tickets/{tb}/follow-up", json={"reached": True, "rating": 3}, headers=staff["dispatcher"])
    hdr = staff["backoffice"]
    window = {"from": iso(start), "to": iso(clock.now + 1)}

    (row,) = app_client.get("/v1/kpis", params={**window, "group_by": "engineer"}, headers=hdr).json()["rows"]
    assert row["group"] == "e-ben" and row["tickets"] == 2 and row["resolved"] == 2
    assert row["first_time_fix_rate"] == 0.5 and row["remote_share"] == 0.5
    assert row["consumptions"] == 2 and row["parts_availability"] == 0.5  # the 6th valve was not in the van
    assert row["ratings"] == 2 and row["satisfaction"] == 4.0

    rows = {r["group"]: r for r in app_client.get("/v1/kpis", params={**window, "group_by": "priority"},
                                                  headers=hdr).json()["rows"]}
    assert rows["P2"]["mean_respond_min"] == 10.0 and rows["P2"]["mean_arrive_min"] is None  # nobody went
    assert rows["P2"]["mean_restore_min"] == 40.0 and rows["P2"]["first_time_fix_rate"] == 1.0
    assert rows["P1"]["mean_respond_min"] == 30.0 and rows["P1"]["mean_arrive_min"] == 60.0
    assert rows["P1"]["mean_restore_min"] == 160.0 and rows["P1"]["first_time_fix_rate"] == 0.0

    by_customer = app_client.get("/v1/kpis", params={**window, "group_by": "customer", "format": "csv"},
                                 headers=hdr)
    assert by_customer.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(by_customer.text)))
    assert [(r["group"], r["remote_share"], r["satisfaction"]) for r in table] == [("Acme", "1.0", "5.0"),
                                                                                   ("Bravo", "0.0", "3.0")]
    before = app_client.get("/v1/kpis", params={"from": "2020-01-01", "to": "2020-02-01"}, headers=hdr).json()
    assert before["rows"] == []  # nothing opened in that period

    for params, code in (({"group_by": "site"}, "invalid_parameter"), ({"format": "xml"}, "invalid_parameter"),
                         ({"from": "yesterday"}, "bad_time"), ({"from": "5", "to": "4"}, "bad_time"),
                         ({"from": "2026-09-22", "to": "2026-09-21"}, "bad_range")):
        r = app_client.get("/v1/kpis", params=params, headers=hdr)
        assert r.status_code == 400 and r.json()["code"] == code, params
