"""Which changes announce themselves to an integrator, each exactly once and only when the change commits.

Real tablets (the SDK over the app's transport) raise a conflict, complete a
job and sign it off; the back office resolves the conflict and closes the
ticket; the outbox is then delivered to a receiver on loopback with the real
delivery code.  A refused change (a bad conflict choice) writes no event; a
re-sent push writes none again.  On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from client_sdk import FieldClient
from server.domain.devices.service import issue_enroll_token
from server.domain.webhooks.service import deliver_due, emit, list_deliveries, verify_signature
from server.services import Services
from tests.livesrv import free_port
from tests.support import iso
from tests.webhook_receiver import Receiver

SECRET = "whsec-events"


@pytest.fixture
def hooked(services: Services, clock: Any) -> Iterator[tuple[Services, Receiver]]:
    receiver = Receiver(free_port()).start()
    try:
        settings = replace(services.settings, webhook_url=receiver.url, webhook_secret=SECRET)
        yield Services(db=services.db, settings=settings, clock=clock), receiver
    finally:
        receiver.stop()


def tablet(tmp_path: Path, name: str, app_client: Any, services: Services) -> FieldClient:
    c = FieldClient.open(tmp_path / f"{name}.db", transport=app_client, clock=lambda: services.clock())
    c.enroll(issue_enroll_token(services, "e-ana")[0])
    assert c.sync().ok
    return c


def about(receiver: Receiver, ticket_id: str) -> list[dict[str, Any]]:
    bodies = [json.loads(body) for _, body, _ in receiver.all()]
    return [b for b in bodies if b.get("ticket_id") == ticket_id]


def test_conflict_completion_signoff_and_close_each_announced_once(
        app_client: Any, staff: Any, seeded: Any, services: Services, hooked: tuple[Services, Receiver],
        tmp_path: Path) -> None:
    hservices, receiver = hooked
    first, second = tablet(tmp_path, "a", app_client, services), tablet(tmp_path, "b", app_client, services)
    try:
        job = first.jobs()[0]
        ticket_id = job.ticket_id
        # offline, the two tablets disagree on an answer: the server keeps both as a conflict
        first.answer(job.id, "condition", "good")
        second.answer(job.id, "condition", "poor")
        assert first.sync().ok and second.sync().ok
        for status in ("en_route", "on_site"):
            first.set_status(job.id, status)
        for key, value in (("gas_tight", True), ("flue_co2", 9.0), ("pressure_bar", 1.4)):
            first.answer(job.id, key, value)
        first.set_status(job.id, "completed")
        first.sign_off(job.id, "Ada Guest", [[1, 2, 3, 4]], rating=5)
        assert first.sync().ok
        assert first.sync().ok  # nothing new: nothing announced again

        (conflict,) = app_client.get("/v1/conflicts", params={"job_id": job.id}, headers=staff["backoffice"]).json()
        refused = app_client.post(f"/v1/conflicts/{conflict['id']}/resolve", json={"choice": 9},
                                  headers=staff["backoffice"])
        assert refused.status_code == 400  # refused: no change, so no event
        r = app_client.post(f"/v1/conflicts/{conflict['id']}/resolve", json={"choice": 0},
                            headers=staff["backoffice"])
        assert r.status_code == 200, r.text
        r = app_client.post(f"/v1/tickets/{ticket_id}/close", json={"note": "done"}, headers=staff["dispatcher"])
        assert r.status_code == 200, r.text

        while deliver_due(hservices):
            pass
        events = about(receiver, ticket_id)
        counts = Counter(e["event"] for e in events)
        assert counts == Counter({"ticket_opened": 1, "conflict_opened": 1, "job_completed": 1, "job_signed_off": 1,
                                  "conflict_resolved": 1, "ticket_closed": 1}), counts
        assert len({e["id"] for e in events}) == len(events)  # one id per logical event
        by_kind = {e["event"]: e for e in events}
        assert by_kind["conflict_opened"]["conflict_id"] == conflict["id"]
        assert by_kind["conflict_resolved"]["resolution"]["choice"] == 0
        assert by_kind["job_completed"]["job_id"] == job.id and by_kind["job_signed_off"]["job_id"] == job.id
        assert by_kind["job_signed_off"]["data"]["signer"] == "Ada Guest"
        assert all(verify_signature(SECRET, sig, body) for _, body, sig in receiver.all())
        # the seeded tickets were opened through the same path: each announced once
        opened = [json.loads(b) for _, b, _ in receiver.all() if json.loads(b)["event"] == "ticket_opened"]
        assert opened and len({o["ticket_id"] for o in opened}) == len(opened)

        sent = len(receiver.all())
        assert deliver_due(hservices) == 0 and len(receiver.all()) == sent  # delivered is delivered
    finally:
        first.close()
        second.close()


YEAR = 365 * 86_400_000


def test_a_warranty_claim_is_announced_when_opened_and_when_decided(
        app_client: Any, staff: Any, seeded: Any, services: Services, hooked: tuple[Services, Receiver],
        clock: Any, tmp_path: Path) -> None:
    hservices, receiver = hooked
    r = app_client.post("/v1/assets", json={"serial": "SN-1001", "model": "Vitodens 200", "equipment_type": "boiler",
                                            "customer": "Hotel Aurora", "site": "Aurora - plant room",
                                            "installed_at": iso(clock.now - 2 * YEAR),
                                            "warranty_until": iso(clock.now + YEAR)}, headers=staff["backoffice"])
    assert r.status_code == 201, r.text
    c = tablet(tmp_path, "a", app_client, services)
    try:
        job_id = next(j.id for j in c.jobs() if j.ticket.get("asset_serial") == "SN-1001")
        c.use_part(job_id, "P-IGN", returned_serial="OLD-IGN-9")
        assert c.sync().ok
        (claim,) = app_client.get("/v1/warranty/claims", params={"job_id": job_id},
                                  headers=staff["backoffice"]).json()
        r = app_client.post(f"/v1/warranty/claims/{claim['id']}/reject", json={"comment": "wear, not a defect"},
                            headers=staff["backoffice"])
        assert r.status_code == 200, r.text
        while deliver_due(hservices):
            pass
        bodies = [json.loads(b) for _, b, _ in receiver.all()]
        claims = [b for b in bodies if b.get("claim_id") == claim["id"]]
        assert [b["event"] for b in claims] == ["warranty_claim_opened", "warranty_claim_decided"]
        assert claims[0]["returned_serial"] == "OLD-IGN-9" and claims[0]["job_id"] == job_id
        assert claims[1]["status"] == "rejected" and claims[1]["comment"] == "wear, not a defect"
    finally:
        c.close()


def test_deliverers_racing_for_one_outbox_send_each_event_once(
        services: Services, hooked: tuple[Services, Receiver], clock: Any) -> None:
    """Four deliverers at once (two would-be leaders for a moment, in the extreme): each claim goes to one."""
    hservices, receiver = hooked
    receiver.delay_s = 0.01
    ids = [f"E-race-{i}" for i in range(40)]
    with services.db.write() as tx:
        for i in ids:
            emit(tx, i, "ticket_opened", {"ticket_id": f"T-{i}"}, clock.now)
    with ThreadPoolExecutor(4) as pool:
        sent = sum(pool.map(lambda _: deliver_due(hservices), range(4)))
    counts = Counter(receiver.ids())
    assert sent == len(ids) and all(counts[i] == 1 for i in ids), counts
    assert all(len(list_deliveries(hservices, event_id=i)) == 1 for i in ids)


def test_a_ticket_correction_is_announced_once_and_a_refused_one_not(
        app_client: Any, staff: Any, hooked: tuple[Services, Receiver]) -> None:
    hservices, receiver = hooked
    r = app_client.post("/v1/tickets", headers=staff["dispatcher"],
                        json={"customer": "Acme", "site": "Plant 1", "priority": "P3"})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    tag = app_client.get(f"/v1/tickets/{tid}", headers=staff["dispatcher"]).headers["etag"]
    patch = {"content-type": "application/merge-patch+json"}
    r = app_client.patch(f"/v1/tickets/{tid}", headers={**staff["dispatcher"], **patch, "if-match": tag},
                         content=json.dumps({"priority": "P1", "site": "Plant 2"}))
    assert r.status_code == 200, r.text
    stale = app_client.patch(f"/v1/tickets/{tid}", headers={**staff["dispatcher"], **patch, "if-match": tag},
                             content=json.dumps({"priority": "P2"}))
    assert stale.status_code == 412  # refused: no change, no event
    while deliver_due(hservices):
        pass
    events = {e["event"]: e for e in about(receiver, tid)}
    assert sorted(events) == ["ticket_corrected", "ticket_opened", "ticket_priority_changed"]
    assert events["ticket_priority_changed"]["data"] == {"from": "P3", "to": "P1"}
    assert events["ticket_corrected"]["data"]["site"] == {"from": "Plant 1", "to": "Plant 2"}
