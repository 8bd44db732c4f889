"""SQLite's WAL is checkpointed by a background thread: commits stay short and the WAL stays bounded."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from sync.storage.sqlite import CHECKPOINT_BYTES, SqliteDatabase


def wait_for(condition, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def write_batches(db: SqliteDatabase, batches: int, start: int = 0) -> None:
    blob = os.urandom(64 * 1024)
    for b in range(start, start + batches):
        with db.write() as tx:
            tx.executemany("INSERT INTO changes (xid, scope, kind, entity_id, data) VALUES (0, 'all', 'x', ?, ?)",
                           [(f"{b}/{i}", blob) for i in range(16)])  # 1 MiB a commit


def test_commits_leave_checkpoints_to_the_background_and_the_wal_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "server.db"
    db = SqliteDatabase(str(path))
    assert db._checkpointer is not None
    checkpointer = db._checkpointer._thread  # this database's own (other tests' databases may still be open)
    try:
        writer_setting = db._writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert writer_setting == 0  # no commit checkpoints in line
        before = path.stat().st_size
        wal_peak = 0
        for round_ in range(6):
            write_batches(db, 8, start=round_ * 8)  # 8 MiB, twice the threshold, per round
            wal_peak = max(wal_peak, os.stat(f"{path}-wal").st_size)
        # the checkpointer copied the WAL into the database file while the database stayed open
        assert wait_for(lambda: path.stat().st_size > before + 40 * 1024 * 1024)
        assert wal_peak < 8 * CHECKPOINT_BYTES  # 48 MiB written; the WAL was reused, not grown with them
        with db.read() as tx:
            assert tx.rows("SELECT COUNT(*) FROM changes") == [(6 * 8 * 16,)]
    finally:
        db.close()
    assert not checkpointer.is_alive()
    with sqlite3.connect(path) as conn:  # everything committed is in the file after close
        assert conn.execute("SELECT COUNT(*) FROM changes").fetchone() == (6 * 8 * 16,)


def test_in_memory_databases_have_no_checkpointer() -> None:
    db = SqliteDatabase(":memory:")
    try:
        assert db._checkpointer is None
        with db.write() as tx:
            tx.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    finally:
        db.close()
