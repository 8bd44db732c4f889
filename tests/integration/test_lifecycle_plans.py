"""Preventive inspection plans: one inspection per period, across restarts and with two servers on one database."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from schemas.wire import SetStatus
from server.domain.plans.service import run_plans_tick
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.support import RawDevice, epoch_doc, iso

DAY = 86_400_000
ROOT = Path(__file__).resolve().parents[2]

TICK_SCRIPT = """
import sys
from server.services import Services
from server.domain.plans.service import run_plans_tick
from server.settings import get_settings
from sync.storage import open_database
url, now = sys.argv[1], int(sys.argv[2])
svc = Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False), clock=lambda: now)
print(len(run_plans_tick(svc, now)))
svc.db.close()
"""


def visits(services: Services) -> list[tuple[str, str]]:
    with services.db.read() as tx:
        rows = tx.query("SELECT v.period, t.category FROM plan_visits v JOIN tickets t ON t.id = v.ticket_id "
                        "ORDER BY v.period")
        inspections = tx.one("SELECT COUNT(*) AS n FROM tickets WHERE category = 'inspection' "
                             "AND created_by LIKE 'plan:%'")
    assert inspections is not None and inspections["n"] == len(rows)  # never a ticket without its claim
    return [(r["period"], r["category"]) for r in rows]


def quarterly_plan(app_client: Any, staff: Any, clock: Any) -> dict[str, Any]:
    hdr = staff["backoffice"]
    assert app_client.post("/v1/assets", json={"serial": "AS-9", "model": "Vitodens 200", "equipment_type": "boiler",
                                               "customer": "Office Park 7", "site": "Building C"},
                           headers=hdr).status_code == 201
    app_client.post("/v1/engineers/e-ben/certifications", json={"equipment_type": "boiler", "name": "Gas safe"},
                    headers=hdr)
    r = app_client.post("/v1/plans", json={"name": "Quarterly boiler inspection", "asset_serial": "AS-9",
                                           "every_months": 3, "start_at": iso(clock.now + 10 * DAY),
                                           "engineer_id": "e-ben", "lead_days": 14}, headers=staff["dispatcher"])
    assert r.status_code == 201, r.text
    plan: dict[str, Any] = epoch_doc(r.json())
    assert plan["customer"] == "Office Park 7" and plan["site"] == "Building C"  # from the asset
    return plan


def test_one_inspection_per_period_across_restarts_and_two_servers(
        app_client: Any, staff: Any, seeded: Any, services: Services, clock: Any, db_url: str) -> None:
    plan = quarterly_plan(app_client, staff, clock)
    first = run_plans_tick(services, clock.now)
    assert [(v["plan_id"], v["due_at"]) for v in first] == [(plan["id"], plan["start_at"])]
    assert run_plans_tick(services, clock.now) == []  # a second run
    restarted = Services(db=open_database(db_url), settings=services.settings, clock=clock)
    try:
        assert run_plans_tick(restarted, clock.now) == []  # a restart
    finally:
        restarted.db.close()
    assert len(visits(services)) == 1

    # next quarter: two servers (each its own connections) tick at the same moment
    clock.advance(90 * DAY)
    others = [Services(db=open_database(db_url), settings=services.settings, clock=clock) for _ in range(2)]
    start = threading.Barrier(2)
    made: list[int] = []

    def tick(svc: Services) -> None:
        start.wait()
        made.append(len(run_plans_tick(svc, clock.now)))

    threads = [threading.Thread(target=tick, args=(s,)) for s in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in others:
        s.db.close()
    assert sorted(made) == [0, 1]

    # and the quarter after: two separate processes
    clock.advance(91 * DAY)
    procs = [subprocess.Popen([sys.executable, "-c", TICK_SCRIPT, db_url, str(clock.now)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(int(o.strip()) for o in outputs) == [0, 1]
    assert [c for _, c in visits(services)] == ["inspection"] * 3


def test_visits_reach_the_engineer_and_overdue_plans_are_visible(
        app_client: Any, staff: Any, seeded: Any, services: Services, clock: Any) -> None:
    plan = quarterly_plan(app_client, staff, clock)
    (visit,) = run_plans_tick(services, clock.now)
    ben = RawDevice(app_client, services, "e-ben")
    job = ben.jobs()[visit["job_id"]]
    assert job["scheduled_start"] == plan["start_at"] and job["ticket"]["category"] == "inspection"
    ticket = app_client.get(f"/v1/tickets/{visit['ticket_id']}", headers=staff["dispatcher"]).json()
    assert ticket["sla"]["respond"]["state"] == "not_started"  # measured against the due date, not the SLA clocks
    kinds = {e["kind"] for e in ticket["timeline"]}
    assert "planned" in kinds and "opened" not in kinds
    hdr = staff["dispatcher"]
    assert app_client.get("/v1/plans", params={"overdue": 1}, headers=hdr).json() == []

    clock.advance(11 * DAY)  # past the due date, not done
    (late,) = app_client.get("/v1/plans", params={"overdue": 1}, headers=hdr).json()
    assert late["id"] == plan["id"] and [v["overdue"] for v in late["visits"]] == [True]

    ben.open_session()  # the tablet's session expired while the days passed
    for status in ("en_route", "on_site", "completed"):
        result = ben.push([SetStatus(**ben.stamp(), job_id=visit["job_id"], status=status)]).results[0]
        assert result.result == "applied", result
    assert app_client.get("/v1/plans", params={"overdue": 1}, headers=hdr).json() == []
    detail = epoch_doc(app_client.get(f"/v1/plans/{plan['id']}", headers=hdr).json())
    (done,) = detail["visits"]
    assert done["done"] and done["report_url"] == f"/v1/jobs/{visit['job_id']}/report.pdf"
    assert detail["next_due_at"] > clock.now
    history = app_client.get("/v1/assets/AS-9/history", headers=hdr).json()
    assert history["tickets"][0]["plan"]["plan_id"] == plan["id"]


def test_fixed_dates_plan_for_a_site_and_bad_plans(app_client: Any, staff: Any, seeded: Any, services: Services,
                                                    clock: Any) -> None:
    hdr = staff["dispatcher"]
    r = app_client.post("/v1/plans", json={"name": "Twice a year", "customer": "Bakery Lund", "site": "Main shop",
                                           "dates": ["2026-10-01", "2027-04-01"], "engineer_id": "e-ana",
                                           "checklist_template": "boiler-service", "lead_days": 30}, headers=hdr)
    assert r.status_code == 201, r.text
    made = run_plans_tick(services, clock.now)  # the clock is 2026-09-21: only October is within 30 days
    assert [v["period"] for v in made] == ["2026-10-01"]
    job = app_client.get(f"/v1/jobs/{made[0]['job_id']}", headers=hdr).json()["job"]
    assert job["template_id"] == "boiler-service" and job["template_version"] == 1
    for body, code in (({"name": "x", "engineer_id": "e-ana", "customer": "a", "site": "b"}, "bad_schedule"),
                       ({"name": "x", "engineer_id": "e-ana", "customer": "a", "site": "b", "every_months": 6},
                        "bad_schedule"),
                       ({"name": "x", "engineer_id": "e-ana", "customer": "a", "site": "b", "every_months": 6,
                         "dates": ["2026-01-01"], "start_at": iso(1)}, "bad_schedule"),
                       ({"name": "x", "engineer_id": "e-ana", "dates": ["2026-01-01"]}, "plan_target_required"),
                       ({"name": "x", "engineer_id": "e-ana", "customer": "a", "site": "b",
                         "dates": ["2026-02-30"]}, "bad_schedule"),
                       ({"name": "x", "engineer_id": "e-ana", "asset_serial": "nope", "every_months": 1,
                         "start_at": iso(1)}, "unknown_asset"),
                       ({"name": "x", "engineer_id": "e-ana", "customer": "a", "site": "b", "every_months": 0,
                         "start_at": iso(1)}, "invalid_body")):
        r = app_client.post("/v1/plans", json=body, headers=hdr)
        assert r.status_code in (400, 404) and r.json()["code"] == code, (body, r.text)
    assert len(app_client.get("/v1/plans", headers=hdr).json()) == 1


def test_the_scheduler_runs_the_plans_job(tmp_path: Path, clock: Any) -> None:
    from server.scheduler import start_scheduler

    url = f"sqlite:///{tmp_path / 's.db'}"
    svc = Services(db=open_database(url), settings=get_settings(db_url=url), clock=clock)
    sched = start_scheduler(svc, interval_s=3600)
    try:
        assert sched.get_job("plans-tick") is not None and sched.get_job("sla-tick") is not None
    finally:
        sched.shutdown(wait=True)
        svc.db.close()
