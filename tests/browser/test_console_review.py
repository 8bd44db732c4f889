"""A conflict in the console has one resolution, shown in Reconciliation and in the review queue alike.

In headless Chromium against a real server, with two real tablets disagreeing:
the reconciliation row of an open conflict leads to that conflict in the review
queue (no separate "Mark resolved" that would leave it open there), and once it
is resolved - from that link or straight in the queue - the row shows as
resolved with the value kept, instead of vanishing.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from server.domain.reconciliation.service import item_id
from tests.browser.conftest import Console, Live

pytestmark = pytest.mark.browser


def _conflicted_job(live: Live, tablet_factory: Any) -> tuple[str, dict[str, str]]:
    """A new job for e-ana whose two tablets answered two checklist items differently; conflict ids by item."""
    with httpx.Client(base_url=live.url, timeout=10) as http:
        dispatch = {"authorization": f"Bearer {live.tokens['dispatcher']}"}
        t = http.post("/v1/tickets", headers=dispatch, json={"customer": f"Mill {uuid.uuid4().hex[:4]}",
                                                             "site": "Boiler house", "priority": "P3",
                                                             "category": "inspection", "title": "Annual service"})
        assert t.status_code == 201, t.text
        j = http.post(f"/v1/tickets/{t.json()['id']}/jobs", headers=dispatch,
                      json={"engineer_id": "e-ana", "checklist_template": "boiler-service"})
        assert j.status_code == 201, j.text
        job = str(j.json()["jobs"][-1]["id"])
        first = tablet_factory("e-ana", f"ana-review-{uuid.uuid4().hex[:4]}")
        second = tablet_factory("e-ana", f"ana-review-{uuid.uuid4().hex[:4]}")
        assert first.sync().ok and second.sync().ok
        first.answer(job, "condition", "good")
        first.answer(job, "flue_co2", 9.1)
        second.answer(job, "condition", "poor")
        second.answer(job, "flue_co2", 9.4)
        assert first.sync().ok and second.sync().needs_review == 2
        office = {"authorization": f"Bearer {live.tokens['backoffice']}"}
        conflicts = http.get("/v1/conflicts", headers=office, params={"job_id": job}).json()
    return job, {c["key"]: c["id"] for c in conflicts}


def test_a_conflict_is_resolved_once_and_shows_so_in_both_places(console: Console, live: Live,
                                                                 tablet_factory: Any) -> None:
    job, conflicts = _conflicted_job(live, tablet_factory)
    c = console
    c.sign_in_token("backoffice")

    # From Reconciliation: the row leads to the conflict in the review queue
    c.go("/reconciliation?kind=open_conflict")
    row = c.page.locator(f"tr[data-item='{item_id('open_conflict', conflicts['condition'])}']")
    assert job in row.inner_text() and "open" in row.inner_text()
    assert row.locator("button:has-text('Mark resolved')").count() == 0, "no resolution that skips the queue"
    row.locator("a:has-text('Resolve in review queue')").click()
    c.page.wait_for_url(f"**/conflicts#{conflicts['condition']}")
    card = c.page.locator(f"article.conflict[data-conflict='{conflicts['condition']}']")
    assert card.evaluate("el => el.matches(':target')"), "the queue opens at that conflict"
    card.locator("tr", has_text="poor").locator("input[type=radio]").check()
    card.locator("input[name=comment]").fill("casing corroded, photo on file")
    card.locator("button:has-text('Resolve')").click()
    c.page.wait_for_url("**/conflicts?done=resolved")

    # Straight in the review queue, the other one
    card = c.page.locator(f"article.conflict[data-conflict='{conflicts['flue_co2']}']")
    card.locator("tr", has_text="9.4").locator("input[type=radio]").check()
    card.locator("button:has-text('Resolve')").click()
    c.page.wait_for_url("**/conflicts?done=resolved")

    c.go("/reconciliation?kind=open_conflict&status=open")
    for cid in conflicts.values():
        assert c.page.locator(f"tr[data-item='{item_id('open_conflict', cid)}']").count() == 0
    c.go("/reconciliation?kind=open_conflict&status=all")
    resolved = c.page.locator(f"tr[data-item='{item_id('open_conflict', conflicts['condition'])}']").inner_text()
    assert "resolved" in resolved and "kept poor in the review queue" in resolved
    assert "casing corroded, photo on file" in resolved and "backoffice-token" in resolved
    other = c.page.locator(f"tr[data-item='{item_id('open_conflict', conflicts['flue_co2'])}']").inner_text()
    assert "resolved" in other and "kept 9.4 in the review queue" in other
    c.go("/conflicts?status=resolved")
    card = c.page.locator(f"article.conflict[data-conflict='{conflicts['condition']}']")
    assert "casing corroded" in card.inner_text()
