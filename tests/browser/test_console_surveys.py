"""Service desk satisfaction surveys (服务质量测评) and the Management desk's training records, in Chromium.

The clerk (back office) records two quarters' surveys of a customer on the surveys page (POST-redirect-GET)
and sees them listed with the customer's average overall score, the same as ``GET /v1/surveys/results``; a
second survey of the same quarter is refused with the message on the page.  A training recorded through the
API shows on the certifications page, and one recorded with the page's form is in the API.
"""

from __future__ import annotations

import uuid

import pytest

from tests.browser.conftest import Console, Live
from tests.browser.test_console_parts import api

pytestmark = pytest.mark.browser


def _record(c: Console, customer: str, quarter: str, score: str, overall: str) -> None:
    form = c.page.locator("#survey-form")
    form.locator("input[name=customer]").fill(customer)
    form.locator("input[name=quarter]").fill(quarter)
    form.locator("input[name=question_1]").fill("响应速度")
    form.locator("select[name=score_1]").select_option(score)
    form.locator("select[name=overall]").select_option(overall)
    form.locator("input[name=respondent]").fill("Mrs Baker")
    form.locator("button[type=submit]").click()


def test_the_clerk_records_surveys_and_sees_the_customers_average(console: Console, live: Live) -> None:
    c = console
    customer = f"Survey Bakery {uuid.uuid4().hex[:4]}"
    c.sign_in_token("backoffice")
    c.page.click("nav a[href='/surveys']")
    c.page.wait_for_url("**/surveys")
    _record(c, customer, "2026-Q1", "4", "4")
    c.page.wait_for_url("**/surveys?**done=survey_recorded**")
    assert "Survey recorded." in c.page.locator("#main .flash.ok").inner_text()
    _record(c, customer, "2026-Q2", "5", "5")
    c.page.wait_for_url("**/surveys?**done=survey_recorded**")
    cards = c.page.locator(f"article.survey[data-customer='{customer}']")
    assert cards.count() == 2
    assert "Mrs Baker" in cards.first.inner_text()
    row = c.page.locator(f"#survey-results tr[data-customer='{customer}']")
    assert row.locator(".mean").inner_text() == "4.5"
    c.assert_fits()
    text = c.page.locator("#main").inner_text()
    assert not any(w in text for w in ("None", "True", "False"))
    with api(live) as http:
        res = http.get("/v1/surveys/results", params={"customer": customer}).json()["rows"]
        assert [(r["group"], r["surveys"], r["mean_overall"]) for r in res] == [(customer, 2, 4.5)]

    # the quarter filter, and a second survey of a quarter refused on the page
    c.go(f"/surveys?quarter=2026-Q2&customer={customer.replace(' ', '+')}")
    assert c.page.locator("article.survey").count() == 1
    assert c.page.locator(f"#survey-results tr[data-customer='{customer}'] .mean").inner_text() == "5"
    _record(c, customer, "2026-Q2", "1", "1")
    c.page.wait_for_url("**/surveys")
    assert c.page.locator("#main .flash.err").count() == 1
    assert c.page.locator("#survey-form input[name=customer]").input_value() == customer


def test_the_certifications_page_shows_and_records_training(console: Console, live: Live) -> None:
    c = console
    course = f"Boiler safety {uuid.uuid4().hex[:4]}"
    with api(live, "backoffice") as http:
        r = http.post("/v1/engineers/e-ben/trainings", json={"course": course, "date": "2026-03-02",
                                                             "trainer": "Mr Li", "result": "pass", "score": 92})
        assert r.status_code == 201, r.text
    c.sign_in_token("backoffice")
    c.go("/manage/certifications?q=e-ben")
    row = c.page.locator("#certs tr[data-engineer='e-ben']")
    training = row.locator(".training", has_text=course)
    assert training.count() == 1
    assert "2026-03-02" in training.inner_text() and "Mr Li" in training.inner_text()
    assert "92" in training.inner_text() and "passed" in training.inner_text()

    second = f"Gas handling {uuid.uuid4().hex[:4]}"
    form = c.page.locator("#training-form")
    form.locator("select[name=engineer_id]").select_option("e-ben")
    form.locator("input[name=course]").fill(second)
    form.locator("input[name=training_date]").fill("2026-04-10")
    form.locator("input[name=trainer]").fill("Ms Wu")
    form.locator("select[name=result]").select_option("fail")
    form.locator("button[type=submit]").click()
    c.page.wait_for_url("**/manage/certifications?done=mgmt_trained")
    with api(live) as http:
        got = [t for t in http.get("/v1/engineers/e-ben/trainings").json() if t["course"] == second]
        assert [(t["result"], t["score"], t["trainer"]) for t in got] == [("fail", None, "Ms Wu")]
