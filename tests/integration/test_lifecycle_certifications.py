"""Dispatch checks certifications: an uncertified engineer is refused (clear reason), an admin override is logged."""

from __future__ import annotations

from typing import Any

from server.services import Services
from tests.support import iso

DAY = 86_400_000


def count_jobs(services: Services) -> int:
    with services.db.read() as tx:
        row = tx.one("SELECT COUNT(*) AS n FROM jobs")
    return int(row["n"]) if row else 0


def chiller_ticket(app_client: Any, staff: Any, clock: Any) -> str:
    r = app_client.post("/v1/assets", json={"serial": "CH-77", "model": "Carrier 30RB", "equipment_type": "Chiller",
                                            "customer": "City Hospital", "site": "Wing B"},
                        headers=staff["backoffice"])
    assert r.status_code == 201, r.text
    r = app_client.post("/v1/tickets", json={"customer": "City Hospital", "site": "Wing B", "priority": "P2",
                                             "asset_serial": "CH-77", "title": "Chiller alarm"},
                        headers=staff["dispatcher"])
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_certifications_are_recorded_listed_and_validated(app_client: Any, staff: Any, seeded: Any,
                                                         clock: Any) -> None:
    hdr = staff["backoffice"]
    r = app_client.post("/v1/engineers/e-chen/certifications",
                        json={"equipment_type": "chiller", "name": "F-gas cat. I",
                              "expires_at": iso(clock.now + 365 * DAY)},
                        headers=hdr)
    assert r.status_code == 201, r.text
    app_client.post("/v1/engineers/e-chen/certifications",
                    json={"equipment_type": "boiler", "name": "Gas safe", "expires_at": iso(clock.now - DAY)},
                    headers=hdr)
    certs = app_client.get("/v1/engineers/e-chen/certifications", headers=staff["dispatcher"]).json()
    assert [(c["equipment_type"], c["valid"]) for c in certs] == [("boiler", False), ("chiller", True)]
    assert app_client.get("/v1/engineers/e-nope/certifications", headers=hdr).json()["code"] == "unknown_engineer"
    bad = app_client.post("/v1/engineers/e-chen/certifications", json={
        "equipment_type": "x", "name": "y", "issued_at": iso(10), "expires_at": iso(5)}, headers=hdr)
    assert bad.status_code == 400 and bad.json()["code"] == "bad_expiry"
    r = app_client.post("/v1/engineers/e-chen/certifications", json={"equipment_type": "x", "name": "y"},
                        headers=staff["dispatcher"])
    assert r.status_code == 403


def test_dispatch_refuses_an_uncertified_engineer_and_logs_an_admin_override(
        app_client: Any, staff: Any, seeded: Any, services: Services, clock: Any) -> None:
    tid = chiller_ticket(app_client, staff, clock)
    app_client.post("/v1/engineers/e-chen/certifications",
                    json={"equipment_type": "chiller", "name": "F-gas", "expires_at": iso(clock.now + 365 * DAY)},
                    headers=staff["backoffice"])
    app_client.post("/v1/engineers/e-ana/certifications",
                    json={"equipment_type": "chiller", "name": "F-gas (old)", "expires_at": iso(clock.now - 30 * DAY)},
                    headers=staff["backoffice"])
    before = count_jobs(services)

    r = app_client.post(f"/v1/tickets/{tid}/jobs", json={"engineer_id": "e-ben"}, headers=staff["dispatcher"])
    assert r.status_code == 409 and r.json()["code"] == "engineer_not_certified"
    assert "chiller" in r.json()["detail"] and r.json()["equipment_type"] == "chiller"
    r = app_client.post(f"/v1/tickets/{tid}/jobs", json={"engineer_id": "e-ana"}, headers=staff["dispatcher"])
    assert r.status_code == 409 and "expired on" in r.json()["detail"] and r.json()["expires_at"] is not None
    # an override is an admin's decision, with a reason
    r = app_client.post(f"/v1/tickets/{tid}/jobs", json={"engineer_id": "e-ben", "override": True,
                                                         "override_reason": "urgent"}, headers=staff["dispatcher"])
    assert r.status_code == 403 and r.json()["code"] == "override_forbidden"
    r = app_client.post(f"/v1/tickets/{tid}/jobs", json={"engineer_id": "e-ben", "override": True},
                        headers=staff["admin"])
    assert r.status_code == 400 and r.json()["code"] == "override_reason_required"
    assert count_jobs(services) == before  # refusals write nothing

    ok = app_client.post(f"/v1/tickets/{tid}/jobs", json={"engineer_id": "e-chen"}, headers=staff["dispatcher"])
    assert ok.status_code == 201
    job_id = ok.json()["jobs"][0]["id"]
    r = app_client.post(f"/v1/jobs/{job_id}/assign", json={"engineer_id": "e-ben"}, headers=staff["dispatcher"])
    assert r.status_code == 409 and r.json()["code"] == "engineer_not_certified"
    r = app_client.post(f"/v1/jobs/{job_id}/assign", json={"engineer_id": "e-ben", "override": True,
                                                           "override_reason": "only engineer in the area"},
                        headers=staff["admin"])
    assert r.status_code == 200 and r.json()["jobs"][0]["engineer_id"] == "e-ben"
    (event,) = [e for e in r.json()["timeline"] if e["kind"] == "certification_override"]
    assert event["data"]["reason"] == "only engineer in the area" and event["data"]["engineer_id"] == "e-ben"
    assert event["data"]["equipment_type"] == "chiller" and event["source"].startswith("staff:")


def test_tickets_without_a_typed_asset_are_not_checked(app_client: Any, staff: Any, seeded: Any) -> None:
    r = app_client.post("/v1/tickets", json={"customer": "X", "site": "Y", "priority": "P3", "asset_serial": "SN-?"},
                        headers=staff["dispatcher"])
    r = app_client.post(f"/v1/tickets/{r.json()['id']}/jobs", json={"engineer_id": "e-ben"},
                        headers=staff["dispatcher"])
    assert r.status_code == 201
