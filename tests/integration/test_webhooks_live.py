"""Webhooks that arrive: a real ``fieldsync serve`` delivering its outbox to a real receiver on loopback.

The receiver is a small HTTP server thread that records every POST (event id
header, body bytes, signature header) the moment it arrives.  It is stopped and
started again on the same port while events keep coming, and the server is
killed with SIGKILL while a POST waits for the receiver's answer and started
again: every event still arrives, each with a signature the receiver's check
accepts (and a wrong secret's check refuses), and after deduplication by ``id``
the receiver holds every event exactly once.  No timing assertion: each wait
polls with a deadline.  On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.domain.webhooks.service import verify_signature
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.livesrv import LiveServer, free_port
from tests.webhook_receiver import Receiver

SECRET = "whsec-test-0123456789"
DEADLINE_S = 120.0


def wait_until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def tokens(db: Any, db_url: str) -> dict[str, str]:
    services = Services(db=db, settings=get_settings(db_url=db_url, run_scheduler=False))
    return {role: issue_staff_token(services, role, f"{role}-user") for role in ("dispatcher", "admin")}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(free_port())
    yield r
    r.stop()


def serve(db_url: str, tmp_path: Path, receiver: Receiver) -> LiveServer:
    return LiveServer(db_url, tmp_path, env={
        "FIELDSYNC_SCHEDULER": "1", "FIELDSYNC_WEBHOOK": receiver.url, "FIELDSYNC_WEBHOOK_SECRET": SECRET,
        "FIELDSYNC_WEBHOOK_TICK_S": "0.2", "FIELDSYNC_WEBHOOK_BACKOFF_MS": "200"})


def open_tickets(server: LiveServer, token: str, n: int, customer: str) -> list[str]:
    """Open ``n`` tickets over HTTP; the ids of their ``ticket_opened`` events (their timeline's ``opened``)."""
    out: list[str] = []
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as http:
        for i in range(n):
            r = http.post("/v1/tickets", json={"customer": customer, "site": f"Site {i}", "priority": "P3"})
            assert r.status_code == 201, r.text
            out.extend(e["id"] for e in r.json()["timeline"] if e["kind"] == "opened")
    return out


def assert_signed(got: list[tuple[str, bytes, str]]) -> None:
    """Every POST's header id is its body's, and its signature checks with the secret and not with another."""
    for header_id, body, signature in got:
        assert json.loads(body)["id"] == header_id
        assert verify_signature(SECRET, signature, body), (header_id, signature)
        assert not verify_signature("not-the-secret", signature, body)


def deliveries(server: LiveServer, token: str, **params: Any) -> list[dict[str, Any]]:
    r = httpx.get(server.url + "/v1/webhooks/deliveries", params={"limit": 1000, **params},
                  headers={"authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json())


def metric(server: LiveServer, name: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=30).text
    return next(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def test_a_receiver_down_for_a_while_still_gets_every_event_once_signed(
        db_url: str, tmp_path: Path, tokens: dict[str, str], receiver: Receiver) -> None:
    receiver.start()
    server = serve(db_url, tmp_path, receiver).start()
    try:
        first = open_tickets(server, tokens["dispatcher"], 4, "Acme")
        wait_until("the first events", lambda: set(first) <= set(receiver.ids()))

        receiver.stop()  # the integrator's endpoint goes down; changes go on
        second = open_tickets(server, tokens["dispatcher"], 4, "Beta")
        wait_until("failed attempts in the delivery log", lambda: any(
            d["event_id"] in second and d["error"] for d in deliveries(server, tokens["admin"])))
        assert metric(server, "fieldsync_webhook_backlog") >= 1  # what an operator's alert would watch
        receiver.start()  # back, on the same address

        wait_until("every event", lambda: set(first + second) <= set(receiver.ids()))
        got = receiver.all()
        counts = Counter(receiver.ids())
        assert all(counts[i] == 1 for i in first + second), counts  # once each: nothing sent twice
        assert_signed(got)
        bodies = {json.loads(b)["id"]: json.loads(b) for _, b, _ in got}
        assert {bodies[i]["event"] for i in first + second} == {"ticket_opened"}
        assert all(bodies[i]["ticket_id"].startswith("T-") and bodies[i]["job_id"] is None for i in first + second)

        wait_until("an empty backlog", lambda: metric(server, "fieldsync_webhook_backlog") == 0)
        # the delivery log shows each retried event's failures and its success, and refuses a non-admin
        log = deliveries(server, tokens["admin"], event_id=second[0])
        assert log[0]["state"] == "delivered" and log[0]["status_code"] == 204
        assert log[-1]["attempt"] == 1 and log[-1]["error"] and log[-1]["status_code"] is None
        assert [d["attempt"] for d in log] == list(range(len(log), 0, -1))
        r = httpx.get(server.url + "/v1/webhooks/deliveries",
                      headers={"authorization": f"Bearer {tokens['dispatcher']}"}, timeout=30)
        assert r.status_code == 403

        # the operator's view of the same log, from the command line
        out = subprocess.run([sys.executable, "-m", "fieldsync", "admin", "webhooks", "--db", db_url, "--json",
                              "--limit", "1000"], capture_output=True, text=True, timeout=120, check=True)
        report = json.loads(out.stdout)
        assert {d["event_id"] for d in report["deliveries"] if d["state"] == "delivered"} >= set(first + second)
        assert report["backlog"]["given_up"] == 0
        out = subprocess.run([sys.executable, "-m", "fieldsync", "admin", "webhooks", "--db", db_url,
                              "--event-id", second[0]], capture_output=True, text=True, timeout=120, check=True,
                             env={**os.environ, "FIELDSYNC_LOCALE": "en"})
        lines = out.stdout.splitlines()
        assert "given up" in lines[0] and "delivered" in lines[2] and second[0] in lines[2]
    finally:
        server.stop()


def test_a_server_killed_mid_delivery_loses_no_event(
        db_url: str, tmp_path: Path, tokens: dict[str, str], receiver: Receiver) -> None:
    receiver.delay_s = 0.3  # a slow receiver: the kill lands while a POST waits for its answer
    receiver.start()
    server = serve(db_url, tmp_path, receiver).start()
    try:
        first = open_tickets(server, tokens["dispatcher"], 8, "Acme")
        wait_until("some events on their way", lambda: len(receiver.ids()) >= 2)
        server.kill()  # SIGKILL: no shutdown, leases and all left as they were
        assert len(set(receiver.ids()) & set(first)) < len(first)  # killed with events still in the outbox

        receiver.delay_s = 0.0
        server = serve(db_url, tmp_path, receiver).start()
        second = open_tickets(server, tokens["dispatcher"], 3, "Beta")
        wait_until("every event after the restart", lambda: set(first + second) <= set(receiver.ids()))
        got = receiver.all()
        assert_signed(got)
        # at least once on the wire, exactly once after the receiver dedupes by id
        unique = {json.loads(b)["id"]: json.loads(b) for _, b, _ in got}
        assert set(first + second) <= set(unique)
        assert [unique[i]["event"] for i in first + second] == ["ticket_opened"] * len(first + second)
        # a duplicate carries the same body (same bytes: the event was fixed when its change committed)
        by_id: dict[str, set[bytes]] = {}
        for _, body, _ in got:
            by_id.setdefault(json.loads(body)["id"], set()).add(body)
        assert all(len(bodies) == 1 for bodies in by_id.values())
        # the POST the kill interrupted is sent again once its claim's lease ran out: the outbox empties
        def delivered() -> set[str]:
            return {d["event_id"] for d in deliveries(server, tokens["admin"]) if d["state"] == "delivered"}

        wait_until("every event delivered by the log", lambda: set(first + second) <= delivered())
        assert len(receiver.ids()) >= len(set(first + second))
    finally:
        server.stop()


def test_two_serve_processes_on_one_postgresql_send_each_event_once(
        pg_url: str, tmp_path: Path, receiver: Receiver) -> None:
    db = open_database(pg_url)  # the fixture's fresh schema, migrated, for the token only
    try:
        token = issue_staff_token(Services(db=db, settings=get_settings(db_url=pg_url, run_scheduler=False)),
                                  "dispatcher", "dispatcher-user")
    finally:
        db.close()
    receiver.delay_s = 0.02
    receiver.start()
    servers = [serve(pg_url, tmp_path, receiver).start() for _ in range(2)]
    try:
        ids = [i for n in range(3) for s in servers for i in open_tickets(s, token, 2, f"Customer {n}")]
        wait_until("every event", lambda: set(ids) <= set(receiver.ids()))
        counts = Counter(receiver.ids())
        assert all(counts[i] == 1 for i in ids), counts
        assert_signed(receiver.all())
    finally:
        for s in servers:
            s.stop()
