"""Withdrawn breaches: a late sync that replays a clock to met takes back what the scheduler announced.

Through the HTTP API with the server clock moved forward: a tablet works offline, the scheduler
announces warnings and a breach meanwhile, the tablet syncs, and the next tick withdraws every
level that was never really reached (timeline event, webhook, the announcement marked), while the
levels that were reached stay.  A clock first seen already late announces only its highest level.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from schemas.wire import SetStatus
from server.domain.webhooks.service import deliver_due
from server.scheduler import run_sla_tick
from server.services import Services
from tests.consoleclient import console_login
from tests.support import RawDevice, epoch_doc, iso

MIN = 60_000
HOUR = 60 * MIN
DAY_0 = 1_790_035_200_000  # 2026-09-22 00:00 UTC, a Tuesday after the seeded data
T0 = DAY_0 + 9 * HOUR


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hooked(services: Services, clock: Any) -> Iterator[tuple[Services, list[dict[str, Any]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        yield Services(db=services.db, settings=replace(services.settings, webhook_url=url), clock=clock), \
            _Hook.received
    finally:
        server.shutdown()
        server.server_close()


def wait_for_hooks(hooked: tuple[Services, list[dict[str, Any]]], ticket_id: str, n: int) -> list[dict[str, Any]]:
    """The SLA webhooks about one ticket (the seeded tickets have their own), once the outbox is delivered."""
    services, received = hooked
    deliver_due(services)
    ours = [h for h in received if h["ticket_id"] == ticket_id and h["event"].startswith("sla_")]
    assert len(ours) >= n, ours
    return ours


def open_ticket(client: Any, staff: Any, opened_at: int, engineer: str | None = None) -> dict[str, Any]:
    r = client.post("/v1/tickets", headers=staff["dispatcher"], json={
        "customer": "Acme", "site": "Plant 1", "priority": "P1", "opened_at": iso(opened_at)})
    assert r.status_code == 201, r.text
    ticket: dict[str, Any] = epoch_doc(r.json())
    if engineer:
        r = client.post(f"/v1/tickets/{ticket['id']}/jobs", headers=staff["dispatcher"], json={"engineer_id": engineer})
        assert r.status_code == 201, r.text
        ticket = epoch_doc(r.json())
    return ticket


def get_ticket(client: Any, staff: Any, ticket_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/tickets/{ticket_id}", headers=staff["backoffice"])
    assert r.status_code == 200, r.text
    out: dict[str, Any] = epoch_doc(r.json())
    return out


def sla_kinds(ticket: dict[str, Any]) -> list[tuple[str, str, int]]:
    return sorted((e["kind"], e["data"]["target"], e["data"]["threshold"]) for e in ticket["timeline"]
                  if e["kind"].startswith("sla_"))


def test_a_late_sync_withdraws_the_breach_and_warnings_it_disproves_and_keeps_the_rest(
        app_client: Any, staff: Any, hooked: tuple[Services, list[dict[str, Any]]], clock: Any,
        seeded: Any) -> None:
    services, received = hooked
    clock.now = T0
    ticket = open_ticket(app_client, staff, opened_at=T0, engineer="e-ana")
    tid, job_id = ticket["id"], ticket["jobs"][0]["id"]
    tablet = RawDevice(app_client, services, "e-ana")
    tablet.pull()

    # Offline all morning: accepted 09:10, on the way 09:40, on site 10:40 (on-site due 11:00).
    ops = []
    for minute, status in ((10, "accepted"), (40, "en_route"), (100, "on_site")):
        clock.now = T0 + minute * MIN
        ops.append(SetStatus(job_id=job_id, status=status, **tablet.stamp()))
    # Meanwhile the server sees nothing and the scheduler announces, tick by tick.
    for minute in (30, 45, 60, 90, 120):
        clock.now = T0 + minute * MIN
        run_sla_tick(services)
    assert sla_kinds(get_ticket(app_client, staff, tid)) == sorted([
        ("sla_warning_50", "respond", 50), ("sla_warning_75", "respond", 75), ("sla_breach", "respond", 100),
        ("sla_warning_50", "on_site", 50), ("sla_warning_75", "on_site", 75), ("sla_breach", "on_site", 100)])
    assert len(wait_for_hooks(hooked, tid, 6)) == 6

    # 12:30 the tablet is back in coverage and syncs its morning.
    clock.now = T0 + 210 * MIN
    tablet.open_session()
    assert [r.result for r in tablet.push(ops).results] == ["applied"] * 3
    withdrawn = run_sla_tick(services)
    assert sorted((m.kind, m.target, m.threshold) for m in withdrawn if m.ticket_id == tid) == sorted([
        ("sla_warning_withdrawn", "respond", 50), ("sla_warning_withdrawn", "respond", 75),
        ("sla_breach_withdrawn", "respond", 100), ("sla_breach_withdrawn", "on_site", 100)])
    assert [m for m in run_sla_tick(services) if m.ticket_id == tid] == []  # once

    got = get_ticket(app_client, staff, tid)
    assert got["sla"]["respond"]["state"] == "met" and not got["sla"]["respond"]["breached"]
    assert got["sla"]["on_site"]["state"] == "met" and not got["sla"]["on_site"]["breached"]
    events = {(e["kind"], e["data"].get("target")): e for e in got["timeline"]}
    breach = events[("sla_breach", "on_site")]
    withdrawal = events[("sla_breach_withdrawn", "on_site")]
    assert breach["data"]["withdrawn_at"] == clock.now and breach["data"]["withdrawn_by"] == withdrawal["id"]
    assert withdrawal["data"] == {"target": "on_site", "threshold": 100, "withdraws": breach["id"],
                                  "met_at": T0 + 100 * MIN}
    assert withdrawal["at"] == clock.now and withdrawal["source"] == "sla"
    # the on-site warnings were real (10:00 and 10:30 passed before 10:40): they stay
    for pct in (50, 75):
        assert "withdrawn_at" not in events[(f"sla_warning_{pct}", "on_site")]["data"]

    hooks = wait_for_hooks(hooked, tid, 10)
    back = [epoch_doc(h) for h in hooks[6:] if h["event"] == "sla_breach_withdrawn" and h["target"] == "on_site"]
    assert back == [{"id": withdrawal["id"], "created_at": clock.now,
                     "event": "sla_breach_withdrawn", "ticket_id": tid, "target": "on_site", "threshold": 100,
                     "crossed_at": T0 + 2 * HOUR, "priority": "P1", "customer": "Acme", "site": "Plant 1",
                     "event_id": withdrawal["id"], "withdraws": breach["id"], "met_at": T0 + 100 * MIN}]
    assert sorted(h["event"] for h in hooks[6:]) == ["sla_breach_withdrawn", "sla_breach_withdrawn",
                                                     "sla_warning_withdrawn", "sla_warning_withdrawn"]

    report = app_client.get("/v1/sla/compliance", params={"from": iso(T0), "to": iso(T0 + 1), "group_by": "priority"},
                            headers=staff["dispatcher"]).json()
    rows = {r["target"]: r for r in report["rows"] if r["group"] == "P1"}
    assert (rows["on_site"]["met"], rows["on_site"]["breached"]) == (1, 0)

    # the console's timeline shows the breach as withdrawn, next to the withdrawal
    console_login(app_client, staff["backoffice"]["authorization"].removeprefix("Bearer "))
    page = app_client.get(f"/tickets/{tid}")
    assert page.status_code == 200
    assert page.text.count("SLA breach (withdrawn)") == 2 and page.text.count("SLA breach withdrawn") == 2
    assert "SLA warning 50 (withdrawn)" in page.text and "SLA warning 75 (withdrawn)" in page.text


def test_a_ticket_already_late_when_first_seen_announces_only_its_highest_level(
        app_client: Any, staff: Any, hooked: tuple[Services, list[dict[str, Any]]], clock: Any,
        seeded: Any) -> None:
    services, received = hooked
    clock.now = T0 + 3 * HOUR  # the call came in at 09:00 and is typed in at noon
    tid = open_ticket(app_client, staff, opened_at=T0)["id"]
    first = [(m.kind, m.target) for m in run_sla_tick(services) if m.ticket_id == tid]
    # respond (1 h) and on_site (2 h) are past due; resolve (24 h) has used 12.5 %: nothing yet
    assert sorted(first) == [("sla_breach", "on_site"), ("sla_breach", "respond")]
    assert sla_kinds(get_ticket(app_client, staff, tid)) == [("sla_breach", "on_site", 100),
                                                             ("sla_breach", "respond", 100)]
    assert sorted(h["event"] for h in wait_for_hooks(hooked, tid, 2)) == [
        "sla_breach", "sla_breach"]
    # the lower levels are on record, so they never fire later; the next level of a clock fires as usual
    assert run_sla_tick(services) == []
    clock.now = T0 + 12 * HOUR
    assert [(m.kind, m.target) for m in run_sla_tick(services) if m.ticket_id == tid] == [
        ("sla_warning_50", "resolve")]


def test_a_withdrawn_level_reached_again_after_a_reopen_is_announced_again(
        app_client: Any, staff: Any, hooked: tuple[Services, list[dict[str, Any]]], clock: Any,
        seeded: Any) -> None:
    services, received = hooked
    clock.now = T0
    ticket = open_ticket(app_client, staff, opened_at=T0, engineer="e-ana")
    tid, job_id = ticket["id"], ticket["jobs"][0]["id"]
    tablet = RawDevice(app_client, services, "e-ana")
    tablet.pull()
    ops = []
    for hours, status in ((1, "accepted"), (3, "on_site"), (11, "completed")):  # fixed by 20:00, offline
        clock.now = T0 + hours * HOUR
        ops.append(SetStatus(job_id=job_id, status=status, **tablet.stamp()))
    clock.now = T0 + 13 * HOUR
    first = {(m.target, m.threshold): m for m in run_sla_tick(services) if m.ticket_id == tid}
    assert ("resolve", 50) in first  # 12 of 24 h gone at 21:00, as far as the server knows

    clock.now = T0 + 13 * HOUR + 30 * MIN
    tablet.open_session()
    tablet.push(ops)
    back = {(m.kind, m.target) for m in run_sla_tick(services) if m.ticket_id == tid}
    assert ("sla_warning_withdrawn", "resolve") in back
    assert not any(target == "on_site" for _, target in back)  # on site at 12:00 was late: that breach stands

    # the customer calls back: reopened at 23:00 with 11 h used, the 12 h mark falls at midnight
    clock.now = T0 + 14 * HOUR
    r = app_client.post(f"/v1/jobs/{job_id}/status", json={"status": "reopened"}, headers=staff["dispatcher"])
    assert r.status_code == 200, r.text
    clock.now = T0 + 16 * HOUR
    again = [m for m in run_sla_tick(services) if m.ticket_id == tid]
    assert [(m.kind, m.target, m.crossed_at) for m in again] == [("sla_warning_50", "resolve", T0 + 15 * HOUR)]
    assert again[0].event_id != first[("resolve", 50)].event_id
    warnings = [e for e in get_ticket(app_client, staff, tid)["timeline"]
                if e["kind"] == "sla_warning_50" and e["data"]["target"] == "resolve"]
    assert [("withdrawn_at" in e["data"], e["at"]) for e in sorted(warnings, key=lambda e: e["at"])] == [
        (True, T0 + 12 * HOUR), (False, T0 + 15 * HOUR)]
    hooks = wait_for_hooks(hooked, tid, len(first) + len(back) + 1)
    assert sorted(h["event"] for h in hooks if h["target"] == "resolve") == [
        "sla_warning_50", "sla_warning_50", "sla_warning_withdrawn"]
