"""Idempotency-Key on the creating POSTs: a retry is answered with the first answer and books nothing twice."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.idempotency import service as idempotency
from server.domain.idempotency import store as idempotency_store
from server.domain.tickets import service as tickets
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.livesrv import LiveServer
from tools.demo_data import seed_demo

TICKET = {"customer": "Acme", "site": "Plant 1", "priority": "P2", "category": "fault", "title": "Boiler down"}
MOVE = {"kind": "transfer", "part_no": "P-VALVE", "qty": 2, "from_location": "van-e-ana", "to_location": "van-e-ben"}


def count(services: Services, table: str) -> int:
    with services.db.read() as tx:
        row = tx.one(f"SELECT COUNT(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


def stock(client: Any, headers: dict[str, str]) -> dict[tuple[str, str], int]:
    r = client.get("/v1/stock", headers=headers)
    assert r.status_code == 200, r.text
    return {(s["location"], s["part_no"]): s["qty"] for s in r.json()}


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def test_a_retried_movement_books_the_stock_once(app_client: Any, seeded: Any, staff: Any,
                                                 services: Services) -> None:
    before = stock(app_client, staff["backoffice"])
    first = app_client.post("/v1/movements", headers=keyed(staff["backoffice"], "mv-1"), json=MOVE)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    moves = count(services, "movements")
    again = app_client.post("/v1/movements", headers=keyed(staff["backoffice"], "mv-1"), json=MOVE)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert count(services, "movements") == moves
    after = stock(app_client, staff["backoffice"])
    assert after[("van-e-ana", "P-VALVE")] == before[("van-e-ana", "P-VALVE")] - 2
    assert after[("van-e-ben", "P-VALVE")] == before[("van-e-ben", "P-VALVE")] + 2


def test_a_retried_ticket_and_job_are_created_once(app_client: Any, seeded: Any, staff: Any,
                                                   services: Services) -> None:
    tickets_before = count(services, "tickets")
    first = app_client.post("/v1/tickets", headers=keyed(staff["dispatcher"], "t-1"), json=TICKET)
    # the same body written otherwise (key order, spacing) is the same request
    again = app_client.post("/v1/tickets", headers={**keyed(staff["dispatcher"], "t-1"),
                                                     "content-type": "application/json"},
                            content=msgspec.json.encode(dict(reversed(TICKET.items()))))
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert count(services, "tickets") == tickets_before + 1
    path = f"/v1/tickets/{first.json()['id']}/jobs"
    jobs = [app_client.post(path, headers=keyed(staff["dispatcher"], "j-1"), json={"engineer_id": "e-ben"})
            for _ in range(3)]
    assert [r.status_code for r in jobs] == [201, 201, 201]
    assert len(app_client.get(f"/v1/tickets/{first.json()['id']}", headers=staff["dispatcher"]).json()["jobs"]) == 1


def test_the_same_key_with_another_body_is_422_and_changes_nothing(app_client: Any, seeded: Any, staff: Any,
                                                                   services: Services) -> None:
    assert app_client.post("/v1/movements", headers=keyed(staff["backoffice"], "k"), json=MOVE).status_code == 201
    moves, before = count(services, "movements"), stock(app_client, staff["backoffice"])
    locations = count(services, "locations")
    r = app_client.post("/v1/movements", headers=keyed(staff["backoffice"], "k"), json={**MOVE, "qty": 3})
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    assert r.headers["content-type"].startswith("application/problem+json")
    # the key is the caller's: on another path it is another request too
    r = app_client.post("/v1/locations", headers=keyed(staff["backoffice"], "k"),
                        json={"id": "wh-2", "kind": "warehouse", "name": "Second"})
    assert r.status_code == 422
    assert count(services, "movements") == moves and stock(app_client, staff["backoffice"]) == before
    assert count(services, "locations") == locations


def test_without_a_key_every_post_is_a_new_record(app_client: Any, seeded: Any, staff: Any,
                                                  services: Services) -> None:
    before = count(services, "tickets")
    ids = {app_client.post("/v1/tickets", headers=staff["dispatcher"], json=TICKET).json()["id"] for _ in range(2)}
    assert len(ids) == 2 and count(services, "tickets") == before + 2


def test_keys_belong_to_their_caller_and_last_24_hours(app_client: Any, seeded: Any, staff: Any,
                                                       services: Services, clock: Any) -> None:
    before = count(services, "tickets")
    a = app_client.post("/v1/tickets", headers=keyed(staff["dispatcher"], "same"), json=TICKET)
    b = app_client.post("/v1/tickets", headers=keyed(staff["admin"], "same"), json=TICKET)
    assert a.json()["id"] != b.json()["id"] and "idempotent-replayed" not in b.headers
    clock.advance(24 * 3600 * 1000 + 1)
    c = app_client.post("/v1/tickets", headers=keyed(staff["dispatcher"], "same"), json=TICKET)
    assert c.status_code == 201 and c.json()["id"] != a.json()["id"] and "idempotent-replayed" not in c.headers
    assert count(services, "tickets") == before + 3


def test_a_failed_request_records_nothing_and_its_corrected_retry_runs(app_client: Any, seeded: Any, staff: Any,
                                                                       services: Services) -> None:
    moves = count(services, "movements")
    bad = app_client.post("/v1/movements", headers=keyed(staff["backoffice"], "fix"), json={**MOVE, "part_no": "NOPE"})
    assert bad.status_code == 404 and bad.json()["code"] == "unknown_part"
    good = app_client.post("/v1/movements", headers=keyed(staff["backoffice"], "fix"), json=MOVE)
    assert good.status_code == 201 and "idempotent-replayed" not in good.headers
    assert count(services, "movements") == moves + 1
    for key in (b"", b"x" * 256, "naïve".encode()):
        r = app_client.post("/v1/movements", headers={**staff["backoffice"], "Idempotency-Key": key}, json=MOVE)
        assert r.status_code == 400 and r.json()["code"] == "bad_idempotency_key"
    assert count(services, "movements") == moves + 1


def test_the_write_and_its_remembered_answer_commit_together(app_client: Any, seeded: Any, staff: Any,
                                                             services: Services,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The server failing after the write but before the answer is stored leaves neither (the retry does it)."""
    before = count(services, "tickets")

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(idempotency_store, "remember", broken)
    r = app_client.post("/v1/tickets", headers=keyed(staff["dispatcher"], "crash"), json=TICKET)
    assert r.status_code == 500
    assert count(services, "tickets") == before and count(services, "ticket_events") >= 0
    monkeypatch.undo()
    r = app_client.post("/v1/tickets", headers=keyed(staff["dispatcher"], "crash"), json=TICKET)
    assert r.status_code == 201 and count(services, "tickets") == before + 1


def test_a_duplicate_while_the_first_is_running_is_409(app_client: Any, seeded: Any, staff: Any,
                                                       services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    create = tickets.create_ticket

    def slow(*args: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(30)
        return create(*args, **kwargs)

    monkeypatch.setattr(tickets, "create_ticket", slow)
    before = count(services, "tickets")
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(
        app_client.post("/v1/tickets", headers=keyed(staff["dispatcher"], "busy"), json=TICKET)))
    first.start()
    try:
        assert started.wait(30)
        r = app_client.post("/v1/tickets", headers=keyed(staff["dispatcher"], "busy"), json=TICKET)
        assert r.status_code == 409 and r.json()["code"] == "idempotency_in_flight"
    finally:
        release.set()
        first.join(30)
    assert answers[0].status_code == 201
    assert count(services, "tickets") == before + 1


def test_another_process_holding_the_key_makes_it_409_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """Two server processes on one PostgreSQL: the key is held in the database, not only in a process."""
    services = Services(db=open_database(pg_url), settings=get_settings(db_url=pg_url, run_scheduler=False))
    seed_demo(services)
    token = issue_staff_token(services, "dispatcher", "erp")
    server = LiveServer(pg_url, tmp_path).start()
    try:
        with services.db.write() as tx:  # another process's request with this key, still running
            assert idempotency_store.try_hold(tx, idempotency._lock_key("dispatcher:erp", "held"))
            r = httpx.post(server.url + "/v1/tickets", json=TICKET, timeout=30,
                           headers={"authorization": f"Bearer {token}", "Idempotency-Key": "held"})
            assert r.status_code == 409 and r.json()["code"] == "idempotency_in_flight"
        r = httpx.post(server.url + "/v1/tickets", json=TICKET, timeout=30,
                       headers={"authorization": f"Bearer {token}", "Idempotency-Key": "held"})
        assert r.status_code == 201
    finally:
        server.stop()
        services.db.close()


def test_a_retry_after_the_server_was_killed_is_answered_from_the_database(db_url: str, tmp_path: Path) -> None:
    """The live server: the first POST answered, the server killed -9 and started again, the retry replayed."""
    services = Services(db=open_database(db_url), settings=get_settings(db_url=db_url, run_scheduler=False))
    seed_demo(services)
    headers = {"authorization": f"Bearer {issue_staff_token(services, 'backoffice', 'erp')}",
               "Idempotency-Key": "0b7c2d4e-retry"}
    services.db.close()
    server = LiveServer(db_url, tmp_path).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            before = stock(http, headers)
            first = http.post("/v1/movements", json=MOVE, headers=headers)
            assert first.status_code == 201, first.text
            server.kill()
            server.start()
            again = http.post("/v1/movements", json=MOVE, headers=headers)
            assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
            assert again.json() == first.json()
            after = stock(http, headers)
            assert after[("van-e-ana", "P-VALVE")] == before[("van-e-ana", "P-VALVE")] - 2
            assert len(http.get("/v1/movements", params={"part_no": "P-VALVE"}, headers=headers).json()) == \
                len([m for m in http.get("/v1/movements", headers=headers).json() if m["part_no"] == "P-VALVE"])
    finally:
        server.stop()


payloads = st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8) | st.booleans(), max_size=6)


@given(payloads, st.randoms())
def test_a_fingerprint_ignores_key_order_and_tells_paths_and_bodies_apart(payload: dict[str, Any], rnd: Any) -> None:
    items = list(payload.items())
    rnd.shuffle(items)
    assert idempotency.fingerprint("POST", "/v1/parts", payload) == idempotency.fingerprint("post", "/v1/parts",
                                                                                            dict(items))
    assert idempotency.fingerprint("POST", "/v1/parts", payload) != idempotency.fingerprint("POST", "/v1/tickets",
                                                                                            payload)
    assert idempotency.fingerprint("POST", "/v1/parts", payload) != idempotency.fingerprint(
        "POST", "/v1/parts", {**payload, "\x00extra": 1})


CREATING = [
    ("/v1/parts", "backoffice", {"part_no": "P-NEW", "name": "New part", "serialized": False,
                                 "unit_price_cents": 100}, "parts"),
    ("/v1/locations", "backoffice", {"id": "wh-x", "kind": "warehouse", "name": "X"}, "locations"),
    ("/v1/engineers", "backoffice", {"id": "e-new", "name": "New"}, "engineers"),
    ("/v1/templates", "backoffice", {"id": "t-new", "name": "T", "items": [
        {"key": "a", "label": "A", "type": "pass_fail"}]}, "templates"),
    ("/v1/assets", "backoffice", {"serial": "SN-NEW", "model": "M", "customer": "Acme", "site": "Roof"}, "assets"),
    ("/v1/kb", "backoffice", {"symptom": "no flame", "fix": "new igniter"}, "kb_cases"),
    ("/v1/plans", "dispatcher", {"name": "Yearly", "engineer_id": "e-ana", "customer": "Acme", "site": "Roof",
                                 "dates": ["2027-01-05"]}, "plans"),
    ("/v1/engineers/e-ana/certifications", "backoffice", {"equipment_type": "chiller", "name": "F-gas"},
     "certifications"),
]


@pytest.mark.parametrize(("path", "role", "body", "table"), CREATING, ids=[c[0] for c in CREATING])
def test_every_creating_post_takes_a_key(app_client: Any, seeded: Any, staff: Any, services: Services,
                                         path: str, role: str, body: dict[str, Any], table: str) -> None:
    before = count(services, table)
    first = app_client.post(path, headers=keyed(staff[role], "create-1"), json=body)
    assert first.status_code == 201, first.text
    again = app_client.post(path, headers=keyed(staff[role], "create-1"), json=body)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert count(services, table) == before + 1
    spec = app_client.get("/schema/openapi.json").json()["paths"][path.replace("e-ana", "{engineer_id}")]["post"]
    assert "Idempotency-Key" in {p["name"] for p in spec["parameters"] if p["in"] == "header"}


def test_a_ticket_from_an_erp_keeps_its_reference_and_a_second_one_is_refused(app_client: Any, staff: Any,
                                                                               services: Services) -> None:
    h = staff["dispatcher"]
    first = app_client.post("/v1/tickets", headers=h, json={**TICKET, "external_ref": "SO-2026-0042"})
    assert first.status_code == 201 and first.json()["external_ref"] == "SO-2026-0042"
    before = count(services, "tickets")
    again = app_client.post("/v1/tickets", headers=h, json={**TICKET, "external_ref": "SO-2026-0042"})
    assert again.status_code == 409 and again.json()["code"] == "external_ref_exists"
    assert again.json()["ticket_id"] == first.json()["id"] and count(services, "tickets") == before
    found = app_client.get("/v1/tickets", headers=h, params={"external_ref": "SO-2026-0042"})
    assert [t["id"] for t in found.json()] == [first.json()["id"]]
    assert app_client.get("/v1/tickets", headers=h, params={"external_ref": "SO-none"}).json() == []
    # tickets without a reference are as many as one likes
    for _ in range(2):
        assert app_client.post("/v1/tickets", headers=h, json=TICKET).json()["external_ref"] is None
    assert app_client.post("/v1/tickets", headers=h, json={**TICKET, "external_ref": ""}).status_code == 400
