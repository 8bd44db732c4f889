"""The tablet app's knowledge base in headless Chromium against a real ``fieldsync serve``, offline.

The back office adds solved cases (one in Chinese, one in English) for the model of the engineer's job;
the app syncs them, loses the network, and the engineer searches: ``异响`` finds ``风机异响``, ``风机``
and ``异`` do too, ``bearings`` finds the English case, two words that no case holds together find
nothing.  The session runs in Chinese with no English word of the app's own on the screen.
"""

from __future__ import annotations

import time
import urllib.parse
import uuid
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Live
from tests.browser.test_tablet import Tablet, _token, server  # noqa: F401 - `server` is a fixture used here

pytestmark = pytest.mark.browser


def _job_on_new_model(live: Live, engineer: str) -> str:
    """A job of ``engineer`` on an asset of a model no other test uses; the model's name."""
    model = f"Vitodens {uuid.uuid4().hex[:4]}"
    serial = f"SN-KB-{uuid.uuid4().hex[:6]}"
    office = {"Authorization": f"Bearer {live.tokens['backoffice']}"}
    dispatch = {"Authorization": f"Bearer {live.tokens['dispatcher']}"}
    r = httpx.post(f"{live.url}/v1/assets", headers=office, timeout=10, json={
        "serial": serial, "model": model, "customer": "某某医院", "site": "锅炉房"})  # no type: no certification asked
    assert r.status_code == 201, r.text
    t = httpx.post(f"{live.url}/v1/tickets", headers=dispatch, timeout=10, json={
        "customer": "某某医院", "site": "锅炉房", "priority": "P2", "category": "fault", "title": "风机异响",
        "asset_serial": serial})
    assert t.status_code == 201, t.text
    j = httpx.post(f"{live.url}/v1/tickets/{t.json()['id']}/jobs", headers=dispatch, timeout=10,
                   json={"engineer_id": engineer, "checklist_template": "boiler-service"})
    assert j.status_code in (200, 201), j.text
    return model


def _add_case(live: Live, model: str, **fields: Any) -> str:
    office = {"Authorization": f"Bearer {live.tokens['backoffice']}"}
    r = httpx.post(f"{live.url}/v1/kb", headers=office, timeout=10, json={"model": model, **fields})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_the_app_searches_the_knowledge_base_offline_in_chinese(browser: Any, server: Live) -> None:  # noqa: F811
    t = Tablet(browser, server, "zh-CN")
    try:
        t.enroll(_token(server, "e-chen"))
        model = _job_on_new_model(server, "e-chen")
        zh = _add_case(server, model, symptom="风机异响，运行时有摩擦声", cause="风机轴承磨损", fix="更换风机轴承",
                       parts=["P-BRG"])
        en = _add_case(server, model, symptom="Fan noisy at start", cause="Fan bearing worn",
                       fix="Replace the fan bearing")
        t.page.click("#sync-now")
        # a sync begun before the cases were added may be the one running: sync again until they are here
        # (polled from here: wait_for_function takes the promise an async predicate returns as a true value)
        deadline = time.monotonic() + 60
        while t.page.evaluate("""async () => {
                const app = window.fieldsync;
                if ((await app.client.reads.searchKb('')).length === 2) return true;
                if (!app.syncing) void app.sync();
                return false; }""") is not True:
            assert time.monotonic() < deadline, "the two cases never reached the tablet"
            t.page.wait_for_timeout(500)
        t.page.wait_for_function("() => !window.fieldsync.syncing "
                                 "&& document.getElementById('sync-bar').dataset.state === 'synced'")

        t.context.set_offline(True)
        t.page.click("#kb-link")
        t.page.wait_for_selector("#kb-q")
        # no query: the newest cases (the list fills in from the store once the screen is there)
        t.page.wait_for_function("() => document.getElementById('kb-results')?.dataset.q === ''")
        assert t.page.locator("#kb-cases li").count() == 2

        def search(query: str) -> list[str]:
            t.page.fill("#kb-q", query)
            t.page.wait_for_function("(q) => document.getElementById('kb-results').dataset.q === q", arg=query)
            return [str(x) for x in t.page.locator("#kb-cases li").evaluate_all(
                "(els) => els.map((e) => e.dataset.case)")]

        for query in ("异响", "风机", "异", "轴承磨损"):
            assert search(query) == [zh], query
        assert t.page.locator(f"li[data-case='{zh}'] .symptom").inner_text() == "风机异响，运行时有摩擦声"
        t.assert_no_english("the knowledge base")
        t.shot("kb-zh")
        assert search("bearings") == [en]
        assert search("异响 bearings") == []
        t.page.wait_for_selector("#kb-none")
        t.assert_no_english("the knowledge base with no hit")
        # the query stays in the address: a reload (offline, from the service worker) shows the same search
        t.page.reload()
        t.page.wait_for_function("(q) => document.getElementById('kb-results')?.dataset.q === q",
                                 arg="异响 bearings")
        assert urllib.parse.unquote(t.page.url.split("#", 1)[1]) == "/kb?q=异响 bearings"
        t.context.set_offline(False)
    finally:
        t.close()
    assert t.errors == [], t.errors
