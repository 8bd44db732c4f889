"""The dispatch desk in headless Chromium: the dispatcher plans tomorrow on the schedule board.

A job dispatched for tomorrow 09:00 shows as a block in its engineer's row; the
dispatcher drags it to another engineer's row at about 13:00 and the server (the
API a tablet and an integration read) has the job with the new engineer and time.
The same move works without dragging (the form under the board), and a job whose
visit is over is not offered for moving.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from schemas.instant import rfc3339
from tests.browser.conftest import Console, Live

pytestmark = pytest.mark.browser


def _api(live: Live) -> httpx.Client:
    return httpx.Client(base_url=live.url, timeout=10, headers={"authorization": f"Bearer {live.tokens['admin']}"})


def _tomorrow(live: Live) -> tuple[date, ZoneInfo]:
    svc = live.services()
    tz = ZoneInfo(svc.settings.sla_timezone)
    now = svc.clock()
    svc.db.close()
    return datetime.fromtimestamp(now / 1000, tz=tz).date() + timedelta(days=1), tz


def _ms(day: date, at: time, tz: ZoneInfo) -> str:
    """The instant as the API writes and reads it (RFC 3339 UTC with milliseconds)."""
    return rfc3339(int(datetime.combine(day, at, tzinfo=tz).timestamp() * 1000))


def test_the_dispatcher_plans_tomorrow_and_drags_a_job_to_another_engineer(console: Console, live: Live) -> None:
    c = console
    day, tz = _tomorrow(live)
    with _api(live) as http:
        ticket = http.post("/v1/tickets", json={"customer": "Board Clinic", "site": "Ward 4", "priority": "P2",
                                                "title": "Boiler pressure low"}).json()
        job = http.post(f"/v1/tickets/{ticket['id']}/jobs", json={
            "engineer_id": "e-ana", "scheduled_start": _ms(day, time(9), tz),
            "scheduled_end": _ms(day, time(11), tz)}).json()["jobs"][0]
    c.sign_in_token("dispatcher")
    c.page.click("nav a[href='/dispatch']")
    c.page.wait_for_url("**/dispatch")
    c.page.click("#day-tomorrow")
    c.page.wait_for_url(f"**/dispatch?day={day.isoformat()}")
    block = c.page.locator(f".sched-row[data-engineer='e-ana'] .block[data-job='{job['id']}']")
    assert "09:00–11:00" in block.inner_text()
    assert block.get_attribute("draggable") == "true"
    c.assert_fits()
    c.shot("dispatch-board")

    lane = c.page.locator(".lane.drop[data-engineer='e-ben']")
    box = lane.bounding_box()
    assert box is not None
    slot_w = box["width"] / 56  # quarter hours from 06:00
    block.drag_to(lane, source_position={"x": 4, "y": 6},
                  target_position={"x": slot_w * (7 * 4) + slot_w / 2, "y": box["height"] / 2})  # 13:00
    c.page.wait_for_url("**done=moved")
    assert c.page.locator("#main .flash.ok").is_visible()
    moved = c.page.locator(f".sched-row[data-engineer='e-ben'] .block[data-job='{job['id']}']")
    assert "13:00–15:00" in moved.inner_text()
    with _api(live) as http:
        fresh = http.get(f"/v1/jobs/{job['id']}").json()["job"]
    assert fresh["engineer_id"] == "e-ben"
    assert fresh["scheduled_start"] == _ms(day, time(13), tz)
    assert fresh["scheduled_end"] == _ms(day, time(15), tz)

    # without dragging: the job's form under the board
    row = c.page.locator(f"#day-jobs tr[data-job='{job['id']}']")
    row.locator("select[name=engineer_id]").select_option("e-chen")
    row.locator("input[name=time]").fill("08:30")
    row.locator("select[name=duration]").select_option("90")
    row.locator("button[type=submit]").click()
    c.page.wait_for_url("**done=moved")
    with _api(live) as http:
        fresh = http.get(f"/v1/jobs/{job['id']}").json()["job"]
        timeline = http.get(f"/v1/tickets/{ticket['id']}").json()["timeline"]
    assert (fresh["engineer_id"], fresh["scheduled_start"], fresh["scheduled_end"]) == (
        "e-chen", _ms(day, time(8, 30), tz), _ms(day, time(10), tz))
    assert [e["kind"] for e in timeline].count("job_rescheduled") == 2


def test_a_finished_job_is_not_moved_and_a_bad_move_comes_back_once(console: Console, live: Live) -> None:
    c = console
    day, tz = _tomorrow(live)
    with _api(live) as http:
        ticket = http.post("/v1/tickets", json={"customer": "Fixed Works", "site": "Hall", "priority": "P3"}).json()
        job = http.post(f"/v1/tickets/{ticket['id']}/jobs", json={
            "engineer_id": "e-chen", "scheduled_start": _ms(day, time(15), tz)}).json()["jobs"][0]
        assert http.post(f"/v1/jobs/{job['id']}/status", json={"status": "cancelled"}).status_code == 200
        assert http.post(f"/v1/jobs/{job['id']}/schedule",
                         json={"scheduled_start": _ms(day, time(16), tz)}).status_code == 409
    c.sign_in_token("dispatcher")
    c.go(f"/dispatch?day={day.isoformat()}")
    block = c.page.locator(f".block[data-job='{job['id']}']")
    assert block.get_attribute("draggable") is None and "fixed" in (block.get_attribute("class") or "")
    assert c.page.locator(f"#day-jobs tr[data-job='{job['id']}'] form").count() == 0
    # a move the server refuses (a bad time typed in the form): back on the board's address, the message once
    open_job = c.page.locator("#day-jobs tr[data-job] form").first
    open_job.evaluate("f => { f.elements.time.type = 'text'; f.elements.time.value = '25:99'; }")
    open_job.locator("button[type=submit]").click()
    c.page.wait_for_load_state("load")
    assert c.page.url.endswith(f"/dispatch?day={day.isoformat()}")
    assert c.page.get_by_text("is not a time").count() == 1
    c.page.reload()
    assert c.page.get_by_text("is not a time").count() == 0


def test_the_ticket_page_dispatches_with_a_time_and_holds_cancels_and_closes(console: Console, live: Live,
                                                                            tablet_factory: Any) -> None:
    c = console
    day, tz = _tomorrow(live)
    with _api(live) as http:
        ticket = http.post("/v1/tickets", json={"customer": "Ticket Page Ltd", "site": "Boiler house",
                                                "priority": "P3"}).json()
    c.sign_in_token("dispatcher")
    c.go(f"/tickets/{ticket['id']}")
    form = c.page.locator("#add-job")
    ben = form.locator("#candidates tr[data-engineer='e-ben']")
    assert "boiler" in ben.inner_text()  # skills shown where the engineer is chosen
    ben.locator("input[type=radio]").check()
    form.locator("input[name=date]").fill(day.isoformat())
    form.locator("input[name=time]").fill("10:00")
    form.locator("select[name=duration]").select_option("120")
    form.locator("button[type=submit]").click()
    c.page.wait_for_url("**done=job_added")
    with _api(live) as http:
        first = http.get(f"/v1/tickets/{ticket['id']}").json()["jobs"][0]
        assert (first["engineer_id"], first["scheduled_start"], first["scheduled_end"]) == (
            "e-ben", _ms(day, time(10), tz), _ms(day, time(12), tz))
        assert http.post(f"/v1/jobs/{first['id']}/remote-resolution",
                         json={"resolution": "电话指导复位"}).status_code == 200
        second = http.post(f"/v1/tickets/{ticket['id']}/jobs", json={"engineer_id": "e-ana"}).json()["jobs"][1]
    tablet = tablet_factory("e-ana", "ana-ticket-page")
    assert tablet.sync().ok
    tablet.set_status(second["id"], "accepted")
    assert tablet.sync().ok

    c.go(f"/tickets/{ticket['id']}")
    done_row = c.page.locator(f"tr[data-job='{first['id']}']")
    assert done_row.locator("form.reassign").count() == 0, "no Reassign once the visit is over"
    held = c.page.locator(f"tr[data-job='{second['id']}']")
    held.locator("form.hold-form select[name=hold_reason]").select_option("awaiting_parts")
    held.locator("form.hold-form button").click()
    c.page.wait_for_url("**done=status_on_hold")
    with _api(live) as http:
        job = http.get(f"/v1/jobs/{second['id']}").json()["job"]
        assert (job["status"], job["hold_reason"]) == ("on_hold", "awaiting_parts")
    c.page.locator(f"tr[data-job='{second['id']}'] button[value=cancelled]").click()
    c.page.wait_for_url("**done=status_cancelled")
    c.page.locator("#close-ticket button").click()
    c.page.wait_for_url("**done=ticket_closed")
    with _api(live) as http:
        assert http.get(f"/v1/tickets/{ticket['id']}").json()["status"] == "closed"
    assert c.page.locator("#add-job").count() == 0
