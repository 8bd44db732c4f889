"""Warranty vs billable at consumption, old parts tracked by serial, claims approved only once the old part is back."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.wire import MovePart
from server.security import issue_staff_token
from server.services import Services
from tests.support import RawDevice, iso

YEAR_MS = 365 * 24 * 3600 * 1000


def jobs_by_asset(dev: RawDevice) -> dict[str, str]:
    """The device engineer's jobs by asset serial, from the back-office API (not from a pull)."""
    tickets = dev.client.get("/v1/tickets", params={"engineer_id": dev.enrollment.engineer_id},
                             headers={"authorization": f"Bearer {issue_staff_token(dev.services, 'dispatcher')}"})
    return {t["asset_serial"]: j["id"] for t in tickets.json() for j in t["jobs"]
            if j["engineer_id"] == dev.enrollment.engineer_id}


@pytest.fixture
def ana(app_client: Any, services: Services, seeded: Any, staff: Any, clock: Any) -> RawDevice:
    hdr = staff["backoffice"]
    for serial, until in (("SN-1001", clock.now + YEAR_MS), ("SN-4004", clock.now - YEAR_MS)):
        r = app_client.post("/v1/assets", json={"serial": serial, "model": "Vitodens 200", "equipment_type": "boiler",
                                                "customer": "Hotel Aurora",
                                                "installed_at": iso(clock.now - 3 * YEAR_MS),
                                                "warranty_until": iso(until)}, headers=hdr)
        assert r.status_code == 201, r.text
    return RawDevice(app_client, services, "e-ana")


def consume(dev: RawDevice, job_id: str, **kw: Any) -> str:
    op = MovePart(**dev.stamp(), job_id=job_id, kind="consume", part_no="P-IGN", **kw)
    assert dev.push([op]).results[0].result == "applied"
    return op.op_id


def test_billable_is_decided_by_the_assets_warranty_at_consumption(app_client: Any, staff: Any,
                                                                  ana: RawDevice) -> None:
    jobs = jobs_by_asset(ana)  # Ana holds the jobs of SN-1001 (under warranty) and SN-4004 (expired)
    free = consume(ana, jobs["SN-1001"], returned_serial="OLD-IGN-1")
    paid = consume(ana, jobs["SN-4004"])
    moves = {m["id"]: m for m in app_client.get("/v1/movements", params={"part_no": "P-IGN"},
                                                headers=staff["backoffice"]).json()}
    assert moves[free]["billable"] is False and moves[paid]["billable"] is True
    claims = app_client.get("/v1/warranty/claims", headers=staff["backoffice"]).json()
    assert [(c["movement_id"], c["status"], c["returned_serial"]) for c in claims] == [(free, "open", "OLD-IGN-1")]
    pulled = {c.id: c.data for c in ana.pull() if c.kind == "movement"}
    assert pulled[free]["billable"] is False


def test_claim_approval_waits_for_the_old_part_to_reach_returns(app_client: Any, staff: Any, ana: RawDevice) -> None:
    hdr = staff["backoffice"]
    consume(ana, jobs_by_asset(ana)["SN-1001"], returned_serial="OLD-IGN-1")
    (claim,) = app_client.get("/v1/warranty/claims", params={"status": "open"}, headers=hdr).json()
    assert claim["old_part_location"] == "van-e-ana" and claim["old_part_returned"] is False
    van = app_client.get("/v1/vans/e-ana", headers=hdr).json()
    assert {"part_no": "P-IGN", "serial": "OLD-IGN-1", "job_id": claim["job_id"]} in van["old_parts"]
    assert {"part_no": "P-IGN", "qty": 4} in van["parts"]  # 5 issued, 1 used; the old part is not good stock
    items = app_client.get("/v1/reconciliation", params={"kind": "old_part_not_returned"}, headers=hdr).json()
    (item,) = items["items"]
    assert item["key"] == claim["id"]

    r = app_client.post(f"/v1/warranty/claims/{claim['id']}/approve", json={}, headers=hdr)
    assert r.status_code == 409 and r.json()["code"] == "old_part_not_returned"
    # the van brings it to the depot, then the office books it to the returns desk
    r = app_client.post("/v1/movements", json={"kind": "transfer", "part_no": "P-IGN", "serial": "OLD-IGN-1",
                                               "from_location": "van-e-ana", "to_location": "wh-main"}, headers=hdr)
    assert r.status_code == 201
    r = app_client.post(f"/v1/warranty/claims/{claim['id']}/approve", json={}, headers=hdr)
    assert r.status_code == 409 and r.json()["location"] == "wh-main"
    r = app_client.post("/v1/movements", json={"kind": "return_old", "part_no": "P-IGN", "serial": "OLD-IGN-1",
                                               "from_location": "wh-main", "to_location": "returns"}, headers=hdr)
    assert r.status_code == 201
    r = app_client.post(f"/v1/warranty/claims/{claim['id']}/approve", json={"comment": "ok"}, headers=hdr)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["old_part_returned"] is True
    assert app_client.get("/v1/reconciliation", params={"kind": "old_part_not_returned"},
                          headers=hdr).json()["items"] == []
    assert app_client.get("/v1/vans/e-ana", headers=hdr).json()["old_parts"] == []
    r = app_client.post(f"/v1/warranty/claims/{claim['id']}/reject", json={}, headers=hdr)
    assert r.status_code == 409 and r.json()["code"] == "claim_decided"


def test_claim_without_an_old_part_serial_cannot_be_approved_but_can_be_rejected(app_client: Any, staff: Any,
                                                                                ana: RawDevice) -> None:
    hdr = staff["backoffice"]
    consume(ana, jobs_by_asset(ana)["SN-1001"])
    (claim,) = app_client.get("/v1/warranty/claims", headers=hdr).json()
    r = app_client.post(f"/v1/warranty/claims/{claim['id']}/approve", headers=hdr)
    assert r.status_code == 409 and r.json()["code"] == "old_part_not_returned"
    r = app_client.post(f"/v1/warranty/claims/{claim['id']}/reject", json={"comment": "no old part"}, headers=hdr)
    assert r.status_code == 200 and r.json()["status"] == "rejected"


def test_asset_api_shapes_and_refusals(app_client: Any, staff: Any, ana: RawDevice) -> None:
    hdr = staff["backoffice"]
    assets = app_client.get("/v1/assets", headers=hdr).json()
    assert [(a["serial"], a["under_warranty"]) for a in assets] == [("SN-1001", True), ("SN-4004", False)]
    assert app_client.get("/v1/assets/SN-1001", headers=hdr).json()["model"] == "Vitodens 200"
    cases = [
        ({"serial": "SN-1001"}, hdr, 409, "asset_exists"),
        ({"serial": "bad serial!"}, hdr, 400, "invalid_body"),
        ({"serial": "SN-9", "warranty_until": "next year"}, hdr, 400, "invalid_body"),
        ({"serial": "SN-9", "warranty_until": "2027-01-01T00:00:00"}, hdr, 400, "invalid_body"),  # no offset
        ({"serial": "SN-9", "installed_at": iso(10), "warranty_until": iso(5)}, hdr, 400, "bad_warranty"),
        ({"serial": "SN-9", "colour": "red"}, hdr, 400, "invalid_body"),
        ({"serial": "SN-9"}, staff["dispatcher"], 403, "role_forbidden"),
    ]
    for body, headers, status, code in cases:
        r = app_client.post("/v1/assets", json=body, headers=headers)
        assert (r.status_code, r.json()["code"]) == (status, code), (body, r.text)
    assert app_client.get("/v1/assets/SN-nope", headers=hdr).status_code == 404
    assert app_client.get("/v1/vans/e-nobody", headers=hdr).json()["code"] == "unknown_engineer"
    assert app_client.get("/v1/warranty/claims", params={"status": "weird"}, headers=hdr).status_code == 400
    assert app_client.post("/v1/warranty/claims/W-nope/approve", headers=hdr).status_code == 404
