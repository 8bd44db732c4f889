"""Inspection notice in working days: a plan's visit is made ``notice_days`` working days before its due date
(China's calendar around National Day 2026: holidays skipped, the make-up Saturday counted), announced on the
timeline and by the ``inspection_planned`` webhook; the server clock moved by the test, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.domain.plans.service import run_plans_tick
from server.services import Services
from server.settings import get_settings
from sync.storage import Database
from tests.support import epoch_doc

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> int:
    return int(datetime(*args, tzinfo=SHANGHAI).timestamp() * 1000)


@pytest.fixture
def services(db: Database, db_url: str, clock: Any) -> Services:
    settings = get_settings(db_url=db_url, run_scheduler=False, sla_timezone="Asia/Shanghai", sla_region="CN")
    return Services(db=db, settings=settings, clock=clock)


def webhooks(services: Services, kind: str) -> list[dict[str, Any]]:
    with services.db.read() as tx:
        return [json.loads(r["body"]) for r in tx.query("SELECT body FROM webhook_outbox WHERE kind = ? ORDER BY seq",
                                                         (kind,))]


@pytest.mark.parametrize(("day", "notice", "due", "notice_day"), [
    # Mon 10-12; 3 working days back: Sat 10-10 (make-up working day), Fri 10-09, Thu 10-08
    ("2026-10-12", 3, (2026, 10, 12), (2026, 10, 8)),
    # Sat 10-03 is National Day: due the next working day, Thu 10-08; 2 working days back skip the holidays
    ("2026-10-03", 2, (2026, 10, 8), (2026, 9, 29)),
])
def test_a_visit_is_made_and_announced_its_notice_in_working_days_before(
        app_client: Any, staff: Any, seeded: Any, services: Services, clock: Any, day: str, notice: int,
        due: tuple[int, int, int], notice_day: tuple[int, int, int]) -> None:
    clock.now = at(2026, 9, 1, 9, 0)
    aurora = app_client.get("/v1/customers", params={"q": "Aurora"}, headers=staff["backoffice"]).json()[0]
    r = app_client.post("/v1/plans", headers=staff["dispatcher"], json={
        "name": "Chiller inspection", "customer_id": aurora["id"], "site": "Aurora - plant room",
        "engineer_id": "e-chen", "dates": [day], "notice_days": notice, "lead_days": 0})
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["notice_days"] == notice and plan["customer"] == "Hotel Aurora" and plan["visits"] == []

    clock.now = at(*notice_day) - 60_000  # the minute before the notice day begins: nothing yet
    assert run_plans_tick(services, clock.now) == []
    assert app_client.get(f"/v1/plans/{plan['id']}", headers=staff["dispatcher"]).json()["visits"] == []
    assert webhooks(services, "inspection_planned") == []

    clock.now = at(*notice_day)
    (made,) = run_plans_tick(services, clock.now)
    assert made["due_at"] == at(*due) and made["period"] == day
    assert run_plans_tick(services, clock.now + 3_600_000) == []  # once
    ticket = epoch_doc(app_client.get(f"/v1/tickets/{made['ticket_id']}", headers=staff["dispatcher"]).json())
    assert ticket["customer_id"] == aurora["id"] and ticket["category"] == "inspection"
    (planned,) = [e for e in ticket["timeline"] if e["kind"] == "planned"]
    assert planned["data"]["notice_days"] == notice and planned["data"]["due_at"] == at(*due)
    assert ticket["jobs"][0]["scheduled_start"] == at(*due)
    (hook,) = epoch_doc(webhooks(services, "inspection_planned"))
    assert hook["ticket_id"] == made["ticket_id"] and hook["data"]["due_at"] == at(*due)
    visits = epoch_doc(app_client.get(f"/v1/plans/{plan['id']}", headers=staff["dispatcher"]).json()["visits"])
    assert [(v["period"], v["due_at"], v["ticket_id"]) for v in visits] == [(day, at(*due), made["ticket_id"])]


def test_without_notice_days_the_lead_time_stays_in_calendar_days(app_client: Any, staff: Any, seeded: Any,
                                                                   services: Services, clock: Any) -> None:
    clock.now = at(2026, 9, 1, 9, 0)
    r = app_client.post("/v1/plans", headers=staff["dispatcher"], json={
        "name": "Boiler", "customer": "Bakery Lund", "site": "Main shop", "engineer_id": "e-chen",
        "dates": ["2026-10-12"], "lead_days": 3})
    assert r.status_code == 201 and r.json()["notice_days"] is None
    assert run_plans_tick(services, at(2026, 10, 8, 23, 0)) == []
    assert len(run_plans_tick(services, at(2026, 10, 9, 0, 0))) == 1  # 3 calendar days, holidays or not
    bad = app_client.post("/v1/plans", headers=staff["dispatcher"], json={
        "name": "B", "customer": "Bakery Lund", "site": "Main shop", "engineer_id": "e-chen",
        "dates": ["2026-10-12"], "notice_days": -1})
    assert bad.status_code == 400
