"""The dispatcher chooses the locale of a ticket's service report: on creation or later, and nothing else."""

from __future__ import annotations

from typing import Any


def test_report_locale_is_set_on_create_changed_later_and_refused_when_unknown(app_client: Any, seeded: Any,
                                                                              staff: Any) -> None:
    body = {"customer": "某某医院", "site": "住院部", "priority": "P3", "title": "风机异响"}
    r = app_client.post("/v1/tickets", json={**body, "report_locale": "zh_CN"}, headers=staff["dispatcher"])
    assert r.status_code == 201 and r.json()["report_locale"] == "zh_CN"
    ticket = r.json()["id"]
    r = app_client.post("/v1/tickets", json=body, headers=staff["dispatcher"])
    assert r.status_code == 201 and r.json()["report_locale"] is None  # the server's default then

    r = app_client.post(f"/v1/tickets/{ticket}/report-locale", json={"report_locale": "en"},
                        headers=staff["dispatcher"])
    assert r.status_code == 200 and r.json()["report_locale"] == "en"
    assert app_client.get(f"/v1/tickets/{ticket}", headers=staff["backoffice"]).json()["report_locale"] == "en"

    for bad in ({"report_locale": "fr"}, {"report_locale": "en", "extra": 1}, {}):
        r = app_client.post(f"/v1/tickets/{ticket}/report-locale", json=bad, headers=staff["dispatcher"])
        assert r.status_code == 400, bad
    r = app_client.post("/v1/tickets", json={**body, "report_locale": "de"}, headers=staff["dispatcher"])
    assert r.status_code == 400
    r = app_client.post(f"/v1/tickets/{ticket}/report-locale", json={"report_locale": "zh_CN"},
                        headers=staff["backoffice"])
    assert r.status_code == 403
    r = app_client.post("/v1/tickets/T-nope/report-locale", json={"report_locale": None},
                        headers=staff["dispatcher"])
    assert r.status_code == 404 and r.json()["code"] == "unknown_ticket"
    assert app_client.get(f"/v1/tickets/{ticket}", headers=staff["backoffice"]).json()["report_locale"] == "en"
