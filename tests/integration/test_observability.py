"""What an operator watches, through a real ``fieldsync serve``: /metrics, health, request ids, JSON logs.

Also the guard an upgrade relies on: a database migrated by newer code refuses to start older code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from client_sdk import FieldClient
from server.domain.devices.service import issue_enroll_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from sync.storage.schema import latest_version
from tests.livesrv import LiveServer, free_port
from tools.demo_data import seed_demo

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def seeded(db_url: str) -> tuple[str, str]:
    """A demo database (each backend) and an enrollment token for e-ana."""
    url = db_url
    services = Services(db=open_database(url), settings=get_settings(db_url=url))
    seed_demo(services)
    token, _ = issue_enroll_token(services, "e-ana")
    services.db.close()
    return url, token


@pytest.fixture
def server(seeded: tuple[str, str], tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(seeded[0], tmp_path, env={"FIELDSYNC_LOG_FORMAT": "json"}, log_level="info").start()
    yield live
    live.stop()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition (parsed by the reference parser) by name and labels."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_requests_by_route_and_measure_push_and_pull(server: LiveServer, seeded: tuple[str, str],
                                                                   tmp_path: Path) -> None:
    with FieldClient.open(tmp_path / "tablet.db", server_url=server.url) as tablet:
        tablet.enroll(seeded[1])
        tablet.sync()
        job = tablet.jobs()[0].id
        tablet.set_field(job, "notes", "metered")
        assert tablet.sync().ok
    for job_id in ("J-a", "J-b"):  # two paths, one route template
        httpx.get(f"{server.url}/v1/jobs/{job_id}")
    r = httpx.get(f"{server.url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    found = samples(r.text)
    names = {name for name, _ in found}
    assert {"fieldsync_push_bytes_count", "fieldsync_push_duration_seconds_count", "fieldsync_pull_bytes_sum",
            "fieldsync_pull_duration_seconds_count", "fieldsync_sla_scheduler_leader"} <= names
    assert found[("fieldsync_push_bytes_count", frozenset())] >= 1
    assert found[("fieldsync_pull_bytes_sum", frozenset())] > 0
    by_route = {dict(labels)["path"]: value for (name, labels), value in found.items()
                if name == "fieldsync_requests_total" and dict(labels).get("method") == "GET"
                and dict(labels).get("status_code") == "401"}
    assert by_route.get("/v1/jobs/{job_id}") == 2, by_route  # grouped by template, never by raw path
    assert not any("J-a" in dict(labels).get("path", "") for _, labels in found)


def test_health_live_and_ready(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/health/live").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/health/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ok" and body["schema_version"] == latest_version()
    if body["db"] == "postgresql":  # the pool is watched where there is one
        pool = samples(httpx.get(f"{server.url}/metrics").text)
        assert pool[("fieldsync_db_pool_size", frozenset())] >= 1


def test_every_response_has_a_request_id_and_one_json_access_line(server: LiveServer) -> None:
    mine = httpx.get(f"{server.url}/health/live", headers={"x-request-id": "erp-7f3a"})
    assert mine.headers["x-request-id"] == "erp-7f3a"
    fresh = httpx.get(f"{server.url}/v1/tickets")
    assert fresh.status_code == 401 and len(fresh.headers["x-request-id"]) == 32
    forged = httpx.get(f"{server.url}/health/live", headers={"x-request-id": "a b\"<script>" + "x" * 100})
    assert forged.headers["x-request-id"] != "a b\"<script>" + "x" * 100  # not echoed: a new one instead
    server.stop()
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "fieldsync.access"]
    by_id = {line["request_id"]: line for line in access}
    assert by_id["erp-7f3a"]["path"] == "/health/live" and by_id["erp-7f3a"]["status"] == 200
    line = by_id[fresh.headers["x-request-id"]]
    assert line["status"] == 401 and line["method"] == "GET" and line["duration_ms"] >= 0
    assert all(line["time"].endswith("+00:00") for line in lines)


def test_a_database_migrated_by_newer_code_refuses_this_code(seeded: tuple[str, str], tmp_path: Path) -> None:
    db = open_database(seeded[0])
    with db.write() as tx:
        tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 'later')", (latest_version() + 1,))
    db.close()
    r = subprocess.run([sys.executable, "-m", "fieldsync", "serve", "--db", seeded[0], "--port", str(free_port())],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "newer than this fieldsync" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
