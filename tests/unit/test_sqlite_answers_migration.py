"""Migration 7 on SQLite: the answers table moves into its primary key's b-tree, every row kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sync.storage import open_database
from sync.storage.schema import MIGRATIONS, render

ROWS = [("J-b", "gas_tight", "true", None, None, 5 << 16, "D-1", 5, 1, 0),
        ("J-a", "remarks", '"fine"', "note", None, 6 << 16, "D-2", 6, 2, 1),
        ("J-a", "flue_co", None, None, "no access", 7 << 16, "D-1", 7, 1, 0)]


def _database_at_version_6(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    for version, sql in MIGRATIONS:
        if version > 6:
            break
        for statement in render(sql, "sqlite"):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, CURRENT_TIMESTAMP)", (version,))
    conn.executemany("INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ROWS)
    conn.close()


def test_existing_answers_survive_the_move_to_a_without_rowid_table(tmp_path: Path) -> None:
    path = tmp_path / "server.db"
    _database_at_version_6(path)
    db = open_database(f"sqlite:///{path}")
    try:
        with db.read() as tx:
            assert 7 in [r["version"] for r in tx.query("SELECT version FROM schema_migrations")]
            rows = tx.rows("SELECT job_id, item_key, value, note, na_reason, hlc, device_id, at, template_version, "
                           "deleted FROM answers ORDER BY job_id, item_key")
            assert rows == sorted(ROWS)
            with pytest.raises(sqlite3.OperationalError, match="rowid"):
                tx.rows("SELECT rowid FROM answers")
            ddl = tx.one("SELECT sql FROM sqlite_master WHERE name = 'answers'")
            assert ddl is not None and ddl["sql"].endswith("WITHOUT ROWID")
        with db.write() as tx:  # the key still refuses a second answer to the same item
            with pytest.raises(sqlite3.IntegrityError):
                tx.execute("INSERT INTO answers (job_id, item_key, hlc, device_id, at) VALUES ('J-a', 'remarks', 1, "
                           "'D', 1)")
    finally:
        db.close()
