"""Crawl the console as every role: every page the navigation reaches, and one level of detail links from each.

For each staff role a fresh user signs in (in a zh-CN browser, so the console
speaks Chinese until they choose), reads the links of the navigation
(``header nav``), and visits each; from every such page it follows the first
link of each kind found in the page's main part (a ticket, a job, a customer,
an asset, a plan ... grouped by the shape of their address), once.  Every page
visited must:

- answer below 400 (no 4xx, no 5xx), with no script error;
- show no Python repr (``values=[``, ``True``/``False``/``None`` as words,
  ``{'``, ``<object at``);
- leave no English console text in a Chinese session (the rule of
  ``tests/browser/test_console_zh.py``, people's data taken out first);
- fit an 800 px wide viewport (``document.documentElement.scrollWidth <= 800``);
  the schedule board scrolls inside its own frame, so it needs no exception.

The crawl is driven by the navigation only, so a page added to
``server/console/nav.py`` is crawled without touching this test.  An English
admin session is crawled too, for the repr and width rules in the other locale.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from schemas.instant import rfc3339
from server.security import ROLES
from tests.browser.conftest import PASSWORD, Live
from tests.browser.test_console_zh import _data_texts, english_left

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 800, "height": 1000}
REPRS = [re.compile(p) for p in (r"\b\w+=\[", r"\b(True|False|None)\b", r"\{'", r"<object at", r"object at 0x")]
#: addresses not crawled: downloads, sign-out, the language switch, bytes of photos
SKIP = re.compile(r"^/(logout|login|console/|favicon)|\.(pdf|csv)$")
DETAILS_PER_SHAPE = 2
_SEEDED: list[str] = []
_SEEDED_CONFLICTS: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _leave_the_review_queue_as_found(live: Live) -> Any:
    """The seeded conflicts are resolved when the crawl is done (later tests count the open ones)."""
    yield
    with httpx.Client(base_url=live.url, timeout=10,
                      headers={"authorization": f"Bearer {live.tokens['admin']}"}) as http:
        for cid in _SEEDED_CONFLICTS:
            http.post(f"/v1/conflicts/{cid}/resolve", json={"choice": 0, "comment": "crawl done"})


def _shape(path: str) -> str:
    """A link's kind: its address with the last segment (an id, a name) replaced by ``*``."""
    parts = path.rstrip("/").split("/")
    return "/".join(parts[:-1] + ["*"]) if len(parts) > 2 else path


def _more_data(live: Live) -> list[str]:
    """What people entered that the desks show beyond the zh test's list: skills, certifications, plans, calls."""
    texts: set[str] = set()
    with httpx.Client(base_url=live.url, timeout=10,
                      headers={"authorization": f"Bearer {live.tokens['admin']}"}) as http:
        for e in http.get("/v1/engineers").json():
            texts.update(e.get("skills", []))
            for c in http.get(f"/v1/engineers/{e['id']}/certifications").json():
                texts.update([c["name"], c["equipment_type"]])
        for p in http.get("/v1/plans").json():
            texts.update(str(p.get(k) or "") for k in ("name", "customer", "site", "asset_serial"))
        for f in http.get("/v1/followups").json():
            texts.add(f["comment"])
        for t in http.get("/v1/tickets", params={"limit": 500}).json():
            texts.add(t.get("description") or "")
            for j in t["jobs"]:
                texts.update(str(j.get(k) or "") for k in ("notes", "diagnosis", "resolution"))
            if t["customer"]:
                archive = http.get(f"/v1/customers/{t['customer']}/archive")
                if archive.status_code == 200:
                    for a in archive.json()["assets"]:
                        texts.update(str(a.get(k) or "") for k in ("model", "equipment_type", "site", "serial"))
                    for tk in archive.json()["tickets"]:
                        for j in tk["jobs"]:
                            texts.update(m["part_no"] for m in j["parts"])
                            if j["signoff"]:
                                texts.update(str(j["signoff"].get(k) or "") for k in ("signer_name", "comment"))
        for part in http.get("/v1/parts").json():
            texts.update(str(part.get(k) or "") for k in ("part_no", "name"))
    return sorted((t for t in texts if t), key=len, reverse=True)


def _seed(live: Live, tablet_factory: Any) -> list[str]:
    """Once per test session: what the desks show when the field has worked (a finished job with a photo
    answer and a signature, conflicts, parts discrepancies, a warranty claim, a plan, a complaint);
    the pages of these are crawled besides what the navigation reaches."""
    if _SEEDED:
        return _SEEDED
    from tests.browser.test_console import STROKES, _png
    from tests.browser.test_console_review import _conflicted_job

    office = {"authorization": f"Bearer {live.tokens['admin']}"}
    with httpx.Client(base_url=live.url, timeout=10, headers=office) as http:
        t = http.post("/v1/tickets", json={"customer": "Crawl Dairy", "site": "Cold store", "priority": "P2",
                                           "title": "Compressor trips"}).json()
        job = http.post(f"/v1/tickets/{t['id']}/jobs", json={"engineer_id": "e-chen",
                                                             "checklist_template": "boiler-service"}).json()
        job_id = job["jobs"][0]["id"]
        tablet = tablet_factory("e-chen", f"chen-crawl-{uuid.uuid4().hex[:4]}")
        assert tablet.sync().ok
        for status in ("accepted", "en_route", "on_site", "in_progress"):
            tablet.set_status(job_id, status)
        for key, value in (("gas_tight", True), ("flue_co2", 9.1), ("pressure_bar", 1.4), ("condition", "good")):
            tablet.answer(job_id, key, value)
        photo = tablet.attach(job_id, _png(), kind="photo")
        tablet.answer(job_id, "photo_plate", photo)
        tablet.use_part(job_id, "P-IGN", qty=9)  # more than the van holds: a discrepancy to reconcile
        tablet.set_status(job_id, "completed")
        tablet.sign_off(job_id, "Ola Berg", STROKES, rating=2, comment="太慢")
        assert tablet.sync().ok
        conflicted, ids = _conflicted_job(live, tablet_factory)
        _SEEDED_CONFLICTS.extend(ids.values())
        plan = http.post("/v1/plans", json={"name": "Quarterly chiller check", "engineer_id": "e-chen",
                                            "customer": "Crawl Dairy", "site": "Cold store", "every_months": 3,
                                            "start_at": rfc3339(int(time.time() * 1000) + 86_400_000)})
        assert plan.status_code == 201, plan.text
        rt = http.post("/v1/tickets", json={"customer": "Crawl Dairy", "site": "Office", "priority": "P3"}).json()
        rjob = http.post(f"/v1/tickets/{rt['id']}/jobs", json={"engineer_id": "e-ben"}).json()["jobs"][0]
        http.post(f"/v1/jobs/{rjob['id']}/remote-resolution", json={"resolution": "电话指导复位"})
        call = http.post(f"/v1/tickets/{rt['id']}/follow-up", json={"reached": True, "rating": 1, "comment": "态度差"})
        complaint = call.json()["complaint_ids"][0]
    _SEEDED.extend([f"/tickets/{t['id']}", f"/jobs/{job_id}", f"/jobs/{conflicted}", f"/plans/{plan.json()['id']}",
                    "/customers/Crawl%20Dairy", "/reconciliation?status=all", "/conflicts?status=all",
                    f"/tickets/{rt['id']}", f"/tickets/{complaint}"])
    return _SEEDED


def _user(live: Live, role: str) -> str:
    from server.console.auth import set_user

    name = f"crawl-{role[:4]}-{uuid.uuid4().hex[:6]}"
    svc = live.services()
    set_user(svc, name, role, PASSWORD)
    svc.db.close()
    return name


def _check(page: Any, where: str, zh: bool, data: list[str]) -> list[str]:
    problems = []
    text = page.inner_text("body")
    for value in data:
        text = text.replace(value, " ")
    for rx in REPRS:
        m = rx.search(text)
        if m:
            problems.append(f"{where}: Python repr {m.group(0)!r} in …{text[max(0, m.start() - 40):m.end() + 40]}…")
    if zh:
        left = english_left(page, data)
        if left:
            problems.append(f"{where}: English left {left}")
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > VIEWPORT["width"]:
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => {
            const r = e.getBoundingClientRect(); return r.right > 801 && !e.closest('.board-frame, .table-scroll');
        }).slice(0, 3).map(e => e.tagName + '.' + e.className + '#' + e.id)""")
        problems.append(f"{where}: {width}px wide at an 800 px viewport ({wide})")
    return problems


def _crawl(browser: Any, live: Live, role: str, locale: str, data: list[str],
           extra: list[str]) -> tuple[list[str], set[str]]:
    ctx = browser.new_context(viewport=VIEWPORT, locale=locale, extra_http_headers={"accept-language": locale})
    ctx.set_default_timeout(15_000)
    problems: list[str] = []
    seen: set[str] = set()
    errors: list[str] = []
    try:
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(live.url + "/login")
        page.fill("input[name=name]", _user(live, role))
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url("**/tickets")
        nav = page.locator("header nav a[href]").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert nav, f"{role} sees no navigation"
        shapes: dict[str, int] = {}
        details: list[str] = []

        def visit(path: str) -> Any:
            response = page.goto(live.url + path)
            page.wait_for_load_state("load")
            seen.add(path)
            status = response.status if response is not None else 0
            if status >= 400:
                problems.append(f"{role}/{locale} {path}: HTTP {status}")
            problems.extend(_check(page, f"{role}/{locale} {path}", locale.startswith("zh"), data))
            return page

        def collect() -> list[str]:
            found = []
            links = page.locator("main a[href^='/']").evaluate_all("ls => ls.map(a => a.getAttribute('href'))")
            for href in links:
                target = urlsplit(href).path
                if SKIP.search(target) or target in nav or href in details:
                    continue
                shape = _shape(target)
                if shapes.get(shape, 0) >= DETAILS_PER_SHAPE:
                    continue
                shapes[shape] = shapes.get(shape, 0) + 1
                found.append(href)
            return found

        for path in nav:
            visit(path)
            details.extend(collect())
        for path in extra:  # the seeded pages a role may open (others answer 403, as the API would)
            if page.request.get(live.url + path).status != 403:
                details.append(path)
        # one level of detail pages; a kind of page first linked from a detail page (a job from its ticket)
        # is visited too, once
        queue = list(details)
        while queue:
            href = queue.pop(0)
            if href not in seen:
                visit(href)
                more = collect()
                details.extend(more)
                queue.extend(more)
    finally:
        ctx.close()
    problems.extend(f"{role}/{locale}: script error {e}" for e in errors)
    return problems, seen


@pytest.mark.parametrize("role", ROLES)
def test_every_page_a_role_reaches_is_clean_in_chinese(browser: Any, live: Live, role: str,
                                                      tablet_factory: Any) -> None:
    extra = _seed(live, tablet_factory)
    data = sorted(set(_data_texts(live)) | set(_more_data(live)), key=len, reverse=True)
    problems, seen = _crawl(browser, live, role, "zh-CN", data, extra)
    assert len(seen) >= 5, seen
    assert any(p.startswith("/tickets/") for p in seen) and any(p.startswith("/jobs/") for p in seen), seen
    assert problems == [], "\n".join(problems)


def test_the_admin_crawl_in_english_finds_no_repr_and_no_overflow(browser: Any, live: Live,
                                                                  tablet_factory: Any) -> None:
    extra = _seed(live, tablet_factory)
    data = sorted(set(_data_texts(live)) | set(_more_data(live)), key=len, reverse=True)
    problems, seen = _crawl(browser, live, "admin", "en-US", data, extra)
    assert {"/dispatch", "/followups", "/complaints", "/customers"} <= seen
    assert problems == [], "\n".join(problems)
