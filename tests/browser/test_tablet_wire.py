"""The tablet app in Chromium pushes gzip-coded change-sets, large ones as a resumable upload, and they apply once.

The app learns from the server's session answer that it takes gzip (``Accept-Encoding: gzip``), codes its
pushes with the browser's ``CompressionStream``, and sends a change-set larger than one upload chunk through
``/v1/sync/uploads``; the server applies it and the job's notes are the app's last write.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Live
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
