"""Console sign-in without a browser: password hashing, staff users, sessions and the ``admin user`` CLI.

These run on both storage backends (the ``services`` fixture) and need no Chromium.
"""

from __future__ import annotations

import io
import sys

import pytest

from server.console import auth
from server.errors import BadRequest, Unauthorized
from server.security import issue_staff_token
from server.services import Services


def test_passwords_are_stored_as_salted_argon2id_hashes() -> None:
    one, two = auth.hash_password("hunter2hunter2"), auth.hash_password("hunter2hunter2")
    assert one.startswith("$argon2id$") and one != two, "a fresh salt per hash"
    assert auth.verify_password("hunter2hunter2", one)
    assert not auth.verify_password("hunter2hunter3", one)
    assert not auth.verify_password("x", "not-a-hash")
    assert not auth.needs_rehash(one) and auth.needs_rehash("not-a-hash")


def _scrypt_hash(password: str) -> str:
    """A hash as releases before argon2id stored it (scrypt, N=2^14)."""
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def test_an_older_scrypt_hash_still_signs_in_and_is_replaced_by_argon2id(services: Services) -> None:
    auth.set_user(services, "olga", "dispatcher", "placeholder pw")
    with services.db.write() as tx:
        tx.execute("UPDATE staff_users SET password_hash = ? WHERE name = 'olga'", (_scrypt_hash("old release pw"),))
    with pytest.raises(Unauthorized):
        auth.sign_in(services, name="olga", password="wrong password")
    with services.db.read() as tx:
        before = tx.one("SELECT password_hash FROM staff_users WHERE name = 'olga'")
    assert before is not None and before["password_hash"].startswith("scrypt$"), "a wrong password changes nothing"
    auth.close_session(services, auth.sign_in(services, name="olga", password="old release pw"))
    with services.db.read() as tx:
        stored = tx.one("SELECT password_hash FROM staff_users WHERE name = 'olga'")["password_hash"]
    assert stored.startswith("$argon2id$"), "rehashed at the first right sign-in"
    auth.close_session(services, auth.sign_in(services, name="olga", password="old release pw"))
    with pytest.raises(Unauthorized):
        auth.sign_in(services, name="olga", password="placeholder pw")


def test_user_sign_in_session_and_password_reset(services: Services) -> None:
    assert auth.set_user(services, "dora", "dispatcher", "long enough pw") is True
    with pytest.raises(Unauthorized):
        auth.sign_in(services, name="dora", password="wrong password")
    with pytest.raises(Unauthorized):
        auth.sign_in(services, name="nobody", password="long enough pw")
    raw = auth.sign_in(services, name="dora", password="long enough pw")
    session = auth.current_session(services, raw)
    assert session is not None and session.staff.role == "dispatcher" and session.csrf == auth.csrf_for(raw)
    with services.db.read() as tx:
        stored = tx.query("SELECT token_hash FROM console_sessions")
    assert raw not in {r["token_hash"] for r in stored}, "only the hash of the cookie is stored"

    assert auth.set_user(services, "dora", "backoffice", "another long pw") is False
    assert auth.current_session(services, raw) is None, "a password reset ends the user's sessions"
    auth.close_session(services, auth.sign_in(services, name="dora", password="another long pw"))


def test_a_users_language_is_stored_with_the_user_and_a_staff_tokens_is_not(services: Services) -> None:
    auth.set_user(services, "lin", "backoffice", "long enough pw")
    raw = auth.sign_in(services, name="lin", password="long enough pw")
    session = auth.current_session(services, raw)
    assert session is not None and session.locale is None, "not chosen yet: the browser's language counts"
    assert auth.remember_locale(services, session, "zh_CN") is True
    again = auth.current_session(services, auth.sign_in(services, name="lin", password="long enough pw"))
    assert again is not None and again.locale == "zh_CN", "every later session of the user has it"
    token_session = auth.current_session(services, auth.sign_in(services, token=issue_staff_token(
        services, "backoffice", "lin")))
    assert token_session is not None and token_session.locale is None, "a token named like a user is not that user"
    assert auth.remember_locale(services, token_session, "en") is False
    assert auth.current_session(services, raw) is not None and auth.current_session(services, raw).locale == "zh_CN"  # type: ignore[union-attr]


def test_sessions_opened_with_a_staff_token_end_when_it_is_revoked(services: Services) -> None:
    token = issue_staff_token(services, "admin", "ops")
    raw = auth.sign_in(services, token=token)
    assert auth.current_session(services, raw) is not None
    with services.db.write() as tx:
        tx.execute("UPDATE staff_tokens SET revoked_at = 1 WHERE role = 'admin'")
    assert auth.current_session(services, raw) is None


@pytest.mark.parametrize(("name", "role", "password", "code"), [
    ("ok-name", "admin", "short", "weak_password"),
    ("bad name!", "admin", "long enough pw", "invalid_name"),
    ("ok-name", "root", "long enough pw", "invalid_role"),
])
def test_bad_users_are_refused(services: Services, name: str, role: str, password: str, code: str) -> None:
    with pytest.raises(BadRequest) as err:
        auth.set_user(services, name, role, password)
    assert err.value.code == code


def test_admin_user_cli_reads_the_password_from_stdin(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from fieldsync.cli import main
    from sync.storage import open_database

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["admin", "user", "--name", "ops", "--role", "backoffice", "--db", db]) == 2  # no database yet
    assert "no SQLite database at" in capsys.readouterr().err
    open_database(db).close()  # as `fieldsync serve` leaves it
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret-enough\n"))
    assert main(["admin", "user", "--name", "ops", "--role", "backoffice", "--db", db]) == 0
    assert "created user ops (backoffice)" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["admin", "user", "--name", "ops", "--role", "backoffice", "--db", db]) == 2
    assert "8 to 1024 characters" in capsys.readouterr().err
