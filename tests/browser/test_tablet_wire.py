"""The tablet app in Chromium pushes gzip-coded change-sets, large ones as a resumable upload, and they apply once;
a push the server accepts early (202, a signed Accepted) is safe, and its outcome comes with a later sync.

The app learns from the server's session answer that it takes gzip (``Accept-Encoding: gzip``), codes its
pushes with the browser's ``CompressionStream``, and sends a change-set larger than one upload chunk through
``/v1/sync/uploads``; the server applies it and the job's notes are the app's last write.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.conftest import ROOT, Live
from tests.browser.test_tablet import Tablet, _new_job, _token
from tests.livesrv import LiveServer


@pytest.fixture(scope="module")
def wire_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from server.security import issue_staff_token
    from tools.demo_data import seed_demo

    tmp = tmp_path_factory.mktemp("tablet-wire")
    db_url = f"sqlite:///{tmp / 'wire.db'}"
    live = Live(url="", db_url=db_url, ids={}, tokens={}, tmp=tmp)
    svc = live.services()
    live.ids = seed_demo(svc)
    live.tokens = {"dispatcher": issue_staff_token(svc, "dispatcher", "wire-dispatcher")}
    svc.db.close()
    proc = LiveServer(db_url, tmp).start()
    live.url = proc.url
    yield live
    proc.stop()


def test_the_app_pushes_gzip_and_resumable_uploads(browser: Any, wire_server: Live) -> None:
    live = wire_server
    _, job_id = _new_job(live, "e-chen", f"Wire Clinic {uuid.uuid4().hex[:4]}")
    app = Tablet(browser, live, "en-US")
    sent: list[tuple[str, str, dict[str, str], int]] = []
    app.page.on("request", lambda r: sent.append((r.method, r.url, dict(r.headers), len(r.post_data_buffer or b"")))
                if "/v1/sync/" in r.url else None)
    try:
        app.enroll(_token(live, "e-chen"))
        page = app.page
        app.context.set_offline(True)
        # a small write first: one gzip-coded one-shot push
        page.evaluate("""async (job) => {
            await window.fieldsync.client.writes.setField(job, 'diagnosis', 'Igniter worn. '.repeat(200));
        }""", job_id)
        app.context.set_offline(False)
        first = page.evaluate("() => window.fieldsync.sync().then((r) => ({ok: !r.offline && !r.errors.length, "
                              "applied: r.applied}))")
        pushes = [s for s in sent if s[1].endswith("/v1/sync/push")]
        assert first["ok"] and pushes, sent
        assert pushes[-1][2].get("content-encoding") == "gzip"
        assert pushes[-1][3] < 1000  # 2,800 characters of diagnosis travelled as a few hundred bytes

        # many notes that do not compress much: a change-set larger than one upload chunk
        app.context.set_offline(True)
        last = page.evaluate("""async (job) => {
            let text = '';
            for (let i = 0; i < 18; i++) {
                const bytes = crypto.getRandomValues(new Uint8Array(4500));
                text = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
                await window.fieldsync.client.writes.setField(job, 'notes', text);
            }
            return text;
        }""", job_id)
        app.context.set_offline(False)
        report = page.evaluate("() => window.fieldsync.sync().then((r) => ({ok: !r.offline && !r.errors.length, "
                               "applied: r.applied, merged: r.merged}))")
        assert report["ok"], report
        puts = [s for s in sent if s[0] == "PUT" and "/v1/sync/uploads/" in s[1]]
        commits = [s for s in sent if s[1].endswith("/commit")]
        assert puts and len(commits) == 1, sent
        assert all("encoding=gzip" in s[1] for s in puts)
        assert sum(s[3] for s in puts) < 18 * 9000 * 0.7  # hex halves under gzip, and nothing was sent twice

        auth = {"Authorization": f"Bearer {live.tokens['dispatcher']}"}
        job = httpx.get(f"{live.url}/v1/jobs/{job_id}", headers=auth, timeout=10).json()["job"]
        assert job["notes"] == last
        assert job["diagnosis"].startswith("Igniter worn.")
        assert app.errors == []
    finally:
        app.close()


def _catalog(locale: str) -> dict[str, str]:
    return dict(json.loads((ROOT / "schemas" / "i18n" / locale / "tablet.json").read_text(encoding="utf-8")))


def test_the_app_takes_accepted_receipts_and_gets_outcomes_after_going_offline(browser: Any, wire_server: Live) -> None:
    """A push answered 202 (signed Accepted) makes the work safe; cut off before its outcome, the app says so in
    the catalog's words, never sends the change-set again, and the next sync applies the receipt."""
    live = wire_server
    _, job_id = _new_job(live, "e-chen", f"Accepted Clinic {uuid.uuid4().hex[:4]}")
    app = Tablet(browser, live, "zh-CN")
    answers: list[tuple[str, str, int, str | None]] = []
    app.page.on("response", lambda r: answers.append((r.request.method, urllib.parse.urlsplit(r.url).path, r.status,
                                                      r.headers.get("preference-applied")))
                if "/v1/sync/" in r.url else None)
    try:
        app.enroll(_token(live, "e-chen"))
        page = app.page
        page.evaluate("""async (job) => {
            await window.fieldsync.client.writes.setField(job, 'diagnosis', 'Flue blocked by a nest');
            await window.fieldsync.client.writes.setField(job, 'notes', 'Ladder needed');
        }""", job_id)
        # the link drops right after the server accepted the change-set: no outcome reaches the tablet
        page.route("**/v1/sync/receipts/**", lambda route: route.abort("internetdisconnected"))
        first = page.evaluate("() => window.fieldsync.sync().then((r) => ({offline: r.offline, pushed: r.pushed_ops, "
                              "pending: r.outcomes_pending}))")
        pushes = [a for a in answers if a[0] == "POST" and a[1] == "/v1/sync/push"]
        assert pushes and pushes[-1][2] == 202 and pushes[-1][3] == "respond-async", answers
        assert first["offline"] and first["pushed"] == 2, first
        state = app.sync_state()
        assert state["waiting"] == "0", state
        zh = _catalog("zh_CN")
        bar = page.inner_text("#sync-bar")
        assert zh["sync.outcomes_pending"].replace("{n}", "2") in bar, bar
        page.goto(f"{live.url}/tablet/#/sync")
        page.wait_for_selector("#outcomes-pending")
        assert page.inner_text("#outcomes-pending") == zh["sync.report_outcomes_pending"].replace("{n}", "2")
        assert page.locator("#outbox .badge.safe").count() == 2
        app.assert_no_english("the sync page with outcomes pending")
        # what the server holds is kept in IndexedDB: a reload still knows it (and still does not send it)
        page.reload()
        page.wait_for_function("() => window.fieldsync !== undefined")
        page.wait_for_selector("#outcomes-pending")
        assert page.evaluate("() => window.fieldsync.client.reads.syncState().then((s) => [s.waiting, s.accepted])") \
            == [0, 2]
        for _ in range(100):  # the sync the app starts on opening (cut off again) ends before the next one starts
            if not page.evaluate("() => window.fieldsync.syncing"):
                break
            time.sleep(0.1)

        # back online: the outcome comes at the start of the next sync; nothing is pushed again
        page.unroute("**/v1/sync/receipts/**")
        pushed_before = len(pushes)
        second = page.evaluate("() => window.fieldsync.sync().then((r) => ({ok: !r.offline && !r.errors.length, "
                               "applied: r.applied, pending: r.outcomes_pending}))")
        assert second == {"ok": True, "applied": 2, "pending": 0}, second
        assert len([a for a in answers if a[0] == "POST" and a[1] == "/v1/sync/push"]) == pushed_before
        assert any(a[1].startswith("/v1/sync/receipts/") and a[2] == 200 for a in answers), answers
        state = app.sync_state()
        assert page.evaluate("() => document.getElementById('sync-bar').dataset.state") == "synced", state
        assert zh["sync.outcomes_pending"].replace("{n}", "2") not in page.inner_text("#sync-bar")

        auth = {"Authorization": f"Bearer {live.tokens['dispatcher']}"}
        job = httpx.get(f"{live.url}/v1/jobs/{job_id}", headers=auth, timeout=10).json()["job"]
        assert (job["diagnosis"], job["notes"]) == ("Flue blocked by a nest", "Ladder needed")
        assert app.errors == []
    finally:
        app.close()
