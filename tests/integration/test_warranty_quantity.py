"""Old-part return by quantity: a warranty claim for a part without serials is satisfied by returning units,
partial returns add up, and the claim is approvable once they cover what was used (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.wire import MovePart
from server.services import Services
from tests.support import RawDevice, iso

YEAR_MS = 365 * 24 * 3600 * 1000


@pytest.fixture
def ana(app_client: Any, services: Services, seeded: Any, staff: Any, clock: Any) -> RawDevice:
    r = app_client.post("/v1/assets", json={"serial": "SN-1001", "model": "Vitodens 200", "equipment_type": "boiler",
                                            "customer": "Hotel Aurora", "warranty_until": iso(clock.now + YEAR_MS)},
                        headers=staff["backoffice"])
    assert r.status_code == 201, r.text
    return RawDevice(app_client, services, "e-ana")


def job_of(dev: RawDevice, serial: str) -> str:
    return next(j["id"] for j in dev.jobs().values() if j["ticket"]["asset_serial"] == serial)


def outbox(services: Services, kind: str) -> int:
    with services.db.read() as tx:
        row = tx.one("SELECT COUNT(*) AS n FROM webhook_outbox WHERE kind = ?", (kind,))
    assert row is not None
    return int(row["n"])


def test_a_quantity_claim_is_approved_once_its_units_are_back(app_client: Any, staff: Any, ana: RawDevice,
                                                              services: Services) -> None:
    hdr = staff["backoffice"]
    job_id = job_of(ana, "SN-1001")
    op = MovePart(**ana.stamp(), job_id=job_id, kind="consume", part_no="P-IGN", qty=3)
    assert ana.push([op]).results[0].result == "applied"
    (claim,) = app_client.get("/v1/warranty/claims", params={"job_id": job_id}, headers=hdr).json()
    assert (claim["by_quantity"], claim["qty"], claim["returned_qty"], claim["old_part_returned"]) == (True, 3, 0,
                                                                                                       False)
    path = f"/v1/warranty/claims/{claim['id']}"
    r = app_client.post(f"{path}/approve", json={}, headers=hdr)
    assert r.status_code == 409 and r.json()["code"] == "old_part_not_returned" and r.json()["qty"] == 3

    r = app_client.post(f"{path}/returns", json={"qty": 2, "from_location": "van-e-ana"}, headers=hdr)
    assert r.status_code == 201, r.text
    assert (r.json()["returned_qty"], r.json()["old_part_returned"]) == (2, False)
    r = app_client.post(f"{path}/approve", json={}, headers=hdr)
    assert r.status_code == 409 and (r.json()["returned_qty"], r.json()["qty"]) == (2, 3)
    items = app_client.get("/v1/reconciliation", params={"kind": "old_part_not_returned"}, headers=hdr).json()
    (item,) = [i for i in items["items"] if i["key"] == claim["id"]]
    assert "2 of 3" in item["summary"]

    moves = len(app_client.get("/v1/movements", headers=hdr).json())
    r = app_client.post(f"{path}/returns", json={"qty": 2}, headers=hdr)  # only 1 is outstanding
    assert r.status_code == 409 and r.json()["code"] == "return_exceeds_claim" and r.json()["returned_qty"] == 2
    r = app_client.post(f"{path}/returns", json={"qty": 1, "to_location": "wh-main"}, headers=hdr)
    assert r.status_code == 400 and r.json()["code"] == "not_a_returns_location"
    assert len(app_client.get("/v1/movements", headers=hdr).json()) == moves

    keyed = {**hdr, "Idempotency-Key": "ret-last"}
    first = app_client.post(f"{path}/returns", json={"qty": 1}, headers=keyed)
    again = app_client.post(f"{path}/returns", json={"qty": 1}, headers=keyed)
    assert first.status_code == again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert (first.json()["returned_qty"], first.json()["old_part_returned"]) == (3, True)
    assert len(app_client.get("/v1/movements", headers=hdr).json()) == moves + 1
    assert outbox(services, "warranty_old_parts_returned") == 2
    items = app_client.get("/v1/reconciliation", params={"kind": "old_part_not_returned"}, headers=hdr).json()
    assert claim["id"] not in [i["key"] for i in items["items"] if i["status"] == "open"]
    r = app_client.post(f"{path}/approve", json={"comment": "3 electrodes back"}, headers=hdr)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = app_client.post(f"{path}/returns", json={"qty": 1}, headers=hdr)
    assert r.status_code == 409 and r.json()["code"] == "claim_decided"
    # the old units are not good stock: the van's electrodes are what was issued less what was used
    van = app_client.get("/v1/vans/e-ana", headers=hdr).json()
    assert {"part_no": "P-IGN", "qty": 2} in van["parts"]


def test_a_serial_claim_is_not_returned_by_quantity(app_client: Any, staff: Any, ana: RawDevice) -> None:
    hdr = staff["backoffice"]
    job_id = job_of(ana, "SN-1001")
    op = MovePart(**ana.stamp(), job_id=job_id, kind="consume", part_no="P-IGN", returned_serial="OLD-IGN-9")
    assert ana.push([op]).results[0].result == "applied"
    (claim,) = app_client.get("/v1/warranty/claims", params={"job_id": job_id}, headers=hdr).json()
    assert claim["by_quantity"] is False and claim["old_part_location"] == "van-e-ana"
    r = app_client.post(f"/v1/warranty/claims/{claim['id']}/returns", json={"qty": 1}, headers=hdr)
    assert r.status_code == 409 and r.json()["code"] == "claim_by_serial"
    assert app_client.post("/v1/warranty/claims/W-nope/returns", json={"qty": 1},
                           headers=hdr).json()["code"] == "unknown_claim"
