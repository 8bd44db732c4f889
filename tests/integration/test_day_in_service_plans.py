"""A day in the service plans, scripted end to end over a real HTTP server with SDK tablets.

The server is the real application served by uvicorn on a loopback port, in this process so that
its clock can be moved (the test sets the time; the SLA scheduler's tick is run as the leader would
run it).  The engineers' tablets are SDK clients (``FieldClient``) with their own SQLite files,
talking HTTP to that server; the office is an HTTP client with staff tokens.  The server runs on
the README's service-plan policy file (``register`` and ``depart`` clocks) in Asia/Shanghai, with
the README's default labour rate and travel fee.

Tuesday 10 November 2026 (Shanghai time):

1. 09:00 a phone report, registered and dispatched as a remote job at 09:12 (within 15 min);
2. the engineer fixes it remotely from her tablet (09:20-09:50): no visit, on-site not applicable;
3. 10:00 an urgent (P1) fault on an asset under warranty: on the way at 10:30 (within 2 h), on site
   11:10, a valve and two seals, signed at 12:45: the parts, labour and travel are borne by warranty;
4. 13:00 a P1 worked offline: the server announces the respond, depart and on-site breaches
   meanwhile; the late sync at 15:30 shows all were met and the next tick withdraws them;
5. 15:40 a job reassigned while its engineer works it offline: :func:`reassigned_while_offline`
   (the adoption of her visit as one review item follows there, see its docstring);
6. the next morning the follow-up call on it is rated 2: a complaint opens, the office answers it,
   and the customer confirms it resolved eight working days later, within 15 days;
7. the month's SLA compliance, KPIs against their targets and money reconciliation show all of it.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from client_sdk import FieldClient
from server.app import create_app
from server.domain.devices.service import issue_enroll_token
from server.scheduler import run_sla_tick
from server.security import issue_staff_token
from server.services import Services
from tests.livesrv import free_port
from tests.support import epoch_doc, iso
from tools.demo_data import seed_demo

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = timezone(timedelta(hours=8))
MIN = 60_000
STROKES = [[10, 10, 40, 60, 80, 20, 120, 70]]
#: the README's rates (Configuration): labour per hour and travel per visit, in fen
LABOUR_RATE, TRAVEL_FEE = 12_000, 8_000


def sh(day: int, hh: int, mm: int = 0) -> int:
    """Epoch ms of ``hh:mm`` Shanghai time on ``day`` November 2026."""
    return int(datetime(2026, 11, day, hh, mm, tzinfo=SHANGHAI).timestamp() * 1000)


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def plan_policy_text() -> str:
    """The README's service-plan policy file, as a reader would copy it."""
    blocks = re.findall(r"```json\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    (text,) = [b for b in blocks if '"register"' in b]
    return text


class ThreadedServer:
    """The application under uvicorn on a free loopback port, in a thread of this process."""

    def __init__(self, services: Services) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(services=services, scheduler=False), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Day:
    """What the script drives: the server's services and clock, the office's client, the tablets."""

    services: Services
    clock: Any
    url: str
    office: httpx.Client
    tmp: Path

    def at(self, ms: int) -> None:
        assert ms >= self.clock.now, "the day only moves forward"
        self.clock.now = ms

    def post(self, path: str, body: Any, status: int = 200) -> Any:
        r = self.office.post(path, json=body)
        assert r.status_code == status, (path, r.text)
        return r.json()

    def get(self, path: str, **params: Any) -> Any:
        r = self.office.get(path, params=params)
        assert r.status_code == 200, (path, r.text)
        return r.json()

    def tablet(self, name: str, engineer: str) -> FieldClient:
        c = FieldClient.open(self.tmp / f"{name}.db", server_url=self.url, clock=lambda: self.clock.now)
        token, _ = issue_enroll_token(self.services, engineer)
        c.enroll(token)
        assert c.sync().ok
        return c

    def new_ticket(self, customer: str, priority: str, called_at: int, **extra: Any) -> str:
        tid: str = self.post("/v1/tickets", {"customer": customer, "site": "Main building", "priority": priority,
                                             "opened_at": iso(called_at), **extra}, 201)["id"]
        return tid

    def dispatch(self, ticket_id: str, engineer: str, remote: bool = False) -> str:
        job_id: str = self.post(f"/v1/tickets/{ticket_id}/jobs", {"engineer_id": engineer, "remote": remote},
                                201)["jobs"][-1]["id"]
        return job_id

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        out: dict[str, Any] = epoch_doc(self.get(f"/v1/tickets/{ticket_id}"))
        return out

    def tick(self) -> list[tuple[str, str, str]]:
        """The SLA scheduler's tick as the leader runs it: (ticket, kind, target) of what it announced."""
        return [(m.ticket_id, m.kind, m.target) for m in run_sla_tick(self.services)]


@pytest.fixture
def day(services: Services, clock: Any, tmp_path: Path) -> Iterator[Day]:
    seed_demo(services)  # engineers with stocked vans, parts with prices, the demo's September tickets
    path = tmp_path / "plans.json"
    path.write_text(plan_policy_text(), encoding="utf-8")
    planned = Services(db=services.db, clock=clock, settings=replace(
        services.settings, sla_policy_file=str(path), sla_timezone="Asia/Shanghai", currency_code="CNY",
        labour_rate=LABOUR_RATE, travel_fee=TRAVEL_FEE))
    token = issue_staff_token(planned, "admin")
    server = ThreadedServer(planned).start()
    try:
        with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as office:
            yield Day(planned, clock, server.url, office, tmp_path)
    finally:
        server.stop()


def reassigned_while_offline(day: Day, ana: FieldClient) -> tuple[str, str]:
    """Step 5: a P3 job dispatched to Ana at 15:45, reassigned to Chen at 16:10 while Ana, offline, does the visit.

    Ana's tablet syncs her whole visit at 17:45; the server holds it for review as ONE ``late_work`` item
    and the job stays Chen's.  At 17:48 the back office adopts the visit: the job is completed at her
    real times, with her tablet as the source, and its clocks count from when she was really on site.
    """
    day.at(sh(10, 15, 40))
    tid = day.new_ticket("某某医院", "P3", sh(10, 15, 40))
    day.at(sh(10, 15, 45))
    job_id = day.dispatch(tid, "e-ana")
    assert ana.sync().ok
    for hh, mm, status in ((15, 50, "accepted"), (16, 0, "en_route")):  # the link drops after this
        day.at(sh(10, hh, mm))
        ana.set_status(job_id, status)
    day.at(sh(10, 16, 10))
    day.post(f"/v1/jobs/{job_id}/assign", {"engineer_id": "e-chen"})
    for hh, mm, status in ((16, 30, "on_site"), (16, 35, "in_progress")):
        day.at(sh(10, hh, mm))
        ana.set_status(job_id, status)
    ana.set_field(job_id, "diagnosis", "Condensate pump blocked")
    ana.use_part(job_id, "P-SEAL", qty=1)
    ana.set_field(job_id, "resolution", "Cleared the pump, replaced the seal")
    day.at(sh(10, 17, 30))
    ana.set_status(job_id, "completed")
    ana.sign_off(job_id, "Ward sister", STROKES, rating=5)
    day.at(sh(10, 17, 45))
    report = ana.sync()
    assert report.ok and report.needs_review > 0, report
    review = day.get("/v1/conflicts", job_id=job_id)
    assert [c["kind"] for c in review] == ["late_work"], review  # the whole visit is one review item
    assert day.ticket(tid)["jobs"][0]["engineer_id"] == "e-chen"
    day.at(sh(10, 17, 48))
    day.post(f"/v1/conflicts/{review[0]['id']}/adopt", {"comment": "Ana did the visit; Chen was not needed"})
    got = day.ticket(tid)
    assert (got["jobs"][0]["engineer_id"], got["jobs"][0]["status"]) == ("e-chen", "signed_off")
    assert (got["sla"]["on_site"]["state"], got["sla"]["on_site"]["met_at"]) == ("met", sh(10, 16, 30))
    assert [e["kind"] for e in got["timeline"] if e["kind"] == "visit_adopted"] == ["visit_adopted"]
    return tid, job_id


def test_a_day_in_the_service_plans(day: Day) -> None:
    ana, ben = day.tablet("ana", "e-ana"), day.tablet("ben", "e-ben")

    # 1. 09:00 the hospital calls; the dispatcher registers it at 09:05 and dispatches a remote job at 09:12.
    day.at(sh(10, 9, 5))
    t1 = day.new_ticket("某某医院", "P2", sh(10, 9, 0))
    day.at(sh(10, 9, 12))
    j1 = day.dispatch(t1, "e-ana", remote=True)
    register = day.ticket(t1)["sla"]["register"]
    assert (register["state"], register["met_at"], register["breached"]) == ("met", sh(10, 9, 12), False)

    # 2. Ana diagnoses it with the customer on the line and fixes it remotely: nobody travels.
    assert ana.sync().ok
    for hh, mm, status in ((9, 15, "accepted"), (9, 20, "in_progress")):
        day.at(sh(10, hh, mm))
        ana.set_status(j1, status)
    day.at(sh(10, 9, 50))
    ana.set_field(j1, "resolution", "Reset the chiller controller remotely")
    ana.set_status(j1, "completed")
    assert ana.sync().ok
    got = day.ticket(t1)
    assert [e["data"]["by"] for e in got["timeline"] if e["kind"] == "remote_resolved"] == ["engineer"]
    assert got["sla"]["on_site"]["state"] == "not_applicable" and got["sla"]["depart"]["state"] == "not_applicable"
    assert got["sla"]["resolve"]["met_at"] == sh(10, 9, 50)

    # 3. 10:00 an urgent fault on an asset under warranty; on the way at 10:30, within the 2 h departure target.
    day.at(sh(10, 10, 0))
    day.post("/v1/assets", {"serial": "CH-2024-001", "model": "Chiller 300", "customer": "某某医院",
                            "site": "Main building", "warranty_until": iso(sh(10, 0) + 365 * 24 * 60 * MIN)}, 201)
    day.at(sh(10, 10, 5))
    t2 = day.new_ticket("某某医院", "P1", sh(10, 10, 0), asset_serial="CH-2024-001")
    day.at(sh(10, 10, 8))
    j2 = day.dispatch(t2, "e-ben")
    assert ben.sync().ok
    for hh, mm, status in ((10, 10, "accepted"), (10, 30, "en_route"), (11, 10, "on_site"), (11, 15, "in_progress")):
        day.at(sh(10, hh, mm))
        ben.set_status(j2, status)
    ben.use_part(j2, "P-VALVE", qty=1)
    ben.use_part(j2, "P-SEAL", qty=2)
    day.at(sh(10, 12, 45))
    ben.set_field(j2, "resolution", "Replaced the gas valve and seals")
    ben.set_status(j2, "completed")
    ben.sign_off(j2, "Chief engineer Wang", STROKES, rating=5)
    day.at(sh(10, 12, 50))
    assert ben.sync().ok
    sla = day.ticket(t2)["sla"]
    assert (sla["depart"]["state"], sla["depart"]["met_at"], sla["depart"]["due_at"]) == (
        "met", sh(10, 10, 30), sh(10, 12, 0))
    assert (sla["on_site"]["state"], sla["on_site"]["met_at"]) == ("met", sh(10, 11, 10))
    parts = day.get(f"/v1/jobs/{j2}")["parts"]
    assert sorted((p["part_no"], p["qty"], p["billable"]) for p in parts if p["kind"] == "consume") == [
        ("P-SEAL", 2, False), ("P-VALVE", 1, False)]  # under warranty: free of charge (三包)

    # 4. 13:00 a P1 at a food plant; Ben works it offline all afternoon and syncs late.
    day.at(sh(10, 13, 0))
    t4 = day.new_ticket("Acme Foods", "P1", sh(10, 13, 0))
    day.at(sh(10, 13, 5))
    j4 = day.dispatch(t4, "e-ben")
    assert ben.sync().ok
    announced = []
    # offline: the server hears nothing and its ticks announce what it must believe
    for hh, mm, what in ((13, 10, "accepted"), (13, 30, "en_route"), (14, 0, "tick"), (14, 40, "on_site"),
                         (14, 45, "in_progress"), (15, 0, "tick")):
        day.at(sh(10, hh, mm))
        if what == "tick":
            announced += [(kind, target) for tid, kind, target in day.tick() if tid == t4]
        else:
            ben.set_status(j4, what)
    assert {("sla_breach", "respond"), ("sla_breach", "depart"), ("sla_breach", "on_site")} <= set(announced)
    ben.use_part(j4, "P-IGN", qty=1)
    day.at(sh(10, 15, 20))
    ben.set_field(j4, "resolution", "New ignition electrode")
    ben.set_status(j4, "completed")
    ben.sign_off(j4, "Plant manager", STROKES)
    day.at(sh(10, 15, 30))
    report = ben.sync()
    assert report.ok and report.rejected == 0 and report.needs_review == 0, report
    withdrawn = {(kind, target) for tid, kind, target in day.tick() if tid == t4}
    assert {("sla_breach_withdrawn", "respond"), ("sla_breach_withdrawn", "depart"),
            ("sla_breach_withdrawn", "on_site")} <= withdrawn
    got = day.ticket(t4)
    for target, met_at in (("respond", sh(10, 13, 10)), ("depart", sh(10, 13, 30)), ("on_site", sh(10, 14, 40))):
        assert (got["sla"][target]["state"], got["sla"][target]["met_at"], got["sla"][target]["breached"]) == (
            "met", met_at, False), target
    breaches = [e for e in got["timeline"] if e["kind"] == "sla_breach"]
    assert breaches and all("withdrawn_at" in e["data"] for e in breaches)

    # 5. 15:40 a job reassigned while its engineer works it offline.
    t3, _j3 = reassigned_while_offline(day, ana)

    # Follow-up calls: the hospital's two the same evening and the next morning, all on time.
    day.at(sh(10, 17, 50))
    day.post(f"/v1/tickets/{t1}/follow-up", {"reached": True, "rating": 5}, 201)

    # 6. Wednesday 09:30 Acme rates the afternoon 2 out of 5: a complaint opens at once.
    day.at(sh(11, 9, 30))
    (complaint,) = day.post(f"/v1/tickets/{t4}/follow-up", {"reached": True, "rating": 2,
                                                            "comment": "Waited all afternoon"}, 201)["complaint_ids"]
    day.at(sh(11, 10, 0))
    day.post(f"/v1/tickets/{t2}/follow-up", {"reached": True, "rating": 4}, 201)
    day.at(sh(11, 10, 20))
    day.post(f"/v1/tickets/{complaint}/acknowledge", {"note": "Called the plant manager back"})
    # Friday 20 November, eight working days later, the customer confirms it resolved, and it is closed.
    day.at(sh(20, 10, 0))
    day.post(f"/v1/tickets/{complaint}/customer-confirmation", {"confirmed_by": "Plant manager"}, 201)
    day.post(f"/v1/tickets/{complaint}/close", {})
    closed = day.get("/v1/complaints", status="closed")
    assert [(c["ticket_id"], c["origin_ticket_id"], c["rating"], c["resolve"]["state"]) for c in closed] == [
        (complaint, t4, 2, "met")]

    # 7. The month's reports, on the last day of November.
    day.at(sh(30, 12, 0))
    november = {"from": "2026-11-01T00:00:00+08:00", "to": "2026-12-01T00:00:00+08:00"}
    kpis = day.get("/v1/kpis/targets", **november)
    # Resolved fixes: T1 (remote), T2, T4 and T3 (adopted; one visit each); the complaint is no fix.
    # Follow-up: T3's call is never made, so it is overdue (4 of 5).
    assert {k["kpi"]: (k["count"], k["of"], k["value"], k["target"], k["status"]) for k in kpis["kpis"]} == {
        "first_time_fix_rate": (4, 4, 1.0, 0.95, "met"),
        "remote_share": (1, 4, 0.25, 0.8, "missed"),
        "follow_up_on_time": (4, 5, 0.8, 1.0, "missed"),  # T1, T2, T4 within a working day; the complaint's
        "complaint_closed_on_time": (1, 1, 1.0, 1.0, "met")}
    assert [m["month"] for m in kpis["months"]] == ["2026-11"] and kpis["months"][0]["kpis"] == kpis["kpis"]
    assert kpis["trend"]["series"]["remote_share"] == [0.25]
    assert kpis["timezone"] == "Asia/Shanghai" and kpis["from"] == rfc3339(sh(1, 0))
    (row,) = day.get("/v1/kpis", **november)["rows"]
    assert (row["tickets"], row["resolved"], row["first_time_fix_rate"], row["remote_share"]) == (5, 5, 1.0, 0.25)

    # SLA compliance of the month's tickets: every clock of T1, T2, T4 and the complaint met (T4's breaches
    # withdrawn), remote T1's visit clocks not applicable; T3 registered in 5 minutes (its on-site clock is
    # asserted at the adoption, step 5)
    compliance = day.get("/v1/sla/compliance", **{"from": iso(sh(1, 0)), "to": iso(sh(30, 23))},
                         group_by="priority")["rows"]
    clocks = {(r["group"], r["target"]): (r["tickets"], r["met"], r["breached"], r["not_applicable"])
              for r in compliance if r["group"] != "P3" or r["target"] == "register"}
    assert clocks == {
        **{("P1", target): (2, 2, 0, 0) for target in ("register", "respond", "depart", "on_site", "resolve",
                                                      "follow_up")},
        **{("P2", target): (1, 1, 0, 0) for target in ("register", "respond", "resolve", "follow_up")},
        ("P2", "depart"): (1, 0, 0, 1), ("P2", "on_site"): (1, 0, 0, 1), ("P3", "register"): (1, 1, 0, 0),
        **{("complaint", target): (1, 1, 0, 0) for target in ("respond", "resolve", "follow_up")}}
    money = day.get("/v1/reconciliation/money", **november)
    assert money["currency"] == "CNY" and money["rates"] == {"labour_per_hour": 12_000, "travel_per_visit": 8_000}
    by_job = {r["ticket_id"]: r for r in money["jobs"]}
    assert set(by_job) == {t1, t2, t3, t4} and complaint not in by_job
    fields = ("remote", "under_warranty", "labour_minutes", "visits", "parts_billable", "parts_warranty", "labour",
              "travel", "billable_total", "warranty_cost")
    # T1: 30 min at work remotely (09:20-09:50), nothing travelled: billed 30/60 x 120.00 = 60.00
    assert tuple(by_job[t1][f] for f in fields) == (True, False, 30, 0, 0, 0, 6_000, 0, 6_000, 0)
    # T2: on site 11:10-12:45 (95 min = 190.00), one visit (80.00), valve 42.00 + 2 seals 12.00: all warranty
    assert tuple(by_job[t2][f] for f in fields) == (False, True, 95, 1, 0, 5_400, 19_000, 8_000, 0, 32_400)
    # T4: on site 14:40-15:20 (40 min = 80.00), one visit (80.00), an electrode 15.00: all billed
    assert tuple(by_job[t4][f] for f in fields) == (False, False, 40, 1, 1_500, 0, 8_000, 8_000, 17_500, 0)
    assert by_job[t4]["completed_at"] == rfc3339(sh(10, 15, 20)) and by_job[t4]["currency"] == "CNY"
    # T3 (Ana's adopted visit): on site 16:30-17:30 (60 min = 120.00), one visit (80.00), a seal 6.00: no asset
    # is known, so all billed
    assert tuple(by_job[t3][f] for f in fields) == (False, False, 60, 1, 600, 0, 12_000, 8_000, 20_600, 0)
    assert money["customers"] == [
        {"customer": "Acme Foods", "jobs": 1, "labour_minutes": 40, "visits": 1, "parts_billable": 1_500,
         "parts_warranty": 0, "labour": 8_000, "travel": 8_000, "billable_total": 17_500, "warranty_cost": 0,
         "currency": "CNY"},
        {"customer": "某某医院", "jobs": 3, "labour_minutes": 185, "visits": 2, "parts_billable": 600,
         "parts_warranty": 5_400, "labour": 37_000, "travel": 16_000, "billable_total": 26_600,
         "warranty_cost": 32_400, "currency": "CNY"}]
    assert money["totals"] == {"jobs": 4, "labour_minutes": 225, "visits": 3, "parts_billable": 2_100,
                               "parts_warranty": 5_400, "labour": 45_000, "travel": 24_000,
                               "billable_total": 44_100, "warranty_cost": 32_400, "currency": "CNY"}

    exported = day.office.get("/v1/reconciliation/money", params={**november, "format": "csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert list(table[0]) == ["job_id", "ticket_id", "customer", "site", "engineer_id", "completed_at", "remote",
                              "under_warranty", "labour_minutes", "visits", "parts_billable", "parts_warranty",
                              "labour", "travel", "billable_total", "warranty_cost", "currency"]
    assert [(r["ticket_id"], r["remote"], r["under_warranty"], r["billable_total"], r["warranty_cost"])
            for r in table] == [(t1, "true", "false", "6000", "0"), (t2, "false", "true", "0", "32400"),
                                (t4, "false", "false", "17500", "0"),
                                (t3, "false", "false", "20600", "0")]
    assert sum(int(r["billable_total"]) for r in table) == money["totals"]["billable_total"]
