"""Service archive (asset history, customer archive) and the knowledge base, through the API and on the tablet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from client_sdk import FieldClient
from server.domain.devices.service import issue_enroll_token
from server.services import Services
from tests.support import iso

YEAR = 365 * 86_400_000
STROKES = [[1, 2, 3, 4]]


@pytest.fixture
def aurora(app_client: Any, staff: Any, seeded: Any, clock: Any) -> None:
    r = app_client.post("/v1/assets", json={"serial": "SN-1001", "model": "Vitodens 200", "equipment_type": "boiler",
                                            "customer": "Hotel Aurora", "site": "Aurora - plant room",
                                            "installed_at": iso(clock.now - 2 * YEAR),
                                            "warranty_until": iso(clock.now + YEAR)}, headers=staff["backoffice"])
    assert r.status_code == 201, r.text
    r = app_client.post("/v1/engineers/e-ana/certifications", json={"equipment_type": "boiler", "name": "Gas safe"},
                        headers=staff["backoffice"])
    assert r.status_code == 201, r.text


@pytest.fixture
def tablet(tmp_path: Path, app_client: Any, services: Services, aurora: None) -> Any:
    c = FieldClient.open(tmp_path / "tablet.db", transport=app_client, clock=lambda: services.clock())
    token, _ = issue_enroll_token(services, "e-ana")
    c.enroll(token)
    yield c
    c.close()


def ana_job_on(c: FieldClient, serial: str) -> str:
    return next(j.id for j in c.jobs() if j.ticket.get("asset_serial") == serial)


def finish(c: FieldClient, job_id: str, rating: int | None = None) -> None:
    for status in ("en_route", "on_site"):
        c.set_status(job_id, status)
    c.set_field(job_id, "diagnosis", "Ignition electrode worn")
    for key, value in (("gas_tight", True), ("flue_co2", 9.0), ("pressure_bar", 1.4), ("condition", "good")):
        c.answer(job_id, key, value)
    c.use_part(job_id, "P-IGN", returned_serial="OLD-IGN-9")
    c.set_status(job_id, "completed")
    c.sign_off(job_id, "Ada Guest", STROKES, rating=rating, comment="quick and tidy")


def test_asset_history_and_customer_archive_show_visits_parts_and_signoffs(
        tablet: FieldClient, app_client: Any, staff: Any) -> None:
    tablet.sync()
    job_id = ana_job_on(tablet, "SN-1001")
    finish(tablet, job_id, rating=5)
    assert tablet.sync().ok
    hdr = staff["dispatcher"]
    history = app_client.get("/v1/assets/SN-1001/history", headers=hdr).json()
    assert history["asset"]["model"] == "Vitodens 200" and history["asset"]["under_warranty"] is True
    (ticket,) = history["tickets"]
    (job,) = ticket["jobs"]
    assert job["id"] == job_id and job["diagnosis"] == "Ignition electrode worn" and job["completed_at"]
    assert [(p["part_no"], p["billable"]) for p in job["parts"] if p["kind"] == "consume"] == [("P-IGN", False)]
    assert job["signoff"]["signer_name"] == "Ada Guest" and job["signoff"]["rating"] == 5
    assert job["report_url"] == f"/v1/jobs/{job_id}/report.pdf"

    archive = app_client.get("/v1/customers/Hotel Aurora/archive", headers=hdr).json()
    assert [a["serial"] for a in archive["assets"]] == ["SN-1001"]
    assert {t["asset_serial"] for t in archive["tickets"]} == {"SN-1001", "SN-1002"}  # both Aurora tickets
    assert archive["summary"]["mean_rating"] == 5 and archive["summary"]["complaints"] == 1
    assert app_client.get("/v1/customers/Nobody/archive", headers=hdr).json()["code"] == "unknown_customer"
    assert app_client.get("/v1/assets/SN-none/history", headers=hdr).status_code == 404


def test_the_tablet_gets_the_asset_with_its_last_visits_and_searches_cases_offline(
        tablet: FieldClient, app_client: Any, staff: Any, tmp_path: Path, services: Services) -> None:
    tablet.sync()
    first = ana_job_on(tablet, "SN-1001")
    assert tablet.asset("SN-1001") is None  # that job was dispatched before the asset was registered
    finish(tablet, first)
    assert tablet.sync().ok
    office = staff["backoffice"]
    for body in ({"model": "Vitodens 200", "symptom": "Burner locks out after ignition",
                  "cause": "Worn ignition electrode", "fix": "Replace electrode, set gap 4 mm", "parts": ["P-IGN"]},
                 {"model": "Vitodens 200", "symptom": "Pressure drops overnight", "cause": "Leaking seal",
                  "fix": "Replace the seal kit", "parts": ["P-SEAL"]},
                 {"model": "Carrier 30RB", "symptom": "Chiller leaking refrigerant", "fix": "Find and braze"}):
        assert app_client.post("/v1/kb", json=body, headers=office).status_code == 201
    # a second visit on the same asset: the tablet receives the asset again, with the first visit in its history
    r = app_client.post("/v1/tickets", json={"customer": "Hotel Aurora", "site": "Aurora - plant room",
                                             "priority": "P3", "asset_serial": "SN-1001", "title": "Noisy pump"},
                        headers=staff["dispatcher"])
    r = app_client.post(f"/v1/tickets/{r.json()['id']}/jobs", json={"engineer_id": "e-ana",
                                                                    "checklist_template": "boiler-service"},
                        headers=staff["dispatcher"])
    assert r.status_code == 201, r.text
    assert tablet.sync().ok
    asset = tablet.asset("SN-1001")
    assert asset is not None and asset.model == "Vitodens 200" and asset.under_warranty
    assert [v.job_id for v in asset.history] == [first]
    assert asset.history[0].parts == ["P-IGN x1"] and asset.history[0].diagnosis == "Ignition electrode worn"
    assert tablet.asset("CH-nothing") is None

    # offline: reopen the same tablet file against an address where nothing listens
    path = Path(tablet._store.path)
    tablet.close()
    offline = FieldClient.open(path, server_url="http://127.0.0.1:9", clock=lambda: services.clock())
    try:
        assert offline.sync().offline
        hits = offline.search_kb("leaks overnight")
        assert [h.symptom for h in hits] == ["Pressure drops overnight"]  # stemmed: leaks ~ leaking
        assert {h.model for h in offline.search_kb("")} == {"Vitodens 200"}  # only the models of her jobs
        assert [h.parts for h in offline.search_kb("electrode", model="vitodens 200")] == [["P-IGN"]]
        assert offline.search_kb("refrigerant") == []
        assert offline.search_kb('" OR 1=1 --') == []  # words only: never FTS syntax
    finally:
        offline.close()


def test_knowledge_base_search_by_words_and_model(app_client: Any, staff: Any, seeded: Any) -> None:
    office = staff["backoffice"]
    for model, symptom, fix in (("Vitodens 200", "Burner fails to ignite", "Replace ignition electrode"),
                                ("Vitodens 200", "Display shows F4", "Reset flame relay"),
                                ("Logamax U052", "Burner fails to ignite after service", "Check gas valve")):
        r = app_client.post("/v1/kb", json={"model": model, "symptom": symptom, "fix": fix}, headers=office)
        assert r.status_code == 201, r.text
    hdr = staff["dispatcher"]
    hits = app_client.get("/v1/kb", params={"q": "ignition burner"}, headers=hdr).json()
    assert {h["model"] for h in hits} == {"Vitodens 200", "Logamax U052"}
    hits = app_client.get("/v1/kb", params={"q": "igniting", "model": "vitodens 200"}, headers=hdr).json()
    assert [h["fix"] for h in hits] == ["Replace ignition electrode"]
    assert app_client.get("/v1/kb", params={"q": "'); DROP TABLE kb_cases; --"}, headers=hdr).json() == []
    assert len(app_client.get("/v1/kb", headers=hdr).json()) == 3
    case = hits[0]
    assert app_client.get(f"/v1/kb/{case['id']}", headers=hdr).json()["symptom"] == "Burner fails to ignite"
    bad = app_client.post("/v1/kb", json={"symptom": ""}, headers=office)
    assert bad.status_code == 400
    bad = app_client.post("/v1/kb", json={"symptom": "x", "ticket_id": "T-none"}, headers=office)
    assert bad.status_code == 404 and bad.json()["code"] == "unknown_ticket"
