"""SLA targets as a configurable list: the service plans' ``register`` and ``depart`` clocks end to end.

The server runs on the policy file the README documents ("The service plans' clocks"); the
clock is moved forward and the scheduler's tick run as the leader would.  Every consumer is
asked through the HTTP API (ticket, due times, queue, compliance, policies), the CLI through a
subprocess on the same database.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from schemas.wire import SetStatus
from server.scheduler import run_sla_tick
from server.services import Services
from tests.consoleclient import console_login
from tests.support import RawDevice, epoch_doc, iso

ROOT = Path(__file__).resolve().parents[2]
MIN = 60_000
HOUR = 60 * MIN
DAY_0 = 1_790_035_200_000  # 2026-09-22 00:00 UTC, a Tuesday after the seeded data
T0 = DAY_0 + 9 * HOUR


def plan_policy_text() -> str:
    """The README's service-plan policy file, as a reader would copy it."""
    blocks = re.findall(r"```json\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    (text,) = [b for b in blocks if '"register"' in b]
    return text


@pytest.fixture
def plan(services: Services, tmp_path: Path, clock: Any) -> Iterator[tuple[Any, Services]]:
    from litestar.testing import TestClient

    from server.app import create_app

    path = tmp_path / "plans.json"
    path.write_text(plan_policy_text(), encoding="utf-8")
    planned = Services(db=services.db, settings=replace(services.settings, sla_policy_file=str(path)), clock=clock)
    with TestClient(create_app(services=planned, scheduler=False)) as client:
        yield client, planned


def open_ticket(client: Any, staff: Any, opened_at: int, priority: str = "P1") -> dict[str, Any]:
    r = client.post("/v1/tickets", headers=staff["dispatcher"], json={
        "customer": "Acme", "site": "Plant 1", "priority": priority, "opened_at": iso(opened_at)})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = epoch_doc(r.json())
    return out


def dispatch(client: Any, staff: Any, ticket_id: str, engineer: str) -> dict[str, Any]:
    r = client.post(f"/v1/tickets/{ticket_id}/jobs", headers=staff["dispatcher"], json={"engineer_id": engineer})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = epoch_doc(r.json())
    return out


def ticket(client: Any, staff: Any, ticket_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/tickets/{ticket_id}", headers=staff["backoffice"])
    assert r.status_code == 200, r.text
    out: dict[str, Any] = epoch_doc(r.json())
    return out


def test_a_phone_report_dispatched_in_ten_minutes_meets_register_and_departure_is_measured(
        plan: tuple[Any, Services], staff: Any, clock: Any, seeded: Any) -> None:
    client, services = plan
    clock.now = T0 + 5 * MIN  # the call came in at 09:00, the dispatcher types it in at 09:05
    tid = open_ticket(client, staff, opened_at=T0)["id"]
    sla = ticket(client, staff, tid)["sla"]
    assert list(sla) == ["register", "respond", "depart", "on_site", "resolve", "follow_up"]
    assert sla["register"]["state"] == "running" and sla["register"]["due_at"] == T0 + 15 * MIN
    assert sla["depart"]["due_at"] == T0 + 2 * HOUR

    clock.now = T0 + 10 * MIN
    job_id = dispatch(client, staff, tid, "e-ana")["jobs"][0]["id"]
    sla = ticket(client, staff, tid)["sla"]
    assert sla["register"]["state"] == "met" and sla["register"]["met_at"] == T0 + 10 * MIN
    assert not sla["register"]["breached"]

    # 10:30: not on the way yet, 75 % of the 2 h departure clock is gone
    clock.now = T0 + 90 * MIN
    marks = {(m.target, m.threshold) for m in run_sla_tick(services) if m.ticket_id == tid}
    assert ("depart", 75) in marks and ("register", 100) not in marks  # 50 % of it was used by 09:07:30
    queue = client.get("/v1/sla/tickets", headers=staff["dispatcher"]).json()
    (item,) = [q for q in queue if q["ticket_id"] == tid]
    assert list(item["targets"])[:3] == ["register", "respond", "depart"]
    assert item["targets"]["depart"]["elapsed_fraction"] == 0.75

    # 10:40 the engineer leaves: departure met at 10:40, on time
    tablet = RawDevice(client, services, "e-ana")
    clock.now = T0 + 100 * MIN
    receipt = tablet.push([SetStatus(job_id=job_id, status=s, **tablet.stamp()) for s in ("accepted", "en_route")])
    assert [r.result for r in receipt.results] == ["applied", "applied"]
    sla = ticket(client, staff, tid)["sla"]
    assert sla["depart"]["state"] == "met" and sla["depart"]["met_at"] == T0 + 100 * MIN
    assert not sla["depart"]["breached"] and sla["on_site"]["state"] == "running"


def test_register_and_depart_breach_warn_and_report_like_any_clock(
        plan: tuple[Any, Services], staff: Any, clock: Any, seeded: Any) -> None:
    client, services = plan
    clock.now = T0
    late = open_ticket(client, staff, opened_at=T0)["id"]  # nobody dispatches it
    clock.now = T0 + 20 * MIN
    assert ("register", 100) in {(m.target, m.threshold) for m in run_sla_tick(services) if m.ticket_id == late}
    clock.now = T0 + 2 * HOUR
    run_sla_tick(services)
    timeline = ticket(client, staff, late)["timeline"]
    breaches = {e["data"]["target"] for e in timeline if e["kind"] == "sla_breach"}
    assert {"register", "depart"} <= breaches
    assert ticket(client, staff, late)["sla"]["depart"]["state"] == "breached"

    report = client.get("/v1/sla/compliance",
                        params={"from": iso(T0 - HOUR), "to": iso(T0 + HOUR), "group_by": "priority"},
                        headers=staff["dispatcher"])
    assert report.status_code == 200, report.text
    rows = {r["target"]: r for r in report.json()["rows"] if r["group"] == "P1"}
    assert list(rows)[:3] == ["respond", "on_site", "resolve"] and {"register", "depart"} <= set(rows)
    assert rows["register"]["breached"] == 1 and rows["depart"]["breached"] == 1
    csv_text = client.get("/v1/sla/compliance", params={"from": iso(T0 - HOUR), "to": iso(T0 + HOUR), "format": "csv"},
                          headers=staff["dispatcher"]).text
    assert "P1,register,1,0,1,0,0,0,0.0" in csv_text.splitlines()

    policies = client.get("/v1/sla/policies", headers=staff["dispatcher"]).json()
    assert list(policies["policies"]["P3"]["targets"])[:3] == ["register", "respond", "depart"]
    assert policies["policies"]["P3"]["targets"]["depart"]["duration_ms"] == 4 * HOUR

    # the console: the ticket's clocks in the policy's order, the SLA page filters by any target it names
    console_login(client, staff["dispatcher"]["authorization"].removeprefix("Bearer "))
    page = client.get(f"/tickets/{late}").text
    shown = re.findall(r'<span class="clock-target">([^<]+)</span>', page)
    assert shown == ["Register", "Respond", "Depart", "On site", "Resolve", "Follow-up"]
    sla_page = client.get("/sla", params={"target": "depart"})
    assert sla_page.status_code == 200 and '<option value="depart" selected>Depart</option>' in sla_page.text
    assert client.get("/sla", params={"target": "teleport"}).status_code == 400

    due = client.get("/v1/sla/due", params={"priority": "P2", "opened_at": "2026-09-22T09:00:00Z"},
                     headers=staff["dispatcher"])
    assert due.status_code == 200, due.text
    assert [(t["target"], t["due_utc"]) for t in due.json()["targets"]][:3] == [
        ("register", "2026-09-22T09:15:00Z"), ("respond", "2026-09-22T10:00:00Z"),
        ("depart", "2026-09-22T11:00:00Z")]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_cli_answers_from_the_same_list(plan: tuple[Any, Services], db_url: str) -> None:
    _client, services = plan
    env = {**os.environ, "FIELDSYNC_SLA_POLICIES": str(services.settings.sla_policy_file)}
    ran = subprocess.run([sys.executable, "-m", "fieldsync", "sla", "due", "--priority", "P3", "--opened",
                          "2026-10-16T16:00+08:00", "--db", db_url, "--json"], capture_output=True, text=True,
                         timeout=60, cwd=ROOT, env=env)
    assert ran.returncode == 0, ran.stderr
    targets = {t["target"]: t["due_local"] for t in json.loads(ran.stdout)["targets"]}
    assert targets["register"] == "2026-10-16T16:15:00+08:00"
    assert targets["depart"] == "2026-10-19T11:00:00+08:00"  # 1 h on Friday, 3 h on Monday
