"""The tablet SDK against the real Litestar app in-process (the transport seam), on each backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from client_sdk import FieldClient
from client_sdk.syncer import SyncLoop
from schemas.domain import AssignIn
from server.domain.devices.service import issue_enroll_token, revoke
from server.domain.tickets.service import assign_job
from server.services import Services
from sync.core.signoff import report_digest

STROKES = [[1, 2, 3, 4], [5, 6, 7, 8]]


def count(services: Services, table: str) -> int:
    with services.db.read() as tx:
        row = tx.one(f"SELECT COUNT(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


@pytest.fixture
def tablet(tmp_path: Path, app_client: Any, services: Services, seeded: Any) -> Any:
    c = FieldClient.open(tmp_path / "tablet.db", transport=app_client, clock=lambda: services.clock())
    token, _ = issue_enroll_token(services, "e-ana")
    c.enroll(token)
    yield c
    c.close()


def test_enroll_and_first_pull(tablet: FieldClient) -> None:
    report = tablet.sync()
    assert report.ok, report.errors
    jobs = tablet.jobs()
    assert jobs and all(j.engineer_id == "e-ana" for j in jobs)
    detail = tablet.job(jobs[0].id)
    assert detail.template is not None and detail.missing_required
    assert tablet.parts() and tablet.stock()


def test_a_field_day_round_trip(tablet: FieldClient, services: Services, app_client: Any) -> None:
    tablet.sync()
    job_id = tablet.jobs()[0].id
    tablet.set_status(job_id, "en_route")
    tablet.set_status(job_id, "on_site")
    tablet.set_field(job_id, "diagnosis", "Igniter worn")
    tablet.answer(job_id, "gas_tight", True)
    tablet.answer(job_id, "flue_co2", 9.1)
    tablet.answer(job_id, "pressure_bar", 1.5)
    tablet.answer(job_id, "condition", "good")
    tablet.use_part(job_id, "P-IGN", returned_serial="OLD-IGN-1")
    photo = b"\xff\xd8\xff" + bytes(range(256)) * 3000  # ~770 KB: several chunks
    sha = tablet.attach(job_id, photo)
    tablet.set_status(job_id, "completed")
    signed = tablet.sign_off(job_id, "Ada Customer", STROKES)
    assert signed.report_digest == report_digest(tablet.report_content(job_id))
    report = tablet.sync()
    assert report.ok, report.errors
    assert report.pushed_ops == 11 and report.rejected == 0, tablet.op_results()
    assert report.uploaded_blobs == 1
    assert tablet.pending() == []
    status = app_client.get(f"/v1/blobs/{sha}/status", headers={"authorization": f"Device {tablet._transport.token}"})
    assert status.status_code == 200 and status.json()["complete"] is True
    with services.db.read() as tx:
        row = tx.one("SELECT report_digest FROM signoffs WHERE job_id = ?", (job_id,))
        event = tx.one("SELECT data FROM ticket_events WHERE job_id = ? AND kind = 'signed_off'", (job_id,))
    assert row is not None and row["report_digest"] == signed.report_digest
    assert event is not None and json.loads(event["data"])["digest_matches"] is True  # same content both sides
    detail = tablet.job(job_id)
    assert detail.job.signed_off and detail.job.diagnosis == "Igniter worn"


def test_lost_receipt_resend_is_answered_from_the_store(tablet: FieldClient, services: Services) -> None:
    tablet.sync()
    job_id = tablet.jobs()[0].id
    tablet.set_status(job_id, "accepted")
    key = tablet._key
    assert key is not None
    loop = SyncLoop(tablet._store, tablet._transport, key, lambda: services.clock())
    sealed = loop.seal_next()
    assert sealed is not None
    tablet._transport.push(sealed["envelope"])  # landed on the server; the tablet died before recording it
    before = count(services, "changesets") + count(services, "accepted_changesets")  # merged or still merging
    report = tablet.sync()
    assert report.ok and report.pushed_ops == 1 and report.applied == 1
    assert count(services, "changesets") == before and count(services, "accepted_changesets") == 0
    assert tablet.pending() == []


def test_expired_session_is_renewed(tablet: FieldClient) -> None:
    tablet.sync()
    tablet._transport.token = "not-a-session"
    tablet.set_field(tablet.jobs()[0].id, "notes", "x")
    report = tablet.sync()
    assert report.ok, report.errors


def test_reassigned_job_leaves_the_tablet_but_its_ops_are_pushed(tablet: FieldClient, services: Services) -> None:
    tablet.sync()
    job_id = tablet.jobs()[0].id
    assign_job(services, job_id, AssignIn(engineer_id="e-ben"), "dispatcher")
    tablet.set_field(job_id, "notes", "written before I knew")
    report = tablet.sync()
    assert report.pushed_ops == 1 and report.needs_review == 1  # the server keeps late work for review
    assert job_id not in {j.id for j in tablet.jobs()}
    assert tablet.pending() == []


def test_revoked_device_gets_a_report_not_an_exception(tablet: FieldClient, services: Services) -> None:
    tablet.sync()
    revoke(services, tablet.device_id or "")
    tablet.set_field(tablet.jobs()[0].id, "notes", "x")
    report = tablet.sync()
    assert not report.ok and not report.offline
    assert any("revoked" in e or "unauthorized" in e for e in report.errors), report.errors
    assert len(tablet.pending()) == 1


def test_tablet_clock_days_ahead_is_measured(tmp_path: Path, app_client: Any, services: Services, seeded: Any) -> None:
    ahead = 3 * 24 * 3600 * 1000
    with FieldClient.open(tmp_path / "t.db", transport=app_client, clock=lambda: services.clock() + ahead) as c:
        token, _ = issue_enroll_token(services, "e-ben")
        c.enroll(token)
        report = c.sync()
        assert report.ok and report.clock_offset_ms is not None
        assert abs(report.clock_offset_ms - ahead) < 60_000


def test_the_tablet_shows_when_signed_content_changed_on_the_server(tablet: FieldClient, services: Services,
                                                                    app_client: Any, tmp_path: Path) -> None:
    tablet.sync()
    job_id = tablet.jobs()[0].id
    for status in ("en_route", "on_site"):
        tablet.set_status(job_id, status)
    for key, value in (("gas_tight", True), ("flue_co2", 9.0), ("pressure_bar", 1.2), ("condition", "good")):
        tablet.answer(job_id, key, value)
    tablet.set_status(job_id, "completed")
    tablet.sign_off(job_id, "Ada Customer", STROKES)
    assert tablet.sync().ok and tablet.jobs()[0].changed_after_signoff is False
    # a second tablet of the same engineer changes a signed answer afterwards
    other = FieldClient.open(tmp_path / "other.db", transport=app_client, clock=lambda: services.clock())
    other.enroll(issue_enroll_token(services, "e-ana")[0])
    other.sync()
    # (a plain edit of signed content is refused on a tablet: the change is an amendment, with its reason)
    other.amend(job_id, "customer asked to add a remark", item_key="remarks", value="added after the customer signed")
    assert other.sync().ok
    tablet.sync()
    assert tablet.job(job_id).job.changed_after_signoff is True
    other.close()
