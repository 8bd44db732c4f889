"""Migration ``0004_write_path``: a tablet store made before it upgrades in place and keeps every row.

The outbox loses AUTOINCREMENT and the UNIQUE index on ``op_id``; ``answers``
becomes ``WITHOUT ROWID``.  Unsynced ops, their order and bytes, answers and
the pull's skip of pending keys must survive the upgrade, and a failure half
way leaves the old store as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from client_sdk import FieldClient, migrations, sync_sql
from client_sdk.store import LocalStore
from client_sdk.testing import FakeSyncServer, publish_demo_job
from tests.support import TickingClock

OLD: list[tuple[str, str]] = [m for m in migrations.MIGRATIONS if m[0] < "0004"]




@pytest.fixture()
def old_schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stores opened inside this fixture are migrated only up to 0003 (an SDK from before 0004)."""
    monkeypatch.setattr(migrations, "MIGRATIONS", OLD)
    yield
    monkeypatch.undo()


def schema_sql(path: Path, name: str) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0])
    finally:
        conn.close()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def old_tablet(path: Path, server: FakeSyncServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """An enrolled tablet on the 0003 schema with synced and unsynced ops, closed.

    It syncs as an SDK from before ``0007_accepted`` did: every change-set
    answered by its receipt, no accepted change-sets to look for.
    """
    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", OLD)
        m.setattr(sync_sql, "oldest_sealed", lambda tx: tx.one("SELECT * FROM sealed ORDER BY seq LIMIT 1"))
        m.setattr(sync_sql, "accepted_waiting", lambda tx: [])
        m.setattr(sync_sql, "accepted_ops", lambda tx: 0)
        client = FieldClient.open(path, transport=server, clock=TickingClock())
        client.enroll(server.issue_token())
        assert client.sync().ok
        client.set_status("job-1", "en_route")
        assert client.sync().ok  # synced: gone from the outbox
        client.set_status("job-1", "on_site")
        client.answer("job-1", "gas_tight", True)
        client.answer("job-1", "pressure", 1.5, note="first")
        client.use_part("job-1", "P-100", qty=2)
        client.set_field("job-1", "diagnosis", "worn electrode")
        client.close()
    assert "AUTOINCREMENT" in schema_sql(path, "outbox") and "UNIQUE" in schema_sql(path, "outbox")
    assert "WITHOUT ROWID" not in schema_sql(path, "answers")


def test_an_old_store_upgrades_and_keeps_its_outbox_and_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tablet.db"
    server = FakeSyncServer()
    publish_demo_job(server)
    old_tablet(path, server, monkeypatch)
    outbox_before = rows(path, "SELECT seq, op_id, job_id, type, key, body, created_at, sealed_seq FROM outbox "
                               "ORDER BY seq")
    answers_before = rows(path, "SELECT * FROM answers ORDER BY job_id, item_key")
    assert len(outbox_before) == 5 and len(answers_before) == 2

    client = FieldClient.open(path, transport=server, clock=TickingClock(1_700_000_200_000))
    try:
        assert "0004_write_path" in client._store.applied_migrations()
        outbox_sql, answers_sql = schema_sql(path, "outbox"), schema_sql(path, "answers")
        assert "AUTOINCREMENT" not in outbox_sql and "UNIQUE" not in outbox_sql
        assert "WITHOUT ROWID" in answers_sql
        assert rows(path, "SELECT name FROM sqlite_master WHERE tbl_name = 'outbox' AND type = 'index'") == [
            ("outbox_job_key",)]
        assert rows(path, "SELECT seq, op_id, job_id, type, key, body, created_at, sealed_seq FROM outbox "
                          "ORDER BY seq") == outbox_before
        assert rows(path, "SELECT * FROM answers ORDER BY job_id, item_key") == answers_before
        # new writes go after the old ones; reads see old and new
        client.answer("job-1", "pressure", 1.7, note="re-measured")
        pending = client.pending()
        assert [p.op_id for p in pending[:5]] == [r[1] for r in outbox_before]
        assert pending[-1].seq > int(str(outbox_before[-1][0]))
        detail = client.job("job-1")
        assert [(a.item_key, a.value, a.pending) for a in detail.answers] == [
            ("gas_tight", True, True), ("pressure", 1.7, True)]
        assert detail.answers[1].hlc == pending[-1].op.hlc
        assert {s.part_no: s.qty for s in client.stock()}["P-100"] == 3
        # everything reaches the server once, in write order
        report = client.sync()
        assert report.ok and client.pending() == []
        pushed = [op.op_id for op in server.applied_ops]
        assert pushed[-6:] == [p.op_id for p in pending]
    finally:
        client.close()


def test_the_outbox_keeps_write_order_after_it_empties(tmp_path: Path) -> None:
    server = FakeSyncServer()
    publish_demo_job(server)
    client = FieldClient.open(tmp_path / "tablet.db", transport=server, clock=TickingClock())
    try:
        client.enroll(server.issue_token())
        assert client.sync().ok
        for rounds in range(3):
            client.set_field("job-1", "notes", f"a{rounds}")
            client.set_field("job-1", "notes", f"b{rounds}")
            client.answer("job-1", "pressure", 1.0 + rounds)
            pending = client.pending()
            assert [p.seq for p in pending] == sorted({p.seq for p in pending})
            assert [getattr(p.op, "value", None) for p in pending] == [f"a{rounds}", f"b{rounds}", 1.0 + rounds]
            assert client.sync().ok and client.pending() == []
        pushed = [getattr(op, "value", None) for op in server.applied_ops]
        assert pushed == ["a0", "b0", 1.0, "a1", "b1", 2.0, "a2", "b2", 3.0]
    finally:
        client.close()


def test_a_migration_failing_half_way_leaves_the_old_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tablet.db"
    server = FakeSyncServer()
    publish_demo_job(server)
    old_tablet(path, server, monkeypatch)
    before = rows(path, "SELECT * FROM outbox ORDER BY seq"), rows(path, "SELECT * FROM answers ORDER BY item_key")
    broken = migrations.WRITE_PATH_V4.replace("DROP TABLE answers", "DROP TABLE answers; SELECT no_such_function()")
    monkeypatch.setattr(migrations, "MIGRATIONS", [*OLD, ("0004_write_path", broken)])
    with pytest.raises(sqlite3.OperationalError):
        LocalStore(path)
    monkeypatch.undo()
    assert "AUTOINCREMENT" in schema_sql(path, "outbox") and "WITHOUT ROWID" not in schema_sql(path, "answers")
    assert (rows(path, "SELECT * FROM outbox ORDER BY seq"), rows(path, "SELECT * FROM answers ORDER BY item_key")) \
        == before
    store = LocalStore(path)  # the next open (a fixed SDK) upgrades it
    try:
        assert "0004_write_path" in store.applied_migrations()
        assert store.read.query("SELECT COUNT(*) AS n FROM outbox")[0]["n"] == len(before[0])
    finally:
        store.close()
