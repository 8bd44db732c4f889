"""``fieldsync demo`` prepares a database with synced offline work and a conflict, and says how to sign in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sync.storage import open_database


def test_demo_prepares_synced_work_with_a_conflict_and_prints_the_console_login(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    out = subprocess.run([sys.executable, "-m", "fieldsync", "demo", "--no-serve", "--path", str(db)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert "console: http://127.0.0.1:8000/" in out
    token = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("staff login token")][0]
    assert token.startswith("fs_staff_")
    database = open_database(f"sqlite:///{db}")
    try:
        with database.read() as tx:
            assert tx.one("SELECT COUNT(*) AS n FROM conflicts WHERE status = 'open'")["n"] >= 1  # type: ignore[index]
            assert tx.one("SELECT COUNT(*) AS n FROM signoffs")["n"] == 1  # type: ignore[index]
            assert tx.one("SELECT COUNT(*) AS n FROM devices")["n"] == 3  # type: ignore[index]
    finally:
        database.close()
