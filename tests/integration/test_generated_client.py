"""A client generated from the live server's /schema/openapi.json by a standard generator works against it.

openapi-python-client (the `test` extra) generates a package from the document the server serves; the test
imports it, type-checks it with mypy, and uses it over loopback HTTP as an ERP would: create a ticket with an
Idempotency-Key (twice: one ticket), add an engineer and a job, list tickets incrementally
(``updated_since`` then the cursor), read the job.  Generation needs no network.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.livesrv import LiveServer

#: the device protocol's msgpack and the PDF are bytes to a generated client
CONFIG = """\
content_type_overrides:
  application/msgpack: application/octet-stream
  application/pdf: application/octet-stream
"""


@pytest.fixture
def live(sqlite_url: str, tmp_path: Path) -> Any:
    services = Services(db=open_database(sqlite_url), settings=get_settings(db_url=sqlite_url, run_scheduler=False))
    token = issue_staff_token(services, "admin", "erp")
    services.db.close()
    server = LiveServer(sqlite_url, tmp_path).start()
    try:
        yield server, token
    finally:
        server.stop()


def generate(url: str, out: Path) -> Path:
    """The client package generated from the server's document (returns the folder that holds it)."""
    doc = out / "openapi.json"
    doc.write_bytes(httpx.get(url + "/schema/openapi.json", timeout=30).content)
    (out / "config.yml").write_text(CONFIG)
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert generator, "openapi-python-client is in the test extra"
    done = subprocess.run([generator, "generate", "--path", str(doc), "--meta", "none", "--output-path",
                           str(out / "fieldsync_client"), "--config", str(out / "config.yml")],
                          cwd=out, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    # every back-office operation is generated (only the msgpack device routes are bytes-only)
    assert "will not be generated" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert "omitted" not in done.stdout + done.stderr, done.stdout + done.stderr
    return out


def test_a_generated_client_creates_lists_incrementally_and_reads_a_job(live: Any, tmp_path: Path) -> None:
    server, token = live
    root = generate(server.url, tmp_path)
    checked = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports",
                              "--no-incremental", "fieldsync_client"], cwd=root, capture_output=True, text=True,
                             timeout=600)
    assert checked.returncode == 0, checked.stdout[-3000:]
    sys.path.insert(0, str(root))
    try:
        client_mod = importlib.import_module("fieldsync_client")
        tickets_api = importlib.import_module("fieldsync_client.api.tickets")
        models = importlib.import_module("fieldsync_client.models")
        create_ticket = importlib.import_module("fieldsync_client.api.tickets.create_ticket")
        list_tickets = importlib.import_module("fieldsync_client.api.tickets.list_tickets")
        create_job = importlib.import_module("fieldsync_client.api.tickets.create_job")
        get_job = importlib.import_module("fieldsync_client.api.tickets.get_job")
        create_engineer = importlib.import_module("fieldsync_client.api.catalog.create_engineer")
        assert tickets_api is not None

        client = client_mod.AuthenticatedClient(base_url=server.url, token=token)
        before = datetime.now(UTC).replace(microsecond=0)
        body = models.TicketIn(customer="Acme", site="Plant 1", priority=models.TicketInPriority.P2,
                               external_ref="ERP-4711")
        first = create_ticket.sync_detailed(client=client, body=body, idempotency_key="erp-order-4711")
        again = create_ticket.sync_detailed(client=client, body=body, idempotency_key="erp-order-4711")
        assert first.status_code == again.status_code == 201
        ticket = first.parsed
        assert isinstance(ticket, models.Ticket)
        assert again.parsed.id == ticket.id  # the retry was answered from the first, not booked twice
        assert isinstance(ticket.opened_at, datetime) and ticket.opened_at.tzinfo is not None
        assert ticket.opened_at >= before  # an RFC 3339 instant the generated model parsed

        created = create_engineer.sync_detailed(client=client, body=models.EngineerIn(id="e-gen", name="Gen"))
        assert created.status_code == 201, created.content
        with_job = create_job.sync(ticket_id=ticket.id, client=client, body=models.JobIn(engineer_id="e-gen"))
        assert isinstance(with_job, models.Ticket) and len(with_job.jobs) == 1
        job_id = with_job.jobs[0].id

        page = list_tickets.sync_detailed(client=client, updated_since=before.isoformat().replace("+00:00", "Z"))
        assert page.status_code == 200, page.content
        assert [t.id for t in page.parsed] == [ticket.id]
        cursor = page.headers["next-cursor"]
        rest = list_tickets.sync_detailed(client=client, cursor=cursor)
        assert rest.status_code == 200 and rest.parsed == []  # nothing changed since: nothing read twice

        job = get_job.sync(job_id=job_id, client=client)
        assert isinstance(job, models.JobDetail)
        assert job.job.id == job_id and job.job.engineer_id == "e-gen" and job.job.ticket_id == ticket.id
        assert isinstance(job.job.created_at, datetime)

        missing = get_job.sync_detailed(job_id="no-such-job", client=client)
        assert missing.status_code == 404
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == "fieldsync_client" or m.startswith("fieldsync_client.")]:
            del sys.modules[name]
