"""SLA through the server: clocks on tickets, warnings and breaches recorded once, skewed tablets, reports."""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from schemas.wire import SetStatus
from server.domain.tickets.service import add_event
from server.domain.webhooks.service import deliver_due, emit, list_deliveries
from server.scheduler import run_sla_tick
from server.services import Services
from sync.storage import open_database
from tests.support import RawDevice, epoch_doc, iso

MIN = 60_000
HOUR = 60 * MIN
DAY_0 = 1_790_035_200_000  # 2026-09-22 00:00 UTC, a Tuesday after the seeded data
T0 = DAY_0 + 9 * HOUR  # 09:00 UTC


def open_ticket(client: Any, staff: Any, opened_at: int, priority: str = "P1", category: str = "fault",
                engineer: str | None = None) -> dict[str, Any]:
    r = client.post("/v1/tickets", headers=staff["dispatcher"], json={
        "customer": "Acme", "site": "Plant 1", "priority": priority, "category": category, "opened_at": iso(opened_at)})
    assert r.status_code == 201, r.text
    ticket: dict[str, Any] = epoch_doc(r.json())
    if engineer:
        r = client.post(f"/v1/tickets/{ticket['id']}/jobs", headers=staff["dispatcher"],
                        json={"engineer_id": engineer})
        assert r.status_code == 201, r.text
        ticket = epoch_doc(r.json())
    return ticket


def get_ticket(client: Any, staff: Any, ticket_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/tickets/{ticket_id}", headers=staff["backoffice"])
    assert r.status_code == 200, r.text
    out: dict[str, Any] = epoch_doc(r.json())
    return out


def sla_timeline(ticket: dict[str, Any]) -> list[tuple[str, str, int]]:
    return sorted((e["kind"], e["data"]["target"], e["at"]) for e in ticket["timeline"] if e["kind"].startswith("sla_"))


def field_event(services: Services, ticket_id: str, kind: str, at: int) -> None:
    """An event as a synced tablet would leave it (for report tests that are not about sync)."""
    with services.db.write() as tx:
        add_event(tx, ticket_id, kind, at, services.clock(), source="device:test")


# -- the sla object on a ticket -------------------------------------------------------------------------


def test_p1_ticket_carries_respond_on_site_resolve_and_follow_up_clocks(app_client: Any, staff: Any,
                                                                        clock: Any) -> None:
    clock.now = T0 + 10 * MIN
    ticket = open_ticket(app_client, staff, opened_at=T0)
    sla = get_ticket(app_client, staff, ticket["id"])["sla"]
    assert set(sla) == {"respond", "on_site", "resolve", "follow_up"}
    assert sla["respond"] == {"due_at": T0 + HOUR, "met_at": None, "state": "running", "breached": False,
                              "paused_seconds": 0, "provisional": False,
                              "elapsed_fraction": pytest.approx(10 / 60, abs=1e-5)}
    assert sla["on_site"]["due_at"] == T0 + 2 * HOUR and sla["on_site"]["state"] == "running"
    assert sla["resolve"]["due_at"] == T0 + 24 * HOUR and sla["resolve"]["state"] == "running"
    assert sla["follow_up"] == {"due_at": None, "met_at": None, "state": "not_started", "breached": False,
                                "paused_seconds": 0, "provisional": False, "elapsed_fraction": 0.0}
    # A complaint has no on-site clock and 15 days to resolve.
    complaint = open_ticket(app_client, staff, opened_at=T0, priority="P2", category="complaint")
    assert set(complaint["sla"]) == {"respond", "resolve", "follow_up"}
    assert complaint["sla"]["resolve"]["due_at"] == T0 + 15 * 24 * HOUR


def test_warnings_and_breach_are_recorded_once_however_often_and_wherever_the_tick_runs(
        app_client: Any, staff: Any, services: Services, db_url: str, clock: Any, seeded: Any) -> None:
    clock.now = T0
    tid = open_ticket(app_client, staff, opened_at=T0, engineer="e-ana")["id"]
    other = Services(db=open_database(db_url), settings=services.settings, clock=clock)
    try:
        clock.now = T0 + 29 * MIN
        assert [m for m in run_sla_tick(services) if m.ticket_id == tid] == []
        clock.now = T0 + 30 * MIN
        first = [(m.target, m.threshold, m.crossed_at) for m in run_sla_tick(services) if m.ticket_id == tid]
        assert first == [("respond", 50, T0 + 30 * MIN)]
        assert run_sla_tick(services) == [] and run_sla_tick(other) == []

        # The scheduler was down for half an hour: everything missed fires once, at its own instant.
        clock.now = T0 + HOUR
        late = {(m.target, m.threshold, m.crossed_at) for m in run_sla_tick(other) if m.ticket_id == tid}
        assert late == {("respond", 75, T0 + 45 * MIN), ("respond", 100, T0 + HOUR), ("on_site", 50, T0 + HOUR)}
        assert run_sla_tick(services) == []

        # Two leaders at once for a moment (e.g. a lock handover): still exactly once.
        clock.now = T0 + 2 * HOUR
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(run_sla_tick, [services, other]))
        both = sorted((m.target, m.threshold) for run in runs for m in run if m.ticket_id == tid)
        assert both == [("on_site", 75), ("on_site", 100)]
    finally:
        other.db.close()

    ticket = get_ticket(app_client, staff, tid)
    assert sla_timeline(ticket) == sorted([
        ("sla_warning_50", "respond", T0 + 30 * MIN), ("sla_warning_75", "respond", T0 + 45 * MIN),
        ("sla_breach", "respond", T0 + HOUR), ("sla_warning_50", "on_site", T0 + HOUR),
        ("sla_warning_75", "on_site", T0 + 90 * MIN), ("sla_breach", "on_site", T0 + 2 * HOUR)])
    breach = next(e for e in ticket["timeline"] if e["kind"] == "sla_breach" and e["data"]["target"] == "respond")
    assert breach["data"] == {"target": "respond", "threshold": 100} and breach["source"] == "sla"
    assert ticket["sla"]["respond"]["state"] == "breached" and ticket["sla"]["respond"]["breached"] is True
    assert ticket["sla"]["respond"]["due_at"] == T0 + HOUR
    assert ticket["sla"]["resolve"]["breached"] is False


def test_on_site_recorded_offline_on_a_slow_tablet_is_judged_on_the_corrected_time(
        app_client: Any, staff: Any, services: Services, clock: Any, seeded: Any) -> None:
    clock.now = T0 + 30 * MIN
    on_time = open_ticket(app_client, staff, opened_at=T0 + 10 * MIN, engineer="e-ana")  # on site due 11:10
    late = open_ticket(app_client, staff, opened_at=T0, engineer="e-ana")  # on site due 11:00
    tablet = RawDevice(app_client, services, "e-ana", clock_skew_ms=-25 * MIN)  # 25 minutes slow

    clock.now = DAY_0 + 11 * HOUR + 5 * MIN  # really 11:05; the tablet shows 10:40 and is offline
    ops = [SetStatus(job_id=t["jobs"][0]["id"], status="on_site", **tablet.stamp()) for t in (on_time, late)]
    assert all(op.at == DAY_0 + 10 * HOUR + 40 * MIN for op in ops)

    clock.now += 6 * HOUR  # back in coverage at 17:05: new session, the offset is measured again
    tablet.open_session()
    receipt = tablet.push(ops)
    assert [r.result for r in receipt.results] == ["applied", "applied"]

    arrived = DAY_0 + 11 * HOUR + 5 * MIN
    for ticket, breached in ((on_time, False), (late, True)):
        got = get_ticket(app_client, staff, ticket["id"])
        on_site = got["sla"]["on_site"]
        assert on_site["state"] == "met" and on_site["met_at"] == arrived
        assert on_site["breached"] is breached
        event = next(e for e in got["timeline"] if e["kind"] == "on_site")
        assert (event["device_time"], event["corrected_time"], event["at"], event["received_at"]) == (
            DAY_0 + 10 * HOUR + 40 * MIN, arrived, arrived, clock.now)

    # The scheduler decides on the same corrected instant: a breach for one ticket only.  Seen for the
    # first time with several levels behind it, each clock announces only its highest.
    ours = {on_time["id"], late["id"]}
    marks = {(m.ticket_id, m.threshold) for m in run_sla_tick(services)
             if m.target == "on_site" and m.ticket_id in ours}
    assert marks == {(on_time["id"], 75), (late["id"], 100)}


def test_clocks_are_provisional_while_the_engineers_tablet_has_not_synced_recently(
        app_client: Any, staff: Any, services: Services, clock: Any, seeded: Any) -> None:
    clock.now = T0
    ticket = open_ticket(app_client, staff, opened_at=T0, engineer="e-ben")
    # No tablet enrolled: nothing can be waiting in the field.
    assert not any(t["provisional"] for t in get_ticket(app_client, staff, ticket["id"])["sla"].values())

    tablet = RawDevice(app_client, services, "e-ben")  # enrolled, never synced
    assert all(t["provisional"] for t in get_ticket(app_client, staff, ticket["id"])["sla"].values())

    tablet.pull()
    assert not any(t["provisional"] for t in get_ticket(app_client, staff, ticket["id"])["sla"].values())
    clock.now += 15 * MIN
    assert not get_ticket(app_client, staff, ticket["id"])["sla"]["respond"]["provisional"]
    clock.now += 1
    assert get_ticket(app_client, staff, ticket["id"])["sla"]["respond"]["provisional"]
    queue = app_client.get("/v1/sla/tickets?engineer_id=e-ben", headers=staff["dispatcher"]).json()
    assert [q["provisional"] for q in queue if q["ticket_id"] == ticket["id"]] == [True]

    # A second, recently synced tablet of the same engineer is enough.
    RawDevice(app_client, services, "e-ben").pull()
    assert not get_ticket(app_client, staff, ticket["id"])["sla"]["respond"]["provisional"]


def test_queue_orders_open_tickets_by_time_left_and_filters(app_client: Any, staff: Any, clock: Any,
                                                           seeded: Any) -> None:
    clock.now = T0 + 3 * HOUR
    overdue = open_ticket(app_client, staff, opened_at=T0, engineer="e-ana")  # respond 2 h overdue
    p2 = open_ticket(app_client, staff, opened_at=T0 + 2 * HOUR + 30 * MIN, priority="P2", engineer="e-chen")
    fresh = open_ticket(app_client, staff, opened_at=T0 + 3 * HOUR, engineer="e-chen")
    r = app_client.get("/v1/sla/tickets", headers=staff["dispatcher"])
    assert r.status_code == 200, r.text
    mine = [q for q in r.json() if q["ticket_id"] in (overdue["id"], p2["id"], fresh["id"])]
    assert [(q["ticket_id"], q["target"], q["time_left_ms"]) for q in mine] == [
        (overdue["id"], "respond", -2 * HOUR), (p2["id"], "respond", 30 * MIN), (fresh["id"], "respond", HOUR)]
    assert mine[0]["state"] == "breached" and mine[1]["state"] == "running"
    assert mine[1]["elapsed_fraction"] == 0.5 and mine[0]["engineer_ids"] == ["e-ana"]
    lefts = [q["time_left_ms"] for q in r.json()]
    assert lefts == sorted(lefts)

    ours = {overdue["id"], p2["id"], fresh["id"]}

    def ids(query: str) -> list[str]:  # the seeded demo tickets are in the queue too
        r = app_client.get(f"/v1/sla/tickets?{query}", headers=staff["backoffice"])
        assert r.status_code == 200, r.text
        return [q["ticket_id"] for q in r.json() if q["ticket_id"] in ours]

    assert ids("priority=P2") == [p2["id"]]
    assert ids("engineer_id=e-chen") == [p2["id"], fresh["id"]]
    assert overdue["id"] in ids("state=breached") and p2["id"] not in ids("state=breached")
    assert ids("state=running&engineer_id=e-chen") == [p2["id"], fresh["id"]]
    assert ids("state=at_risk&engineer_id=e-chen") == []
    r = app_client.get("/v1/sla/tickets?state=late", headers=staff["dispatcher"])
    assert r.status_code == 400 and r.json()["code"] == "bad_state"
    r = app_client.get("/v1/sla/tickets?priority=P7", headers=staff["dispatcher"])
    assert r.status_code == 400 and r.json()["code"] == "bad_priority"
    assert app_client.get("/v1/sla/tickets").status_code == 401


def test_compliance_report_counts_met_and_breached_per_target_as_json_and_csv(
        app_client: Any, staff: Any, services: Services, clock: Any, seeded: Any) -> None:
    clock.now = T0 + 6 * HOUR
    a = open_ticket(app_client, staff, opened_at=T0, engineer="e-ana")["id"]
    field_event(services, a, "acknowledged", T0 + 20 * MIN)  # respond met
    field_event(services, a, "on_site", T0 + 3 * HOUR)  # on site 1 h late
    field_event(services, a, "completed", T0 + 5 * HOUR)  # resolved in time; follow-up call running
    b = open_ticket(app_client, staff, opened_at=T0 + HOUR, priority="P2", engineer="e-ben")["id"]
    field_event(services, b, "acknowledged", T0 + 3 * HOUR)  # respond 1 h late
    open_ticket(app_client, staff, opened_at=T0 + 5 * HOUR + 50 * MIN)  # untouched, 10 minutes old
    open_ticket(app_client, staff, opened_at=T0 - 3 * 24 * HOUR)  # outside the window
    window = f"from={iso(DAY_0)}&to={iso(DAY_0 + 24 * HOUR)}"

    r = app_client.get(f"/v1/sla/compliance?{window}&group_by=priority", headers=staff["backoffice"])
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["tickets"] == 3 and report["group_by"] == "priority"
    cells = {(row["group"], row["target"]): row for row in report["rows"]}
    assert cells[("P1", "respond")] == {"group": "P1", "target": "respond", "tickets": 2, "met": 1,
                                             "breached": 0, "open": 1, "not_started": 0, "not_applicable": 0,
                                             "compliance": 1.0}
    assert (cells[("P1", "on_site")]["met"], cells[("P1", "on_site")]["breached"]) == (0, 1)
    assert cells[("P1", "on_site")]["compliance"] == 0.0
    assert (cells[("P1", "resolve")]["met"], cells[("P1", "resolve")]["open"]) == (1, 1)
    assert (cells[("P1", "follow_up")]["open"], cells[("P1", "follow_up")]["not_started"]) == (1, 1)
    assert cells[("P1", "follow_up")]["compliance"] is None
    assert (cells[("P2", "respond")]["breached"], cells[("P2", "respond")]["compliance"]) == (1, 0.0)
    assert [row["target"] for row in report["rows"] if row["group"] == "P1"] == [
        "respond", "on_site", "resolve", "follow_up"]

    by_engineer = app_client.get(f"/v1/sla/compliance?{window}&group_by=engineer",
                                 headers=staff["backoffice"]).json()
    respond = {row["group"]: (row["met"], row["breached"], row["open"])
               for row in by_engineer["rows"] if row["target"] == "respond"}
    assert respond == {"e-ana": (1, 0, 0), "e-ben": (0, 1, 0), "unassigned": (0, 0, 1)}
    by_week = app_client.get(f"/v1/sla/compliance?{window}&group_by=week", headers=staff["backoffice"]).json()
    assert {row["group"] for row in by_week["rows"]} == {"2026-W39"}

    r = app_client.get(f"/v1/sla/compliance?{window}&group_by=priority&format=csv", headers=staff["backoffice"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(r.text)))
    assert lines[0] == ["group", "target", "tickets", "met", "breached", "open", "not_started", "not_applicable",
                        "compliance_pct"]
    assert ["P1", "respond", "2", "1", "0", "1", "0", "0", "100.0"] in lines
    assert ["P1", "follow_up", "2", "0", "0", "1", "1", "0", ""] in lines
    assert ["P2", "respond", "1", "0", "1", "0", "0", "0", "0.0"] in lines
    assert len(lines) == 1 + len(report["rows"])
    # ISO dates work too, and an empty window is an empty report.
    r = app_client.get("/v1/sla/compliance?from=2026-01-01&to=2026-01-31", headers=staff["backoffice"])
    assert r.status_code == 200 and r.json()["tickets"] == 0 and r.json()["rows"] == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("query", "code"), [
    ("group_by=customer", "bad_group_by"),
    ("format=xml", "bad_format"),
    ("from=yesterday", "bad_time"),
    ("from=1790035200000", "bad_time"),
    ("to=2026-09-22T09:00:00", "bad_time"),
    ("from=2026-09-22&to=2026-09-21", "bad_range"),
    ("from=2020-01-01&to=2026-01-01", "bad_range"),
])
def test_bad_compliance_queries_are_400_problems(app_client: Any, staff: Any, query: str, code: str) -> None:
    r = app_client.get(f"/v1/sla/compliance?{query}", headers=staff["backoffice"])
    assert r.status_code == 400 and r.json()["code"] == code, r.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_policies_endpoint_shows_the_defaults_and_a_policy_file_replaces_them(
        app_client: Any, staff: Any, services: Services, clock: Any, tmp_path: Path) -> None:
    r = app_client.get("/v1/sla/policies", headers=staff["dispatcher"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "default" and set(body["policies"]) == {"P1", "P2", "P3", "complaint"}
    p1 = body["policies"]["P1"]
    assert p1["thresholds"] == [50, 75, 100]
    assert {name: t["duration"] for name, t in p1["targets"].items()} == {
        "respond": "1h", "on_site": "2h", "resolve": "1d", "follow_up": "1d"}
    assert body["policies"]["P3"]["calendar"] == "business"
    assert body["calendars"]["business"]["hours"]["mon"] == ["08:00-17:00"]
    assert body["policies"]["P3"]["targets"]["resolve"]["duration_ms"] == 3 * 9 * HOUR

    policies = tmp_path / "sla.json"
    target = {"duration": "30m", "start": ["opened"], "stop": ["acknowledged"]}
    policies.write_text(json.dumps({"policies": {
        p: {"thresholds": [80, 100], "targets": {"respond": target}} for p in ("P1", "P2", "P3", "complaint")}}))
    custom = Services(db=services.db, settings=replace(services.settings, sla_policy_file=str(policies)),
                      clock=clock)
    from server.domain.tickets.service import get_ticket as service_get_ticket

    clock.now = T0 + 25 * MIN
    tid = open_ticket(app_client, staff, opened_at=T0)["id"]
    sla = service_get_ticket(custom, tid).sla
    assert set(sla) == {"respond"} and sla["respond"].due_at == T0 + 30 * MIN
    assert [(m.target, m.threshold) for m in run_sla_tick(custom) if m.ticket_id == tid] == [("respond", 80)]


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    fail_first = 0

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
        else:
            type(self).received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_breach_escalates_by_log_and_webhook_with_retries(app_client: Any, staff: Any, services: Services,
                                                          clock: Any, caplog: Any) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received, _Receiver.fail_first = [], 1  # the receiver is down for the first attempt
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        hooked = Services(db=services.db, settings=replace(services.settings, webhook_url=url), clock=clock)
        clock.now = T0 + HOUR
        tid = open_ticket(app_client, staff, opened_at=T0)["id"]
        with caplog.at_level(logging.WARNING, logger="fieldsync.sla"):
            marks = run_sla_tick(hooked)
        # already late when first evaluated: respond announces its breach only, not 50 %, 75 % and breach at once
        assert {(m.target, m.threshold) for m in marks} == {("respond", 100), ("on_site", 50)}
        assert any("sla_breach" in rec.getMessage() and tid in rec.getMessage() and rec.levelname == "ERROR"
                   for rec in caplog.records)
        deliver_due(hooked)  # from the outbox: the first attempt meets the 503 and is scheduled again
        clock.now += 10_000  # past the retry's backoff (5 s at most, the default)
        deliver_due(hooked)
        sla = [p for p in _Receiver.received if p["event"].startswith("sla_")]
        got = sorted((p["event"], p["target"]) for p in sla)
        assert got == [("sla_breach", "respond"), ("sla_warning_50", "on_site")]
        assert all(p["ticket_id"] == tid and p["priority"] == "P1" and p["id"] == p["event_id"] for p in sla)
        assert run_sla_tick(hooked) == []
        deliver_due(hooked)
        assert len([p for p in _Receiver.received if p["event"].startswith("sla_")]) == 2
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_webhook_that_stays_down_is_logged_not_raised(services: Services, clock: Any, caplog: Any) -> None:
    down = Services(db=services.db, settings=replace(services.settings, webhook_url="http://127.0.0.1:9/nothing",
                                                     webhook_attempts=3), clock=clock)
    with services.db.write() as tx:
        emit(tx, "E-test-down", "sla_breach", {"ticket_id": "T-x"}, clock.now)
    with caplog.at_level(logging.WARNING, logger="fieldsync.webhooks"):
        for _ in range(4):
            deliver_due(down)
            clock.now += 2 * HOUR  # past every backoff
    log = list_deliveries(down, event_id="E-test-down")
    assert [d.attempt for d in log] == [3, 2, 1] and all(d.status_code is None and d.error for d in log)
    assert {d.state for d in log} == {"given_up"}
    assert any("given up" in rec.getMessage() for rec in caplog.records)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_scheduler_ticks_in_the_background_and_reports_leadership(app_client: Any, staff: Any,
                                                                   services: Services, clock: Any) -> None:
    from server.scheduler import start_scheduler

    assert app_client.get("/v1/sla/leader", headers=staff["admin"]).json()["scheduler"] is False
    clock.now = T0 + 25 * 24 * HOUR
    tid = open_ticket(app_client, staff, opened_at=T0)["id"]
    sched = start_scheduler(services, interval_s=0.05)
    try:
        for _ in range(100):
            if len(sla_timeline(get_ticket(app_client, staff, tid))) == 3:  # the three breaches, nothing lower
                break
            threading.Event().wait(0.05)
        status = epoch_doc(app_client.get("/v1/sla/leader", headers=staff["admin"]).json())
        assert status["scheduler"] is True and status["leader"] is True and status["last_tick_at"] == clock.now
    finally:
        sched.shutdown(wait=True)
    assert [kind for kind, _, _ in sla_timeline(get_ticket(app_client, staff, tid))].count("sla_breach") == 3
    assert app_client.get("/v1/sla/leader", headers=staff["admin"]).json()["scheduler"] is False


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_broken_policy_file_stops_the_scheduler_from_starting(services: Services, tmp_path: Path) -> None:
    from server.domain.sla.policy import PolicyError
    from server.scheduler import start_scheduler

    bad = tmp_path / "sla.json"
    bad.write_text('{"policies": {"P1": {}}}')
    with pytest.raises(PolicyError, match="policies"):
        start_scheduler(Services(db=services.db, settings=replace(services.settings, sla_policy_file=str(bad))))
    with pytest.raises(PolicyError, match="cannot load"):
        start_scheduler(Services(db=services.db, settings=replace(services.settings,
                                                                  sla_policy_file=str(tmp_path / "missing.json"))))
