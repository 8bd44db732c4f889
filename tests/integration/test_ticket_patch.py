"""PATCH /v1/tickets/{id}: corrections under If-Match, and a new priority's SLA policy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import msgspec

from server.scheduler import run_sla_tick
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.livesrv import LiveServer
from tests.support import epoch_doc, iso
from tools.demo_data import seed_demo

TICKET = {"customer": "Acme", "site": "Plant 1", "category": "fault", "title": "Boiler down"}


def count(services: Services, table: str) -> int:
    with services.db.read() as tx:
        row = tx.one(f"SELECT COUNT(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


def opened(client: Any, headers: dict[str, str], priority: str, at: int | None = None) -> dict[str, Any]:
    r = client.post("/v1/tickets", headers=headers, json={**TICKET, "priority": priority,
                                                          "opened_at": None if at is None else iso(at)})
    assert r.status_code == 201, r.text
    return dict(epoch_doc(r.json()))


def read(client: Any, headers: dict[str, str], ticket_id: str) -> tuple[dict[str, Any], str]:
    r = client.get(f"/v1/tickets/{ticket_id}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json()), str(r.headers["etag"])


def merge_patch(client: Any, headers: dict[str, str], ticket_id: str, body: dict[str, Any],
                if_match: str | None) -> Any:
    extra = {"content-type": "application/merge-patch+json"} | ({"if-match": if_match} if if_match else {})
    return client.patch(f"/v1/tickets/{ticket_id}", headers={**headers, **extra}, content=msgspec.json.encode(body))


def due(ticket: dict[str, Any]) -> dict[str, int | None]:
    return {name: target["due_at"] for name, target in epoch_doc(ticket)["sla"].items()}


def test_p3_to_p1_puts_the_sla_clocks_under_the_p1_policy(app_client: Any, staff: Any, clock: Any) -> None:
    urgent = opened(app_client, staff["dispatcher"], "P1")
    ticket = opened(app_client, staff["dispatcher"], "P3")  # opened at the same moment (the clock stands still)
    assert due(ticket) != due(urgent)
    clock.advance(10 * 60 * 1000)
    before, tag = read(app_client, staff["dispatcher"], ticket["id"])
    r = merge_patch(app_client, staff["dispatcher"], ticket["id"], {"priority": "P1"}, tag)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["priority"] == "P1" and due(after) == due(urgent)
    changed = [e for e in after["timeline"] if e["kind"] == "priority_changed"]
    assert [e["data"] for e in changed] == [{"from": "P3", "to": "P1"}]
    assert changed[0]["source"].startswith("staff:")
    assert r.headers["etag"] != tag
    again, now_tag = read(app_client, staff["dispatcher"], ticket["id"])
    assert now_tag == r.headers["etag"] and due(again) == due(urgent)
    assert before["sla"] != again["sla"]


def test_a_stale_etag_is_412_and_changes_nothing(app_client: Any, staff: Any, services: Services) -> None:
    ticket = opened(app_client, staff["dispatcher"], "P3")
    _, tag = read(app_client, staff["dispatcher"], ticket["id"])
    r = merge_patch(app_client, staff["dispatcher"], ticket["id"], {"site": "Plant 2"}, tag)
    assert r.status_code == 200 and r.json()["site"] == "Plant 2"
    (corrected,) = [e["data"] for e in r.json()["timeline"] if e["kind"] == "ticket_corrected"]
    assert corrected["site"] == {"from": "Plant 1", "to": "Plant 2"}  # and the site record it now points at
    assert set(corrected) == {"site", "site_id"} and corrected["site_id"]["to"] == r.json()["site_id"]
    current, current_tag = read(app_client, staff["dispatcher"], ticket["id"])
    events, feed = count(services, "ticket_events"), count(services, "changes")
    stale = merge_patch(app_client, staff["dispatcher"], ticket["id"], {"priority": "P1"}, tag)
    assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"
    missing = merge_patch(app_client, staff["dispatcher"], ticket["id"], {"priority": "P1"}, None)
    assert missing.status_code == 428 and missing.json()["code"] == "precondition_required"
    weak = merge_patch(app_client, staff["dispatcher"], ticket["id"], {"priority": "P1"}, "W/" + current_tag)
    assert weak.status_code == 412
    for body, code in (({"status": "closed"}, "invalid_body"), ({"priority": "P9"}, "invalid_body"),
                       ({"site": None}, "invalid_body"), ({"site": ""}, "invalid_body")):
        r = merge_patch(app_client, staff["dispatcher"], ticket["id"], body, current_tag)
        assert r.status_code == 400 and r.json()["code"] == code, (body, r.text)
    assert read(app_client, staff["dispatcher"], ticket["id"]) == (current, current_tag)
    assert count(services, "ticket_events") == events and count(services, "changes") == feed
    r = merge_patch(app_client, staff["backoffice"], ticket["id"], {"priority": "P1"}, current_tag)
    assert r.status_code == 403
    r = merge_patch(app_client, staff["dispatcher"], "T-none", {"priority": "P1"}, current_tag)
    assert r.status_code == 404 and r.json()["code"] == "unknown_ticket"
    r = merge_patch(app_client, staff["dispatcher"], ticket["id"], {"priority": "P2", "title": "Leak"}, "*")
    assert r.status_code == 200 and (r.json()["priority"], r.json()["title"]) == ("P2", "Leak")


def test_a_correction_reaches_the_engineer_and_a_cancelled_ticket_is_refused(app_client: Any, seeded: Any,
                                                                             staff: Any, services: Services) -> None:
    ticket = opened(app_client, staff["dispatcher"], "P2")
    r = app_client.post(f"/v1/tickets/{ticket['id']}/jobs", headers=staff["dispatcher"], json={"engineer_id": "e-ben"})
    job_id = r.json()["jobs"][0]["id"]
    _, tag = read(app_client, staff["dispatcher"], ticket["id"])
    r = merge_patch(app_client, staff["dispatcher"], ticket["id"], {"site": "Boiler house"}, tag)
    assert r.status_code == 200
    with services.db.read() as tx:  # the job's record in the engineer's feed carries the corrected site
        rows = tx.query("SELECT data FROM changes WHERE entity_id = ? ORDER BY seq DESC", (job_id,))
    assert rows and b"Boiler house" in bytes(rows[0]["data"])
    r = app_client.post(f"/v1/jobs/{job_id}/status", headers=staff["dispatcher"], json={"status": "cancelled"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    _, tag = read(app_client, staff["dispatcher"], ticket["id"])
    r = merge_patch(app_client, staff["dispatcher"], ticket["id"], {"priority": "P1"}, tag)
    assert r.status_code == 409 and r.json()["code"] == "ticket_closed"


def test_read_patch_and_stale_retry_on_the_live_server(db_url: str, tmp_path: Path) -> None:
    services = Services(db=open_database(db_url), settings=get_settings(db_url=db_url, run_scheduler=False))
    seed_demo(services)
    headers = {"authorization": f"Bearer {issue_staff_token(services, 'dispatcher', 'erp')}"}
    services.db.close()
    server = LiveServer(db_url, tmp_path).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            at = int(time.time() * 1000) - 60_000  # both opened at the same moment
            ticket, urgent = opened(http, headers, "P3", at), opened(http, headers, "P1", at)
            _, tag = read(http, headers, ticket["id"])
            r = merge_patch(http, headers, ticket["id"], {"priority": "P1"}, tag)
            assert r.status_code == 200, r.text
            assert due(r.json()) == due(urgent) != due(ticket)
            stale = merge_patch(http, headers, ticket["id"], {"priority": "P2"}, tag)
            assert stale.status_code == 412
            assert read(http, headers, ticket["id"])[0]["priority"] == "P1"
    finally:
        server.stop()


def test_the_sla_scheduler_follows_a_priority_change_both_ways(app_client: Any, staff: Any, clock: Any,
                                                               services: Services) -> None:
    """P3 -> P1 past the P1 deadline: the next tick records the breach; back to P3: it is withdrawn."""
    urgent = opened(app_client, staff["dispatcher"], "P1")
    ticket = opened(app_client, staff["dispatcher"], "P3")
    respond_p1, respond_p3 = urgent["sla"]["respond"]["due_at"], ticket["sla"]["respond"]["due_at"]
    assert respond_p1 < respond_p3
    clock.now = respond_p1 + 60_000
    assert clock.now < respond_p3
    run_sla_tick(services)

    def kinds() -> list[tuple[str, Any]]:
        body, _ = read(app_client, staff["dispatcher"], ticket["id"])
        return [(e["kind"], e["data"].get("target")) for e in body["timeline"] if e["kind"].startswith("sla_")]

    assert ("sla_breach", "respond") not in kinds()
    _, tag = read(app_client, staff["dispatcher"], ticket["id"])
    assert merge_patch(app_client, staff["dispatcher"], ticket["id"], {"priority": "P1"}, tag).status_code == 200
    run_sla_tick(services)
    assert ("sla_breach", "respond") in kinds()
    _, tag = read(app_client, staff["dispatcher"], ticket["id"])
    assert merge_patch(app_client, staff["dispatcher"], ticket["id"], {"priority": "P3"}, tag).status_code == 200
    run_sla_tick(services)
    assert ("sla_breach_withdrawn", "respond") in kinds()
