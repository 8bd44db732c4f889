"""Quarterly service-quality surveys (服务质量测评) and the training records behind certifications, through the API.

A survey is recorded once per customer and quarter and read back per customer and per period (a page at
a time, and as averages); a training is recorded per engineer, and a certification may name the passed
training that earned it.  Every bad input is a clear 4xx with nothing written.
"""

from __future__ import annotations

from typing import Any

Q = [{"question": "Response time", "score": 4}, {"question": "Engineer's skill", "score": 5}]


def survey(client: Any, staff: Any, customer: str, quarter: str, overall: int, scores: list[dict[str, Any]] = Q,
           key: str | None = None) -> Any:
    headers = {**staff["dispatcher"], **({"Idempotency-Key": key} if key else {})}
    return client.post("/v1/surveys", headers=headers, json={
        "customer": customer, "quarter": quarter, "scores": scores, "overall": overall,
        "respondent": "Facilities manager", "comment": "Good year"})


def test_surveys_are_recorded_once_per_customer_and_quarter_and_read_per_customer_and_period(
        app_client: Any, staff: Any, seeded: Any) -> None:
    first = survey(app_client, staff, "某某医院", "2026-Q3", 4, key="sv-1")
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["customer"], body["quarter"], body["quarter_start"], body["overall"]) == (
        "某某医院", "2026-Q3", "2026-07-01", 4)
    assert body["scores"] == Q and body["created_at"].endswith("Z") and body["id"].startswith("SV-")
    again = survey(app_client, staff, "某某医院", "2026-Q3", 4, key="sv-1")  # a retry: the first answer
    assert again.status_code == 201 and again.json()["id"] == body["id"]
    dup = survey(app_client, staff, "某某医院", "2026-Q3", 2)
    assert dup.status_code == 409 and dup.json()["code"] == "survey_exists"
    assert dup.json()["survey_id"] == body["id"]
    assert survey(app_client, staff, "某某医院", "2026-Q4", 2, [{"question": "Response time", "score": 2}]
                  ).status_code == 201
    assert survey(app_client, staff, "Acme", "2026-Q3", 5, [{"question": "Response time", "score": 5}]
                  ).status_code == 201

    for bad in ({"quarter": "2026-Q5"}, {"overall": 6}, {"scores": []}, {"customer": " "},
                {"scores": [{"question": "A", "score": 3}, {"question": "A", "score": 4}]}, {"colour": "red"},
                {"quarter": "0000-Q1"}, {"respondent": "R\x00"}, {"scores": [{"question": "A\x00", "score": 3}]}):
        body_ = {"customer": "Bad", "quarter": "2026-Q1", "scores": Q, "overall": 3, "respondent": "R", **bad}
        r = app_client.post("/v1/surveys", headers=staff["dispatcher"], json=body_)
        assert r.status_code == 400, (bad, r.text)
    for params in ({"from": "2026-13-01"}, {"to": "1234567890"}, {"limit": "many"}, {"customer": "A\x00"}):
        r = app_client.get("/v1/surveys", headers=staff["backoffice"], params=params)
        assert r.status_code == 400, (params, r.text)
    hdr = staff["backoffice"]
    everything = app_client.get("/v1/surveys", headers=hdr).json()
    assert [(s["customer"], s["quarter"]) for s in everything["items"]] == [
        ("Acme", "2026-Q3"), ("某某医院", "2026-Q3"), ("某某医院", "2026-Q4")]

    # a page at a time
    first_page = app_client.get("/v1/surveys", params={"limit": 2}, headers=hdr)
    page1 = first_page.json()
    assert len(page1["items"]) == 2 and page1["next_cursor"] == first_page.headers["next-cursor"]
    page2 = app_client.get("/v1/surveys", params={"limit": 2, "cursor": page1["next_cursor"]}, headers=hdr).json()
    assert [s["quarter"] for s in page2["items"]] == ["2026-Q4"] and page2["next_cursor"] is None
    assert app_client.get("/v1/surveys", params={"cursor": "!!"}, headers=hdr).json()["code"] == "bad_cursor"

    # per customer, per period
    q4 = app_client.get("/v1/surveys", params={"from": "2026-10-01", "to": "2027-01-01"}, headers=hdr).json()
    assert [(s["customer"], s["overall"]) for s in q4["items"]] == [("某某医院", 2)]
    hospital = app_client.get("/v1/surveys", params={"customer": "某某医院"}, headers=hdr).json()
    assert [s["quarter"] for s in hospital["items"]] == ["2026-Q3", "2026-Q4"]

    results = app_client.get("/v1/surveys/results", params={"from": "2026-07-01", "to": "2027-01-01"},
                             headers=hdr).json()
    assert results["from"] == "2026-07-01" and results["group_by"] == "customer"
    assert results["rows"] == [
        {"group": "Acme", "surveys": 1, "mean_overall": 5.0, "questions": {"Response time": 5.0}},
        {"group": "某某医院", "surveys": 2, "mean_overall": 3.0,
         "questions": {"Engineer's skill": 5.0, "Response time": 3.0}}]
    by_quarter = app_client.get("/v1/surveys/results", params={"group_by": "quarter"}, headers=hdr).json()["rows"]
    assert [(r["group"], r["surveys"], r["mean_overall"]) for r in by_quarter] == [("2026-Q3", 2, 4.5),
                                                                                   ("2026-Q4", 1, 2.0)]
    for params in ({"group_by": "site"}, {"from": "yesterday"}, {"from": "2026-10-01", "to": "2026-07-01"}):
        r = app_client.get("/v1/surveys/results", params=params, headers=hdr)
        assert r.status_code == 400 and r.json()["code"] == "invalid_parameter", params


def test_training_records_stand_behind_certifications(app_client: Any, staff: Any, seeded: Any) -> None:
    hdr = staff["backoffice"]
    url = "/v1/engineers/e-ana/trainings"
    passed = app_client.post(url, headers=hdr, json={"course": "Chiller refrigerant handling", "date": "2026-08-14",
                                                     "trainer": "Wang Lei", "result": "pass", "score": 92})
    assert passed.status_code == 201, passed.text
    failed = app_client.post(url, headers=hdr, json={"course": "High-voltage switchgear", "date": "2026-09-02",
                                                     "trainer": "Li Na", "result": "fail", "score": 48,
                                                     "notes": "retake in Q4"})
    assert failed.status_code == 201, failed.text
    for bad in ({"result": "maybe"}, {"date": "2026-02-30"}, {"score": 101}, {"trainer": " "}, {"course": "C\x00"},
                {"date": "0000-01-01"}):
        body = {"course": "C", "date": "2026-08-14", "trainer": "T", "result": "pass", **bad}
        r = app_client.post(url, headers=hdr, json=body)
        assert r.status_code == 400, (bad, r.text)
    assert app_client.post("/v1/engineers/e-nobody/trainings", headers=hdr, json={
        "course": "C", "date": "2026-08-14", "trainer": "T", "result": "pass"}).status_code == 404
    assert app_client.post(url, headers=staff["dispatcher"], json={
        "course": "C", "date": "2026-08-14", "trainer": "T", "result": "pass"}).status_code == 403

    certs = "/v1/engineers/e-ana/certifications"
    r = app_client.post(certs, headers=hdr, json={"equipment_type": "switchgear", "name": "HV",
                                                  "training_id": failed.json()["id"]})
    assert r.status_code == 409 and r.json()["code"] == "training_not_passed"
    other = app_client.post("/v1/engineers/e-ben/trainings", headers=hdr, json={
        "course": "Chiller refrigerant handling", "date": "2026-08-14", "trainer": "Wang Lei", "result": "pass"})
    r = app_client.post(certs, headers=hdr, json={"equipment_type": "chiller", "name": "Chiller Level 2",
                                                  "training_id": other.json()["id"]})
    assert r.status_code == 404 and r.json()["code"] == "unknown_training"
    r = app_client.post(certs, headers=hdr, json={"equipment_type": "chiller", "name": "Chiller Level 2",
                                                  "training_id": passed.json()["id"]})
    assert r.status_code == 201, r.text
    cert = r.json()
    assert cert["training_id"] == passed.json()["id"] and cert["valid"] is True

    listed = app_client.get(url, headers=staff["dispatcher"]).json()
    assert [(t["course"], t["date"], t["trainer"], t["result"], t["score"], t["certification_ids"])
            for t in listed] == [
        ("Chiller refrigerant handling", "2026-08-14", "Wang Lei", "pass", 92, [cert["id"]]),
        ("High-voltage switchgear", "2026-09-02", "Li Na", "fail", 48, [])]
    assert listed[1]["notes"] == "retake in Q4" and listed[0]["created_at"].endswith("Z")
    held = app_client.get(certs, headers=staff["dispatcher"]).json()
    assert [c["training_id"] for c in held if c["id"] == cert["id"]] == [passed.json()["id"]]
