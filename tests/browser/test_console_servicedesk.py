"""The service desk in headless Chromium: the desk clerk's follow-up call (回访) and the complaint it opens.

A ticket fixed by phone is resolved, so its follow-up call is due.  The clerk
(back office) finds it on the follow-up page, logs the call with a rating of 1,
and lands on the complaints page with the new complaint open: its respond (2 h)
and resolve (15 days) clocks running.  The API shows the same complaint.  Then
the customer's confirmation is recorded from the same page; the ticket's history
is found again through the search of every ticket and the customer's archive.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.browser.conftest import Console, Live

pytestmark = pytest.mark.browser


def _api(live: Live) -> httpx.Client:
    return httpx.Client(base_url=live.url, timeout=10, headers={"authorization": f"Bearer {live.tokens['admin']}"})


def test_the_clerk_logs_a_low_rated_call_and_sees_the_complaint_open_with_its_clocks(console: Console,
                                                                                   live: Live) -> None:
    c = console
    customer = f"Desk Bakery {uuid.uuid4().hex[:4]}"
    with _api(live) as http:
        ticket = http.post("/v1/tickets", json={"customer": customer, "site": "Oven room", "priority": "P3",
                                                "title": "Oven thermostat"}).json()
        job = http.post(f"/v1/tickets/{ticket['id']}/jobs", json={"engineer_id": "e-ben"}).json()["jobs"][0]
        assert http.post(f"/v1/jobs/{job['id']}/remote-resolution",
                         json={"resolution": "电话指导复位温控器"}).status_code == 200
    c.sign_in_token("backoffice")
    c.page.click("nav a[href='/followups']")
    c.page.wait_for_url("**/followups")
    c.page.fill("#followup-filters input[name=q]", customer)
    c.page.click("#followup-filters button[type=submit]")
    card = c.page.locator(f"article.followup[data-ticket='{ticket['id']}']")
    assert card.locator(".fu-state").inner_text() == "due"
    c.assert_fits()
    card.locator("select[name=reached]").select_option("yes")
    card.locator("select[name=rating]").select_option("1")
    card.locator("input[name=comment]").fill("第二天早上又不热了")
    card.locator("button[type=submit]").click()
    c.page.wait_for_url("**/complaints?**done=complaint_opened**")
    assert "opened a complaint" in c.page.locator("#main .flash.ok").inner_text()
    new = c.page.locator("article.complaint.is-new")
    assert new.count() == 1
    complaint_id = new.get_attribute("data-ticket")
    assert customer in new.inner_text() and ticket["id"] in new.inner_text()
    assert "Rated 1/5 on the follow-up call" in new.inner_text()
    clocks = new.locator(".clock")
    assert [x.lower() for x in clocks.locator(".clock-target").all_inner_texts()] == ["respond", "resolve"]
    assert new.locator(".clock[data-ticking]").count() == 2
    c.assert_fits()
    c.shot("servicedesk-complaint")
    with _api(live) as http:
        listed = {x["ticket_id"]: x for x in http.get("/v1/complaints", params={"status": "open"}).json()}
        assert listed[complaint_id]["origin_ticket_id"] == ticket["id"]
        assert listed[complaint_id]["rating"] == 1 and listed[complaint_id]["respond"]["state"] == "running"
        assert http.get(f"/v1/tickets/{ticket['id']}/follow-up").json()["state"] == "done"

    # the customer confirms the complaint resolved
    new.locator("input[name=confirmed_by]").fill("Mrs Baker")
    new.locator("button[type=submit]").click()
    c.page.wait_for_url("**/complaints?done=confirmed")
    card = c.page.locator(f"article.complaint[data-ticket='{complaint_id}']")
    assert "Confirmed by Mrs Baker" in card.inner_text()

    # every ticket (not only open ones), searched; the customer's archive
    c.page.click("nav a[href='/all-tickets']")
    c.page.fill("#ticket-search input[name=q]", customer)
    c.page.click("#ticket-search button[type=submit]")
    ids = c.page.locator("#tickets tr[data-ticket]").evaluate_all("rs => rs.map(r => r.dataset.ticket)")
    assert set(ids) == {ticket["id"], complaint_id}
    c.page.locator("#tickets a", has_text=customer).first.click()
    c.page.wait_for_load_state("load")
    assert c.page.locator("h1").inner_text() == customer
    assert c.page.locator(f"table.visits tr[data-ticket='{ticket['id']}']").count() == 1
    c.assert_fits()
