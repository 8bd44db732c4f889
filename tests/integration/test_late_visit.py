"""Work on a job reassigned while the tablet was offline: one review item per visit, adopted or discarded.

Ana's tablet (the SDK) does a whole visit offline -- statuses, four answers, a diagnosis, two parts, the
customer's signature -- on a job the dispatcher meanwhile gave to Ben.  When she syncs, the visit is one
``late_work`` item; her van's ledger shows the parts at once.  The back office adopts it through the HTTP
API: the job gets the visit's statuses, answers, diagnosis and sign-off, the timeline shows the visit with
Ana's device as author at her real times, the SLA on-site and resolve clocks are met at those times, the
signature verifies, and Ben's tablet pulls the job as it really is.  A discarded visit applies nothing but
its parts.  Runs on SQLite and PostgreSQL, the server clock moved where time must pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client_sdk import FieldClient
from server.domain.devices.service import issue_enroll_token
from server.scheduler import run_sla_tick
from server.services import Services
from tests.support import epoch_doc, iso

MIN = 60_000
HOUR = 60 * MIN
T0 = 1_790_035_200_000 + 9 * HOUR  # 2026-09-22 09:00 UTC
ANSWERS: dict[str, Any] = {"gas_tight": True, "flue_co2": 9.1, "pressure_bar": 1.5, "condition": "good"}
STROKES = [[10, 10, 40, 60, 80, 20], [90, 30, 120, 35]]


def tablet_of(path: Path, client: Any, services: Services, engineer: str) -> FieldClient:
    c = FieldClient.open(path, transport=client, clock=lambda: services.clock())
    token, _ = issue_enroll_token(services, engineer)
    c.enroll(token)
    return c


@pytest.fixture
def tablets(tmp_path: Path, app_client: Any, services: Services, seeded: Any,
            clock: Any) -> Iterator[tuple[FieldClient, FieldClient]]:
    clock.now = T0 - HOUR
    ana = tablet_of(tmp_path / "ana.db", app_client, services, "e-ana")
    ben = tablet_of(tmp_path / "ben.db", app_client, services, "e-ben")
    yield ana, ben
    ana.close()
    ben.close()


def new_job(client: Any, staff: Any) -> tuple[str, str]:
    r = client.post("/v1/tickets", headers=staff["dispatcher"], json={
        "customer": "Late Visit Co", "site": "Plant 3", "priority": "P1", "opened_at": iso(T0)})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    r = client.post(f"/v1/tickets/{tid}/jobs", headers=staff["dispatcher"],
                    json={"engineer_id": "e-ana", "checklist_template": "boiler-service"})
    assert r.status_code == 201, r.text
    return tid, r.json()["jobs"][0]["id"]


def van_qty(client: Any, staff: Any, engineer: str, part_no: str) -> int:
    r = client.get(f"/v1/vans/{engineer}", headers=staff["backoffice"])
    assert r.status_code == 200, r.text
    return int(next((p["qty"] for p in r.json()["parts"] if p["part_no"] == part_no), 0))


def ticket(client: Any, staff: Any, tid: str) -> dict[str, Any]:
    r = client.get(f"/v1/tickets/{tid}", headers=staff["backoffice"])
    assert r.status_code == 200, r.text
    out: dict[str, Any] = epoch_doc(r.json())
    return out


def late_items(client: Any, staff: Any, job_id: str, status: str = "open") -> list[dict[str, Any]]:
    r = client.get("/v1/conflicts", params={"job_id": job_id, "status": status}, headers=staff["backoffice"])
    assert r.status_code == 200, r.text
    return [c for c in r.json() if c["kind"] == "late_work"]


def offline_visit(ana: FieldClient, clock: Any, job_id: str) -> dict[str, int]:
    """Ana's whole visit on her tablet, offline; the device times of her arrival and completion."""
    times = {}
    for minutes, status in ((40, "accepted"), (45, "en_route"), (80, "on_site"), (85, "in_progress")):
        clock.now = T0 + minutes * MIN
        ana.set_status(job_id, status)
        times[status] = clock.now
    for key, value in ANSWERS.items():
        ana.answer(job_id, key, value)
    ana.set_field(job_id, "diagnosis", "ignition electrode worn")
    ana.use_part(job_id, "P-IGN")
    ana.use_part(job_id, "P-SEAL", qty=2)
    clock.now = T0 + 120 * MIN
    ana.set_status(job_id, "completed")
    times["completed"] = clock.now
    ana.sign_off(job_id, "Ada Customer", STROKES)
    return times


def test_a_whole_offline_visit_on_a_reassigned_job_is_one_item_and_adopting_it_applies_it(
        tablets: tuple[FieldClient, FieldClient], app_client: Any, staff: Any, services: Services,
        clock: Any) -> None:
    ana, ben = tablets
    clock.now = T0
    tid, job_id = new_job(app_client, staff)
    assert ana.sync().ok
    ign, seal = van_qty(app_client, staff, "e-ana", "P-IGN"), van_qty(app_client, staff, "e-ana", "P-SEAL")

    # Ana has no link; at 09:30 the dispatcher gives the job to Ben, whose tablet takes it
    clock.now = T0 + 30 * MIN
    r = app_client.post(f"/v1/jobs/{job_id}/assign", headers=staff["dispatcher"], json={"engineer_id": "e-ben"})
    assert r.status_code == 200, r.text
    assert ben.sync().ok and ben.job(job_id).job.status == "assigned"
    times = offline_visit(ana, clock, job_id)

    clock.now = T0 + 3 * HOUR
    report = ana.sync()
    assert report.ok and report.needs_review == report.pushed_ops == 4 + 4 + 1 + 2 + 1 + 1, report
    (item,) = late_items(app_client, staff, job_id)
    assert item["key"] == "visit" and item["values"][0]["value"] == "e-ben"
    assert len(item["values"]) == 1 + 13  # what the server held, then every op of the visit in order
    # the parts left her van when she used them, whatever the office decides
    assert van_qty(app_client, staff, "e-ana", "P-IGN") == ign - 1
    assert van_qty(app_client, staff, "e-ana", "P-SEAL") == seal - 2
    before = ticket(app_client, staff, tid)
    assert before["jobs"][0]["status"] == "assigned" and before["sla"]["on_site"]["met_at"] is None
    # the server, not knowing of the visit, announces the on-site breach (P1: 2 h)
    assert ("sla_breach", "on_site") in {(m.kind, m.target) for m in run_sla_tick(services) if m.ticket_id == tid}

    # an item of a visit is decided whole: no per-value resolve
    r = app_client.post(f"/v1/conflicts/{item['id']}/resolve", json={"choice": 1}, headers=staff["backoffice"])
    assert r.status_code == 409 and r.json()["code"] == "adopt_or_discard"
    r = app_client.post(f"/v1/conflicts/{item['id']}/adopt", json={}, headers=staff["dispatcher"])
    assert r.status_code == 403

    clock.now = T0 + 4 * HOUR
    hdr = {**staff["backoffice"], "Idempotency-Key": "adopt-visit-1"}
    r = app_client.post(f"/v1/conflicts/{item['id']}/adopt", json={"comment": "Ana was there"}, headers=hdr)
    assert r.status_code == 200, r.text
    adopted = r.json()
    assert adopted["status"] == "resolved" and adopted["resolution"]["value"] == "adopted"
    assert all(x["result"] in ("applied", "merged") for x in adopted["resolution"]["results"]), adopted
    again = app_client.post(f"/v1/conflicts/{item['id']}/adopt", json={"comment": "Ana was there"}, headers=hdr)
    assert again.status_code == 200 and again.json() == adopted and again.headers["idempotent-replayed"] == "true"
    r = app_client.post(f"/v1/conflicts/{item['id']}/discard", json={"reason": "x"}, headers=staff["backoffice"])
    assert r.status_code == 409 and r.json()["code"] == "already_resolved"

    # the job as it really is: Ana's statuses, answers, diagnosis and sign-off, still Ben's to hold
    detail = app_client.get(f"/v1/jobs/{job_id}", headers=staff["backoffice"]).json()
    job = detail["job"]
    assert job["status"] == "signed_off" and job["engineer_id"] == "e-ben"
    assert job["diagnosis"] == "ignition electrode worn"
    assert job["changed_after_signoff"] is False  # the customer's signature verifies against what they saw
    after = ticket(app_client, staff, tid)
    kinds = {e["kind"]: e for e in after["timeline"]}
    assert {"on_site", "completed", "signed_off", "visit_adopted"} <= kinds.keys()
    assert kinds["on_site"]["device_time"] == times["on_site"]
    assert kinds["on_site"]["source"].startswith("device:")
    # the SLA clocks count the visit at its real times: on site at 10:20 (within P1's 2 h), resolved at 11:00
    assert after["sla"]["on_site"]["met_at"] == times["on_site"] and not after["sla"]["on_site"]["breached"]
    assert after["sla"]["resolve"]["met_at"] == times["completed"]
    recon = app_client.get("/v1/reconciliation", params={"kind": "signoff_digest_mismatch"},
                           headers=staff["backoffice"]).json()
    assert not [i for i in recon["items"] if i["job_id"] == job_id]
    # ... and withdraws it: someone was on site in time
    assert ("sla_breach_withdrawn", "on_site") in {(m.kind, m.target) for m in run_sla_tick(services)
                                                   if m.ticket_id == tid}
    # the parts did not leave the van twice
    assert van_qty(app_client, staff, "e-ana", "P-IGN") == ign - 1

    assert ben.sync().ok
    seen = ben.job(job_id)
    assert seen.job.status == "signed_off" and seen.job.diagnosis == "ignition electrode worn"
    assert {a.item_key: a.value for a in seen.answers} == ANSWERS
    assert sorted(p.part_no for p in seen.parts) == ["P-IGN", "P-SEAL"]  # used on the job, from Ana's van
    assert seen.signoff is not None and seen.signoff.signer_name == "Ada Customer"
    assert ana.sync().ok  # and Ana's tablet learns the decision
    assert any(c.id == item["id"] and c.status == "resolved" for c in ana.conflicts())


def test_a_discarded_visit_applies_nothing_but_its_parts_and_needs_a_reason(
        tablets: tuple[FieldClient, FieldClient], app_client: Any, staff: Any, services: Services,
        clock: Any) -> None:
    ana, _ = tablets
    clock.now = T0
    tid, job_id = new_job(app_client, staff)
    assert ana.sync().ok
    valve = van_qty(app_client, staff, "e-ana", "P-VALVE")
    r = app_client.post(f"/v1/jobs/{job_id}/assign", headers=staff["dispatcher"], json={"engineer_id": "e-ben"})
    assert r.status_code == 200
    clock.now = T0 + HOUR
    ana.set_status(job_id, "accepted")
    ana.answer(job_id, "condition", "poor")
    ana.use_part(job_id, "P-VALVE")
    assert ana.sync().ok
    (item,) = late_items(app_client, staff, job_id)
    r = app_client.post(f"/v1/conflicts/{item['id']}/discard", json={}, headers=staff["backoffice"])
    assert r.status_code == 400
    r = app_client.post(f"/v1/conflicts/{item['id']}/discard", json={"reason": "went to the wrong site"},
                        headers=staff["backoffice"])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["resolution"]["value"] == "discarded" and out["resolution"]["comment"] == "went to the wrong site"
    detail = app_client.get(f"/v1/jobs/{job_id}", headers=staff["backoffice"]).json()
    assert detail["job"]["status"] == "assigned" and not detail["answers"]
    assert van_qty(app_client, staff, "e-ana", "P-VALVE") == valve - 1  # the valve is gone all the same
    timeline = ticket(app_client, staff, tid)["timeline"]
    (event,) = [e for e in timeline if e["kind"] == "visit_discarded"]
    assert event["data"]["comment"] == "went to the wrong site" and event["data"]["engineer_id"] == "e-ana"


def test_one_visit_spans_change_sets_and_each_device_has_its_own(app_client: Any, services: Services,
                                                                  seeded: Any, staff: Any) -> None:
    from schemas.wire import AnswerItem, SetStatus
    from tests.support import RawDevice

    ana = RawDevice(app_client, services, "e-ana")
    job = sorted(ana.jobs().values(), key=lambda j: j["id"])[0]
    other = RawDevice(app_client, services, "e-ana")  # her second tablet
    r = app_client.post(f"/v1/jobs/{job['id']}/assign", headers=staff["dispatcher"], json={"engineer_id": "e-ben"})
    assert r.status_code == 200
    first = ana.push([SetStatus(**ana.stamp(), job_id=job["id"], status="accepted")])
    second = ana.push([AnswerItem(**ana.stamp(), job_id=job["id"], item_key="gas_tight", value=True)])
    third = other.push([AnswerItem(**other.stamp(), job_id=job["id"], item_key="condition", value="good")])
    assert first.results[0].conflict_id == second.results[0].conflict_id != third.results[0].conflict_id
    items = late_items(app_client, staff, job["id"])
    assert sorted(len(i["values"]) for i in items) == [2, 3]
