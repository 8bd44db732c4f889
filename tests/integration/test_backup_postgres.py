"""fieldsync admin backup/restore on PostgreSQL: pg_dump while writes run, pg_restore into a fresh database.

The restored database serves (a real ``fieldsync serve`` on it), holds the
snapshot's tickets with each one's events, and keeps the signing key: the
service report it seals verifies against the original server's public key.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from litestar.testing import TestClient

from client_sdk import FieldClient
from fieldsync.cli import main
from schemas.domain import TicketIn
from server.app import create_app
from server.domain.devices.service import issue_enroll_token
from server.domain.tickets.service import create_ticket
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.conftest import PG_BASE, require_pg
from tests.livesrv import LiveServer
from tools.demo_data import seed_demo

pytestmark = pytest.mark.postgres


@pytest.fixture
def new_database() -> Iterator[Callable[[], str]]:
    """Makes fresh, empty PostgreSQL databases (dropped afterwards); returns their URLs."""
    require_pg()
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump not on PATH")
    made: list[str] = []

    def make() -> str:
        name = f"fieldsync_bk_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return PG_BASE.rsplit("/", 1)[0] + "/" + name

    yield make
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def _signed_job(services: Services, tmp_path: Path) -> str:
    """A job a tablet completed and the customer signed, synced to the server."""
    with TestClient(create_app(services=services, scheduler=False)) as client:
        tablet = FieldClient.open(tmp_path / "tablet.db", transport=client, clock=lambda: services.clock())
        try:
            tablet.enroll(issue_enroll_token(services, "e-ana")[0])
            assert tablet.sync().ok
            job_id = tablet.jobs()[0].id
            for status in ("en_route", "on_site"):
                tablet.set_status(job_id, status)
            tablet.set_field(job_id, "diagnosis", "Igniter worn")
            tablet.answer(job_id, "gas_tight", True)
            tablet.answer(job_id, "flue_co2", 9.1)
            tablet.answer(job_id, "pressure_bar", 1.5)
            tablet.answer(job_id, "condition", "good")
            tablet.set_status(job_id, "completed")
            tablet.sign_off(job_id, "Ada Customer", [[1, 2, 3, 4]])
            report = tablet.sync()
            assert report.ok and report.rejected == 0, tablet.op_results()
        finally:
            tablet.close()
    return job_id


def test_pg_dump_while_writing_restores_into_a_fresh_database_that_serves_and_verifies(
        new_database: Callable[[], str], tmp_path: Path, capsys: Any) -> None:
    source = new_database()
    live = Services(db=open_database(source), settings=get_settings(db_url=source, run_scheduler=False))
    seed_demo(live)
    job_id = _signed_job(live, tmp_path)
    original_key = live.key.public
    stop = threading.Event()
    written: list[str] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            written.append(create_ticket(live, TicketIn(customer=f"Cust {n}", site="Roof", priority="P3"), "load").id)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 10:  # the dump starts while the writer is busy
            stop.wait(0.01)
        dump = tmp_path / "fieldsync.dump"
        assert main(["admin", "backup", "--db", source, "--out", str(dump)]) == 0
        at_backup = len(written)
        while len(written) < at_backup + 10:  # and writes go on after it
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join()
        live.db.close()
    assert "PostgreSQL backup written" in capsys.readouterr().out
    assert not (tmp_path / "fieldsync.dump.partial").exists()

    target = new_database()
    assert main(["admin", "restore", "--db", target, "--from", str(dump)]) == 0
    tickets = _count(target, "tickets")
    assert 5 + 10 <= tickets < 5 + len(written)  # a snapshot from mid-run, not the end state
    with psycopg.connect(target) as conn:  # one consistent snapshot: every ticket has its opened event
        row = conn.execute("SELECT COUNT(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM ticket_events e "
                           "WHERE e.ticket_id = t.id AND e.kind = 'opened')").fetchone()
    assert row is not None and row[0] == 0

    # a restore into a database that holds fieldsync already is refused, unless forced
    assert main(["admin", "restore", "--db", target, "--from", str(dump)]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["admin", "restore", "--db", target, "--from", str(dump), "--force"]) == 0
    assert _count(target, "tickets") == tickets

    svc = Services(db=open_database(target), settings=get_settings(db_url=target, run_scheduler=False))
    try:
        token = issue_staff_token(svc, "backoffice")
        dispatcher = issue_staff_token(svc, "dispatcher")
        assert svc.key.public == original_key  # the signing key came back with the data
    finally:
        svc.db.close()
    server = LiveServer(target, tmp_path).start()
    try:
        hdr = {"authorization": f"Bearer {token}"}
        r = httpx.get(f"{server.url}/v1/tickets", params={"limit": 500}, headers=hdr, timeout=30)
        assert r.status_code == 200 and len(r.json()) == tickets
        pdf = httpx.get(f"{server.url}/v1/jobs/{job_id}/report.pdf", headers=hdr, timeout=60)
        assert pdf.status_code == 200, pdf.text
        (tmp_path / "report.pdf").write_bytes(pdf.content)
        r = httpx.post(f"{server.url}/v1/tickets", json={"customer": "After restore", "site": "A", "priority": "P2"},
                       headers={"authorization": f"Bearer {dispatcher}"}, timeout=30)
        assert r.status_code == 201  # the restored database takes writes
    finally:
        server.stop()
    assert main(["verify", str(tmp_path / "report.pdf"), "--server-key", original_key.hex()]) == 0


def test_restore_refuses_a_file_that_is_not_a_fieldsync_dump(new_database: Callable[[], str], tmp_path: Path,
                                                             capsys: Any) -> None:
    target = new_database()
    bad = tmp_path / "x.dump"
    bad.write_bytes(b"not a dump")
    assert main(["admin", "restore", "--db", target, "--from", str(bad)]) == 1
    assert "error:" in capsys.readouterr().err
    assert main(["admin", "restore", "--db", target, "--from", str(tmp_path / "missing")]) == 2
    assert main(["admin", "backup", "--db", target, "--out", str(tmp_path / "nope" / "x.dump")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_schema_of_a_shared_database_is_dumped_alone_and_restored(
        new_database: Callable[[], str], pg_url: str, tmp_path: Path) -> None:
    """``?schema=NAME``: only that schema goes into the dump, and it comes back under the same name."""
    live = Services(db=open_database(pg_url), settings=get_settings(db_url=pg_url, run_scheduler=False))
    try:
        seed_demo(live)
        key = live.key.public
        with live.db.read() as tx:
            row = tx.one("SELECT COUNT(*) AS n FROM tickets")
        assert row is not None
        tickets = int(row["n"])
    finally:
        live.db.close()
    dump = tmp_path / "schema.dump"
    assert main(["admin", "backup", "--db", pg_url, "--out", str(dump)]) == 0
    schema = pg_url.rsplit("schema=", 1)[1]
    target = f"{new_database()}?schema={schema}"
    assert main(["admin", "restore", "--db", target, "--from", str(dump)]) == 0
    restored = Services(db=open_database(target), settings=get_settings(db_url=target, run_scheduler=False))
    try:
        with restored.db.read() as tx:
            row = tx.one("SELECT COUNT(*) AS n FROM tickets")
        assert row is not None and int(row["n"]) == tickets
        assert restored.key.public == key
    finally:
        restored.db.close()
    with psycopg.connect(target.split("?")[0]) as conn:  # nothing of the other tests' schemas came along
        names = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'")}
    assert names == {schema}
