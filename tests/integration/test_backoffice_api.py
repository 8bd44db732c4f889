"""The back-office API: shapes of DESIGN §5, roles, and bad input that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from server.services import Services


def count(services: Services, table: str) -> int:
    with services.db.read() as tx:
        row = tx.one(f"SELECT COUNT(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


def test_dispatcher_creates_ticket_and_job_and_reads_it_back(app_client: Any, seeded: Any, staff: Any) -> None:
    r = app_client.post("/v1/tickets", headers=staff["dispatcher"],
                        json={"customer": "Acme", "site": "Plant 1", "priority": "P1", "category": "fault",
                              "title": "Boiler down"})
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["priority"] == "P1" and ticket["timeline"][0]["kind"] == "opened"
    r = app_client.post(f"/v1/tickets/{ticket['id']}/jobs", headers=staff["dispatcher"],
                        json={"engineer_id": "e-ben", "checklist_template": "boiler-service"})
    assert r.status_code == 201, r.text
    job = r.json()["jobs"][0]
    assert job["engineer_id"] == "e-ben" and job["template_version"] == 1 and job["status"] == "assigned"
    r = app_client.get(f"/v1/tickets/{ticket['id']}", headers=staff["backoffice"])
    assert r.status_code == 200 and r.json()["jobs"][0]["id"] == job["id"]
    r = app_client.post(f"/v1/jobs/{job['id']}/assign", headers=staff["dispatcher"], json={"engineer_id": "e-chen"})
    assert r.status_code == 200 and r.json()["jobs"][0]["engineer_id"] == "e-chen"
    assert any(e["kind"] == "job_reassigned" for e in r.json()["timeline"])


def test_template_publish_makes_a_new_version_and_jobs_keep_their_pinned_one(app_client: Any, seeded: Any,
                                                                           staff: Any) -> None:
    tickets = app_client.get("/v1/tickets", headers=staff["backoffice"]).json()
    pinned = tickets[0]["jobs"][0]["template_version"]
    r = app_client.post("/v1/templates", headers=staff["backoffice"], json={
        "id": "boiler-service", "name": "Boiler service v2",
        "items": [{"key": "gas_tight", "label": "Gas tight", "type": "pass_fail"}]})
    assert r.status_code == 201 and r.json()["version"] == pinned + 1
    again = app_client.get(f"/v1/tickets/{tickets[0]['id']}", headers=staff["backoffice"]).json()
    assert again["jobs"][0]["template_version"] == pinned


def test_parts_catalog_locations_and_van_stock_from_the_ledger(app_client: Any, seeded: Any, staff: Any) -> None:
    stock = app_client.get("/v1/stock?location=van-e-ana", headers=staff["backoffice"]).json()
    assert {s["part_no"]: s["qty"] for s in stock}["P-VALVE"] == 5
    r = app_client.post("/v1/movements", headers=staff["backoffice"], json={
        "kind": "transfer", "part_no": "P-VALVE", "qty": 2, "from_location": "van-e-ana", "to_location": "van-e-ben"})
    assert r.status_code == 201, r.text
    stock = app_client.get("/v1/stock", headers=staff["admin"]).json()
    levels = {(s["location"], s["part_no"]): s["qty"] for s in stock}
    assert levels[("van-e-ana", "P-VALVE")] == 3 and levels[("van-e-ben", "P-VALVE")] == 7
    engineers = app_client.get("/v1/engineers", headers=staff["dispatcher"]).json()
    assert {e["id"] for e in engineers} == {"e-ana", "e-ben", "e-chen"}
    assert all(e["van_location"] == f"van-{e['id']}" for e in engineers)


BAD_REQUESTS = [
    ("post", "/v1/tickets", {"customer": "A", "site": "B", "priority": "P9"}, 400, "invalid_body"),
    ("post", "/v1/tickets", {"customer": "", "site": "B", "priority": "P1"}, 400, "invalid_body"),
    ("post", "/v1/tickets", {"customer": "A", "site": "B", "priority": "P1", "surprise": 1}, 400, "invalid_body"),
    ("post", "/v1/tickets", {"customer": "A" * 5000, "site": "B", "priority": "P1"}, 400, "invalid_body"),
    ("post", "/v1/tickets/T-nope/jobs", {"engineer_id": "e-ana"}, 404, "unknown_ticket"),
    ("post", "/v1/movements", {"kind": "issue", "part_no": "P-VALVE", "qty": 1}, 400, "locations_required"),
    ("post", "/v1/movements", {"kind": "issue", "part_no": "NOPE", "qty": 1, "from_location": "wh-main",
                               "to_location": "van-e-ana"}, 404, "unknown_part"),
    ("post", "/v1/templates", {"id": "x", "name": "X", "items": []}, 400, "invalid_body"),
    ("post", "/v1/templates", {"id": "x", "name": "X", "items": [{"key": "a", "label": "A"},
                                                                  {"key": "a", "label": "B"}]}, 400,
     "duplicate_item_key"),
    ("post", "/v1/engineers", {"id": "bad id with spaces", "name": "X"}, 400, "invalid_body"),
    ("post", "/v1/conflicts/C-nope/resolve", {"choice": 0}, 404, "unknown_conflict"),
    ("get", "/v1/tickets/T-nope", None, 404, "unknown_ticket"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), BAD_REQUESTS)
def test_bad_input_gets_a_problem_document_and_changes_nothing(app_client: Any, seeded: Any, staff: Any,
                                                               services: Services, method: str, path: str,
                                                               body: Any, status: int, code: str) -> None:
    tables = ("tickets", "jobs", "movements", "templates", "engineers", "changes")
    before = {t: count(services, t) for t in tables}
    r = getattr(app_client, method)(path, headers=staff["admin"], **({"json": body} if body is not None else {}))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code and r.json()["status"] == status and r.json()["detail"]
    assert {t: count(services, t) for t in tables} == before


def test_malformed_json_is_a_400_problem(app_client: Any, staff: Any) -> None:
    r = app_client.post("/v1/tickets", headers={**staff["admin"], "content-type": "application/json"},
                        content=b'{"customer": ')
    assert r.status_code == 400 and r.json()["code"] == "invalid_body"


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer nope"}, {"authorization": "Basic abc"},
                                     {"authorization": "Bearer "}])
def test_unauthorized_requests_are_refused_and_change_nothing(app_client: Any, services: Services,
                                                              headers: dict[str, str]) -> None:
    before = count(services, "tickets")
    r = app_client.post("/v1/tickets", headers=headers, json={"customer": "A", "site": "B", "priority": "P1"})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert app_client.get("/v1/tickets", headers=headers).status_code == 401
    assert count(services, "tickets") == before


ROLE_MATRIX = [
    # (method, path, body, roles allowed)
    ("post", "/v1/tickets", {"customer": "A", "site": "B", "priority": "P2"}, {"dispatcher", "admin"}),
    ("post", "/v1/parts", {"part_no": "P-NEW", "name": "New"}, {"backoffice", "admin"}),
    ("post", "/v1/templates", {"id": "t2", "name": "T", "items": [{"key": "a", "label": "A"}]},
     {"backoffice", "admin"}),
    ("post", "/v1/engineers/e-ana/enroll-token", None, {"dispatcher", "admin"}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ROLE_MATRIX)
@pytest.mark.parametrize("role", ["dispatcher", "backoffice", "admin"])
def test_staff_roles_are_limited_to_their_actions(app_client: Any, seeded: Any, staff: Any, method: str,
                                                  path: str, body: Any, allowed: set[str], role: str) -> None:
    r = getattr(app_client, method)(path, headers=staff[role], **({"json": body} if body is not None else {}))
    if role in allowed:
        assert r.status_code in (200, 201), r.text
    else:
        assert r.status_code == 403 and r.json()["code"] == "role_forbidden"


def test_health_and_openapi(app_client: Any) -> None:
    assert app_client.get("/health").json()["status"] == "ok"
    schema = app_client.get("/schema/openapi.json").json()
    assert "/v1/tickets" in schema["paths"] and "/v1/sync/push" in schema["paths"]
