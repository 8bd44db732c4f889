"""The deployment topology, run from ``python -m tools.topology`` as an operator would, and used over HTTPS.

A fresh PostgreSQL database, two ``fieldsync serve`` processes sharing it and
nginx terminating TLS (self-signed certificate) in front of both.  The client
side connects from ``127.0.0.5`` (another loopback address) so the address a
server logs tells the client from the proxy (``127.0.0.1``).  Through the proxy:
the console hands out an enrollment link that names the proxy's ``https://``
address, a tablet (the Python SDK) enrolls with that link and syncs, the back
office opens and reads tickets; requests land on both processes; exactly one
process leads the SLA scheduler (and so delivers webhooks); after ``kill -9``
of one process every request is still served and the other one leads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from client_sdk import FieldClient
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.conftest import PG_BASE, require_pg

CLIENT_ADDRESS = "127.0.0.5"
DEADLINE_S = 90.0

pytestmark = pytest.mark.postgres


def wait_until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_pg()
    if shutil.which("nginx") is None and not os.access("/usr/sbin/nginx", os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is not installed and CI=true (.ci/run installs it)")
        pytest.skip("nginx not installed")
    workdir = tmp_path_factory.mktemp("topology")
    proc = subprocess.Popen([sys.executable, "-m", "tools.topology", "--dir", str(workdir), "--pg", PG_BASE],
                            stdout=subprocess.PIPE, stderr=open(workdir / "topology.err", "wb"),  # noqa: SIM115
                            env={**os.environ, "FIELDSYNC_SLA_TICK_S": "0.5"})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(30)
        raise AssertionError(f"the topology did not come up: {(workdir / 'topology.err').read_text()[-3000:]}")
    described = json.loads(line)
    try:
        yield described
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        name = described["db_url"].rsplit("/", 1)[1]
        with psycopg.connect(PG_BASE) as conn:  # the script drops its database at the end
            assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None


@pytest.fixture(scope="module")
def world(topology: dict[str, Any]) -> dict[str, str]:
    """Demo data and staff tokens, written straight into the topology's database."""
    from tools.demo_data import seed_demo

    db = open_database(topology["db_url"])
    try:
        services = Services(db=db, settings=get_settings(db_url=topology["db_url"], run_scheduler=False,
                                                         key_file=topology["key_file"]))
        with db.read() as tx:  # the servers sealed the signing key under the run's key file
            assert [r["sealed"] for r in tx.query("SELECT sealed FROM server_keys")] == [1]
        seed_demo(services)
        return {role: issue_staff_token(services, role, f"{role}-user") for role in ("dispatcher", "admin")}
    finally:
        db.close()


def https(topology: dict[str, Any], **kw: Any) -> httpx.Client:
    """A client of the proxy that trusts its certificate and connects from :data:`CLIENT_ADDRESS`."""
    ctx = ssl.create_default_context(cafile=topology["ca_cert"])
    return httpx.Client(base_url=topology["url"], verify=ctx, timeout=30,
                        transport=httpx.HTTPTransport(verify=ctx, local_address=CLIENT_ADDRESS), **kw)


def access_lines(topology: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each server's JSON access lines by request id (the proxy's ``$request_id``), with the server's name."""
    out: dict[str, dict[str, Any]] = {}
    for app in topology["apps"]:
        for raw in Path(app["log"]).read_text().splitlines():
            if raw.startswith("{") and '"fieldsync.access"' in raw:
                rec = json.loads(raw)
                out[rec["request_id"]] = {**rec, "app": app["name"]}
    return out


def refuses_nothing(app: dict[str, Any]) -> bool:
    """True while something still accepts connections on the process's port."""
    host, port = app["url"].removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


def leader_of(app: dict[str, Any]) -> float | None:
    try:
        text = httpx.get(app["url"] + "/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    return next((s.value for f in text_string_to_metric_families(text) for s in f.samples
                 if s.name == "fieldsync_sla_scheduler_leader"), None)


def test_through_the_tls_proxy_on_two_processes(topology: dict[str, Any], world: dict[str, str],
                                               tmp_path: Path) -> None:
    admin = {"authorization": f"Bearer {world['admin']}"}
    with https(topology) as console:
        # the console, signed in over HTTPS: its cookie is Secure (the server saw https, not the proxy's http)
        csrf = re.search(r'name="csrf" value="([^"]+)"', console.get("/login").text)
        assert csrf is not None
        r = console.post("/login", data={"csrf": csrf.group(1), "token": world["dispatcher"]})
        assert r.status_code == 303, r.text
        assert "secure" in r.headers["set-cookie"].lower()
        form = console.get("/devices").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        page = console.post("/devices/enroll-token", data={"csrf": csrf.group(1), "engineer_id": "e-ana"})
        assert page.status_code == 200, page.text
        found = re.search(r'id="enroll-link">([^<]+)<', page.text)
        assert found is not None
        link = unescape(found.group(1))
        # the link the QR code carries names the proxy's https:// address, not a server's own http:// one
        assert link.startswith(topology["url"] + "/"), link

    # a tablet enrolls with that link and syncs over HTTPS through the proxy
    with FieldClient.open(tmp_path / "tablet.db", topology["url"], transport=https(topology)) as tablet:
        tablet.enroll(link)
        report = tablet.sync()
        assert report.ok, report.errors
        assert tablet.jobs() and all(j.engineer_id == "e-ana" for j in tablet.jobs())
        job_id = tablet.jobs()[0].id
        tablet.set_status(job_id, "en_route")
        assert tablet.sync().ok and tablet.pending() == []

        # the back office opens and reads tickets; the requests are shared between both processes
        upstreams: set[str] = set()
        request_ids: list[str] = []
        with https(topology, headers=admin) as office:
            created = []
            for i in range(6):
                r = office.post("/v1/tickets", json={"customer": "Topology Ltd", "site": f"Hall {i}",
                                                     "priority": "P3"}, headers={"x-forwarded-for": "6.6.6.6"})
                assert r.status_code == 201, r.text
                created.append(r.json()["id"])
                upstreams.add(r.headers["x-fieldsync-upstream"])
                request_ids.append(r.headers["x-request-id"])
            for ticket_id in created:
                r = office.get(f"/v1/tickets/{ticket_id}")
                assert r.status_code == 200 and r.json()["id"] == ticket_id
                upstreams.add(r.headers["x-fieldsync-upstream"])
                request_ids.append(r.headers["x-request-id"])
            job = office.get(f"/v1/jobs/{job_id}")
            assert job.status_code == 200 and job.json()["job"]["status"] == "en_route"  # the tablet's push
        assert upstreams == {a["url"].removeprefix("http://") for a in topology["apps"]}

        # each server logged the client's own address, not the proxy's nor the one the client wrote itself
        wait_until("the access lines", lambda: set(request_ids) <= set(access_lines(topology)))
        lines = access_lines(topology)
        assert {lines[i]["app"] for i in request_ids} == {"app-1", "app-2"}
        assert {lines[i]["client"] for i in request_ids} == {CLIENT_ADDRESS}

        # exactly one process leads the SLA scheduler (and delivers webhooks)
        apps = topology["apps"]
        wait_until("one leader", lambda: sorted(leader_of(a) or 0 for a in apps) == [0, 1])
        leader = next(a for a in apps if leader_of(a) == 1)
        other = next(a for a in apps if a is not leader)

        # kill -9 the leader: every request is still served (by the other), which takes the lead
        os.kill(leader["pid"], signal.SIGKILL)
        # a request that reaches the process while it dies is lost with it (502: nginx does not resend a POST
        # that may have been received; a client retries it with its Idempotency-Key); from then on none is
        wait_until("the leader gone", lambda: not refuses_nothing(leader))
        with https(topology, headers=admin) as office:
            for i in range(6):
                r = office.post("/v1/tickets", json={"customer": "After the kill", "site": f"Yard {i}",
                                                     "priority": "P2"})
                assert r.status_code == 201, r.text
                assert r.headers["x-fieldsync-upstream"].endswith(other["url"].removeprefix("http://"))
                assert office.get(f"/v1/tickets/{r.json()['id']}").status_code == 200
        tablet.set_status(job_id, "on_site")
        assert tablet.sync().ok and tablet.pending() == []
        wait_until("the survivor leads", lambda: leader_of(other) == 1)


def test_spoofed_proxy_headers_from_an_untrusted_peer_are_ignored(topology: dict[str, Any],
                                                                   world: dict[str, str]) -> None:
    """Straight to one server (not through the proxy): X-Forwarded-* from 127.0.0.5 change nothing."""
    app = next(a for a in topology["apps"] if leader_of(a) is not None)  # one still running
    spoof = {"x-forwarded-for": "6.6.6.6", "x-forwarded-proto": "https"}
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    with httpx.Client(base_url=app["url"], transport=transport, timeout=30) as direct:
        csrf = re.search(r'name="csrf" value="([^"]+)"', direct.get("/login").text)
        assert csrf is not None
        r = direct.post("/login", data={"csrf": csrf.group(1), "token": world["dispatcher"]},
                        headers={**spoof, "x-request-id": "spoof-check-1"})
        assert r.status_code == 303, r.text
        # the session cookie is not marked Secure: the server knows it was plain http, whatever the header said
        assert "fs_console=" in r.headers["set-cookie"]
        assert "secure" not in r.headers["set-cookie"].lower()
    wait_until("the access line", lambda: "spoof-check-1" in access_lines(topology))
    assert access_lines(topology)["spoof-check-1"]["client"] == CLIENT_ADDRESS
