"""Sign-off false alarms and amendments: a genuine signature verifies, a change after it is an explicit act.

A job cancelled centrally while its engineer completes and signs it offline: the refused steps are status
conflicts (what they are), and the customer's signature still verifies against what they saw -- no
``signoff_digest_mismatch``.  Runs on SQLite and PostgreSQL through the HTTP app and the SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client_sdk import FieldClient
from server.domain.devices.service import issue_enroll_token
from server.services import Services

MIN = 60_000
STROKES = [[10, 10, 40, 60, 80, 20], [90, 30, 120, 35]]
ANSWERS: dict[str, Any] = {"gas_tight": True, "flue_co2": 9.1, "pressure_bar": 1.5, "condition": "good"}


@pytest.fixture
def tablet(tmp_path: Path, app_client: Any, services: Services, seeded: Any) -> Iterator[FieldClient]:
    c = FieldClient.open(tmp_path / "tablet.db", transport=app_client, clock=lambda: services.clock())
    token, _ = issue_enroll_token(services, "e-ana")
    c.enroll(token)
    assert c.sync().ok
    yield c
    c.close()


def complete_and_sign(tablet: FieldClient, clock: Any, job_id: str) -> None:
    for status in ("accepted", "en_route", "on_site", "in_progress"):
        clock.advance(5 * MIN)
        tablet.set_status(job_id, status)
    for key, value in ANSWERS.items():
        tablet.answer(job_id, key, value)
    clock.advance(30 * MIN)
    tablet.set_status(job_id, "completed")
    tablet.sign_off(job_id, "Ada Customer", STROKES)


def test_a_job_cancelled_while_completed_offline_keeps_a_genuine_signature_valid(
        tablet: FieldClient, app_client: Any, staff: Any, clock: Any) -> None:
    job_id = tablet.jobs()[0].id
    r = app_client.post(f"/v1/jobs/{job_id}/status", json={"status": "cancelled"}, headers=staff["dispatcher"])
    assert r.status_code == 200, r.text
    complete_and_sign(tablet, clock, job_id)  # offline: the tablet has not heard of the cancellation
    assert tablet.sync().ok
    hdr = staff["backoffice"]
    detail = app_client.get(f"/v1/jobs/{job_id}", headers=hdr).json()
    assert detail["job"]["status"] == "cancelled" and detail["job"]["changed_after_signoff"] is False
    recon = app_client.get("/v1/reconciliation", params={"kind": "signoff_digest_mismatch"}, headers=hdr).json()
    assert not [i for i in recon["items"] if i["job_id"] == job_id]
    # what is wrong is reported as what it is: field work on a cancelled job
    conflicts = app_client.get("/v1/conflicts", params={"job_id": job_id}, headers=hdr).json()
    assert {"on_site", "completed"} <= {c["values"][1]["value"] for c in conflicts if c["kind"] == "status"}
    assert all(c["values"][0]["value"] == "cancelled" for c in conflicts if c["key"] == "status")
    ticket = app_client.get(f"/v1/tickets/{detail['job']['ticket_id']}", headers=hdr).json()
    (signed,) = [e for e in ticket["timeline"] if e["kind"] == "signed_off"]
    assert signed["data"]["digest_matches"] is True
    r = app_client.get(f"/v1/jobs/{job_id}/report.pdf", headers=hdr)
    assert r.status_code == 200


def test_amending_signed_content_is_an_explicit_act_with_a_reason_on_the_report_and_in_verify(
        tablet: FieldClient, app_client: Any, staff: Any, services: Services, clock: Any, tmp_path: Path,
        capsys: Any) -> None:
    import subprocess

    from client_sdk.errors import InvalidField, SignedContentLocked
    from fieldsync.cli import main
    from service_report.pdf import verify_report_pdf

    job_id = tablet.jobs()[0].id
    complete_and_sign(tablet, clock, job_id)
    pending = len(tablet.pending())
    # a plain edit of what the customer signed is refused on the tablet, nothing queued
    with pytest.raises(SignedContentLocked) as refused:
        tablet.answer(job_id, "flue_co2", 8.7)
    assert refused.value.reason == "signed_content_needs_amend"
    with pytest.raises(SignedContentLocked):
        tablet.set_field(job_id, "diagnosis", "something else")
    tablet.set_field(job_id, "rating", 5)  # not part of the signed content
    with pytest.raises(InvalidField) as blank:
        tablet.amend(job_id, "  ", item_key="flue_co2", value=8.7)
    assert blank.value.reason == "amend_reason_required"
    assert len(tablet.pending()) == pending + 1
    clock.advance(10 * MIN)
    tablet.amend(job_id, "analyser recalibrated, reading repeated", item_key="flue_co2", value=8.7)
    assert tablet.job(job_id).answers and {a.item_key: a.value for a in tablet.job(job_id).answers}["flue_co2"] == 8.7
    report = tablet.sync()
    assert report.ok and report.rejected == 0, report

    # the tablet's report: the signature verifies for the content as signed, the amendment is listed
    path = tablet.service_report(job_id, tmp_path / "tablet.pdf")
    verdict = verify_report_pdf(path.read_bytes(), services.key.public)
    assert verdict.valid, verdict.problems
    (amendment,) = verdict.amendments
    assert amendment["key"] == "flue_co2" and amendment["value"] == 8.7
    assert amendment["reason"] == "analyser recalibrated, reading repeated" and amendment["engineer_id"] == "e-ana"
    capsys.readouterr()
    assert main(["verify", str(path), "--server-key", services.key.public.hex()]) == 0
    out = capsys.readouterr().out
    assert "amended after signature: 1" in out and "analyser recalibrated" in out and "VALID" in out

    # the server's report says the same, and the timeline holds the amendment
    hdr = staff["backoffice"]
    r = app_client.get(f"/v1/jobs/{job_id}/report.pdf", headers=hdr)
    assert r.status_code == 200
    verdict = verify_report_pdf(r.content, services.key.public)
    assert verdict.valid, verdict.problems
    assert [a["reason"] for a in verdict.amendments] == ["analyser recalibrated, reading repeated"]
    server_pdf = tmp_path / "server.pdf"
    server_pdf.write_bytes(r.content)
    text = subprocess.run(["pdftotext", str(server_pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Amended after signature" in text and "analyser recalibrated" in text
    detail = app_client.get(f"/v1/jobs/{job_id}", headers=hdr).json()
    ticket = app_client.get(f"/v1/tickets/{detail['job']['ticket_id']}", headers=hdr).json()
    (event,) = [e for e in ticket["timeline"] if e["kind"] == "signed_content_amended"]
    assert event["data"]["reason"] == "analyser recalibrated, reading repeated" and event["data"]["item"] == "flue_co2"
