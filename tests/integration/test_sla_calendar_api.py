"""A Chinese service organisation's calendar through the API: FIELDSYNC_TZ=Asia/Shanghai, FIELDSYNC_HOLIDAYS=CN.

Tickets opened around National Day 2026, a job on hold across it (a real
tablet's pushes), inspection visits that would fall on holidays, and KPI
durations in working time; on SQLite and PostgreSQL, with a settable clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schemas.wire import SetStatus
from server.domain.plans.service import run_plans_tick
from server.services import Services
from server.settings import get_settings
from sync.storage import Database
from tests.support import RawDevice, epoch_doc, iso

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN = 60_000
HOUR = 60 * MIN


def at(*args: int) -> int:
    return int(datetime(*args, tzinfo=SHANGHAI).timestamp() * 1000)


def local(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, SHANGHAI).replace(tzinfo=None)


@pytest.fixture
def services(db: Database, db_url: str, clock: Any) -> Services:
    settings = get_settings(db_url=db_url, run_scheduler=False, sla_timezone="Asia/Shanghai", sla_region="CN")
    return Services(db=db, settings=settings, clock=clock)


def open_ticket(client: Any, staff: Any, opened_at: int, priority: str = "P3", engineer: str | None = None) -> str:
    r = client.post("/v1/tickets", headers=staff["dispatcher"], json={
        "customer": "某某医院", "site": "住院部", "priority": priority, "category": "fault",
        "opened_at": iso(opened_at)})
    assert r.status_code == 201, r.text
    ticket_id: str = r.json()["id"]
    if engineer:
        r = client.post(f"/v1/tickets/{ticket_id}/jobs", headers=staff["dispatcher"], json={"engineer_id": engineer})
        assert r.status_code == 201, r.text
    return ticket_id


def sla(client: Any, staff: Any, ticket_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/tickets/{ticket_id}", headers=staff["backoffice"])
    assert r.status_code == 200, r.text
    out: dict[str, Any] = epoch_doc(r.json())["sla"]
    return out


@pytest.mark.parametrize(("opened", "opened_text", "respond_due"), [
    ((2026, 9, 30, 20, 0), "2026-09-30T20:00+08:00", "2026-10-08T10:00:00+08:00"),
    ((2026, 10, 9, 20, 0), "2026-10-09T20:00+08:00", "2026-10-10T10:00:00+08:00"),  # the make-up Saturday
])
def test_a_tickets_clocks_are_what_sla_due_answered_before_it_existed(
        app_client: Any, staff: Any, clock: Any, opened: tuple[int, ...], opened_text: str, respond_due: str) -> None:
    r = app_client.get("/v1/sla/due", params={"priority": "P3", "opened_at": opened_text}, headers=staff["dispatcher"])
    assert r.status_code == 200, r.text
    answer = {t["target"]: t for t in epoch_doc(r.json())["targets"]}
    assert answer["respond"]["due_local"] == respond_due

    clock.now = at(2026, 10, 20, 9, 0)
    clocks = sla(app_client, staff, open_ticket(app_client, staff, at(*opened)))
    assert {name: c["due_at"] for name, c in clocks.items()} == {name: t["due_at"] for name, t in answer.items()}


def test_a_job_on_hold_across_national_day_loses_no_working_time(
        app_client: Any, staff: Any, services: Services, clock: Any, seeded: Any) -> None:
    clock.now = at(2026, 9, 29, 9, 0)
    ticket = open_ticket(app_client, staff, clock.now, engineer="e-ana")
    tablet = RawDevice(app_client, services, "e-ana")
    job = next(j for j, data in tablet.jobs().items() if data["ticket_id"] == ticket)

    clock.now = at(2026, 9, 29, 10, 0)
    tablet.open_session()
    tablet.push([SetStatus(job_id=job, status="on_site", **tablet.stamp()),
                 SetStatus(job_id=job, status="in_progress", **tablet.stamp())])
    clock.now = at(2026, 9, 30, 10, 0)  # waiting for a part over the holiday
    tablet.open_session()
    tablet.push([SetStatus(job_id=job, status="on_hold", hold_reason="awaiting_parts", **tablet.stamp())])
    clock.now = at(2026, 10, 9, 10, 0)  # the part came; nine calendar days later
    tablet.open_session()
    receipt = tablet.push([SetStatus(job_id=job, status="in_progress", **tablet.stamp())])
    assert [r.result for r in receipt.results] == ["applied"]

    resolve = sla(app_client, staff, ticket)["resolve"]
    # On hold 09-30 10:00-17:00, all of 10-08, 10-09 08:00-10:00: 18 working hours; the holidays count nothing.
    assert resolve["state"] == "running" and resolve["paused_seconds"] == 18 * 3600
    # 10 of 27 h used before the hold; 17 h left from 10-09 10:00: 7 h, the make-up Saturday's 9 h, Monday 1 h.
    assert local(resolve["due_at"]) == datetime(2026, 10, 12, 9, 0)


def test_inspection_visits_due_on_non_working_days_are_scheduled_on_the_next_working_day(
        app_client: Any, staff: Any, services: Services, clock: Any, seeded: Any) -> None:
    clock.now = at(2026, 9, 1, 8, 0)
    plans = {}
    for name, schedule in (("dates", {"dates": ["2026-10-01", "2026-10-10", "2026-10-17"]}),
                           ("monthly", {"every_months": 1, "start_at": iso(at(2026, 9, 1, 9, 30))})):
        r = app_client.post("/v1/plans", headers=staff["dispatcher"], json={
            "name": f"锅炉巡检 {name}", "customer": "某某医院", "site": "锅炉房", "engineer_id": "e-ben",
            "lead_days": 60, **schedule})
        assert r.status_code == 201, r.text
        plans[name] = r.json()["id"]
    made = run_plans_tick(services, clock.now)
    scheduled = {}
    with services.db.read() as tx:
        for v in made:
            job = tx.one("SELECT scheduled_start FROM jobs WHERE id = ?", (v["job_id"],))
            assert job is not None and job["scheduled_start"] == v["due_at"]
            scheduled[(v["plan_id"], v["period"])] = local(v["due_at"])
    assert scheduled == {
        (plans["dates"], "2026-10-01"): datetime(2026, 10, 8, 0, 0),  # National Day -> the Thursday after
        (plans["dates"], "2026-10-10"): datetime(2026, 10, 10, 0, 0),  # a make-up Saturday is a working day
        (plans["dates"], "2026-10-17"): datetime(2026, 10, 19, 0, 0),  # an ordinary Saturday -> Monday
        (plans["monthly"], "2026-09-01"): datetime(2026, 9, 1, 9, 30),
        (plans["monthly"], "2026-10-01"): datetime(2026, 10, 8, 9, 30),
    }
    # the API shows the same days; the next monthly visit's 11-01 is a Sunday and moves to Monday
    visits = epoch_doc(app_client.get(f"/v1/plans/{plans['dates']}", headers=staff["dispatcher"]).json())["visits"]
    assert [(v["period"], local(v["due_at"])) for v in visits] == [
        ("2026-10-01", datetime(2026, 10, 8)), ("2026-10-10", datetime(2026, 10, 10)),
        ("2026-10-17", datetime(2026, 10, 19))]
    for now, next_due in ((at(2026, 9, 2, 8, 0), datetime(2026, 10, 8, 9, 30)),
                          (at(2026, 10, 9, 8, 0), datetime(2026, 11, 2, 9, 30))):  # 11-01 is a Sunday
        clock.now = now
        monthly = epoch_doc(app_client.get(f"/v1/plans/{plans['monthly']}", headers=staff["dispatcher"]).json())
        assert local(monthly["next_due_at"]) == next_due


def test_kpi_durations_are_working_time_on_the_tickets_sla_calendar(
        app_client: Any, staff: Any, services: Services, clock: Any, seeded: Any) -> None:
    clock.now = at(2026, 9, 30, 16, 0)
    p3 = open_ticket(app_client, staff, clock.now, "P3", engineer="e-ana")
    p1 = open_ticket(app_client, staff, clock.now, "P1", engineer="e-ana")
    tablet = RawDevice(app_client, services, "e-ana")
    jobs = {data["ticket_id"]: job for job, data in tablet.jobs().items()}
    clock.now = at(2026, 9, 30, 16, 30)
    tablet.push([SetStatus(job_id=jobs[p1], status="accepted", **tablet.stamp())])
    clock.now = at(2026, 10, 8, 9, 0)  # the P3 job is answered after the holiday
    tablet.open_session()
    tablet.push([SetStatus(job_id=jobs[p3], status="accepted", **tablet.stamp())])
    r = app_client.get("/v1/kpis", params={"from": "2026-09-30", "to": "2026-10-01", "group_by": "priority"},
                       headers=staff["backoffice"])
    assert r.status_code == 200, r.text
    respond = {row["group"]: row["mean_respond_min"] for row in r.json()["rows"]}
    # P3: 16:00-17:00 on 09-30 and 08:00-09:00 on 10-08 (not the 7 days between); P1 on 24x7: wall time
    assert respond == {"P1": 30.0, "P3": 120.0}
