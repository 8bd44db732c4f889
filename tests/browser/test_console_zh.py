"""The console in Chinese (zh-CN): a back-office user's whole day, with no English left on the pages.

In headless Chromium against a real server (default locale ``en``): the browser
asks for ``zh-CN``, so the sign-in page is Chinese before anyone chose; the
user's choice on the language switch is remembered for them (a browser asking
for English still gets Chinese after signing in).  Then, in Chinese: create a
ticket (the New ticket form shows its due times with weekday and working-day
durations), open the ticket, its job, reconciliation, SLA, devices, the board
and the review queue, and resolve a conflict two tablets made.

"No English UI string is left", checked on every page: the page's visible text
(``innerText``) plus the texts people read in attributes (``title``,
``placeholder``, ``aria-label``, ``data-confirm`` prompts, the document title) must not contain any text
of the English console catalog that the Chinese catalog words differently.
Each English text is split at its ``{placeholders}``; every piece with a word
of two letters or more is looked for as a whole phrase (word boundaries, case
as written).  Texts that are the same in both languages ("English", "SLA")
are names, not English UI ("P1" is not one of them: P1 reads 重大故障).  Data
people entered (customers, sites, titles, staff, engineer and tablet names, checklist
labels of the demo's English templates, who resolved a conflict or a
discrepancy and their comment) and commands or tokens in ``<code>`` are taken
out first, so the rule is about the console's own words, not the data it shows.
What the rule cannot see: a server-made English sentence that is in no catalog
(problem details from the domain services shown on a form); those are the
``problems`` catalog's.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest

from schemas import i18n
from tests.browser.conftest import LAPTOP, PASSWORD, SCREENSHOTS, Live
from tests.browser.test_console_review import _conflicted_job

pytestmark = pytest.mark.browser

EN = i18n.catalog("en", "console")
ZH = i18n.catalog("zh_CN", "console")
#: the English pieces a Chinese page must not show (see the module docstring)
ENGLISH_PIECES = sorted({
    piece.strip(" .,:;·()/—“”")
    for key, en in EN.items() if en != ZH[key] and not key.startswith("fmt.")
    for piece in re.split(r"\{[a-z_]+\}", en)
    if re.search(r"[A-Za-z]{2,}", piece)
}, key=len, reverse=True)
ATTRIBUTE_TEXTS = """() => {
    const out = [document.title];
    for (const el of document.querySelectorAll('[title], [placeholder], [aria-label], [data-confirm]')) {
        for (const a of ['title', 'placeholder', 'aria-label', 'data-confirm']) {
            if (el.getAttribute(a)) { out.push(el.getAttribute(a)); }
        }
    }
    for (const t of document.querySelectorAll('svg title')) { out.push(t.textContent); }
    return out.join('\\n');
}"""


def _data_texts(live: Live) -> list[str]:
    """What people entered and the pages show as it is: customers, sites, titles, names, checklist labels,
    tablet names, conflict resolutions' authors and comments."""
    office = {"authorization": f"Bearer {live.tokens['admin']}"}
    texts: set[str] = {f"{role}-token" for role in live.tokens} | set(live.users.values())  # staff names
    with httpx.Client(base_url=live.url, timeout=10, headers=office) as http:
        for t in http.get("/v1/tickets", params={"limit": 500}).json():
            texts.update(str(t.get(k) or "") for k in ("customer", "site", "title", "asset_serial"))
        for e in http.get("/v1/engineers").json():
            texts.add(e["name"])
        for d in http.get("/v1/devices").json():
            texts.add(d["name"])
        for c in http.get("/v1/conflicts", params={"status": "resolved"}).json():  # who resolved it, and why
            texts.update(str(c["resolution"].get(k) or "") for k in ("by", "comment"))
        for item in http.get("/v1/reconciliation", params={"status": "all"}).json()["items"]:  # the office's notes
            texts.update(str(h.get(k) or "") for h in item.get("history", []) for k in ("by", "comment", "reason"))
        for loc in http.get("/v1/locations").json():  # stock locations and parts are named by the office
            texts.add(str(loc.get("name") or ""))
        for part in http.get("/v1/parts").json():
            texts.add(str(part.get("name") or ""))
        for tpl in http.get("/v1/templates").json():
            texts.update(i["label"] for i in tpl.get("items", []))
            texts.add(tpl["id"])
    return sorted((t for t in texts if t), key=len, reverse=True)


def english_left(page: Any, data: list[str]) -> list[str]:
    """English console texts found on the page, once the data people entered is taken out."""
    text = page.inner_text("body") + "\n" + page.evaluate(ATTRIBUTE_TEXTS)
    codes = sorted(page.locator("code").all_inner_texts(), key=len, reverse=True)  # a link holding a token first
    for value in [*codes, *data]:  # commands and tokens are not words
        text = text.replace(value, " ")
    found = []
    for piece in ENGLISH_PIECES:
        if re.search(r"(?<![A-Za-z])" + re.escape(piece) + r"(?![A-Za-z])", text):
            found.append(piece)
    return found


def _context(browser: Any, accept: str) -> Any:
    ctx = browser.new_context(viewport=LAPTOP, locale=accept, extra_http_headers={"accept-language": accept})
    ctx.set_default_timeout(10_000)
    return ctx


@pytest.fixture
def zh_user(live: Live) -> str:
    """A fresh admin user (its language choice must not leak into other tests' users)."""
    from server.console.auth import set_user

    name = f"zh-{uuid.uuid4().hex[:6]}"
    svc = live.services()
    set_user(svc, name, "admin", PASSWORD)
    svc.db.close()
    return name


def _sign_in(page: Any, live: Live, name: str) -> None:
    page.goto(live.url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/tickets")


def test_the_language_is_the_browsers_until_the_user_chooses_and_then_theirs(browser: Any, live: Live,
                                                                              zh_user: str) -> None:
    data = _data_texts(live)
    first = _context(browser, "zh-CN")
    try:
        page = first.new_page()
        page.goto(live.url + "/login")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("h1").inner_text() == "登录后台"
        assert english_left(page, data) == []
        _sign_in(page, live, zh_user)
        assert page.locator("h1").inner_text() == "未结工单", "Accept-Language decides before the user chose"
        page.click("#lang-switch button[value=en]")
        page.wait_for_url("**/tickets?done=language")
        assert page.locator("h1").inner_text() == "Open tickets"
        page.click("#lang-switch button[value=zh_CN]")
        page.wait_for_url("**/tickets?done=language")
        assert page.locator("#main .flash.ok").inner_text() == "语言已切换。"
    finally:
        first.close()
    # Another browser that asks for English: the user's own choice wins once they are signed in
    second = _context(browser, "en-US")
    try:
        page = second.new_page()
        page.goto(live.url + "/login")
        assert page.locator("h1").inner_text() == "Sign in to the back office"
        _sign_in(page, live, zh_user)
        assert page.locator("h1").inner_text() == "未结工单"
    finally:
        second.close()


def test_a_day_in_the_chinese_console_leaves_no_english(browser: Any, live: Live, zh_user: str,
                                                         tablet_factory: Any) -> None:
    job_with_conflicts, conflicts = _conflicted_job(live, tablet_factory)
    ctx = _context(browser, "zh-CN")
    errors: list[str] = []
    try:
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        _sign_in(page, live, zh_user)
        data = _data_texts(live)

        def clean(where: str) -> None:
            left = english_left(page, data)
            assert left == [], f"English left on {where}: {left}"
            overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{where} overflows by {overflow}px in Chinese"
            if not where.startswith(("ticket ", "job ")):
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / f"zh-{re.sub(r'[^a-z]+', '-', where)}.png"), full_page=True)

        # The board and the New ticket form: priorities by name, due times with weekday in Chinese
        clean("the board")
        form = page.locator("#new-ticket")
        options = form.locator("select[name=priority] option").all_inner_texts()
        assert options == ["重大故障", "紧急故障", "一般故障", "投诉"]
        due = page.locator("#new-ticket-due")
        assert "如现在创建，截止时间" in due.inner_text()
        rows = json.loads(due.evaluate("""el => JSON.stringify([...el.querySelectorAll('.due-row')].map(r => ({
            target: r.dataset.target, label: r.querySelector('dt').firstChild.textContent.trim(),
            duration: r.querySelector('dt .muted').textContent, when: r.querySelector('time').textContent})))"""))
        assert {r["target"]: r["label"] for r in rows} == {"respond": "响应", "on_site": "到场", "resolve": "解决"}
        assert {r["target"]: r["duration"] for r in rows} == {"respond": "2小时", "on_site": "8小时",
                                                              "resolve": "3个工作日"}
        for r in rows:
            assert re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日 周[一二三四五六日] \d{2}:\d{2}", r["when"]), r
        form.locator("select[name=priority]").select_option("P1")
        page.locator("#new-ticket-due[data-priority=P1]").wait_for()
        assert page.locator("#new-ticket-due .due-row[data-target=resolve] dt .muted").inner_text() == "24小时"

        form.locator("input[name=customer]").fill("   ")  # blank to the server, not to the browser's check
        form.locator("input[name=site]").fill("门诊楼三层机房")
        form.locator("button[type=submit]").click()  # no customer: the same form again, with the reason
        page.wait_for_load_state("load")
        assert page.locator("#form-error").inner_text() == "请填写客户。"
        assert page.locator("#new-ticket input[name=site]").input_value() == "门诊楼三层机房"
        clean("the board with a form error")
        form = page.locator("#new-ticket")
        customer = f"某某医院 {uuid.uuid4().hex[:4]}"
        form.locator("input[name=customer]").fill(customer)
        form.locator("input[name=site]").fill("门诊楼三层机房")
        form.locator("input[name=title]").fill("风机异响")
        form.locator("select[name=engineer_id]").select_option("e-ana")
        assert form.locator("select[name=report_locale] option").all_inner_texts() == ["跟随服务器（English）", "中文",
                                                                                         "English"]
        form.locator("select[name=report_locale]").select_option("zh_CN")  # the customer reads Chinese
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/tickets?done=ticket_created")
        assert page.locator("#main .flash.ok").inner_text() == "工单已创建。"
        data = _data_texts(live)
        clean("the board after creating")
        row = page.locator("tr[data-ticket]", has_text=customer)
        assert row.locator(".prio").inner_text() == "重大故障"

        # The ticket, its job
        row.locator("a.tid").click()
        page.wait_for_load_state("load")
        assert "风机异响" in page.locator("h1").inner_text()
        assert page.locator(".clock .clock-target").first.inner_text() == "响应"
        assert page.locator("#report-locale select option:checked").inner_text() == "中文"
        clean("the ticket page")
        ticket_url = page.url
        page.locator("#report-locale select").select_option("en")  # the dispatcher changes their mind
        page.locator("#report-locale button[type=submit]").click()
        page.wait_for_url("**?done=report_locale")
        assert page.locator("#main .flash.ok").inner_text().startswith("报告语言已设定")
        with httpx.Client(base_url=live.url, timeout=10,
                          headers={"authorization": f"Bearer {live.tokens['admin']}"}) as http:
            assert http.get(f"/v1/tickets/{ticket_url.rsplit('/', 1)[1].split('?')[0]}").json()["report_locale"] == "en"
        page.locator("tr[data-job] a.tid").first.click()
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text().startswith("作业 ")
        clean("the job page")
        page.goto(live.url + f"/jobs/{job_with_conflicts}")
        clean("a job with review items")

        # Resolve a conflict in the review queue
        page.goto(live.url + "/conflicts")
        clean("the review queue")
        card = page.locator(f"article.conflict[data-conflict='{conflicts['condition']}']")
        card.locator("button[type=submit]").click()
        page.wait_for_load_state("load")
        assert page.locator("#conflicts .inline-err").inner_text() == "请选择其中一个值，或输入合并后的值。"
        card = page.locator(f"article.conflict[data-conflict='{conflicts['condition']}']")
        card.locator("tr", has_text="poor").locator("input[type=radio]").check()
        card.locator("input[name=comment]").fill("外壳腐蚀，已拍照")
        card.locator("button[type=submit]").click()
        page.wait_for_url("**/conflicts?done=resolved")
        assert page.locator("#main .flash.ok").inner_text().startswith("冲突已解决")
        clean("the review queue after resolving")
        card = page.locator(f"article.conflict[data-conflict='{conflicts['flue_co2']}']")
        card.locator("input[name=merged]").fill("九点三")
        card.locator("button[type=submit]").click()
        page.wait_for_load_state("load")
        assert page.locator("#conflicts .inline-err").inner_text() == "此项需要填写数字。"
        card = page.locator(f"article.conflict[data-conflict='{conflicts['flue_co2']}']")
        card.locator("input[name=merged]").fill("9.3")
        card.locator("button[type=submit]").click()
        page.wait_for_url("**/conflicts?done=resolved")
        assert page.locator("article.conflict").count() == 0
        assert "没有待审核项" in page.locator("#conflicts").inner_text()
        page.goto(live.url + "/conflicts?status=resolved")
        resolved = page.locator(f"article.conflict[data-conflict='{conflicts['condition']}']").inner_text()
        assert "保留 poor" in resolved and "外壳腐蚀，已拍照" in resolved
        clean("resolved conflicts")

        # Reconciliation, SLA, devices
        for path in ("/reconciliation", "/reconciliation?status=all", "/sla", "/devices"):
            page.goto(live.url + path)
            clean(path)
        page.locator("aside select[name=engineer_id]").select_option("e-ana")
        page.locator("aside button[type=submit]").click()
        page.wait_for_load_state("load")
        assert page.locator("#issued").inner_text().startswith("Ana Alves 的一次性令牌，有效期至 ")
        clean("an enrollment token")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        # every ticket and job the server holds by now (signed, on hold, reassigned, with photos ...)
        with httpx.Client(base_url=live.url, timeout=10,
                          headers={"authorization": f"Bearer {live.tokens['admin']}"}) as http:
            every = http.get("/v1/tickets", params={"limit": 500}).json()
        for ticket in every:
            page.goto(live.url + f"/tickets/{ticket['id']}")
            clean(f"ticket {ticket['id']}")
            for job in ticket["jobs"]:
                page.goto(live.url + f"/jobs/{job['id']}")
                clean(f"job {job['id']}")
        page.goto(live.url + "/tickets/T-does-not-exist")
        assert page.locator("#error-detail").inner_text() == "找不到该工单。"
        clean("an error page")
    finally:
        ctx.close()
    assert errors == []


def test_the_english_pieces_rule_would_see_english(browser: Any, live: Live) -> None:
    """The rule is not empty: an English page breaks it."""
    assert len(ENGLISH_PIECES) > 200 and "Open tickets" in ENGLISH_PIECES
    ctx = _context(browser, "en-US")
    try:
        page = ctx.new_page()
        page.goto(live.url + "/login")
        assert "Sign in to the back office" in english_left(page, [])
    finally:
        ctx.close()

