"""Remote fixes (远程诊断): a remote job resolved without a visit, by the engineer's tablet (the SDK) and by
the office on the phone (the HTTP API), with the server clock moved where time must pass.

A remote job goes accepted -> in_progress -> completed; the timeline says ``remote_resolved``; the SLA
on-site clock no longer applies (not met, not breached, and a breach announced meanwhile is withdrawn);
the KPIs count the remote share.  A job to visit cannot skip the visit, and the office's endpoint refuses
what it must with nothing changed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from client_sdk import FieldClient
from client_sdk.errors import InvalidTransition
from server.domain.devices.service import issue_enroll_token
from server.scheduler import run_sla_tick
from server.services import Services
from tests.consoleclient import console_login
from tests.support import epoch_doc, iso

MIN = 60_000
HOUR = 60 * MIN
DAY_0 = 1_790_035_200_000  # 2026-09-22 00:00 UTC, a Tuesday after the seeded data
T0 = DAY_0 + 9 * HOUR


@pytest.fixture
def tablet(tmp_path: Path, app_client: Any, services: Services, seeded: Any, clock: Any) -> Any:
    clock.now = T0 - HOUR
    c = FieldClient.open(tmp_path / "tablet.db", transport=app_client, clock=lambda: services.clock())
    token, _ = issue_enroll_token(services, "e-ana")
    c.enroll(token)
    yield c
    c.close()


def new_job(client: Any, staff: Any, priority: str = "P1", remote: bool = False,
            engineer: str = "e-ana") -> tuple[str, str]:
    r = client.post("/v1/tickets", headers=staff["dispatcher"], json={
        "customer": "Remote Co", "site": "HQ", "priority": priority, "opened_at": iso(T0)})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    r = client.post(f"/v1/tickets/{tid}/jobs", headers=staff["dispatcher"],
                    json={"engineer_id": engineer, "remote": remote})
    assert r.status_code == 201, r.text
    return tid, r.json()["jobs"][0]["id"]


def ticket(client: Any, staff: Any, tid: str) -> dict[str, Any]:
    r = client.get(f"/v1/tickets/{tid}", headers=staff["backoffice"])
    assert r.status_code == 200, r.text
    out: dict[str, Any] = epoch_doc(r.json())
    return out


def test_the_engineer_resolves_a_remote_job_on_the_tablet_and_the_on_site_clock_stops_applying(
        tablet: FieldClient, app_client: Any, staff: Any, services: Services, clock: Any) -> None:
    clock.now = T0
    tid, job_id = new_job(app_client, staff, remote=True)
    visit_tid, visit_job = new_job(app_client, staff)
    assert tablet.sync().ok

    # A job to visit cannot skip the visit, offline or at the server.
    tablet.set_status(visit_job, "accepted")
    with pytest.raises(InvalidTransition):
        tablet.set_status(visit_job, "in_progress")

    clock.now = T0 + 5 * MIN
    tablet.set_status(job_id, "accepted")
    clock.now = T0 + 10 * MIN
    tablet.set_status(job_id, "in_progress")  # remote diagnosis with the customer on the line
    assert tablet.sync().ok
    # the server announces the on-site breach at 11:00: it cannot know yet that nobody needs to go
    clock.now = T0 + 2 * HOUR
    assert ("on_site", 100) in {(m.target, m.threshold) for m in run_sla_tick(services) if m.ticket_id == tid}

    clock.now = T0 + 150 * MIN
    tablet.set_field(job_id, "resolution", "Reset the controller remotely, pressure back to 1.5 bar")
    tablet.set_status(job_id, "completed")
    report = tablet.sync()
    assert report.ok and report.rejected == 0, tablet.op_results()

    got = ticket(app_client, staff, tid)
    assert got["jobs"][0]["status"] == "completed" and got["jobs"][0]["remote"] is True
    kinds = sorted(e["kind"] for e in got["timeline"] if e["job_id"] == job_id and e["source"].startswith("device:"))
    assert kinds == ["acknowledged", "completed", "remote_resolved", "work_started"]  # no en_route, no on_site
    resolved = next(e for e in got["timeline"] if e["kind"] == "remote_resolved")
    assert resolved["at"] == T0 + 150 * MIN and resolved["data"]["by"] == "engineer"
    assert resolved["source"].startswith("device:")
    on_site = got["sla"]["on_site"]
    assert on_site["state"] == "not_applicable" and on_site["breached"] is False and on_site["due_at"] is None
    assert got["sla"]["resolve"]["state"] == "met" and got["sla"]["respond"]["state"] == "met"

    console_login(app_client, staff["backoffice"]["authorization"].removeprefix("Bearer "))
    page = app_client.get(f"/tickets/{tid}").text
    assert re.search(r'data-state="na">\s*<div class="clock-head"><span class="clock-target">On site</span>'
                     r'<span class="clock-state">not applicable</span>', page)
    assert "remote resolved" in page

    # the breach announced at 11:00 is withdrawn on the next tick
    withdrawn = [(m.kind, m.target) for m in run_sla_tick(services) if m.ticket_id == tid]
    assert ("sla_breach_withdrawn", "on_site") in withdrawn
    assert not any(e["kind"] == "remote_resolved" for e in ticket(app_client, staff, visit_tid)["timeline"])

    # a job to visit goes the usual way; it is not counted remote
    for status in ("en_route", "on_site", "completed"):
        clock.now += 10 * MIN
        tablet.set_status(visit_job, status)
    assert tablet.sync().ok
    kpis = app_client.get("/v1/kpis", params={"from": iso(T0), "to": iso(T0 + 1), "group_by": "all"},
                          headers=staff["backoffice"]).json()["rows"]
    assert [(r["resolved"], r["remote_share"]) for r in kpis] == [(2, 0.5)]
    report_rows = app_client.get("/v1/sla/compliance", params={"from": iso(T0), "to": iso(T0 + 1)},
                                 headers=staff["dispatcher"]).json()["rows"]
    on_site_row = next(r for r in report_rows if r["target"] == "on_site")
    # the remote ticket's on-site clock does not count; the visit (on site at 11:40) was late
    assert (on_site_row["tickets"], on_site_row["not_applicable"], on_site_row["breached"]) == (2, 1, 1)


def test_the_office_resolves_a_job_by_phone_and_refuses_what_it_must_with_nothing_changed(
        tablet: FieldClient, app_client: Any, staff: Any, services: Services, clock: Any) -> None:
    clock.now = T0
    tid, job_id = new_job(app_client, staff, priority="P2")  # dispatched for a visit
    assert tablet.sync().ok
    tablet.set_status(job_id, "accepted")
    assert tablet.sync().ok
    url = f"/v1/jobs/{job_id}/remote-resolution"
    clock.now = T0 + 30 * MIN
    before = ticket(app_client, staff, tid)
    for body, status, code in (({"resolution": "  "}, 400, "resolution_required"),
                               ({"resolution": "x", "colour": "red"}, 400, None),
                               ({}, 400, None),
                               ({"resolution": "x" * 10_001}, 400, None)):
        r = app_client.post(url, json=body, headers=staff["backoffice"])
        assert r.status_code == status, r.text
        if code:
            assert r.json()["code"] == code
    r = app_client.post("/v1/jobs/J-nope/remote-resolution", json={"resolution": "x"}, headers=staff["backoffice"])
    assert r.status_code == 404 and r.json()["code"] == "unknown_job"
    assert ticket(app_client, staff, tid) == before  # refused: nothing changed

    r = app_client.post(url, json={"resolution": "Talked the customer through a filter reset",
                                   "diagnosis": "Clogged filter"}, headers=staff["backoffice"])
    assert r.status_code == 200, r.text
    got = epoch_doc(r.json())
    job = got["jobs"][0]
    assert (job["status"], job["remote"], job["diagnosis"]) == ("completed", True, "Clogged filter")
    events = sorted((e["kind"], e["source"]) for e in got["timeline"] if e["at"] == T0 + 30 * MIN)
    assert [k for k, _ in events] == ["completed", "remote_resolved"]
    assert len({source for _, source in events}) == 1 and events[0][1].startswith("staff:")
    assert got["sla"]["on_site"]["state"] == "not_applicable" and got["sla"]["resolve"]["met_at"] == T0 + 30 * MIN

    # again: the job is completed now
    r = app_client.post(url, json={"resolution": "again"}, headers=staff["backoffice"])
    assert r.status_code == 409 and r.json()["code"] == "not_remotely_resolvable"

    # the engineer's tablet sees the job as it really is
    assert tablet.sync().ok
    assert tablet.job(job_id).job.status == "completed"


def test_the_office_cannot_resolve_remotely_once_someone_was_on_site(
        tablet: FieldClient, app_client: Any, staff: Any, clock: Any) -> None:
    clock.now = T0
    tid, job_id = new_job(app_client, staff, priority="P2")
    assert tablet.sync().ok
    for status in ("en_route", "on_site"):
        clock.now += 10 * MIN
        tablet.set_status(job_id, status)
    clock.now += 10 * MIN
    tablet.set_status(job_id, "on_hold", hold_reason="awaiting_parts")
    assert tablet.sync().ok
    r = app_client.post(f"/v1/jobs/{job_id}/remote-resolution", json={"resolution": "x"},
                        headers=staff["backoffice"])
    assert r.status_code == 409 and r.json()["code"] == "visited_on_site"
    assert ticket(app_client, staff, tid)["jobs"][0]["status"] == "on_hold"
