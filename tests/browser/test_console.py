"""The back-office console in headless Chromium against a real server, with real tablets syncing beside it.

Each test is a dispatcher's or back-office user's task: sign in, open and
dispatch a ticket, watch a clock react to a tablet's sync without reloading,
resolve a conflict that then reaches the tablet, settle a reconciliation item,
enroll and revoke a tablet.  Every page is checked at laptop and tablet size
(no horizontal overflow, no console errors) and saved as a screenshot.
"""

from __future__ import annotations

import re
import struct
import uuid
import zlib
from typing import Any

import httpx
import pytest

from tests.browser.conftest import LAPTOP, TABLET, Console, Live

pytestmark = pytest.mark.browser

STROKES = [[10, 60, 30, 20, 50, 70, 70, 25, 90, 65], [100, 40, 140, 42, 180, 38], [110, 70, 170, 72]]


def _png(width: int = 48, height: int = 32) -> bytes:
    """A small real PNG (a gradient), so the job page shows a photo."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 5 % 256, y * 7 % 256, 160))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _db(live: Live) -> Any:
    return live.services()


def _ticket_of(live: Live, engineer_id: str, customer: str) -> tuple[str, str]:
    svc = _db(live)
    with svc.db.read() as tx:
        row = tx.one("SELECT t.id AS tid, j.id AS jid FROM tickets t JOIN jobs j ON j.ticket_id = t.id "
                     "WHERE j.engineer_id = ? AND t.customer = ? ORDER BY t.opened_at DESC", (engineer_id, customer))
    svc.db.close()
    assert row is not None
    return row["tid"], row["jid"]


def _clock_state(c: Console, ticket_id: str) -> dict[str, Any]:
    return c.page.evaluate(
        """(tid) => {
            const row = document.querySelector(`tr[data-ticket="${tid}"]`);
            if (!row) return null;
            const clock = row.querySelector('.clock');
            const chips = {};
            row.querySelectorAll('.chip').forEach(ch => { chips[ch.textContent.trim()] = ch.className; });
            return {target: clock && clock.querySelector('.clock-target').textContent,
                    state: clock && clock.dataset.state, provisional: !!row.querySelector('.tag.prov'), chips};
        }""", ticket_id)


# -- sign-in and roles -----------------------------------------------------------------------------------


def test_sign_in_with_password_or_token_and_roles_are_enforced(console: Console, live: Live) -> None:
    c = console
    c.go("/tickets")
    assert "/login" in c.page.url, "an anonymous visitor is sent to sign in"
    c.sign_in_password("dispatcher", password="wrong password!")
    assert c.page.locator("#form-error").inner_text() == "Unknown user or wrong password."
    cookies = {k["name"]: k for k in c.context.cookies()}
    assert "fs_console" not in cookies

    c.sign_in_password("dispatcher")
    c.page.wait_for_url("**/tickets")
    session = {k["name"]: k for k in c.context.cookies()}["fs_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    nav = c.page.locator("header nav").inner_text()
    assert "Tickets" in nav and "Devices" in nav and "Conflicts" not in nav
    response = c.go("/conflicts")
    assert response.status == 403
    assert "needs backoffice" in c.page.locator("#error-detail").inner_text()

    c.page.click("text=Back to tickets")
    c.page.click("button:has-text('Sign out')")
    c.page.wait_for_url("**/login")
    c.go("/tickets")
    assert "/login" in c.page.url, "signing out ends the session"

    c.sign_in_token("backoffice")
    assert "Conflicts" in c.page.locator("header nav").inner_text()
    assert c.page.locator("#new-ticket").count() == 0, "back office sees the board but cannot open tickets"
    assert c.go("/devices").status == 403


def test_forms_without_the_session_csrf_token_are_refused(live: Live) -> None:
    with httpx.Client(base_url=live.url) as http:
        form = http.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        r = http.post("/login", data={"csrf": csrf.group(1), "token": live.tokens["dispatcher"]})
        assert r.status_code == 303 and "fs_console" in r.cookies
        r = http.post("/tickets", data={"csrf": "forged", "customer": "X", "site": "Y", "priority": "P1",
                                        "category": "fault"})
        assert r.status_code == 403 and "text/html" in r.headers["content-type"]
        assert "reload and retry" in r.text


# -- tickets ---------------------------------------------------------------------------------------------


def test_dispatcher_creates_assigns_and_reassigns_a_ticket(console: Console, live: Live) -> None:
    c = console
    c.sign_in_token("dispatcher")
    form = c.page.locator("#new-ticket")
    form.locator("input[name=customer]").fill("   ")
    form.locator("input[name=site]").fill("Boiler house")
    form.locator("button[type=submit]").click()
    assert c.page.locator("#form-error").inner_text() == "Customer is required."
    assert c.page.locator("#new-ticket input[name=site]").input_value() == "Boiler house", "input is kept"

    customer = f"Harbour Baths {uuid.uuid4().hex[:4]}"
    form = c.page.locator("#new-ticket")
    form.locator("input[name=customer]").fill(customer)
    form.locator("select[name=priority]").select_option("P1")
    form.locator("input[name=title]").fill("No heating in pool hall")
    form.locator("select[name=engineer_id]").select_option("e-ana")
    form.locator("button[type=submit]").click()
    c.page.wait_for_url("**/tickets?done=ticket_created")
    row = c.page.locator("tr[data-ticket]", has_text=customer)
    assert row.count() == 1
    assert "Ana Alves" in row.inner_text()
    assert row.locator(".clock").get_attribute("data-state") == "ok"
    c.shot("tickets-board")

    c.page.select_option("#board-filters select[name=priority]", "P1")
    c.page.click("#board-filters button")
    assert all(p == "P1" for p in c.page.locator("tr[data-ticket] .prio").all_inner_texts())

    row = c.page.locator("tr[data-ticket]", has_text=customer)
    row.locator("a.tid").click()
    c.page.wait_for_url("**/tickets/T-*")
    assert c.page.locator("tr[data-job]").count() == 1
    c.page.locator("tr[data-job] select[name=engineer_id]").select_option("e-ben")
    c.page.locator("tr[data-job] button:has-text('Reassign')").click()
    c.page.wait_for_url("**done=reassigned")
    assert "Ben Brandt" in c.page.locator("tr[data-job]").inner_text()
    timeline = c.page.locator("#ticket-timeline").inner_text()
    assert "job reassigned" in timeline and "job assigned" in timeline and "opened" in timeline
    c.shot("ticket")


def test_clock_changes_state_on_the_open_board_after_a_tablet_syncs(console: Console, live: Live,
                                                                      tablet_factory: Any) -> None:
    c = console
    c.sign_in_token("dispatcher")
    customer = f"Quarry Works {uuid.uuid4().hex[:4]}"
    form = c.page.locator("#new-ticket")
    form.locator("input[name=customer]").fill(customer)
    form.locator("input[name=site]").fill("Crusher 2")
    form.locator("select[name=priority]").select_option("P1")
    form.locator("select[name=engineer_id]").select_option("e-chen")
    form.locator("button[type=submit]").click()
    c.page.wait_for_url("**done=ticket_created")
    ticket_id, job_id = _ticket_of(live, "e-chen", customer)

    tablet = tablet_factory("e-chen", "chen-tablet")
    c.go("/tickets")
    before = _clock_state(c, ticket_id)
    assert before["target"] == "Respond" and before["provisional"], "enrolled tablet has never synced"
    assert "met" not in before["chips"]["Respond"]

    assert tablet.sync().ok
    for status in ("accepted", "en_route", "on_site"):
        tablet.set_status(job_id, status)
    report = tablet.sync()
    assert report.ok and report.rejected == 0

    # No reload: the page polls and swaps the board in place.
    c.page.wait_for_function(
        """(tid) => { const r = document.querySelector(`tr[data-ticket="${tid}"]`);
                      return r && r.querySelector('.clock-target').textContent === 'Resolve'; }""",
        arg=ticket_id, timeout=20_000)
    after = _clock_state(c, ticket_id)
    assert after["provisional"] is False
    assert "met" in after["chips"]["Respond"] and "met" in after["chips"]["On site"]
    assert after["state"] in ("ok", "w50", "w75")

    # Finish the job on the tablet so the job page has answers, parts, a photo and a signature.
    tablet.set_status(job_id, "in_progress")
    for key, value in (("gas_tight", True), ("flue_co2", 9.1), ("pressure_bar", 1.4), ("condition", "good")):
        tablet.answer(job_id, key, value)
    tablet.use_part(job_id, "P-VALVE", qty=1)
    photo = tablet.attach(job_id, _png(), kind="photo")
    tablet.set_status(job_id, "completed")
    tablet.sign_off(job_id, "Mia Lund", STROKES)
    assert tablet.sync().ok

    c.go(f"/jobs/{job_id}")
    assert c.page.locator("#signoff-status").inner_text() == "verified: report matches the signature"
    assert c.page.locator("svg.signature polyline").count() == len(STROKES)
    assert c.page.locator(f"img[src='/console/blobs/{photo}']").evaluate("i => i.naturalWidth") == 48
    assert c.page.locator("#report-link").get_attribute("href") == f"/jobs/{job_id}/report.pdf"
    timeline = c.page.locator("#job-body table.timeline").inner_text()
    assert "on site" in timeline
    assert "Flue CO2" in c.page.locator("#job-body").inner_text()

    # A photo the tablet recorded whose bytes never arrived (an upload cut off): the page says so.
    svc = _db(live)
    with svc.db.write() as tx:
        tx.execute("INSERT INTO attachments (job_id, sha256, kind, size, content_type, device_id, at) "
                   "VALUES (?, ?, 'photo', 1234, 'image/jpeg', ?, ?)", (job_id, "ab" * 32, tablet.device_id,
                                                                        svc.clock()))
    svc.db.close()
    c.go(f"/jobs/{job_id}")
    assert "Evidence missing: 1 attachment" in c.page.locator("#evidence-banner").inner_text()
    assert c.page.locator(".photo.missing").inner_text().startswith("evidence missing")
    c.shot("job")


# -- conflicts -------------------------------------------------------------------------------------------


def test_back_office_resolves_a_conflict_and_the_tablet_receives_it(console: Console, live: Live,
                                                                     tablet_factory: Any) -> None:
    _, job_id = _ticket_of(live, "e-ana", "Office Park 7")
    first = tablet_factory("e-ana", "ana-tablet-1")
    second = tablet_factory("e-ana", "ana-tablet-2")
    assert first.sync().ok and second.sync().ok
    first.answer(job_id, "condition", "good")
    second.answer(job_id, "condition", "poor")
    assert first.sync().ok
    assert second.sync().needs_review == 1

    c = console
    c.sign_in_token("backoffice")
    c.go("/conflicts")
    card = c.page.locator("article.conflict", has_text=job_id)
    assert card.count() == 1, c.page.locator("main").inner_text()
    text = card.inner_text()
    assert "good" in text and "poor" in text and "ana-tablet-1" in text and "ana-tablet-2" in text
    c.shot("conflicts")

    card.locator("button:has-text('Resolve')").click()
    assert "Choose one of the values" in c.page.locator("#conflicts .inline-err").inner_text()

    card = c.page.locator("article.conflict", has_text=job_id)
    card.locator("tr", has_text="poor").locator("input[type=radio]").check()
    card.locator("input[name=comment]").fill("customer confirmed corrosion on the casing")
    card.locator("button:has-text('Resolve')").click()
    c.page.wait_for_url("**/conflicts?done=resolved")
    assert c.page.locator("article.conflict", has_text=job_id).count() == 0

    c.go("/conflicts?status=resolved")
    resolved = c.page.locator("article.conflict", has_text=job_id).inner_text()
    assert "kept poor" in resolved and "backoffice-token" in resolved

    assert first.sync().ok
    assert [k.status for k in first.conflicts()] == ["resolved"]
    answers = {a.item_key: a.value for a in first.job(job_id).answers}
    assert answers["condition"] == "poor"


# -- reconciliation --------------------------------------------------------------------------------------


def test_back_office_settles_reconciliation_items_and_exports_csv(console: Console, live: Live,
                                                                   tablet_factory: Any) -> None:
    from schemas.instant import instant_of
    from server.domain.parts.service import AssetIn, create_asset

    svc = _db(live)
    create_asset(svc, AssetIn(serial="SN-2002", model="Chiller X", customer="City Hospital",
                              warranty_until=instant_of(svc.clock() + 365 * 86_400_000)))
    svc.db.close()
    _, job_id = _ticket_of(live, "e-ben", "City Hospital")
    tablet = tablet_factory("e-ben", "ben-recon-tablet")
    assert tablet.sync().ok
    tablet.use_part(job_id, "P-IGN", qty=7)  # the van holds 5: two the ledger cannot explain
    tablet.use_part(job_id, "P-PCB", serial="PCB-e-ben-0", returned_serial="OLD-PCB-77")  # under warranty
    assert tablet.sync().ok

    c = console
    c.sign_in_token("backoffice")
    c.go("/reconciliation")
    claim = c.page.locator("#warranty tr[data-claim]", has_text="OLD-PCB-77")
    assert "awaiting old part" in claim.inner_text()
    assert claim.locator("button:has-text('Approve')").is_disabled(), "no approval before the old part is back"
    c.page.select_option("#recon-filters select[name=kind]", "negative_van_stock")
    c.page.click("#recon-filters button")
    rows = c.page.locator("tr[data-item]")
    assert rows.count() == 1 and "van-e-ben is at -2 x P-IGN" in rows.inner_text()
    item_id = rows.get_attribute("data-item")

    rows.locator("button:has-text('Mark resolved')").click()
    assert "A comment is required" in c.page.locator("#recon .inline-err").inner_text()
    row = c.page.locator(f"tr[data-item='{item_id}']")
    row.locator("input[name=comment]").fill("two igniters booked late from the warehouse")
    row.locator("button:has-text('Mark resolved')").click()
    c.page.wait_for_url("**done=recon_resolved")
    assert c.page.locator(f"tr[data-item='{item_id}']").count() == 0

    c.go("/reconciliation?status=resolved")
    assert "booked late" in c.page.locator(f"tr[data-item='{item_id}']").inner_text()
    href = c.page.locator("#csv-link").get_attribute("href")
    csv_text = c.page.evaluate("(u) => fetch(u).then(r => r.text())", href)
    assert csv_text.splitlines()[0].startswith("id,kind,status")
    assert item_id in csv_text and "two igniters booked late from the warehouse" in csv_text
    c.go("/reconciliation?status=all")
    c.shot("reconciliation")


# -- devices ---------------------------------------------------------------------------------------------


def test_enroll_a_tablet_from_the_qr_page_then_revoke_it(console: Console, live: Live, tablet_factory: Any) -> None:
    c = console
    c.sign_in_token("admin")
    c.go("/devices")
    c.page.locator("aside select[name=engineer_id]").select_option("e-ben")
    c.page.click("button:has-text('Issue enrollment token')")
    assert c.page.locator("#issued svg.qr path").count() >= 1
    token = c.page.locator("#enroll-token").inner_text().strip()
    assert token.startswith("fs_enroll_")
    c.shot("devices-enroll")

    tablet = tablet_factory("e-ben", "ben-tablet", token=token)
    assert tablet.sync().ok
    c.go("/devices")
    row = c.page.locator(f"tr[data-device='{tablet.device_id}']")
    assert "ben-tablet" in row.inner_text() and "active" in row.inner_text()

    row.locator("button:has-text('Revoke')").click()
    c.page.wait_for_url("**done=revoked")
    assert "revoked" in c.page.locator(f"tr[data-device='{tablet.device_id}']").inner_text()
    report = tablet.sync()
    assert not report.ok and any("device_revoked" in e for e in report.errors), report.errors


# -- every page, both screen sizes -----------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [LAPTOP, TABLET], ids=["laptop", "tablet"])
def test_every_page_fits_the_screen_without_errors(browser: Any, live: Live, viewport: dict[str, int]) -> None:
    c = Console(browser, live, viewport)
    try:
        c.go("/login")
        c.assert_fits()
        c.shot("login")
        c.sign_in_token("admin")
        svc = _db(live)
        with svc.db.read() as tx:
            job = tx.one("SELECT id, ticket_id FROM jobs ORDER BY signed_off DESC, updated_at DESC")
        svc.db.close()
        assert job is not None
        pages = {"tickets": "/tickets", "ticket": f"/tickets/{job['ticket_id']}", "job": f"/jobs/{job['id']}",
                 "conflicts": "/conflicts?status=all", "reconciliation": "/reconciliation?status=all",
                 "devices": "/devices", "sla": "/sla", "not-found": "/jobs/J-nope"}
        for name, path in pages.items():
            response = c.go(path)
            assert response.status == (404 if name == "not-found" else 200), (path, response.status)
            c.assert_fits()
            c.shot(f"page-{name}")
        c.go("/sla")
        assert c.page.locator("#chart-weekly rect").count() >= 1
        assert c.page.locator("#chart-engineers text").count() >= 3
        assert c.errors == [], c.errors
    finally:
        c.context.close()


def test_console_serves_its_own_assets(live: Live) -> None:
    with httpx.Client(base_url=live.url) as http:
        html = http.get("/login").text
        assets = re.findall(r'(?:href|src)="(/console/static/[^"?]+)', html)
        assert sorted(a.rsplit("/", 1)[1] for a in assets) == ["console.css", "console.js", "desks.css",
                                                                       "favicon.svg"]
        for a in assets:
            assert http.get(a).status_code == 200
        assert not re.search(r'(?:href|src)="https?://', html), "no external asset (works without internet)"
        assert http.get("/console/static/..%2Fauth.py").status_code == 404
