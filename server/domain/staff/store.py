"""SQL of staff users (console passwords) and console sessions: the tables ``staff_users`` and ``console_sessions``.

The rules (password hashing, session lifetime, CSRF) are in :mod:`server.console.auth`;
this module only reads and writes rows, inside the caller's transaction.
"""

from __future__ import annotations

from sync.storage import Row, Tx


def lock_user(tx: Tx, name: str) -> Row | None:
    """The user row, locked for the rest of the transaction (None when there is none)."""
    return tx.lock("SELECT name FROM staff_users WHERE name = ?", (name,))


def insert_user(tx: Tx, name: str, role: str, password_hash: str, now: int) -> None:
    tx.execute("INSERT INTO staff_users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
               (name, role, password_hash, now))


def reset_user(tx: Tx, name: str, role: str, password_hash: str) -> None:
    """New role and password, enabled again; the user's password sessions end."""
    tx.execute("UPDATE staff_users SET role = ?, password_hash = ?, disabled_at = NULL WHERE name = ?",
               (role, password_hash, name))
    tx.execute("DELETE FROM console_sessions WHERE name = ? AND via = 'password'", (name,))


def replace_password_hash(tx: Tx, name: str, old: str, new: str) -> None:
    """The same password, hashed anew; only where the stored hash is still ``old``."""
    tx.execute("UPDATE staff_users SET password_hash = ? WHERE name = ? AND password_hash = ?", (new, name, old))


def users(tx: Tx) -> list[Row]:
    """Every console user (``name``, ``role``, ``created_at``, ``disabled_at``), by name."""
    return tx.query("SELECT name, role, created_at, disabled_at FROM staff_users ORDER BY name")


def disable_user(tx: Tx, name: str, now: int) -> bool:
    """Disable a user and end their password sessions; False when there is no such user."""
    found = tx.lock("SELECT name FROM staff_users WHERE name = ?", (name,))
    if found is None:
        return False
    tx.execute("UPDATE staff_users SET disabled_at = ? WHERE name = ? AND disabled_at IS NULL", (now, name))
    tx.execute("DELETE FROM console_sessions WHERE name = ? AND via = 'password'", (name,))
    return True


def user_credentials(tx: Tx, name: str) -> Row | None:
    """``name``, ``role``, ``password_hash``, ``disabled_at`` of a user."""
    return tx.one("SELECT name, role, password_hash, disabled_at FROM staff_users WHERE name = ?", (name,))


def insert_session(tx: Tx, token_hash: str, name: str, role: str, via: str, staff_token_hash: str | None,
                   now: int, expires_at: int) -> None:
    """A new console session; sessions expired by ``now`` are dropped first."""
    tx.execute("DELETE FROM console_sessions WHERE expires_at < ?", (now,))
    tx.execute("INSERT INTO console_sessions (token_hash, name, role, via, staff_token_hash, created_at, "
               "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
               (token_hash, name, role, via, staff_token_hash, now, expires_at))


def session(tx: Tx, token_hash: str) -> Row | None:
    """A session with the revocation time of the staff token it was opened with (``revoked_at``)."""
    return tx.one("SELECT s.name, s.role, s.via, s.expires_at, t.revoked_at, t.expires_at AS token_expires_at, "
                  "s.staff_token_hash "
                  "FROM console_sessions s LEFT JOIN staff_tokens t ON t.token_hash = s.staff_token_hash "
                  "WHERE s.token_hash = ?", (token_hash,))


def delete_session(tx: Tx, token_hash: str) -> None:
    tx.execute("DELETE FROM console_sessions WHERE token_hash = ?", (token_hash,))


def user_locale(tx: Tx, name: str) -> str | None:
    """The console language ``name`` chose (None: not chosen, or no such user)."""
    row = tx.one("SELECT locale FROM staff_users WHERE name = ?", (name,))
    return None if row is None else row["locale"]


def set_user_locale(tx: Tx, name: str, locale: str) -> bool:
    """Remember the console language of user ``name``; False when there is no such user (a staff token)."""
    if tx.one("SELECT name FROM staff_users WHERE name = ?", (name,)) is None:
        return False
    tx.execute("UPDATE staff_users SET locale = ? WHERE name = ?", (locale, name))
    return True


def set_user_state(tx: Tx, name: str, *, role: str | None = None, enable: bool = False) -> bool:
    """A new role for a user (their password sessions end), or a disabled user enabled again with the password
    they had; False when there is no such user."""
    if tx.lock("SELECT name FROM staff_users WHERE name = ?", (name,)) is None:
        return False
    if role is not None:
        tx.execute("UPDATE staff_users SET role = ? WHERE name = ?", (role, name))
        tx.execute("DELETE FROM console_sessions WHERE name = ? AND via = 'password'", (name,))
    if enable:
        tx.execute("UPDATE staff_users SET disabled_at = NULL WHERE name = ?", (name,))
    return True
