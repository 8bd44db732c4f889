"""The service report from the console, in headless Chromium against a real server and a real tablet.

A signed-in back-office user opens a signed job and clicks "Service report (PDF)":
the browser receives a real PDF from the console's own route (the same sealed
document the API serves), not the API's JSON 401.  A job not signed yet offers
no report, and its report URL is the console's own 409 page.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from service_report.pdf import verify_report_pdf
from tests.browser.conftest import Console, Live

pytestmark = pytest.mark.browser

STROKES = [[10, 60, 30, 20, 50, 70, 70, 25, 90, 65], [100, 40, 140, 42, 180, 38]]


def _new_job(live: Live, engineer_id: str, customer: str) -> str:
    """A ticket and a job without a checklist, made through the staff API as a dispatcher would."""
    auth = {"authorization": f"Bearer {live.tokens['dispatcher']}"}
    with httpx.Client(base_url=live.url, headers=auth, timeout=10) as http:
        t = http.post("/v1/tickets", json={"customer": customer, "site": "Roof", "priority": "P2",
                                           "category": "fault", "title": "Fan noise"})
        assert t.status_code == 201, t.text
        j = http.post(f"/v1/tickets/{t.json()['id']}/jobs", json={"engineer_id": engineer_id})
        assert j.status_code == 201, j.text
        return str(j.json()["jobs"][-1]["id"])


def test_the_report_button_opens_the_signed_jobs_pdf(console: Console, live: Live, tablet_factory: Any) -> None:
    signed = _new_job(live, "e-chen", f"Report Works {uuid.uuid4().hex[:4]}")
    unsigned = _new_job(live, "e-chen", f"Unsigned Works {uuid.uuid4().hex[:4]}")
    tablet = tablet_factory("e-chen", "chen-report-tablet")
    assert tablet.sync().ok
    for status in ("accepted", "en_route", "on_site", "in_progress", "completed"):
        tablet.set_status(signed, status)
    tablet.set_field(signed, "resolution", "Fan bearing replaced")
    tablet.sign_off(signed, "Ida Holm", STROKES)
    assert tablet.sync().ok

    c = console
    c.sign_in_token("backoffice")
    c.go(f"/jobs/{unsigned}")
    assert c.page.locator("#report-link").count() == 0, "no report is offered before the customer signs"
    assert "made once the customer signs" in c.page.locator("#no-report").inner_text()
    refused = c.go(f"/jobs/{unsigned}/report.pdf")
    assert refused.status == 409 and "not_signed_off" in c.page.locator("main").inner_text()

    c.go(f"/jobs/{signed}")
    link = c.page.locator("#report-link")
    assert link.inner_text() == "Service report (PDF)"
    with c.page.expect_response(lambda r: r.url.endswith(f"/jobs/{signed}/report.pdf")) as answered:
        link.click()
    response = answered.value
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'inline; filename="report-{signed}.pdf"'
    c.page.wait_for_url(f"**/jobs/{signed}/report.pdf")  # Chromium shows it in its PDF viewer
    # the viewer hands Playwright its own wrapper page as the body: the bytes again, with the browser's cookie
    again = c.context.request.get(response.url)
    assert again.status == 200 and again.headers["content-type"] == "application/pdf"
    pdf = again.body()
    assert pdf.startswith(b"%PDF-")
    svc = live.services()
    server_key = svc.key.public
    svc.db.close()
    verdict = verify_report_pdf(pdf, server_key)  # the server's sealed report of this job, as signed
    assert verdict.valid, verdict.problems
    assert (verdict.job_id, verdict.signer_name, verdict.sealed_by) == (signed, "Ida Holm", verdict.sealed_by)
    assert verdict.sealed_by.startswith("server:") and verdict.server_key_pinned


def test_the_report_route_wants_a_console_session(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        r = http.get("/jobs/J-anything/report.pdf")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
