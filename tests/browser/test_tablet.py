"""The engineer's tablet app in headless Chromium (touch, tablet viewport) against a real ``fieldsync serve``.

An engineer enrolls online with the console's enrollment link, then loses the network and does a whole job
in the app: every status step (with a hold and its reason), every checklist type (pass/fail, numbers with a
refused out-of-range value, a choice, a photo from the camera input, text, not applicable with a reason), a
serialized part with the old part returned, diagnosis and resolution, the report preview and the customer's
signature drawn with pointer moves.  The tab is closed and opened again while still offline and everything is
there; back online the app syncs by itself, the server holds the job signed off with the same answers, the
report PDF verifies with ``fieldsync verify`` and the console shows the signature.  The whole session runs in
Chinese, and no English word of the app's own shows on any screen.

A second test has the same engineer work one job on a Python SDK tablet and in the app, offline, with a
conflicting answer: both sync, both end with the same value, and the conflict waits in the review queue.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import urllib.parse
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.domain.devices.service import issue_enroll_token
from server.domain.tickets.jobs import job_detail
from tests.browser.conftest import LAPTOP, ROOT, SCREENSHOTS, TABLET, Console, Live
from tests.livesrv import LiveServer

pytestmark = pytest.mark.browser

#: visible text that may stay Latin in a Chinese session: none of the app's own words
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def _png(width: int = 40, height: int = 30) -> bytes:
    """A small real PNG, as the camera input would give bytes."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 6 % 256, y * 8 % 256, 90))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _new_job(live: Live, engineer: str, customer: str) -> tuple[str, str]:
    """A fresh ticket and job for ``engineer`` (tests share the server: each works its own job)."""
    auth = {"Authorization": f"Bearer {live.tokens['dispatcher']}"}
    t = httpx.post(f"{live.url}/v1/tickets", headers=auth, timeout=10, json={
        "customer": customer, "site": "Boiler house 2", "priority": "P2", "category": "fault",
        "title": "Boiler trips on ignition", "asset_serial": f"SN-{uuid.uuid4().hex[:6]}"})
    assert t.status_code == 201, t.text
    ticket = t.json()
    j = httpx.post(f"{live.url}/v1/tickets/{ticket['id']}/jobs", headers=auth, timeout=10,
                   json={"engineer_id": engineer, "checklist_template": "boiler-service"})
    assert j.status_code in (200, 201), j.text
    job = next(x for x in j.json()["jobs"] if x["engineer_id"] == engineer)
    return ticket["id"], job["id"]


def _token(live: Live, engineer: str) -> str:
    svc = live.services()
    token, _ = issue_enroll_token(svc, engineer)
    svc.db.close()
    return token


class Tablet:
    """One browser context as the engineer's tablet: touch, tablet viewport, its own storage."""

    def __init__(self, browser: Any, live: Live, locale: str) -> None:
        self.live = live
        self.context = browser.new_context(viewport=TABLET, has_touch=True, is_mobile=True, locale=locale,
                                           service_workers="allow")
        self.context.set_default_timeout(15_000)
        self.errors: list[str] = []
        self.page = self.open_page()

    def open_page(self) -> Any:
        page = self.context.new_page()
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error"
                and "Failed to load resource" not in m.text else None)
        return page

    def enroll(self, token: str) -> None:
        self.page.goto(f"{self.live.url}/tablet/#/enroll?token={urllib.parse.quote(token, safe='')}")
        self.page.wait_for_selector("#jobs")
        # the service worker holds the app shell and controls the page: from now on no network is needed
        self.page.wait_for_function("() => navigator.serviceWorker.controller !== null")

    def open_job(self, job_id: str, tab: str = "work") -> None:
        self.page.goto(f"{self.live.url}/tablet/#/job/{job_id}" + ("" if tab == "work" else f"/{tab}"))
        self.page.wait_for_selector(f".tab-body[data-tab='{tab}']")

    def tab(self, name: str) -> None:
        self.page.click(f"nav.tabs a[data-tab='{name}']")
        self.page.wait_for_selector(f".tab-body[data-tab='{name}']")

    def status(self, status: str) -> None:
        self.page.tap(f"#status-steps button[data-status='{status}']")
        self.page.wait_for_selector(f"#job-status[data-status='{status}']")

    def item(self, key: str) -> Any:
        return self.page.locator(f"#checklist li[data-item='{key}']")

    def wait_answered(self, key: str) -> None:
        self.page.wait_for_selector(f"#checklist li[data-item='{key}'].answered")

    def sync_state(self) -> dict[str, str]:
        return self.page.evaluate("""() => { const b = document.getElementById('sync-bar');
            return {state: b.dataset.state, waiting: b.dataset.waiting}; }""")

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"tablet-{name}.png"), full_page=True)

    def assert_no_english(self, where: str) -> None:
        """Every word on screen that is not data (marked ``.v`` / ``data-v``) comes from the Chinese catalog."""
        leftovers = self.page.evaluate("""() => {
            const out = [];
            const skip = (el) => el.closest('.v, [data-v], script, style, [hidden]');
            const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
            for (let n = walker.nextNode(); n; n = walker.nextNode()) {
                if (n.textContent.trim() && !skip(n.parentElement)) out.push(n.textContent.trim());
            }
            for (const el of document.querySelectorAll('[placeholder], [aria-label], [title], [alt]')) {
                if (skip(el)) continue;
                for (const a of ['placeholder', 'aria-label', 'title', 'alt']) {
                    if (el.getAttribute(a)) out.push(el.getAttribute(a));
                }
            }
            return out;
        }""")
        english = [text for text in leftovers if LATIN_WORD.search(text)]
        assert english == [], f"English UI text in the zh-CN session on {where}: {english}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A ``fieldsync serve`` of these tests' own, with the demo data: the engineers' tablets here sync and
    sign jobs, which must not change what the console's tests see on the shared server."""
    from server.security import issue_staff_token
    from tools.demo_data import seed_demo

    tmp = tmp_path_factory.mktemp("tablet")
    db_url = f"sqlite:///{tmp / 'tablet.db'}"
    live = Live(url="", db_url=db_url, ids={}, tokens={}, tmp=tmp)
    svc = live.services()
    live.ids = seed_demo(svc)
    live.tokens = {role: issue_staff_token(svc, role, f"{role}-token") for role in ("dispatcher", "backoffice")}
    svc.db.close()
    proc = LiveServer(db_url, tmp).start()
    live.url = proc.url
    yield live
    proc.stop()


@pytest.fixture
def tablet_zh(browser: Any, server: Live) -> Iterator[Tablet]:
    t = Tablet(browser, server, "zh-CN")
    yield t
    t.close()
    assert t.errors == [], t.errors


@pytest.fixture
def sdk_tablet(server: Live, tmp_path: Path) -> Iterator[Any]:
    """An enrolled Python SDK tablet of e-ben on this module's server."""
    from client_sdk import FieldClient

    client = FieldClient.open(tmp_path / "sdk.db", server_url=server.url, device_name="sdk-tablet")
    client.enroll(_token(server, "e-ben"))
    yield client
    client.close()


def _draw(page: Any, selector: str, touch: list[tuple[float, float]], pen: list[tuple[float, float]]) -> None:
    """Two strokes on an element (points in fractions of its box): one with a finger (touch events through
    the browser's input pipeline, so the page sees ``pointerType == "touch"``), one with a mouse/pen."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()

    def at(x: float, y: float) -> dict[str, float]:
        return {"x": box["x"] + x * box["width"], "y": box["y"] + y * box["height"]}

    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [at(*touch[0])]})
    for point in touch[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [at(*point)]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()
    page.mouse.move(**at(*pen[0]))
    page.mouse.down()
    for point in pen[1:]:
        page.mouse.move(**at(*point), steps=4)
    page.mouse.up()


def test_a_whole_job_offline_in_the_tablet_app(tablet_zh: Tablet, server: Live, browser: Any, tmp_path: Path) -> None:
    live = server
    customer = f"湖畔诊所 {uuid.uuid4().hex[:4]}"
    ticket_id, job_id = _new_job(live, "e-chen", customer)
    t = tablet_zh
    page = t.page

    # -- online: enroll with the console's link; the jobs arrive with the first sync ------------------
    page.goto(f"{live.url}/tablet/")
    page.wait_for_selector("#token")
    t.assert_no_english("the enrollment screen")
    t.enroll(_token(live, "e-chen"))
    assert page.locator(f"a.job-card[data-job='{job_id}']").count() == 1
    assert t.sync_state()["state"] == "synced"
    t.assert_no_english("the job list")
    t.shot("jobs")

    # -- offline from here on -----------------------------------------------------------------------
    t.context.set_offline(True)
    page.wait_for_function("() => document.getElementById('sync-bar').dataset.state === 'offline'")
    page.click(f"a.job-card[data-job='{job_id}']")
    page.wait_for_selector(".tab-body[data-tab='work']")
    for status in ("accepted", "en_route", "on_site", "in_progress"):
        t.status(status)
    page.click("#status-steps button[data-status='on_hold']")
    page.click("#hold-reasons button[data-hold='awaiting_customer']")
    page.wait_for_selector("#job-status[data-status='on_hold']")
    assert "等待客户" in page.inner_text("#job-status")
    t.assert_no_english("the job's status steps")
    t.status("in_progress")

    t.tab("checklist")
    t.assert_no_english("the checklist")
    t.item("gas_tight").locator("button[data-value='true']").click()
    t.wait_answered("gas_tight")
    t.item("flue_co2").locator("input.number").fill("9.2")
    t.item("flue_co2").locator("button").first.click()
    t.wait_answered("flue_co2")
    t.item("pressure_bar").locator("input.number").fill("7")
    t.item("pressure_bar").locator("button").first.click()
    page.wait_for_selector(".toast.error")
    assert "高于允许范围" in page.inner_text(".toast.error"), "an out-of-range value is refused with the rule's words"
    assert "answered" not in (t.item("pressure_bar").get_attribute("class") or "")
    t.item("pressure_bar").locator("button.na-open").click()
    t.item("pressure_bar").locator("input.na-reason").fill("压力表损坏")
    t.item("pressure_bar").locator("button.na-confirm").click()
    t.wait_answered("pressure_bar")
    t.item("condition").locator("button[data-value='fair']").click()
    t.wait_answered("condition")
    photo = _png()
    t.item("photo_plate").locator("input.photo-input").set_input_files(
        files=[{"name": "plate.png", "mimeType": "image/png", "buffer": photo}])
    t.wait_answered("photo_plate")
    page.wait_for_selector("#checklist li[data-item='photo_plate'] img.thumb")
    t.item("remarks").locator("textarea").fill("风机异响已排除")
    t.item("remarks").locator("button").first.click()
    t.wait_answered("remarks")
    assert page.get_attribute("#missing-required", "class") == "notice ok"
    t.assert_no_english("the answered checklist")
    t.shot("checklist")

    t.tab("parts")
    page.select_option("#part-no", "P-PCB")
    page.click("#use-part")
    page.wait_for_selector(".toast.error")  # a serialized part needs its serial
    page.fill("#part-serial", "PCB-e-chen-0")
    page.fill("#part-returned", "PCB-OLD-77")
    page.click("#use-part")
    page.wait_for_selector("#used-parts tr[data-movement]")
    assert "PCB-OLD-77" in page.inner_text("#used-parts")
    t.assert_no_english("the parts")

    t.tab("notes")
    page.fill("#field-diagnosis", "点火电极磨损")
    page.click("button[data-save='diagnosis']")
    page.wait_for_selector("label[for='field-diagnosis'] .badge")
    page.fill("#field-resolution", "更换控制板，测试正常")
    page.click("button[data-save='resolution']")
    page.wait_for_selector("label[for='field-resolution'] .badge")

    t.tab("work")
    t.status("completed")

    t.tab("report")
    assert "风机异响已排除" in page.inner_text("#report")
    assert "PCB-e-chen-0" in page.inner_text("#report")
    t.assert_no_english("the report preview")
    page.click("#to-sign")
    page.wait_for_selector("#pad")
    page.fill("#signer", "李经理")
    page.evaluate("""() => { window.pointerTypes = new Set(); document.getElementById('pad')
        .addEventListener('pointerdown', e => window.pointerTypes.add(e.pointerType)); }""")
    _draw(page, "#pad", touch=[(0.1, 0.6), (0.2, 0.2), (0.3, 0.7), (0.4, 0.25), (0.5, 0.65)],
          pen=[(0.6, 0.4), (0.75, 0.42), (0.9, 0.38)])
    assert sorted(page.evaluate("() => [...window.pointerTypes]")) == ["mouse", "touch"]
    t.assert_no_english("the signature screen")
    t.shot("sign")
    page.click("#sign-submit")
    page.wait_for_selector("#signed")
    assert page.get_attribute("#job-status", "data-status") == "signed_off"
    t.assert_no_english("the signed report")
    t.shot("signed")
    waiting = int(t.sync_state()["waiting"])
    assert waiting >= 15 and t.sync_state()["state"] == "offline"
    pen = page.evaluate("""async (job) => (await window.fieldsync.client.reads.job(job)).signoff.pen""", job_id)
    assert len(pen) == 2 and all(len(p) == 3 for s in pen for p in s), f"strokes kept as points with their times: {pen}"
    times = [p[2] for p in pen[0]]
    assert times == sorted(times) and times[-1] > times[0]

    # -- close the tab and open the app again, still offline: everything is there ----------------------
    page.close()
    page = t.page = t.open_page()
    page.goto(f"{live.url}/tablet/")
    page.wait_for_selector(f"a.job-card[data-job='{job_id}']")
    assert t.sync_state() == {"state": "offline", "waiting": str(waiting)}
    t.open_job(job_id, "checklist")
    for key in ("gas_tight", "flue_co2", "pressure_bar", "condition", "photo_plate", "remarks"):
        assert "answered" in (t.item(key).get_attribute("class") or ""), key
    assert t.item("flue_co2").locator("input.number").input_value() == "9.2"
    page.wait_for_selector("#checklist li[data-item='photo_plate'] img.thumb")
    t.tab("report")
    page.wait_for_selector("#signed canvas#signature-view")
    assert "李经理" in page.inner_text("#signed")
    t.assert_no_english("the reopened report")

    # -- online again: the app syncs by itself ---------------------------------------------------------
    t.context.set_offline(False)
    page.wait_for_function("""() => { const b = document.getElementById('sync-bar');
        return b.dataset.state === 'synced' && b.dataset.waiting === '0'; }""", timeout=30_000)
    page.goto(f"{live.url}/tablet/#/sync")
    page.wait_for_selector("#sync-explain")
    assert page.locator("#outcomes").count() == 0, "the server accepted every op"
    t.assert_no_english("the sync screen")

    svc = live.services()
    try:
        detail = job_detail(svc, job_id)
    finally:
        svc.db.close()
    assert detail["job"]["status"] == "signed_off"
    assert detail["job"]["changed_after_signoff"] is False
    answers = {a["item_key"]: (a["value"], a["na_reason"]) for a in detail["answers"]}
    sha = answers["photo_plate"][0]
    assert answers == {"gas_tight": (True, None), "flue_co2": (9.2, None), "pressure_bar": (None, "压力表损坏"),
                       "condition": ("fair", None), "photo_plate": (sha, None), "remarks": ("风机异响已排除", None)}
    assert [a["arrived"] for a in detail["attachments"]] == [True]
    assert detail["job"]["diagnosis"] == "点火电极磨损"
    assert [(m["kind"], m["part_no"], m["serial"]) for m in sorted(detail["parts"], key=lambda m: m["kind"])] == [
        ("consume", "P-PCB", "PCB-e-chen-0"), ("return_old", "P-PCB", "PCB-OLD-77")]
    signoff = detail["signoff"]
    assert signoff["signer_name"] == "李经理" and signoff["digest_matches"] is True
    assert len(signoff["strokes"]) == 2 and all(len(s) >= 8 for s in signoff["strokes"])
    kinds = [e["kind"] for e in detail["timeline"]]
    assert {"on_site", "on_hold", "resumed", "completed", "signed_off"} <= set(kinds)

    pdf = httpx.get(f"{live.url}/v1/jobs/{job_id}/report.pdf", timeout=30,
                    headers={"Authorization": f"Bearer {live.tokens['backoffice']}"})
    assert pdf.status_code == 200
    (tmp_path / "report.pdf").write_bytes(pdf.content)
    verified = subprocess.run([sys.executable, "-m", "fieldsync", "verify", str(tmp_path / "report.pdf")],
                              capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert verified.returncode == 0 and "VALID" in verified.stdout, verified.stdout + verified.stderr

    console = Console(browser, live, LAPTOP)
    try:
        console.sign_in_token("backoffice")
        console.go(f"/jobs/{job_id}")
        assert console.page.locator("#signoff svg.signature polyline").count() == 2
        assert "verified" in console.page.inner_text("#signoff-status")
        assert console.errors == []
    finally:
        console.context.close()


def test_the_sdk_tablet_and_the_app_converge_on_a_conflicting_answer(browser: Any, server: Live,
                                                                     sdk_tablet: Any) -> None:
    live = server
    ticket_id, job_id = _new_job(live, "e-ben", f"Harbour Mill {uuid.uuid4().hex[:4]}")
    sdk = sdk_tablet
    assert sdk.sync().ok
    app = Tablet(browser, live, "en-US")
    try:
        app.enroll(_token(live, "e-ben"))
        page = app.page

        # both tablets offline: the same item answered differently, and a different item on each
        app.context.set_offline(True)
        app.open_job(job_id, "checklist")
        app.item("condition").locator("button[data-value='good']").click()
        app.wait_answered("condition")
        app.item("gas_tight").locator("button[data-value='true']").click()
        app.wait_answered("gas_tight")
        sdk.answer(job_id, "condition", "poor")
        sdk.answer(job_id, "remarks", "checked from the SDK tablet")

        app.context.set_offline(False)
        page.wait_for_function("() => document.getElementById('sync-bar').dataset.waiting === '0'", timeout=30_000)
        report = sdk.sync()
        assert report.needs_review == 1 and report.rejected == 0
        page.click("#sync-now")
        # the run the button started (a call while it runs shares it), then one more that surely began
        # after the SDK tablet's push reached the server
        pulled = page.evaluate("""async () => {
            let n = 0;
            for (let i = 0; i < 2; i++) {
                const r = await window.fieldsync.sync();
                if (r.offline || r.errors.length) return -1;
                n += r.pulled_changes;
            }
            return n;
        }""")
        # how many of them each run pulled depends on when the app's own run (started when it came back
        # online) pulled; after these two runs it holds everything, which the checks below read on screen
        assert pulled >= 0, "both runs reached the server"
        assert sdk.sync().ok

        app.open_job(job_id, "checklist")
        app_values = {key: app.item(key).locator("button.pressed").inner_text() if key != "remarks"
                      else app.item(key).locator("textarea").input_value() for key in ("condition", "remarks")}
        sdk_values = {a.item_key: a.value for a in sdk.job(job_id).answers}
        assert sdk_values["condition"] == app_values["condition"] == "poor", "both tablets hold the value in force"
        assert app_values["remarks"] == sdk_values["remarks"] == "checked from the SDK tablet"
        assert sdk_values["gas_tight"] is True

        conflicts = httpx.get(f"{live.url}/v1/conflicts", params={"status": "open"}, timeout=10,
                              headers={"Authorization": f"Bearer {live.tokens['backoffice']}"}).json()
        mine = [c for c in conflicts if c["job_id"] == job_id]
        assert [(c["kind"], c["key"]) for c in mine] == [("answer", "condition")]
        assert sorted(v["value"] for v in mine[0]["values"]) == ["good", "poor"]

        app.tab("work")
        page.wait_for_selector(f"#job-attention li[data-conflict='{mine[0]['id']}']")
        assert "good" in page.inner_text("#job-attention") and "poor" in page.inner_text("#job-attention")
        in_force = page.locator("#job-attention .value:has(.in-force)").inner_text()
        assert "poor" in in_force and "good" not in in_force, "the value in force is marked"

        app.shot("conflict")
        assert app.errors == []
    finally:
        app.close()


def test_the_app_is_served_as_an_offline_pwa(browser: Any, server: Live) -> None:
    live = server
    """What makes the app installable and its shell cacheable, as the browser sees it."""
    context = browser.new_context(viewport=TABLET, has_touch=True, locale="en-US")
    try:
        page = context.new_page()
        response = page.goto(f"{live.url}/tablet/")
        headers = response.headers
        assert "default-src 'self'" in headers["content-security-policy"]
        manifest = page.evaluate("() => fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())")
        assert manifest["scope"] == "/tablet/" and manifest["display"] == "standalone"
        assert {i["sizes"] for i in manifest["icons"]} >= {"192x192", "512x512"}
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        cached = page.evaluate("""async () => { const keys = await caches.keys();
            const cache = await caches.open(keys.find(k => k.startsWith('fieldsync-tablet-')));
            return (await cache.keys()).map(r => new URL(r.url).pathname); }""")
        assert {"/tablet/", "/tablet/ui/main.js", "/tablet/engine/client.js", "/tablet/rules.json",
                "/tablet/i18n/zh_CN/tablet.json", "/tablet/vendor/msgpack/index.mjs"} <= set(cached)
        # the app asked for persistent storage (the browser decides; installed apps get it)
        page.wait_for_function("() => document.body.dataset.persisted !== undefined")
        # the language: the browser's first (this context says en-US), switchable, remembered on the tablet
        page.wait_for_selector("#enroll")
        assert page.inner_text("#enroll") == "Enroll this tablet"
        with page.expect_navigation():
            page.select_option("#lang", "zh_CN")
        page.wait_for_selector("#enroll")
        assert page.inner_text("#enroll") == "注册此平板"
        assert page.evaluate("() => document.documentElement.lang") == "zh-CN"
        page.reload()
        page.wait_for_selector("#enroll")
        assert page.inner_text("#enroll") == "注册此平板"
    finally:
        context.close()
