"""The Parts desk in real Chromium: a parts clerk transfers stock to a van and settles a warranty claim.

Against a real server with the demo data and a real tablet: the tablet uses a
part under warranty and takes the old one back (a claim opens); the clerk
transfers seals from the warehouse to a van (a refused transfer first: the
page comes back by GET with one message), books the old part's arrival at the
returns desk and approves the claim.  The API then shows the ledger, the
stock and the claim as the pages said.  Every page of the desk: no Python
repr, nothing wider than an 800 px viewport, and no English in zh-CN.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.browser.conftest import PASSWORD, SCREENSHOTS, TABLET, Console, Live
from tests.browser.test_console_zh import _data_texts, english_left

pytestmark = pytest.mark.browser

YEAR_MS = 365 * 24 * 3600 * 1000
PARTS_PAGES = ("/parts", "/parts/stock", "/parts/stock?location=van-e-ben", "/parts/ledger",
               "/parts/ledger?part=P-IGN", "/parts/transfers", "/parts/warranty", "/parts/warranty?status=all")
#: what Python leaves on a page when a value is printed as it is: True/False/None, dict and list reprs, objects
REPR = re.compile(r"\b(True|False|None)\b|\{'|\['|<[A-Za-z_.]+ object at|\bdatetime\.")


def api(live: Live, role: str = "admin") -> httpx.Client:
    return httpx.Client(base_url=live.url, timeout=15, headers={"authorization": f"Bearer {live.tokens[role]}"})


def clean_page(page: Any, where: str) -> None:
    """No Python repr in what the page shows, and nothing wider than the viewport."""
    text = page.inner_text("body")
    found = REPR.search(text)
    assert found is None, f"{where} shows a Python repr: {text[max(0, found.start() - 60):found.end() + 60]!r}"
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{where} is wider than the viewport by {overflow}px"


def sign_in(page: Any, live: Live, name: str) -> None:
    page.goto(live.url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/tickets")


def new_user(live: Live, role: str) -> str:
    from server.console.auth import set_user

    name = f"{role[:4]}-{uuid.uuid4().hex[:6]}"
    svc = live.services()
    try:
        set_user(svc, name, role, PASSWORD)
    finally:
        svc.db.close()
    return name


def zh_pass(browser: Any, live: Live, role: str, paths: tuple[str, ...], extra_data: list[str]) -> None:
    """Each page in zh-CN at 800 px: no English UI string, no repr, no overflow."""
    name = new_user(live, role)
    ctx = browser.new_context(viewport=TABLET, locale="zh-CN", extra_http_headers={"accept-language": "zh-CN"})
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        sign_in(page, live, name)
        data = sorted({*_data_texts(live), *extra_data}, key=len, reverse=True)
        for path in paths:
            response = page.goto(live.url + path)
            assert response is not None and response.status == 200, path
            assert english_left(page, data) == [], f"English left on {path}: {english_left(page, data)}"
            clean_page(page, f"{path} (zh-CN)")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"zh-{re.sub(r'[^a-z0-9]+', '-', path.strip('/'))}.png"),
                            full_page=True)
    finally:
        ctx.close()


def part_and_place_names(live: Live) -> list[str]:
    """Part and location names, and what the office wrote on claims, as people entered them (data, not the
    console's words)."""
    with api(live) as http:
        return [p["name"] for p in http.get("/v1/parts").json()] + \
            [loc["name"] for loc in http.get("/v1/locations").json()] + \
            [str(c[k] or "") for c in http.get("/v1/warranty/claims").json() for k in ("comment", "decided_by")]


def _claim_with_old_part_in_a_van(live: Live, tablet_factory: Any) -> tuple[str, str]:
    """A job on an asset under warranty where Ana's tablet used an ignition electrode and took the old one back."""
    serial, old = f"SN-W-{uuid.uuid4().hex[:6]}", f"OLD-IGN-{uuid.uuid4().hex[:6]}"
    with api(live) as http:
        r = http.post("/v1/assets", json={"serial": serial, "model": "Vitodens 200",
                                          "customer": "Hotel Aurora", "warranty_until": "2100-01-01T00:00:00Z"})
        assert r.status_code == 201, r.text
        t = http.post("/v1/tickets", json={"customer": "Hotel Aurora", "site": "Plant room", "priority": "P3",
                                           "category": "fault", "title": "No ignition", "asset_serial": serial})
        assert t.status_code == 201, t.text
        j = http.post(f"/v1/tickets/{t.json()['id']}/jobs", json={"engineer_id": "e-ana",
                                                                  "checklist_template": "boiler-service"})
        assert j.status_code == 201, j.text
        job = str(j.json()["jobs"][-1]["id"])
    tablet = tablet_factory("e-ana", f"ana-parts-{uuid.uuid4().hex[:4]}")
    assert tablet.sync().ok
    tablet.use_part(job, "P-IGN", 1, returned_serial=old)
    assert tablet.sync().ok
    with api(live) as http:
        (claim,) = http.get("/v1/warranty/claims", params={"job_id": job}).json()
    assert claim["old_part_location"] == "van-e-ana" and claim["old_part_returned"] is False
    return str(claim["id"]), old


def _stock(live: Live, location: str, part_no: str) -> int:
    with api(live) as http:
        levels = http.get("/v1/stock", params={"location": location}).json()
    return sum(s["qty"] for s in levels if s["part_no"] == part_no)


def test_the_parts_clerk_transfers_to_a_van_and_approves_a_claim_once_the_old_part_is_back(
        browser: Any, live: Live, tablet_factory: Any) -> None:
    claim_id, old_serial = _claim_with_old_part_in_a_van(live, tablet_factory)
    before_van, before_wh = _stock(live, "van-e-ben", "P-SEAL"), _stock(live, "wh-main", "P-SEAL")
    c = Console(browser, live, TABLET)
    try:
        page = c.page
        sign_in(page, live, new_user(live, "backoffice"))
        page.click("nav.desks a[href='/parts/stock']")
        page.wait_for_url("**/parts/stock")

        # A transfer the ledger refuses: back on the page by GET, with one message, the values kept
        c.go("/parts/transfers")
        form = page.locator("#transfer-form")
        form.locator("select[name=from_location]").select_option("wh-main")
        form.locator("select[name=to_location]").select_option("van-e-ben")
        form.locator("select[name=part_no]").select_option("P-PCB")  # serialized: needs a serial
        form.locator("input[name=qty]").fill("3")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state("load")
        assert page.url == live.url + "/parts/transfers", "after a refused form the page is a GET, not the POST"
        assert page.locator(".flash.err").count() == 1
        assert "serial" in page.locator("#form-error").inner_text()
        assert page.locator("#transfer-form select[name=to_location]").input_value() == "van-e-ben"
        page.reload()  # the message was for one showing
        assert page.locator(".flash.err").count() == 0

        # The transfer
        form = page.locator("#transfer-form")
        form.locator("select[name=from_location]").select_option("wh-main")
        form.locator("select[name=to_location]").select_option("van-e-ben")
        form.locator("select[name=part_no]").select_option("P-SEAL")
        form.locator("input[name=qty]").fill("3")
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/parts/transfers?done=parts_transferred")
        assert page.locator(".flash.ok").inner_text() == "Transfer recorded in the ledger."
        assert _stock(live, "van-e-ben", "P-SEAL") == before_van + 3
        assert _stock(live, "wh-main", "P-SEAL") == before_wh - 3
        with api(live) as http:
            moves = http.get("/v1/movements", params={"part_no": "P-SEAL", "location": "van-e-ben"}).json()
        assert moves[-1]["kind"] == "transfer" and moves[-1]["qty"] == 3
        assert (moves[-1]["from_location"], moves[-1]["to_location"]) == ("wh-main", "van-e-ben")
        row = page.locator(f"#transfers tr[data-movement='{moves[-1]['id']}']")
        assert "Van of Ben Brandt" in row.inner_text()

        # The van's stock: a chart with the level written on its bar, and the table
        c.go("/parts/stock?location=van-e-ben")
        assert page.locator("#stock-lines tr[data-part='P-SEAL'] .qty").inner_text() == str(before_van + 3)
        chart = page.locator("#stock-of svg.desk-chart")
        assert chart.get_attribute("aria-label") == "Stock levels at Van of Ben Brandt"
        bar = chart.locator("g.bar-row", has_text="P-SEAL")
        assert bar.locator("text.value").text_content() == str(before_van + 3)
        assert float(bar.locator("rect").get_attribute("width") or 0) > 0

        # The claim: approval waits for the old part
        c.go("/parts/warranty?q=" + claim_id)
        card = page.locator(f"article[data-claim='{claim_id}']")
        assert card.locator("[data-old-part=away]").count() == 1
        assert card.locator("button[value=approved]").is_disabled()
        card.locator(".arrived-form button[type=submit]").click()
        page.wait_for_url("**/parts/warranty?done=parts_old_part_arrived")
        c.go("/parts/warranty?q=" + claim_id)
        card = page.locator(f"article[data-claim='{claim_id}']")
        assert card.locator("[data-old-part=back]").count() == 1
        card.locator("input[name=comment]").fill("old electrode received")
        card.locator("button[value=approved]").click()
        page.wait_for_url("**/parts/warranty?done=parts_claim_approved")
        with api(live) as http:
            claim = http.get(f"/v1/warranty/claims/{claim_id}").json()
            ledger = http.get("/v1/movements", params={"part_no": "P-IGN", "location": "returns"}).json()
        assert claim["status"] == "approved" and claim["old_part_returned"] is True
        assert claim["comment"] == "old electrode received"
        assert [(m["kind"], m["from_location"]) for m in ledger if m["serial"] == old_serial] == [
            ("return_old", "van-e-ana")]
        c.go("/parts/warranty?status=approved&q=" + claim_id)
        assert page.locator(f"article[data-claim='{claim_id}'][data-status=approved]").count() == 1

        # The catalog and a count correction
        part_no = f"P-FAN-{uuid.uuid4().hex[:4]}"
        c.go("/parts")
        form = page.locator("#part-form")
        form.locator("input[name=part_no]").fill(part_no)
        form.locator("input[name=part_name]").fill("Fan motor")
        form.locator("input[name=price]").fill("12.50")
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/parts?done=parts_part_saved")
        c.go("/parts?q=" + part_no)
        assert page.locator(f"#parts-table tr[data-part='{part_no}'] td.num").first.inner_text() == "12.50"
        c.go("/parts/transfers")
        form = page.locator("#adjust-form")
        form.locator("select[name=location]").select_option("wh-main")
        form.locator("select[name=part_no]").select_option(part_no)
        form.locator("input[name=delta]").fill("4")
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/parts/transfers?done=parts_adjusted")
        assert _stock(live, "wh-main", part_no) == 4
        with api(live) as http:
            assert {p["part_no"]: p["unit_price_cents"] for p in http.get("/v1/parts").json()}[part_no] == 1250

        # The ledger filtered to the part shows the old part's way back
        c.go("/parts/ledger?part=P-IGN&kind=return_old")
        assert page.locator("#ledger tr[data-kind=return_old]", has_text=old_serial).count() == 2
        c.go(f"/parts/ledger?q={old_serial}")
        assert page.locator("#ledger tr[data-movement]").count() == 2  # taken back from the customer, returned

        for path in PARTS_PAGES:
            c.go(path)
            clean_page(page, path)
            c.shot("parts-" + re.sub(r"[^a-z0-9]+", "-", path.strip("/")))
        assert c.errors == []
    finally:
        c.context.close()


def test_parts_lists_are_paged_and_searched_and_the_roles_are_the_apis(browser: Any, live: Live) -> None:
    c = Console(browser, live, TABLET)
    try:
        page = c.page
        sign_in(page, live, new_user(live, "dispatcher"))
        c.go("/parts?q=seal")  # any staff member reads, as GET /v1/parts
        assert page.locator("#parts-table tbody tr[data-part]").all_inner_texts()[0].startswith("P-SEAL")
        assert page.locator("#parts-table tbody tr[data-part]").count() == 1
        c.go("/parts/ledger")
        assert "Page 1/" in page.locator(".pager").inner_text()
        if page.locator(".pager a[rel=next]").count():
            page.click(".pager a[rel=next]")
            assert "page=2" in page.url and "Page 2/" in page.locator(".pager").inner_text()
        c.go("/parts/transfers")
        assert page.locator("#transfer-form").count() == 0, "a dispatcher records no movements"
        token = page.evaluate("document.cookie")  # HttpOnly: the session is not readable from the page
        assert "fs_console" not in token
        r = page.request.post(live.url + "/parts/transfers", form={"csrf": "x", "from_location": "wh-main"},
                              max_redirects=0)
        assert r.status == 403
    finally:
        c.context.close()


def test_the_parts_desk_in_chinese_leaves_no_english(browser: Any, live: Live) -> None:
    zh_pass(browser, live, "backoffice", PARTS_PAGES, part_and_place_names(live))
