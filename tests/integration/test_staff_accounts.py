"""What an operator manages: staff tokens that expire, are listed and revoked; users disabled; the schema.

The CLI runs as a subprocess on a real SQLite file; the tokens it prints are used over HTTP against the
app on the same file, whose clock the test moves to let a token expire.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from litestar.testing import TestClient

from server.app import create_app
from server.console import auth
from server.errors import Unauthorized
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.conftest import Clock

ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400_000


def admin(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fieldsync", "admin", *args, "--db", db],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'staff.db'}"
    open_database(url).close()  # as `fieldsync serve` leaves it
    return url


def test_tokens_expire_are_listed_by_id_and_revoked(db: str) -> None:
    short = admin(db, "token", "--role", "dispatcher", "--name", "night shift", "--days", "1").stdout.strip()
    default = admin(db, "token", "--role", "backoffice", "--name", "erp").stdout.strip()
    assert short.startswith("fs_staff_") and default.startswith("fs_staff_")
    listed = json.loads(admin(db, "tokens", "--json").stdout)
    assert {t["name"] for t in listed} == {"night shift", "erp"}
    assert all(short not in json.dumps(t) and default not in json.dumps(t) for t in listed), "ids, never tokens"
    by_name = {t["name"]: t for t in listed}
    assert by_name["erp"]["expires_at"] - by_name["erp"]["created_at"] == 90 * DAY, "90 days unless told"
    assert by_name["night shift"]["expires_at"] - by_name["night shift"]["created_at"] == DAY

    clock = Clock(by_name["night shift"]["created_at"] + 1000)
    services = Services(db=open_database(db), settings=get_settings(db_url=db, run_scheduler=False), clock=clock)
    with TestClient(create_app(services=services, scheduler=False)) as client:
        def status(token: str) -> int:
            return client.get("/v1/tickets", headers={"Authorization": f"Bearer {token}"}).status_code

        assert status(short) == 200 and status(default) == 200
        session = auth.sign_in(services, token=short)  # a console session opened with the short token
        clock.advance(DAY)
        r = client.get("/v1/tickets", headers={"Authorization": f"Bearer {short}"})
        assert r.status_code == 401 and r.json()["code"] == "token_expired"
        assert auth.current_session(services, session) is None, "the console session ends with its token"
        assert status(default) == 200

        out = admin(db, "revoke-token", by_name["erp"]["id"])
        assert out.returncode == 0 and "revoked" in out.stdout
        assert status(default) == 401
        assert admin(db, "revoke-token", by_name["erp"]["id"]).returncode == 2, "already revoked: said so"
    services.db.close()
    table = admin(db, "tokens").stdout
    assert "night shift" in table and "erp" in table and short not in table


@pytest.mark.parametrize("args", [["--days", "-1"], ["--days", "99999"]])
def test_a_token_lifetime_out_of_bounds_is_one_line(db: str, args: list[str]) -> None:
    r = admin(db, "token", "--role", "admin", *args)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and len(r.stderr.splitlines()) == 1
    assert json.loads(admin(db, "tokens", "--json").stdout) == []


def test_revoke_token_refuses_a_malformed_id(db: str) -> None:
    r = admin(db, "revoke-token", "'; DROP TABLE staff_tokens; --")
    assert r.returncode == 2 and "hex digits" in r.stderr


def test_a_disabled_user_cannot_sign_in_until_enabled_again(db: str) -> None:
    created = subprocess.run([sys.executable, "-m", "fieldsync", "admin", "user", "--name", "dora", "--role",
                              "dispatcher", "--db", db], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             input="long enough pw\n")
    assert created.returncode == 0, created.stderr
    services = Services(db=open_database(db), settings=get_settings(db_url=db, run_scheduler=False))
    session = auth.sign_in(services, name="dora", password="long enough pw")
    assert auth.current_session(services, session) is not None
    out = admin(db, "disable-user", "dora")
    assert out.returncode == 0 and "disabled user dora" in out.stdout
    assert auth.current_session(services, session) is None, "signed out at once"
    with pytest.raises(Unauthorized):
        auth.sign_in(services, name="dora", password="long enough pw")
    users = json.loads(admin(db, "users", "--json").stdout)
    assert [(u["name"], u["disabled_at"] is not None) for u in users] == [("dora", True)]
    assert admin(db, "disable-user", "nobody").returncode == 2
    enabled = subprocess.run([sys.executable, "-m", "fieldsync", "admin", "user", "--name", "dora", "--role",
                              "dispatcher", "--db", db], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             input="a new long pw\n")
    assert enabled.returncode == 0
    auth.close_session(services, auth.sign_in(services, name="dora", password="a new long pw"))
    services.db.close()


def test_admin_status_and_migrate_on_a_database_of_an_older_release(tmp_path: Path) -> None:
    """An operator upgrading: status says what is pending (exit 1), migrate applies it, status is then 0."""
    import sqlite3

    from sync.storage.schema import MIGRATIONS, latest_version, render

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the schema as release "version 8" left it
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        for version, sql in MIGRATIONS:
            if version <= 8:
                for statement in render(sql, "sqlite"):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (version,))
    url = f"sqlite:///{path}"
    newer = [v for v, _ in MIGRATIONS if v > 8]
    status = admin(url, "status", "--json")
    assert status.returncode == 1, status.stderr
    assert json.loads(status.stdout) == {"database": "sqlite", "schema_version": 8, "code_version": latest_version(),
                                         "pending": newer, "state": "pending"}
    migrated = admin(url, "migrate")
    assert migrated.returncode == 0 and f"applied {', '.join(map(str, newer))}" in migrated.stdout
    assert admin(url, "status").returncode == 0
    assert "nothing to apply" in admin(url, "migrate").stdout
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'later')", (latest_version() + 1,))
    ahead = admin(url, "status")
    assert ahead.returncode == 2 and "newer than this fieldsync" in ahead.stdout
    assert admin(f"sqlite:///{tmp_path / 'missing.db'}", "status").returncode == 2
    assert not (tmp_path / "missing.db").exists()
