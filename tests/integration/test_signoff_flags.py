"""Sign-off that can be trusted: a change to signed content shows everywhere, and reports verify offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from client_sdk import FieldClient
from fieldsync.cli import main
from schemas.wire import AnswerItem, Op, SetStatus, SignOff
from server.domain.devices.service import issue_enroll_token
from server.domain.sync.signoff_content import build_report_content
from server.services import Services
from service_report.pdf import verify_report_pdf
from sync.core.signoff import report_digest, sign_off_message
from tests.support import RawDevice

STROKES = [[10, 10, 40, 60, 80, 20], [90, 30, 120, 35]]
ANSWERS: dict[str, Any] = {"gas_tight": True, "flue_co2": 9.1, "pressure_bar": 1.5, "condition": "good"}


def job_of(dev: RawDevice) -> dict[str, Any]:
    return sorted(dev.jobs().values(), key=lambda j: j["id"])[0]


def complete(dev: RawDevice, job_id: str) -> None:
    ops: list[Op] = [SetStatus(**dev.stamp(), job_id=job_id, status=s)
                     for s in ("accepted", "en_route", "on_site", "in_progress")]
    ops += [AnswerItem(**dev.stamp(), job_id=job_id, item_key=k, value=v) for k, v in ANSWERS.items()]
    ops.append(SetStatus(**dev.stamp(), job_id=job_id, status="completed"))
    receipt = dev.push(ops)
    assert all(r.result in ("applied", "needs_review") for r in receipt.results), receipt.results


def sign(dev: RawDevice, services: Services, job_id: str) -> str:
    """Sign off the way a tablet does: the digest of the report content the device holds (same as the server's)."""
    with services.db.read() as tx:
        content = build_report_content(tx, job_id)
    assert content is not None
    digest = report_digest(content)
    at = dev.now()
    op = SignOff(**dev.stamp(), job_id=job_id, signer_name="Ada Customer", signer_role="customer", signed_at=at,
                 report_digest=digest, strokes=STROKES,
                 device_signature=dev.key.sign(sign_off_message(job_id, digest, at, "Ada Customer")))
    assert dev.push([op]).results[0].result == "applied"
    return digest


def flags(client: Any, staff: dict[str, Any], dev: RawDevice, job: dict[str, Any]) -> tuple[bool, bool, bool, bool]:
    """changed_after_signoff as the job API, the ticket API, the device's pull and reconciliation show it."""
    hdr = staff["backoffice"]
    detail = client.get(f"/v1/jobs/{job['id']}", headers=hdr).json()
    ticket = client.get(f"/v1/tickets/{job['ticket_id']}", headers=hdr).json()
    on_ticket = next(j for j in ticket["jobs"] if j["id"] == job["id"])
    pulled = dev.jobs()[job["id"]]
    recon = client.get("/v1/reconciliation", params={"kind": "signoff_digest_mismatch"}, headers=hdr).json()
    in_recon = any(i["job_id"] == job["id"] for i in recon["items"])
    return (detail["job"]["changed_after_signoff"], on_ticket["changed_after_signoff"],
            pulled.get("changed_after_signoff"), in_recon)


@pytest.fixture
def ana(app_client: Any, services: Services, seeded: Any) -> RawDevice:
    return RawDevice(app_client, services, "e-ana")


def test_a_later_device_answer_flags_the_signed_job_everywhere(app_client: Any, services: Services, staff: Any,
                                                                 ana: RawDevice, clock: Any) -> None:
    job = job_of(ana)
    complete(ana, job["id"])
    sign(ana, services, job["id"])
    assert flags(app_client, staff, ana, job) == (False, False, False, False)
    clock.advance(60_000)
    second = RawDevice(app_client, services, "e-ana")  # the engineer's other tablet, offline till now
    r = second.push([AnswerItem(**second.stamp(), job_id=job["id"], item_key="flue_co2", value=7.2)])
    assert r.results[0].result == "needs_review"  # both answers kept, the newer applied
    assert flags(app_client, staff, ana, job) == (True, True, True, True)
    recon = app_client.get("/v1/reconciliation", params={"kind": "signoff_digest_mismatch"},
                           headers=staff["backoffice"]).json()
    (item,) = recon["items"]
    rec = item["records"][0]
    assert rec["signed_digest"] != rec["current_digest"] and rec["signer_name"] == "Ada Customer"


def test_back_office_resolving_an_answer_conflict_flags_the_signed_job(app_client: Any, services: Services,
                                                                         staff: Any, ana: RawDevice) -> None:
    job = job_of(ana)
    second = RawDevice(app_client, services, "e-ana")
    r = second.push([AnswerItem(**second.stamp(), job_id=job["id"], item_key="condition", value="poor")])
    assert r.results[0].result == "applied"
    complete(ana, job["id"])  # ana's "good" meets second's "poor": a conflict waits in the review queue
    sign(ana, services, job["id"])
    assert flags(app_client, staff, ana, job) == (False, False, False, False)
    conflicts = app_client.get("/v1/conflicts", params={"job_id": job["id"]}, headers=staff["backoffice"]).json()
    (conflict,) = [c for c in conflicts if c["key"] == "condition"]
    r = app_client.post(f"/v1/conflicts/{conflict['id']}/resolve", json={"value": "fair", "comment": "called"},
                        headers=staff["backoffice"])
    assert r.status_code == 200, r.text
    assert flags(app_client, staff, ana, job) == (True, True, True, True)


def test_server_report_pdf_verifies_and_a_byte_edit_does_not(app_client: Any, services: Services, staff: Any,
                                                              ana: RawDevice, tmp_path: Path) -> None:
    job = job_of(ana)
    r = app_client.get(f"/v1/jobs/{job['id']}/report.pdf", headers=staff["backoffice"])
    assert r.status_code == 409 and r.json()["code"] == "not_signed_off"
    complete(ana, job["id"])
    digest = sign(ana, services, job["id"])
    r = app_client.get(f"/v1/jobs/{job['id']}/report.pdf", headers=staff["backoffice"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/pdf")
    server_key = services.key.public
    verdict = verify_report_pdf(r.content, server_key)
    assert verdict.valid, verdict.problems
    assert verdict.report_digest == digest and verdict.sealed_by.startswith("server:")
    path = tmp_path / "report.pdf"
    path.write_bytes(r.content)
    assert main(["verify", str(path), "--server-key", server_key.hex()]) == 0
    i = len(r.content) // 3
    path.write_bytes(r.content[:i] + bytes([r.content[i] ^ 0x04]) + r.content[i + 1:])
    assert main(["verify", str(path), "--server-key", server_key.hex()]) == 1
    assert app_client.get(f"/v1/jobs/{job['id']}/report.pdf").status_code == 401
    r = app_client.get("/v1/jobs/J-nope/report.pdf", headers=staff["backoffice"])
    assert r.status_code == 404 and r.json()["code"] == "unknown_job"


def test_tablet_service_report_verifies_offline(tmp_path: Path, app_client: Any, services: Services,
                                                seeded: Any) -> None:
    with FieldClient.open(tmp_path / "tablet.db", transport=app_client, clock=lambda: services.clock()) as tablet:
        token, _ = issue_enroll_token(services, "e-ana")
        tablet.enroll(token)
        tablet.sync()
        job_id = tablet.jobs()[0].id
        for s in ("accepted", "en_route", "on_site", "in_progress"):
            tablet.set_status(job_id, s)
        for k, v in ANSWERS.items():
            tablet.answer(job_id, k, v)
        tablet.use_part(job_id, "P-IGN", returned_serial="OLD-IGN-1")
        tablet.set_status(job_id, "completed")
        tablet.sign_off(job_id, "Ada Customer", STROKES)
        path = tablet.service_report(job_id, tmp_path / "report.pdf")  # offline: no sync needed
        assert tablet.sync().ok
    data = path.read_bytes()
    verdict = verify_report_pdf(data, services.key.public)
    assert verdict.valid, verdict.problems
    assert verdict.job_id == job_id and verdict.sealed_by.startswith("device:")
    assert main(["verify", str(path), "--server-key", services.key.public.hex()]) == 0
    tampered = tmp_path / "tampered.pdf"
    i = len(data) // 2
    tampered.write_bytes(data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1:])
    assert main(["verify", str(tampered)]) == 1
