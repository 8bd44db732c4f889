"""SQLite readers come from a bounded pool: threads that come and go leave no connections behind."""

from __future__ import annotations

import threading
from pathlib import Path

from sync.storage.sqlite import SqliteDatabase


def test_many_short_lived_reader_threads_share_a_bounded_pool(tmp_path: Path) -> None:
    db = SqliteDatabase(str(tmp_path / "server.db"))
    try:
        gate = threading.Barrier(20)
        seen: list[int] = []

        def read_once() -> None:
            gate.wait()
            with db.read() as tx:
                row = tx.one("SELECT COUNT(*) AS n FROM schema_migrations")
                assert row is not None
                seen.append(int(row["n"]))

        for _ in range(10):  # 200 threads in waves, each dying after one read (like idle worker threads)
            threads = [threading.Thread(target=read_once) for _ in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert len(seen) == 200 and len(set(seen)) == 1
        assert db._reader_count <= db.max_readers  # connections are reused, not one per thread ever seen
    finally:
        db.close()
