"""Follow-up within 24 h of resolution, satisfaction, low ratings opening complaints, and the complaint close loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from client_sdk import FieldClient
from schemas.wire import SetStatus
from server.domain.devices.service import issue_enroll_token
from server.scheduler import lifecycle_tick
from server.services import Services
from tests.support import RawDevice, epoch_doc

HOUR = 3_600_000


def complete_remote(dev: RawDevice, app_client: Any, staff: Any, customer: str = "Acme") -> str:
    """A ticket without checklist, fixed by the device engineer: returns the ticket id."""
    t = app_client.post("/v1/tickets", json={"customer": customer, "site": "HQ", "priority": "P2"},
                        headers=staff["dispatcher"]).json()
    r = app_client.post(f"/v1/tickets/{t['id']}/jobs", json={"engineer_id": dev.enrollment.engineer_id,
                                                             "remote": True}, headers=staff["dispatcher"])
    job_id = r.json()["jobs"][0]["id"]
    dev.open_session()  # sessions last an hour of server time
    for status in ("accepted", "en_route", "on_site", "completed"):
        assert dev.push([SetStatus(**dev.stamp(), job_id=job_id, status=status)]).results[0].result == "applied"
    return str(t["id"])


def test_follow_up_is_due_within_24h_of_resolution(
        app_client: Any, staff: Any, seeded: Any, services: Services) -> None:
    dev = RawDevice(app_client, services, "e-ben")
    tid = complete_remote(dev, app_client, staff)
    (due,) = epoch_doc(app_client.get("/v1/followups", params={"state": "due"}, headers=staff["dispatcher"]).json())
    assert due["ticket_id"] == tid and due["due_at"] == due["resolved_at"] + 24 * HOUR
    assert app_client.get(f"/v1/tickets/{tid}/follow-up", headers=staff["backoffice"]).json()["state"] == "due"


def test_follow_up_calls_ratings_and_low_rating_complaints(
        app_client: Any, staff: Any, seeded: Any, services: Services, clock: Any) -> None:
    dev = RawDevice(app_client, services, "e-ben")
    tid = complete_remote(dev, app_client, staff)
    hdr = staff["dispatcher"]
    clock.advance(2 * HOUR)
    r = app_client.post(f"/v1/tickets/{tid}/follow-up", json={"reached": False, "rating": 3}, headers=hdr)
    assert r.status_code == 400 and r.json()["code"] == "rating_needs_contact"
    r = app_client.post(f"/v1/tickets/{tid}/follow-up", json={"reached": False, "comment": "voicemail"}, headers=hdr)
    assert r.status_code == 201 and r.json()["state"] == "due" and r.json()["attempts"] == 1
    clock.advance(2 * HOUR)
    r = app_client.post(f"/v1/tickets/{tid}/follow-up", json={"reached": True, "rating": 2,
                                                               "comment": "took two calls to fix"}, headers=hdr)
    body = r.json()
    assert r.status_code == 201 and body["state"] == "done" and body["rating"] == 2 and body["attempts"] == 2
    ticket = app_client.get(f"/v1/tickets/{tid}", headers=hdr).json()
    assert ticket["sla"]["follow_up"]["state"] == "met" and not ticket["sla"]["follow_up"]["breached"]
    (complaint_id,) = body["complaint_ids"]
    (complaint,) = [c for c in epoch_doc(app_client.get("/v1/complaints", params={"status": "open"},
                                                        headers=hdr).json())
                    if c["source"] != "manual"]  # the demo data has a complaint of its own
    assert complaint["ticket_id"] == complaint_id and complaint["origin_ticket_id"] == tid
    assert complaint["source"] == "follow_up" and complaint["rating"] == 2
    assert complaint["respond"]["state"] == "running"  # the complaint SLA: 2 h to respond
    assert complaint["respond"]["due_at"] == clock.now + 2 * HOUR
    assert app_client.get("/v1/followups", params={"state": "due"}, headers=hdr).json() == []

    fresh = app_client.post("/v1/tickets", json={"customer": "A", "site": "B", "priority": "P3"}, headers=hdr).json()
    r = app_client.post(f"/v1/tickets/{fresh['id']}/follow-up", json={"reached": True}, headers=hdr)
    assert r.status_code == 409 and r.json()["code"] == "not_resolved"
    assert app_client.get("/v1/followups", params={"state": "bogus"}, headers=hdr).status_code == 400
    clock.advance(30 * HOUR)
    other = complete_remote(dev, app_client, staff, "Late Ltd")
    clock.advance(25 * HOUR)
    overdue = app_client.get("/v1/followups", params={"state": "overdue"}, headers=hdr).json()
    assert [f["ticket_id"] for f in overdue] == [other]


def test_a_low_rating_at_sign_off_opens_one_complaint(
        tmp_path: Path, app_client: Any, staff: Any, seeded: Any, services: Services) -> None:
    c = FieldClient.open(tmp_path / "t.db", transport=app_client, clock=lambda: services.clock())
    try:
        token, _ = issue_enroll_token(services, "e-ana")
        c.enroll(token)
        c.sync()
        job = c.jobs()[0]
        for status in ("en_route", "on_site"):
            c.set_status(job.id, status)
        for key, value in (("gas_tight", True), ("flue_co2", 9.0), ("pressure_bar", 1.4), ("condition", "good")):
            c.answer(job.id, key, value)
        c.set_status(job.id, "completed")
        c.sign_off(job.id, "Grumpy Guest", [[1, 2]], rating=1, comment="left a mess")
        assert c.sync().ok
    finally:
        c.close()
    first = lifecycle_tick(services)
    assert len(first["complaints"]) == 1 and lifecycle_tick(services)["complaints"] == []  # exactly once
    (complaint,) = [x for x in app_client.get("/v1/complaints", headers=staff["dispatcher"]).json()
                    if x["source"] == "signoff"]
    assert complaint["origin_job_id"] == job.id and complaint["rating"] == 1
    origin = app_client.get(f"/v1/tickets/{job.ticket_id}", headers=staff["dispatcher"]).json()
    assert any(e["kind"] == "complaint_opened" and e["data"]["complaint_id"] == complaint["ticket_id"]
               for e in origin["timeline"])


def test_a_complaint_closes_only_after_the_customer_confirms(
        app_client: Any, staff: Any, seeded: Any, services: Services, clock: Any) -> None:
    hdr = staff["dispatcher"]
    t = app_client.post("/v1/tickets", json={"customer": "Hotel Aurora", "site": "Spa", "priority": "P3",
                                             "category": "complaint", "title": "Rude on the phone"},
                        headers=hdr).json()
    tid = t["id"]
    clock.advance(HOUR)
    r = app_client.post(f"/v1/tickets/{tid}/acknowledge", json={"note": "called back, apologised"}, headers=hdr)
    assert r.status_code == 200 and r.json()["sla"]["respond"]["state"] == "met"
    r = app_client.post(f"/v1/tickets/{tid}/close", json={}, headers=hdr)
    assert r.status_code == 409 and r.json()["code"] == "customer_confirmation_required"
    assert app_client.get(f"/v1/tickets/{tid}", headers=hdr).json()["status"] == "open"
    r = app_client.post(f"/v1/tickets/{tid}/customer-confirmation", json={"confirmed_by": ""}, headers=hdr)
    assert r.status_code == 400
    r = app_client.post(f"/v1/tickets/{tid}/customer-confirmation",
                        json={"confirmed_by": "Mrs Aurora", "note": "satisfied with the apology"}, headers=hdr)
    assert r.status_code == 201 and r.json()["sla"]["resolve"]["state"] == "met"
    r = app_client.post(f"/v1/tickets/{tid}/customer-confirmation", json={"confirmed_by": "again"}, headers=hdr)
    assert r.status_code == 409 and r.json()["code"] == "already_confirmed"
    r = app_client.post(f"/v1/tickets/{tid}/close", json={"note": "done"}, headers=hdr)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    (c,) = app_client.get("/v1/complaints", params={"status": "closed"}, headers=hdr).json()
    assert c["confirmed_by"] == "Mrs Aurora" and c["resolve"]["state"] == "met"
    assert app_client.post(f"/v1/tickets/{tid}/close", json={}, headers=hdr).json()["code"] == "already_closed"


def test_closing_a_ticket_with_work_in_progress_is_refused(app_client: Any, staff: Any, seeded: Any) -> None:
    hdr = staff["dispatcher"]
    tid = seeded["tickets"][0]  # its job is assigned, not done
    r = app_client.post(f"/v1/tickets/{tid}/close", json={}, headers=hdr)
    assert r.status_code == 409 and r.json()["code"] == "jobs_open" and r.json()["job_ids"]
    assert app_client.post("/v1/tickets/T-none/close", json={}, headers=hdr).status_code == 404


def test_a_complaint_opened_by_a_low_rating_is_titled_in_the_servers_language(
        app_client: Any, staff: Any, seeded: Any, services: Services, clock: Any) -> None:
    """The desks read a complaint's title as stored: a Chinese organisation (FIELDSYNC_LOCALE=zh_CN) gets it in
    Chinese, an English one in English."""
    from dataclasses import replace

    from litestar.testing import TestClient

    from server.app import create_app

    dev = RawDevice(app_client, services, "e-ben")
    titles = {}
    for locale in ("en", "zh_CN"):
        tid = complete_remote(dev, app_client, staff, f"Client {locale}")
        clock.advance(HOUR)
        local = Services(db=services.db, settings=replace(services.settings, locale=locale), clock=clock)
        with TestClient(create_app(services=local, scheduler=False)) as client:
            r = client.post(f"/v1/tickets/{tid}/follow-up", json={"reached": True, "rating": 1},
                            headers=staff["dispatcher"])
            (cid,) = r.json()["complaint_ids"]
            titles[locale] = client.get(f"/v1/tickets/{cid}", headers=staff["dispatcher"]).json()["title"]
        assert titles[locale].endswith(tid)
    assert titles["en"].startswith("Low satisfaction (1/5)")
    assert titles["zh_CN"].startswith("满意度低（1/5）")
