"""The New ticket form shows when the ticket would be due, on a server with China's working calendar.

A ``fieldsync serve`` of its own with ``FIELDSYNC_TZ=Asia/Shanghai`` and
``FIELDSYNC_HOLIDAYS=CN``.  The form's times are checked against
``GET /v1/sla/due`` for the opening instant the form used (it says which), so
nothing here depends on today's date: whatever day the test runs, P3 times
fall inside working hours of a Chinese working day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.domain.sla.calendar import is_working_day
from server.domain.sla.policy import default_policies
from tests.browser.conftest import LAPTOP, TABLET, Console, Live, _require_chromium
from tests.livesrv import LiveServer

pytestmark = pytest.mark.browser

CN_CALENDAR = default_policies("Asia/Shanghai", region="CN").for_ticket("P3").calendar


@pytest.fixture(scope="module")
def cn_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    _require_chromium()
    from server.security import issue_staff_token
    from server.services import Services
    from server.settings import get_settings
    from sync.storage import open_database
    from tools.demo_data import seed_demo

    tmp = tmp_path_factory.mktemp("console-cn")
    db_url = f"sqlite:///{tmp / 'console.db'}"
    svc = Services(db=open_database(db_url), settings=get_settings(db_url=db_url, run_scheduler=False))
    ids = seed_demo(svc)
    tokens = {role: issue_staff_token(svc, role, f"{role}-token") for role in ("dispatcher", "backoffice")}
    svc.db.close()
    server = LiveServer(db_url, Path(tmp), env={"FIELDSYNC_TZ": "Asia/Shanghai", "FIELDSYNC_HOLIDAYS": "CN"}).start()
    try:
        yield Live(url=server.url, db_url=db_url, ids=ids, tokens=tokens, tmp=Path(tmp))
    finally:
        server.stop()


def shown(c: Console) -> dict[str, Any]:
    """What the due box shows: its priority, opening instant and rows (target -> duration, datetime, text)."""
    out: dict[str, Any] = c.page.evaluate("""() => {
        const box = document.getElementById('new-ticket-due');
        const rows = {};
        for (const row of box.querySelectorAll('.due-row')) {
            const time = row.querySelector('time');
            rows[row.dataset.target] = {duration: row.querySelector('dt .muted').textContent,
                                        datetime: time.getAttribute('datetime'), text: time.textContent,
                                        label: row.querySelector('dt').firstChild.textContent.trim()};
        }
        return {priority: box.dataset.priority, category: box.dataset.category, opened: box.dataset.opened,
                head: box.querySelector('.due-head').textContent, rows};
    }""")
    return out


def api_due(live: Live, priority: str, category: str, opened: str) -> dict[str, str | None]:
    r = httpx.get(f"{live.url}/v1/sla/due", params={"priority": priority, "category": category, "opened_at": opened},
                  headers={"authorization": f"Bearer {live.tokens['dispatcher']}"}, timeout=30)
    assert r.status_code == 200, r.text
    return {t["target"]: t["due_local"] for t in r.json()["targets"] if t["due_local"]}


def choose(c: Console, field: str, value: str) -> dict[str, Any]:
    c.page.select_option(f"#new-ticket select[name={field}]", value)
    c.page.wait_for_selector(f"#new-ticket-due[data-{field}='{value}']")
    return shown(c)


def test_the_new_ticket_form_shows_due_times_that_follow_the_priority(browser: Any, cn_live: Live) -> None:
    for viewport in (LAPTOP, TABLET):
        c = Console(browser, cn_live, viewport)
        try:
            c.sign_in_token("dispatcher")
            first = shown(c)
            assert (first["priority"], first["category"]) == ("P3", "fault")
            assert "Due if opened now" in first["head"] and "Asia/Shanghai" in first["head"]
            assert "CN holidays" in first["head"]
            assert {t: (r["label"], r["duration"]) for t, r in first["rows"].items()} == {
                "respond": ("Respond", "2h"), "on_site": ("On site", "8h"), "resolve": ("Resolve", "3wd")}
            # the server's own answer for the instant the form was rendered at
            assert {t: r["datetime"] for t, r in first["rows"].items()} == api_due(cn_live, "P3", "fault",
                                                                                   first["opened"])
            for row in first["rows"].values():
                due = datetime.fromisoformat(row["datetime"])
                assert due.utcoffset() is not None and due.utcoffset().total_seconds() == 8 * 3600
                assert is_working_day(CN_CALENDAR, date(due.year, due.month, due.day))
                assert "08:00" < due.strftime("%H:%M") <= "17:00"
                assert row["text"].endswith(due.strftime("%Y-%m-%d %H:%M"))

            p1 = choose(c, "priority", "P1")  # fetched from the console's own route, no reload
            assert {t: r["duration"] for t, r in p1["rows"].items()} == {"respond": "1h", "on_site": "2h",
                                                                         "resolve": "24h"}
            assert {t: r["datetime"] for t, r in p1["rows"].items()} == api_due(cn_live, "P1", "fault", p1["opened"])
            complaint = choose(c, "category", "complaint")
            assert {t: r["duration"] for t, r in complaint["rows"].items()} == {"respond": "2h", "resolve": "15d"}
            assert {t: r["datetime"] for t, r in complaint["rows"].items()} == api_due(
                cn_live, "P1", "complaint", complaint["opened"])
            choose(c, "category", "fault")
            back = choose(c, "priority", "P3")
            assert set(back["rows"]) == {"respond", "on_site", "resolve"}

            c.assert_fits()
            c.shot("new-ticket-due")
            assert not c.errors, c.errors
        finally:
            c.context.close()


def test_the_due_times_are_on_the_page_without_javascript(browser: Any, cn_live: Live) -> None:
    context = browser.new_context(viewport=LAPTOP, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(cn_live.url + "/login")
        page.fill("input[name=token]", cn_live.tokens["dispatcher"])
        page.click("button:has-text('Sign in')")
        page.wait_for_url("**/tickets")
        rows = page.locator("#new-ticket-due .due-row")
        assert rows.count() == 3
        assert page.locator("#new-ticket-due .due-row[data-target=resolve] time").get_attribute("datetime")
    finally:
        context.close()


def test_only_a_dispatcher_gets_the_due_fragment(browser: Any, cn_live: Live) -> None:
    c = Console(browser, cn_live, LAPTOP)
    try:
        c.sign_in_token("backoffice")
        assert c.page.locator("#new-ticket-due").count() == 0  # no New ticket form for back office
        r = c.page.request.get(cn_live.url + "/console/sla-due?priority=P3&category=fault")
        assert r.status == 403
        c.errors.clear()
    finally:
        c.context.close()
