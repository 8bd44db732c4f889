"""Amending signed content in the tablet app (headless Chromium, Chinese, against a real ``fieldsync serve``).

The customer signs; the engine then refuses a plain change of an answer with the catalog's words; the
engineer opens the amendment on the checklist, a blank reason is refused, with a reason the answer changes.
The report preview lists the change under "amended after signature"; back online the server holds the new
answer, and the server's report PDF verifies with ``fieldsync verify`` (the signature valid for the content
as signed) and lists the amendment with its reason.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.domain.tickets.jobs import job_detail
from tests.browser.conftest import ROOT, Live
from tests.browser.test_tablet import Tablet, _new_job, _token
from tests.browser.test_tablet import server as server  # noqa: PLC0414  (the module's own live server fixture)

pytestmark = pytest.mark.browser

REASON = "分析仪重新校准后复测"


@pytest.fixture
def tablet(browser: Any, server: Live) -> Iterator[Tablet]:
    t = Tablet(browser, server, "zh-CN")
    yield t
    t.close()
    assert t.errors == [], t.errors


def test_an_answer_changes_after_signature_only_as_an_amendment_with_a_reason(tablet: Tablet, server: Live,
                                                                              tmp_path: Path) -> None:
    live, t = server, tablet
    _, job_id = _new_job(live, "e-ana", f"签字后修改 {uuid.uuid4().hex[:4]}")
    page = t.page
    t.enroll(_token(live, "e-ana"))
    t.context.set_offline(True)
    page.wait_for_function("() => document.getElementById('sync-bar').dataset.state === 'offline'")
    # the visit itself through the app's engine (the tablet test drives every screen of it already)
    page.evaluate("""async (job) => {
        const c = window.fieldsync.client;
        for (const s of ["accepted", "en_route", "on_site", "in_progress"]) await c.writes.setStatus(job, s);
        for (const [k, v] of [["gas_tight", true], ["flue_co2", 9.2], ["pressure_bar", 1.5], ["condition", "good"]])
            await c.writes.answer(job, k, v);
        await c.writes.setStatus(job, "completed");
        await c.signOff(job, "李经理", [[[10, 20, 0], [40, 60, 16], [80, 30, 40]]]);
    }""", job_id)

    # a plain change of a signed answer is refused by the engine, in the catalog's words
    refused = page.evaluate("""async (job) => {
        try { await window.fieldsync.client.writes.answer(job, "flue_co2", 8.7); return null; }
        catch (e) { const m = window.fieldsync.explain(e); return [e.code, typeof m === "string" ? m : m.textContent]; }
    }""", job_id)
    assert refused is not None and refused[0] == "signed_content_needs_amend"
    assert "客户已为此工单签字" in refused[1] and "签字后修改" in refused[1]

    t.open_job(job_id, "checklist")
    page.wait_for_selector("#amend-box")
    assert t.item("flue_co2").locator("input.number").is_disabled()
    t.assert_no_english("the checklist of a signed job")
    page.click("#amend-start")  # no reason yet
    page.wait_for_selector("#checklist li[data-item='flue_co2'] input.number:not([disabled])")
    t.assert_no_english("the checklist being amended")
    t.item("flue_co2").locator("input.number").fill("8.7")
    t.item("flue_co2").locator("button").first.click()
    page.wait_for_selector(".toast.error")
    assert "请说明修改客户已签字内容的原因" in page.inner_text(".toast.error")
    page.fill("#amend-reason", REASON)
    t.item("flue_co2").locator("input.number").fill("8.7")
    t.item("flue_co2").locator("button").first.click()
    for _ in range(100):
        amended = page.evaluate("""async (job) => (await window.fieldsync.client.reads.amendments(job)).length""",
                                job_id)
        if amended:
            break
        page.wait_for_timeout(100)
    assert amended == 1

    t.tab("report")
    page.wait_for_selector("#amended")
    text = page.inner_text("#amended")
    assert "签字后修改" in text and REASON in text and "8.7" in text
    t.assert_no_english("the report with an amendment")

    t.context.set_offline(False)
    page.wait_for_function("""() => { const b = document.getElementById('sync-bar');
        return b.dataset.state === 'synced' && b.dataset.waiting === '0'; }""", timeout=30_000)
    svc = live.services()
    try:
        detail = job_detail(svc, job_id)
    finally:
        svc.db.close()
    assert {a["item_key"]: a["value"] for a in detail["answers"]}["flue_co2"] == 8.7
    assert any(e["kind"] == "signed_content_amended" for e in detail["timeline"])
    pdf = httpx.get(f"{live.url}/v1/jobs/{job_id}/report.pdf", timeout=30,
                    headers={"Authorization": f"Bearer {live.tokens['backoffice']}"})
    assert pdf.status_code == 200
    (tmp_path / "report.pdf").write_bytes(pdf.content)
    verified = subprocess.run([sys.executable, "-m", "fieldsync", "verify", str(tmp_path / "report.pdf")],
                              capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert verified.returncode == 0 and "VALID" in verified.stdout, verified.stdout + verified.stderr
    assert REASON in verified.stdout
