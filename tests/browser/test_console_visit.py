"""A late visit in the console's review queue: one card for the whole visit, adopted or discarded there.

In headless Chromium against a real server: Ana's tablet does part of a visit offline on a job the dispatcher
gave to Ben meanwhile.  The review queue shows one card listing the visit's steps in order; discarding needs
a reason (refused without one, nothing changed); adopting applies the visit to the job.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Console, Live

pytestmark = pytest.mark.browser


def test_a_late_visit_is_one_card_adopted_from_the_review_queue(console: Console, live: Live,
                                                                tablet_factory: Any) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        dispatch = {"authorization": f"Bearer {live.tokens['dispatcher']}"}
        t = http.post("/v1/tickets", headers=dispatch, json={"customer": f"Quarry {uuid.uuid4().hex[:4]}",
                                                             "site": "Pump house", "priority": "P2",
                                                             "category": "fault", "title": "Pump trips"})
        assert t.status_code == 201, t.text
        j = http.post(f"/v1/tickets/{t.json()['id']}/jobs", headers=dispatch,
                      json={"engineer_id": "e-ana", "checklist_template": "boiler-service"})
        job = str(j.json()["jobs"][-1]["id"])
        ana = tablet_factory("e-ana", f"ana-visit-{uuid.uuid4().hex[:4]}")
        assert ana.sync().ok
        r = http.post(f"/v1/jobs/{job}/assign", headers=dispatch, json={"engineer_id": "e-ben"})
        assert r.status_code == 200, r.text
        for status in ("accepted", "en_route", "on_site"):
            ana.set_status(job, status)
        ana.answer(job, "condition", "good")
        ana.use_part(job, "P-SEAL")
        assert ana.sync().needs_review == 5
        office = {"authorization": f"Bearer {live.tokens['backoffice']}"}
        (item,) = [c for c in http.get("/v1/conflicts", headers=office, params={"job_id": job}).json()
                   if c["kind"] == "late_work"]

    c = console
    c.sign_in_token("backoffice")
    c.go(f"/conflicts#{item['id']}")
    card = c.page.locator(f"article.conflict[data-conflict='{item['id']}']")
    steps = card.locator(f"#{item['id']}-steps li").all_inner_texts()
    assert len(steps) == 5 and "on site" in steps[2] and "P-SEAL" in steps[4], steps
    assert "Ana" in card.inner_text() and "Ben" in card.inner_text()
    card.locator(f"button[data-discard='{item['id']}']").click()
    c.page.wait_for_selector(f"article.conflict[data-conflict='{item['id']}'] .inline-err")
    assert "reason" in card.locator(".inline-err").inner_text()
    card.locator("input[name=comment]").fill("Ana was on site before the reassignment")
    card.locator(f"button[data-adopt='{item['id']}']").click()
    c.page.wait_for_url("**/conflicts?done=resolved")
    with httpx.Client(base_url=live.url, timeout=10) as http:
        office = {"authorization": f"Bearer {live.tokens['backoffice']}"}
        detail = http.get(f"/v1/jobs/{job}", headers=office).json()
        decided = http.get(f"/v1/conflicts/{item['id']}", headers=office).json()
    assert detail["job"]["status"] == "on_site" and detail["job"]["engineer_id"] == "e-ben"
    assert decided["resolution"]["value"] == "adopted"
    c.go("/conflicts?status=resolved")
    assert "Adopted" in c.page.locator(f"article.conflict[data-conflict='{item['id']}']").inner_text()
    assert c.errors == []
