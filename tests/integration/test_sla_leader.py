"""Two real server processes on one PostgreSQL: one leads the SLA scheduler, the other takes over when it dies."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from server.clock import wall_ms
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.support import iso

pytestmark = pytest.mark.postgres

T = TypeVar("T")
HOUR = 3_600_000
TICK_S = "0.25"
# A P1 ticket opened 25 h ago has crossed 50/75/100 % of respond, on_site and resolve: first seen that
# late, each clock announces only its breach.
EXPECTED = Counter({("sla_breach", target): 1 for target in ("respond", "on_site", "resolve")})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class ServerProcess:
    """``fieldsync serve`` in a subprocess on a free loopback port."""

    def __init__(self, db_url: str, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "FIELDSYNC_SLA_TICK_S": TICK_S, "FIELDSYNC_SCHEDULER": "1"}
        env.pop("FIELDSYNC_DB", None)
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fieldsync", "serve", "--db", db_url, "--port", str(self.port),
             "--log-level", "warning"],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.get(self.base + path, headers=headers, timeout=5)

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            return self.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def shared(pg_url: str) -> Iterator[Services]:
    """Services of the test process on the schema the servers share (migrated before they start)."""
    services = Services(db=open_database(pg_url), settings=get_settings(db_url=pg_url, run_scheduler=False))
    yield services
    services.db.close()


def sla_events(services: Services, ticket_id: str) -> Counter[tuple[str, str]]:
    with services.db.read() as tx:
        rows = tx.query("SELECT kind, data FROM ticket_events WHERE ticket_id = ? AND kind LIKE 'sla_%'",
                        (ticket_id,))
    return Counter((r["kind"], json.loads(r["data"])["target"]) for r in rows)


def marks(services: Services, ticket_id: str) -> int:
    with services.db.read() as tx:
        row = tx.one("SELECT COUNT(*) AS n FROM sla_marks WHERE ticket_id = ?", (ticket_id,))
    assert row is not None
    return int(row["n"])


def test_one_leader_records_each_breach_once_and_a_follower_takes_over_after_kill_9(
        pg_url: str, shared: Services, tmp_path: Path) -> None:
    admin = {"authorization": f"Bearer {issue_staff_token(shared, 'admin')}"}
    servers = [ServerProcess(pg_url, tmp_path / f"server{i}.log") for i in range(2)]
    try:
        for s in servers:
            wait_for(f"server on {s.port}", s.ready)

        def both_checked() -> list[dict[str, Any]] | None:
            status = [s.get("/v1/sla/leader", admin).json() for s in servers]
            return status if all(st["scheduler"] and st["last_check_at"] for st in status) else None

        status = wait_for("both schedulers to tick", both_checked)
        assert sorted(st["leader"] for st in status) == [False, True], status
        leader, follower = (servers[0], servers[1]) if status[0]["leader"] else (servers[1], servers[0])

        def overdue_ticket(via: ServerProcess) -> str:
            r = httpx.post(via.base + "/v1/tickets", headers=admin, timeout=5, json={
                "customer": "Acme", "site": "Plant 1", "priority": "P1", "opened_at": iso(wall_ms() - 25 * HOUR)})
            assert r.status_code == 201, r.text
            ticket_id: str = r.json()["id"]
            return ticket_id

        first = overdue_ticket(follower)  # any process takes requests; only the leader ticks
        wait_for("the leader to record the first ticket", lambda: sla_events(shared, first) == EXPECTED)
        time.sleep(6 * float(TICK_S))  # several more ticks from both processes change nothing
        assert sla_events(shared, first) == EXPECTED and marks(shared, first) == 9
        assert follower.get("/v1/sla/leader", admin).json()["leader"] is False
        assert leader.get("/v1/sla/leader", admin).json()["leader"] is True

        leader.proc.kill()  # kill -9: no shutdown hook runs; PostgreSQL ends its session and frees the lock
        leader.proc.wait(5)
        wait_for("the follower to take over", lambda: follower.get("/v1/sla/leader", admin).json()["leader"])

        second = overdue_ticket(follower)
        wait_for("the new leader to record the second ticket", lambda: sla_events(shared, second) == EXPECTED)
        time.sleep(6 * float(TICK_S))
        assert sla_events(shared, second) == EXPECTED and marks(shared, second) == 9
        assert sla_events(shared, first) == EXPECTED and marks(shared, first) == 9
    finally:
        for s in servers:
            s.stop()
