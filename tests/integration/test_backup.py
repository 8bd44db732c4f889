"""fieldsync admin backup/restore: an online SQLite backup taken while writes run, restored, checked and served."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from fieldsync.cli import main
from schemas.domain import TicketIn
from server.app import create_app
from server.domain.tickets.service import create_ticket
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tools.demo_data import seed_demo


def _services(url: str) -> Services:
    return Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False))


def _count(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def test_backup_while_writing_restores_a_consistent_database_that_serves(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    live = _services(url)
    seed_demo(live)
    stop = threading.Event()
    written: list[str] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            t = create_ticket(live, TicketIn(customer=f"Cust {n}", site="Roof", priority="P3"), "load")
            written.append(t.id)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:  # the backup starts while the writer is busy
            stop.wait(0.01)
        backup = tmp_path / "snap.db"
        assert main(["admin", "backup", "--db", url, "--out", str(backup)]) == 0
        at_backup = len(written)
        while len(written) < at_backup + 20:  # and writes go on after it
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join()
    live.db.close()
    conn = sqlite3.connect(backup)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    in_backup = _count(backup, "tickets")
    assert 5 + 20 <= in_backup < 5 + len(written)  # a snapshot from mid-run, not the end state
    # every ticket in the backup has its opened event: one consistent snapshot, no torn transaction
    assert _count(backup, "ticket_events") >= in_backup

    restored = tmp_path / "restored.db"
    assert main(["admin", "restore", "--db", f"sqlite:///{restored}", "--from", str(backup)]) == 0
    svc = _services(f"sqlite:///{restored}")
    try:
        with TestClient(create_app(services=svc, scheduler=False)) as client:
            assert client.get("/health").json()["status"] == "ok"
            hdr = {"authorization": f"Bearer {issue_staff_token(svc, 'dispatcher')}"}
            tickets = client.get("/v1/tickets", params={"limit": 500}, headers=hdr).json()
            assert len(tickets) == in_backup
            r = client.post("/v1/tickets", json={"customer": "After restore", "site": "A", "priority": "P2"},
                            headers=hdr)
            assert r.status_code == 201  # the restored database takes writes
    finally:
        svc.db.close()


def test_restore_refuses_a_database_in_use_unless_forced(tmp_path: Path, capsys: Any) -> None:
    source_url = f"sqlite:///{tmp_path / 'a.db'}"
    src = _services(source_url)
    seed_demo(src)
    src.db.close()
    backup = tmp_path / "a.bak"
    assert main(["admin", "backup", "--db", source_url, "--out", str(backup)]) == 0

    target = tmp_path / "serving.db"
    serving = _services(f"sqlite:///{target}")  # a server has it open
    try:
        code = main(["admin", "restore", "--db", f"sqlite:///{target}", "--from", str(backup)])
        assert code == 1 and "open in another process" in capsys.readouterr().err
        assert _count(target, "tickets") == 0  # nothing was touched
        assert main(["admin", "restore", "--db", f"sqlite:///{target}", "--from", str(backup), "--force"]) == 0
        with serving.db.read() as tx:  # the running process sees the restored data
            row = tx.one("SELECT COUNT(*) AS n FROM tickets")
        assert row is not None and row["n"] == 5
    finally:
        serving.db.close()
    assert main(["admin", "restore", "--db", f"sqlite:///{target}", "--from", str(backup)]) == 0  # closed: fine


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100])
def test_restore_refuses_a_file_that_is_not_a_fieldsync_backup(tmp_path: Path, content: bytes, capsys: Any) -> None:
    bad = tmp_path / "bad.bak"
    bad.write_bytes(content)
    target = tmp_path / "t.db"
    assert main(["admin", "restore", "--db", f"sqlite:///{target}", "--from", str(bad)]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["admin", "restore", "--db", f"sqlite:///{target}", "--from", str(tmp_path / "missing")]) == 2


def test_backup_to_a_missing_directory_is_a_clear_error(tmp_path: Path, capsys: Any) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    _services(url).db.close()
    assert main(["admin", "backup", "--db", url, "--out", str(tmp_path / "nope" / "x.bak")]) == 2
    assert "does not exist" in capsys.readouterr().err
