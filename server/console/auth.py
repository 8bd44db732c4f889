"""Console sign-in: staff users with argon2id-hashed passwords, and console sessions with CSRF tokens.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile); a hash of
an older kind (the scrypt hashes of earlier releases) or older parameters is replaced by a current one
the next time its user signs in with the right password, so upgrading needs no password reset.

Two ways in, one session: a staff API token (``fieldsync admin token``) or a
user name and password (``fieldsync admin user``).  A session is a random
token in an HttpOnly, SameSite=Strict cookie; only its SHA-256 is stored, so
a copy of the database opens no session.  A session opened with a staff token
dies with that token's revocation.  The CSRF token of a form is an HMAC of the
session token, so nothing more is stored and it changes with every session.

Password guesses are limited per client address (the sign-in route) and per
account (here): only failed attempts spend an account's allowance, so guessing
from many addresses is as slow as from one.  A stranger can slow an account's
password sign-in this way, never its staff-token sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.domain.staff import store as staff_store
from server.errors import BadRequest, NotFound, Unauthorized
from server.security import ROLES, Staff, hash_secret, staff_from_token
from server.services import Services

SESSION_COOKIE: Final = "fs_console"
SESSION_TTL_MS: Final = 12 * 3600 * 1000
_HASHER: Final = PasswordHasher()  # argon2id, time cost 3, 64 MiB, 4 lanes
MIN_PASSWORD: Final = 8
MAX_PASSWORD: Final = 1024
USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
#: failed password sign-ins per account: the limiter's base rate and burst scaled (with the defaults one a
#: minute, in bursts of ten)
ACCOUNT_RATE_SCALE: Final = 1 / 60
ACCOUNT_BURST_SCALE: Final = 0.5


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in console user and the CSRF token their forms must carry."""

    staff: Staff
    csrf: str
    via: str
    #: the console language this user chose (users signed in with a password; None: not chosen yet)
    locale: str | None = None

    def can(self, *roles: str) -> bool:
        """True when this user has one of ``roles`` (admin may do anything)."""
        return self.staff.role == "admin" or self.staff.role in roles


def hash_password(password: str) -> str:
    """The stored form of a password: an argon2id PHC string (``$argon2id$v=19$m=...``) with a fresh salt."""
    return _HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """Check ``password`` against a stored hash: argon2id, or the scrypt hashes of earlier releases."""
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when a stored hash is not argon2id with the current parameters (replace it at the next sign-in)."""
    try:
        return _HASHER.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


def _verify_scrypt(password: str, stored: str) -> bool:
    """An earlier release's ``scrypt$N$r$p$salt$hash`` (constant-time compare), kept until its user signs in."""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(want), maxmem=2**27)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def check_password_rules(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadRequest("weak_password", f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def set_user(services: Services, name: str, role: str, password: str) -> bool:
    """Create staff user ``name`` or reset their role and password; True when created."""
    if not USER_NAME.match(name):
        raise BadRequest("invalid_name", "a user name has 1-64 letters, digits or _ . @ -")
    if role not in ROLES:
        raise BadRequest("invalid_role", f"role must be one of {', '.join(ROLES)}")
    check_password_rules(password)
    stored = hash_password(password)
    now = services.clock()
    with services.db.write() as tx:
        existing = staff_store.lock_user(tx, name)
        if existing is None:
            staff_store.insert_user(tx, name, role, stored, now)
        else:
            staff_store.reset_user(tx, name, role, stored)
    return existing is None


# A hash to compare against when the user does not exist, so timing does not reveal user names.
_DUMMY_HASH: list[str] = []


def list_users(services: Services) -> list[dict[str, object]]:
    """The console users as an operator lists them."""
    with services.db.read() as tx:
        return [dict(r) for r in staff_store.users(tx)]


def disable_user(services: Services, name: str) -> None:
    """Disable a console user (``fieldsync admin user`` enables them again with a new password)."""
    with services.db.write() as tx:
        if not staff_store.disable_user(tx, name[:64], services.clock()):
            raise NotFound("no_such_user", f"no console user {name[:64]!r}")


def authenticate_password(services: Services, name: str, password: str) -> Staff:
    """The staff user for a name and password, or ``bad_credentials``."""
    with services.db.read() as tx:
        row = staff_store.user_credentials(tx, name[:64])
    if row is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(hash_password(secrets.token_hex(8)))
        verify_password(password[:MAX_PASSWORD], _DUMMY_HASH[0])
        raise Unauthorized("bad_credentials", "unknown user or wrong password")
    if not verify_password(password[:MAX_PASSWORD], row["password_hash"]) or row["disabled_at"] is not None:
        raise Unauthorized("bad_credentials", "unknown user or wrong password")
    if needs_rehash(row["password_hash"]):
        with services.db.write() as tx:  # only if the hash is still the one checked (a reset may have won)
            staff_store.replace_password_hash(tx, row["name"], row["password_hash"],
                                              hash_password(password[:MAX_PASSWORD]))
    return Staff(name=row["name"], role=row["role"])


def open_session(services: Services, staff: Staff, via: str, staff_token: str | None = None) -> str:
    """Start a console session; returns the raw cookie value (stored only hashed)."""
    raw = secrets.token_urlsafe(32)
    now = services.clock()
    with services.db.write() as tx:
        staff_store.insert_session(tx, hash_secret(raw), staff.name, staff.role, via,
                                   hash_secret(staff_token) if staff_token else None, now, now + SESSION_TTL_MS)
    return raw


def sign_in(services: Services, *, token: str = "", name: str = "", password: str = "") -> str:
    """Check a staff token or a name and password and open a session; returns the cookie value."""
    token, name = token.strip(), name.strip()
    if "\x00" in token + name:
        raise Unauthorized("bad_credentials", "unknown user or wrong password")
    if token:
        staff = staff_from_token(services, token)
        return open_session(services, staff, "token", token)
    if not name or not password:
        raise BadRequest("credentials_required", "enter a staff token, or a user name and password")
    account = f"console-login-account:{name[:64]}"
    services.limiter.check(account, rate_scale=ACCOUNT_RATE_SCALE, burst_scale=ACCOUNT_BURST_SCALE)
    staff = authenticate_password(services, name, password)  # a wrong password keeps the token spent
    services.limiter.refund(account)
    return open_session(services, staff, "password")


def csrf_for(raw: str) -> str:
    """The CSRF token of the session whose cookie is ``raw``."""
    return hmac.new(raw.encode(), b"fieldsync-console-csrf", hashlib.sha256).hexdigest()


def current_session(services: Services, raw: str | None) -> ConsoleSession | None:
    """The live session of a cookie value, or None (unknown, expired, or its staff token revoked)."""
    if not raw or len(raw) > 200:
        return None
    with services.db.read() as tx:
        row = staff_store.session(tx, hash_secret(raw))
        locale = staff_store.user_locale(tx, row["name"]) if row is not None and row["via"] == "password" else None
    if row is None or row["expires_at"] <= services.clock():
        return None
    if row["staff_token_hash"] is not None and (
            row["revoked_at"] is not None
            or (row["token_expires_at"] is not None and row["token_expires_at"] <= services.clock())):
        return None
    return ConsoleSession(staff=Staff(name=row["name"], role=row["role"]), csrf=csrf_for(raw), via=row["via"],
                          locale=locale)


def close_session(services: Services, raw: str | None) -> None:
    """Sign out: the cookie no longer opens anything."""
    if raw:
        with services.db.write() as tx:
            staff_store.delete_session(tx, hash_secret(raw))


def remember_locale(services: Services, session: ConsoleSession, locale: str) -> bool:
    """Store the language a password user chose; False for a staff-token session (the cookie remembers it)."""
    if session.via != "password":
        return False
    with services.db.write() as tx:
        return staff_store.set_user_locale(tx, session.staff.name, locale)
