"""The Management desk in real Chromium: the month's KPIs, and a new checklist version that leaves jobs alone.

Against a real server with the demo data: the manager reads this month's KPIs
(the same figures as ``GET /v1/kpis`` for the month, each beside its target
column and a six-month trend chart), then edits a checklist template in the
editor - a refused row first, which comes back by GET with one message - and
publishes a new version.  A job created before keeps the version it had; a job
created after gets the new one (asserted through the API).  Staff tokens are
issued (shown once) and revoked, console users created and disabled, an engineer created and taken off
dispatch.  Every
page of the desk: no Python repr, nothing wider than 800 px, no English in
zh-CN.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.browser.conftest import TABLET, Console, Live
from tests.browser.test_console_parts import api, clean_page, new_user, sign_in, zh_pass

pytestmark = pytest.mark.browser

MGMT_PAGES = ("/manage/kpis", "/manage/kpis?kpi=mean_restore_min", "/manage/certifications", "/manage/templates",
              "/manage/templates/boiler-service", "/manage/engineers", "/manage/users", "/manage/tokens",
              "/manage/tokens?state=all")


def _template(live: Live) -> str:
    """A template of this test's own (the demo's is shared with other tests), published once via the API."""
    tid = f"pc-{uuid.uuid4().hex[:5]}"  # short: the board's New ticket form lists every template id
    with api(live, "backoffice") as http:
        r = http.post("/v1/templates", json={"id": tid, "name": "Pump check", "items": [
            {"key": "leak", "label": "No leaks", "type": "pass_fail"},
            {"key": "noise", "label": "Noise level", "type": "choice", "choices": ["low", "high"]}]})
        assert r.status_code == 201 and r.json()["version"] == 1, r.text
    return tid


def _job(live: Live, template: str) -> tuple[str, int]:
    """A new job with ``template``: its id and the template version it was pinned to."""
    with api(live, "dispatcher") as http:
        t = http.post("/v1/tickets", json={"customer": f"Dairy {uuid.uuid4().hex[:4]}", "site": "Pump house",
                                           "priority": "P3", "category": "fault", "title": "Pump check"})
        assert t.status_code == 201, t.text
        j = http.post(f"/v1/tickets/{t.json()['id']}/jobs", json={"engineer_id": "e-ben",
                                                                  "checklist_template": template})
        assert j.status_code == 201, j.text
        job = j.json()["jobs"][-1]
    return str(job["id"]), int(job["template_version"])


def test_the_manager_reads_the_months_kpis_and_publishes_a_new_checklist_version(browser: Any, live: Live) -> None:
    template = _template(live)
    old_job, old_version = _job(live, template)
    assert old_version == 1
    with api(live, "dispatcher") as http:  # a ticket answered at once: this month has a response time
        ticket = http.get(f"/v1/jobs/{old_job}").json()["job"]["ticket_id"]
        assert http.post(f"/v1/tickets/{ticket}/acknowledge", json={"note": "called back"}).status_code == 200
    c = Console(browser, live, TABLET)
    try:
        page = c.page
        sign_in(page, live, new_user(live, "admin"))
        page.click("nav.desks a[href='/manage/kpis']")
        page.wait_for_url("**/manage/kpis")

        # This month's KPIs: the API's figures, each with its target column and the trend
        now = datetime.now(UTC)
        month = f"{now.year:04d}-{now.month:02d}"
        assert page.locator("h1").inner_text() == f"Service KPIs · {month}"
        rows = page.locator("#kpi-table tbody tr[data-kpi]")
        assert rows.count() == 9  # the plans' four (with their targets), then the figures of GET /v1/kpis
        assert page.locator("#kpi-table tr[data-kpi=mean_respond_min] .target-text").inner_text() == "no target set"
        assert page.locator("#kpi-table tr[data-kpi=mean_respond_min] .target-source").count() == 0
        follow = page.locator("#kpi-table tr[data-kpi=follow_up_on_time]")
        assert follow.locator(".target-text").inner_text() == "at least 100%"
        assert follow.locator(".target-source").get_attribute("data-source") in ("default", "policy")
        start = datetime(now.year, now.month, 1, tzinfo=UTC)
        nxt = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
        window = {"from": start.isoformat(), "to": nxt.isoformat()}
        with api(live) as http:
            (row,) = http.get("/v1/kpis", params=window).json()["rows"]
            plans = {k["kpi"]: k for k in http.get("/v1/kpis/targets", params=window).json()["kpis"]}
        assert f"Tickets opened this month: {row['tickets']}," in page.locator("#main .note").first.inner_text()
        if plans["first_time_fix_rate"]["value"] is not None:  # the plans' KPIs: the targets report's figures
            shown = page.locator("#kpi-table tr[data-kpi=first_time_fix_rate] .value").inner_text()
            assert shown == f"{round(plans['first_time_fix_rate']['value'] * 100)}%"
        chart = page.locator("#trend-chart")
        assert chart.get_attribute("aria-label") == "First-time fix rate, last six months"
        assert chart.locator("text.axis", has_text=month).count() == 1

        # Targets: a refused one (back by GET with one message), then two set; the response time is met
        respond = page.locator("#kpi-table tr[data-kpi=mean_respond_min]")
        respond.locator("input[name=target]").fill("soon")
        respond.locator("button[type=submit]").first.click()
        page.wait_for_load_state("load")
        assert page.url == live.url + "/manage/kpis" and page.locator(".flash.err").count() == 1
        assert page.locator("#form-error").inner_text() == "Target must be a number."
        respond = page.locator("#kpi-table tr[data-kpi=mean_respond_min]")
        respond.locator("input[name=target]").fill("60")
        respond.locator("button[type=submit]").first.click()
        page.wait_for_url("**/manage/kpis?kpi=mean_respond_min&month=*&done=mgmt_target_set")
        respond = page.locator("#kpi-table tr[data-kpi=mean_respond_min]")
        assert respond.locator(".target-text").inner_text() == "at most 1h 00m"
        assert respond.get_attribute("data-state") == "met" and respond.locator(".verdict").inner_text() == "✓ met"
        assert page.locator("#trend-chart").get_attribute("aria-label") == "Mean time to respond, last six months"
        assert page.locator("#trend-chart text", has_text="target 1h 00m").count() == 1
        ftf = page.locator("#kpi-table tr[data-kpi=first_time_fix_rate]")
        ftf.locator("input[name=target]").fill("80")
        ftf.locator("button[type=submit]").first.click()
        page.wait_for_url("**done=mgmt_target_set")
        ftf = page.locator("#kpi-table tr[data-kpi=first_time_fix_rate]")
        assert ftf.locator(".target-text").inner_text() == "at least 80%"
        assert ftf.locator(".target-source").inner_text() == "set by an admin"
        with api(live) as http:
            targets = {t["kpi"]: (t["target"], t["source"]) for t in http.get("/v1/kpis/targets/in-force").json()}
            plans_target = http.get("/v1/kpis/targets", params=window).json()["targets"]["first_time_fix_rate"]
        assert (targets["first_time_fix_rate"], targets["mean_respond_min"]) == ((0.8, "admin"), (60.0, "admin"))
        assert plans_target == {"min": 0.8, "within": None, "source": "admin"}  # the report uses the same rule
        # cleared: the plans' (or the policy file's) target applies again
        ftf.locator("button[name=clear]").click()
        page.wait_for_url("**done=mgmt_target_cleared")
        ftf = page.locator("#kpi-table tr[data-kpi=first_time_fix_rate]")
        assert ftf.locator(".target-source").get_attribute("data-source") in ("default", "policy")
        assert ftf.locator("button[name=clear]").count() == 0
        page.click("#kpi-table tr[data-kpi=mean_restore_min] a")
        page.wait_for_url("**kpi=mean_restore_min**")
        assert page.locator("#trend-chart").get_attribute("aria-label") == "Mean time to restore, last six months"

        # The template editor: a refused row first
        c.go("/manage/templates?q=" + template)
        page.click(f"#templates tr[data-template='{template}'] a")
        page.wait_for_url(f"**/manage/templates/{template}")
        assert page.locator("#current-version").inner_text() == "Current version: 1"
        editor = page.locator("#template-editor")
        editor.locator("input[name=key_2]").fill("pressure")  # a new row with no label
        editor.locator("#publish").click()
        page.wait_for_load_state("load")
        assert page.url == live.url + f"/manage/templates/{template}"
        assert page.locator(".flash.err").count() == 1
        assert page.locator("#form-error").inner_text().startswith("Row 3: the label is missing")
        # the edit: a label reworded, a number item added, a choice given another option
        editor = page.locator("#template-editor")
        editor.locator("input[name=label_0]").fill("No leaks at the seals")
        editor.locator("input[name=choices_1]").fill("low, medium, high")
        editor.locator("input[name=key_2]").fill("pressure")
        editor.locator("input[name=label_2]").fill("Pump pressure (bar)")
        editor.locator("select[name=type_2]").select_option("number")
        editor.locator("input[name=min_2]").fill("0")
        editor.locator("input[name=max_2]").fill("6")
        editor.locator("#publish").click()
        page.wait_for_url(f"**/manage/templates/{template}?done=mgmt_published")
        assert page.locator("#current-version").inner_text() == "Current version: 2"
        assert page.locator("#versions tr[data-version]").count() == 2

        with api(live) as http:
            v1 = http.get(f"/v1/templates/{template}", params={"version": 1}).json()
            v2 = http.get(f"/v1/templates/{template}").json()
            old = http.get(f"/v1/jobs/{old_job}").json()
        assert [i["label"] for i in v1["items"]] == ["No leaks", "Noise level"], "version 1 is as it was"
        assert v2["version"] == 2
        assert [(i["key"], i["label"], i["type"]) for i in v2["items"]] == [
            ("leak", "No leaks at the seals", "pass_fail"), ("noise", "Noise level", "choice"),
            ("pressure", "Pump pressure (bar)", "number")]
        assert v2["items"][1]["choices"] == ["low", "medium", "high"]
        assert (v2["items"][2]["min"], v2["items"][2]["max"]) == (0, 6)
        old_pinned = old["job"]["template_version"] if "job" in old else old["template_version"]
        assert old_pinned == 1, "a job already in the field keeps its version"
        _, new_version = _job(live, template)
        assert new_version == 2, "a job created after publishing gets the new version"

        # A new template from the list: version 1 from the editor
        fresh = f"vc-{uuid.uuid4().hex[:5]}"
        c.go("/manage/templates")
        page.locator("#new-template input[name=id]").fill(fresh)
        page.locator("#new-template button[type=submit]").click()
        page.wait_for_url(f"**/manage/templates/{fresh}")
        assert page.locator("#current-version").inner_text() == "Not published yet."
        editor = page.locator("#template-editor")
        editor.locator("input[name=template_name]").fill("Valve check")
        editor.locator("input[name=key_0]").fill("tight")
        editor.locator("input[name=label_0]").fill("Valve closes tight")
        editor.locator("#publish").click()
        page.wait_for_url(f"**/manage/templates/{fresh}?done=mgmt_published")
        with api(live) as http:
            made = http.get(f"/v1/templates/{fresh}").json()
        assert (made["version"], made["name"], [i["key"] for i in made["items"]]) == (1, "Valve check", ["tight"])

        # Staff tokens: issued once, revoked
        c.go("/manage/tokens")
        form = page.locator("#token-form")
        form.locator("input[name=token_name]").fill("night-shift")
        form.locator("select[name=role]").select_option("dispatcher")
        form.locator("input[name=days]").fill("7")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state("load")
        token = page.locator("#issued-token code").inner_text()
        assert token.startswith("fs_staff_")
        assert httpx.get(live.url + "/v1/engineers", headers={"authorization": f"Bearer {token}"}).status_code == 200
        c.go("/manage/tokens?q=night-shift")
        page.locator("#tokens tr", has_text="night-shift").locator("button.danger").first.click()
        page.wait_for_url("**/manage/tokens?done=mgmt_token_revoked")
        assert httpx.get(live.url + "/v1/engineers", headers={"authorization": f"Bearer {token}"}).status_code == 401

        # Console users: created, disabled
        name = f"temp-{uuid.uuid4().hex[:5]}"
        c.go("/manage/users")
        form = page.locator("#user-form")
        form.locator("input[name=user_name]").fill(name)
        form.locator("select[name=role]").select_option("backoffice")
        form.locator("input[name=password]").fill("short")
        form.locator("input[name=password]").evaluate("el => el.removeAttribute('minlength')")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state("load")
        assert page.url == live.url + "/manage/users" and page.locator(".flash.err").count() == 1
        form = page.locator("#user-form")
        assert form.locator("input[name=user_name]").input_value() == name
        form.locator("input[name=password]").fill("a long enough password")
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/manage/users?done=mgmt_user_created")
        row = page.locator(f"#users tr[data-user='{name}']")
        row.locator("button[value=disable]").click()
        page.wait_for_url("**/manage/users?done=mgmt_user_disabled")
        assert page.locator(f"#users tr[data-user='{name}'] .tag.bad").count() == 1

        # Engineers: created with their van, taken off dispatch
        eid = f"e-{uuid.uuid4().hex[:5]}"
        c.go("/manage/engineers")
        form = page.locator("#engineer-form")
        form.locator("input[name=engineer_id]").fill(eid)
        form.locator("input[name=name]").fill("Dana Dorn")
        form.locator("input[name=skills]").fill("boiler, heat-pump")
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/manage/engineers?done=mgmt_engineer_created")
        c.go(f"/manage/engineers?q={eid}")
        page.locator(f"#engineers tr[data-engineer='{eid}'] button[value=disable]").click()
        page.wait_for_url("**/manage/engineers?done=mgmt_engineer_disabled")
        with api(live) as http:
            made = {e["id"]: e for e in http.get("/v1/engineers").json()}[eid]
            assert http.get(f"/v1/vans/{eid}").status_code == 200
        assert (made["name"], made["skills"], made["active"]) == ("Dana Dorn", ["boiler", "heat-pump"], False)

        for path in MGMT_PAGES:
            c.go(path)
            clean_page(page, path)
            c.shot("mgmt-" + re.sub(r"[^a-z0-9]+", "-", path.strip("/")))
        assert c.errors == []
    finally:
        c.context.close()


def test_the_desks_roles_are_the_apis(browser: Any, live: Live) -> None:
    c = Console(browser, live, TABLET)
    try:
        page = c.page
        sign_in(page, live, new_user(live, "dispatcher"))
        assert c.go("/manage/kpis").status == 200  # any staff member reads KPIs, as GET /v1/kpis
        assert page.locator(".desk-tabs a[href='/manage/users']").count() == 0
        assert c.go("/manage/users").status == 403
        assert c.go("/manage/tokens").status == 403
        c.go("/manage/templates/boiler-service")
        assert page.locator("#publish").count() == 0, "publishing a template is the back office's"
        assert page.locator("nav.desks a[href='/parts/stock']").count() == 0
    finally:
        c.context.close()


def test_the_management_desk_in_chinese_leaves_no_english(browser: Any, live: Live) -> None:
    with api(live) as http:
        extra = [u for t in http.get("/v1/templates").json() for u in (t["name"], t["id"])]
    zh_pass(browser, live, "admin", MGMT_PAGES, extra + ["night-shift"])
