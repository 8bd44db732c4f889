"""The OpenAPI document integrators generate clients from: complete, honest about errors, auth and bodies.

One document, served at ``/schema/openapi.json``; these tests pin what a generator relies on (the generated
client itself is exercised in ``tests/integration/test_generated_client.py``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from server.app import create_app
from server.openapi import MSGPACK_ROUTES, OPERATION_IDS, STATIC
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database

METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'doc.db'}"
    services = Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False))
    with TestClient(create_app(services=services, scheduler=False)) as client:
        r = client.get("/schema/openapi.json")
        assert r.status_code == 200
        yield r.json()
    services.db.close()


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def test_every_operation_has_its_readable_unique_id(doc: dict[str, Any]) -> None:
    ids = {key: op["operationId"] for key, op in operations(doc)}
    assert set(ids) == set(OPERATION_IDS) - {"GET /metrics"}, "a new route needs a name in server/openapi.py"
    assert len(set(ids.values())) == len(ids)
    assert all(re.fullmatch(r"[a-z][A-Za-z]+", i) for i in ids.values()), ids
    assert ids["POST /v1/tickets"] == "createTicket" and ids["POST /v1/jobs/{job_id}/assign"] == "assignJob"


def test_every_operation_names_its_security_scheme(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["staffToken"] == {"type": "http", "scheme": "bearer", "description": schemes["staffToken"][
        "description"]}
    assert schemes["deviceSession"]["type"] == "apiKey" and schemes["deviceSession"]["name"] == "Authorization"
    by_key = dict(operations(doc))
    assert by_key["GET /v1/tickets"]["security"] == [{"staffToken": []}]
    assert by_key["POST /v1/sync/push"]["security"] == [{"deviceSession": []}]
    assert by_key["PUT /v1/blobs/{sha256}"]["security"] == [{"deviceSession": []}]
    assert by_key["POST /v1/devices/session"]["security"] == []  # how a device gets its session
    assert by_key["GET /health"]["security"] == []
    for key, op in by_key.items():
        assert "security" in op, key
        if op["security"]:
            assert {"401", "403"} <= set(op["responses"]), key


def test_errors_are_the_problem_documents_the_server_sends(doc: dict[str, Any]) -> None:
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    for key, op in operations(doc):
        errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
        assert "400" in errors, key
        for status, response in errors.items():
            assert response["content"] == {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}, (key, status)
    by_key = dict(operations(doc))
    assert {"404", "409", "413", "422"} <= set(by_key["POST /v1/tickets/{ticket_id}/jobs"]["responses"])
    assert {"412", "428"} <= set(by_key["PATCH /v1/tickets/{ticket_id}"]["responses"])
    assert "429" in by_key["POST /v1/devices/challenge"]["responses"]


def test_msgpack_and_binary_bodies_are_bytes(doc: dict[str, Any]) -> None:
    binary = {"type": "string", "format": "binary"}
    by_key = dict(operations(doc))
    for key in MSGPACK_ROUTES:
        op = by_key[key]
        assert op["requestBody"]["content"] == {"application/msgpack": {"schema": binary}}, key
        assert op["responses"]["200"]["content"] == {"application/msgpack": {"schema": binary}}, key
    assert by_key["PUT /v1/blobs/{sha256}"]["requestBody"]["content"] == {
        "application/octet-stream": {"schema": binary}}
    assert by_key["GET /v1/jobs/{job_id}/report.pdf"]["responses"]["200"]["content"] == {
        "application/pdf": {"schema": binary}}


def test_every_success_has_a_schema(doc: dict[str, Any]) -> None:
    for key, op in operations(doc):
        for status, response in op["responses"].items():
            if status.startswith("2"):
                assert response.get("content"), (key, status)
                for media, content in response["content"].items():
                    assert content.get("schema") not in (None, {}), (key, status, media)
                    assert content["schema"] != {"type": "string"} or media == "text/csv", (key, status, media)


def test_instants_are_rfc3339_strings_and_ranges_take_from_and_to(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    date_time = {"type": "string", "format": "date-time"}

    def instant(prop: dict[str, Any]) -> bool:
        arms = prop.get("oneOf", [prop])
        return any({k: a.get(k) for k in ("type", "format")} == date_time for a in arms)

    assert instant(schemas["Ticket"]["properties"]["opened_at"])
    assert instant(schemas["TicketIn"]["properties"]["opened_at"])
    assert instant(schemas["JobIn"]["properties"]["scheduled_start"])
    assert instant(schemas["SlaTarget"]["properties"]["due_at"])
    timed = re.compile(r"(_at|_until|^at|_time|^scheduled_(start|end))$")
    for name, schema in schemas.items():
        for prop, spec in (schema.get("properties") or {}).items():
            if timed.search(prop) and prop not in ("due_utc", "opened_utc"):
                assert instant(spec), (name, prop, spec)
    by_key = dict(operations(doc))
    for key in ("GET /v1/kpis", "GET /v1/reconciliation", "GET /v1/sla/compliance"):
        names = {p["name"] for p in by_key[key]["parameters"] if p["in"] == "query"}
        assert {"from", "to"} <= names and not {"start", "end"} & names, key


def test_the_vendored_redoc_bundle_is_the_one_recorded() -> None:
    vendored = json.loads((STATIC / "VENDORED.json").read_text())["redoc"]
    for name, digest in vendored["files"].items():
        assert "sha256:" + hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
    assert (STATIC / "REDOC_LICENSE").read_text().startswith("The MIT License")
    assert Path(STATIC / "redoc.standalone.js.LICENSE.txt").exists()
