"""Credentials: staff bearer tokens with roles, and device sessions.

Secrets are random and stored only as SHA-256 hashes, so a copy of the
database gives no usable token.  Device sessions are opened by signing a
server nonce (see ``server.domain.devices``); their expiry is counted in
server time, so a tablet whose clock is days wrong still authenticates.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Final

from litestar import Request

from server.errors import Forbidden, Unauthorized
from server.services import Services

ROLES: Final = ("dispatcher", "backoffice", "admin")
DAY_MS: Final = 86_400_000
#: the longest a staff token may live; `fieldsync admin token` gives 90 days unless told otherwise
MAX_TOKEN_DAYS: Final = 3650
#: hex digits of a token's hash that name it in lists (never the token itself)
TOKEN_ID_LEN: Final = 12


def hash_secret(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(prefix: str) -> str:
    """A new random token with a readable prefix (``fs_staff_``, ``fs_enroll_``, ``fs_dev_``)."""
    return prefix + secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class Staff:
    """An authenticated back-office user."""

    name: str
    role: str

    def require(self, *roles: str) -> None:
        """Raise ``forbidden`` unless this user has one of ``roles`` (admin may do anything)."""
        if self.role != "admin" and self.role not in roles:
            raise Forbidden("role_forbidden", f"role {self.role!r} may not do this; needs {' or '.join(roles)}")


@dataclass(frozen=True, slots=True)
class DeviceAuth:
    """An authenticated, non-revoked device."""

    device_id: str
    engineer_id: str
    public_key: bytes
    clock_offset_ms: int
    last_sync_at: int | None = None  # when the device last finished a push or a pull


def issue_staff_token(services: Services, role: str, name: str = "", *, days: int | None = None) -> str:
    """Create a staff token for ``role``, valid ``days`` (None: until revoked); returned once, stored hashed."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if days is not None and not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValueError(f"a staff token lives 1 to {MAX_TOKEN_DAYS} days, not {days}")
    token = new_secret("fs_staff_")
    now = services.clock()
    expires = None if days is None else now + days * DAY_MS
    with services.db.write() as tx:
        tx.execute("INSERT INTO staff_tokens (token_hash, role, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                   (hash_secret(token), role, name or role, now, expires))
    return token


@dataclass(frozen=True, slots=True)
class StaffTokenInfo:
    """A staff token as an operator lists it: never the token, only the start of its hash as its id."""

    id: str
    name: str
    role: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None


def list_staff_tokens(services: Services) -> list[StaffTokenInfo]:
    """Every staff token, newest first."""
    with services.db.read() as tx:
        rows = tx.query("SELECT token_hash, name, role, created_at, expires_at, revoked_at FROM staff_tokens "
                        "ORDER BY created_at DESC, token_hash")
    return [StaffTokenInfo(r["token_hash"][:TOKEN_ID_LEN], r["name"], r["role"], r["created_at"], r["expires_at"],
                           r["revoked_at"]) for r in rows]


def revoke_staff_token(services: Services, token_id: str) -> int:
    """Revoke the tokens whose id (hash prefix, at least 8 hex digits) is ``token_id``; how many it revoked.

    Console sessions opened with a revoked token end with it.
    """
    token_id = token_id.strip().lower()
    if not (8 <= len(token_id) <= 64 and all(c in "0123456789abcdef" for c in token_id)):
        raise ValueError("a token id is 8 to 64 hex digits, as `fieldsync admin tokens` lists it")
    with services.db.write() as tx:
        found = tx.query("SELECT token_hash FROM staff_tokens WHERE revoked_at IS NULL AND token_hash LIKE ?",
                         (token_id + "%",))
        if len(found) > 1:
            raise ValueError(f"{token_id} names {len(found)} tokens: give more of its digits")
        for row in found:
            tx.execute("UPDATE staff_tokens SET revoked_at = ? WHERE token_hash = ?",
                       (services.clock(), row["token_hash"]))
    return len(found)


def bearer(request: Request[Any, Any, Any], scheme: str) -> str | None:
    """The credential of ``Authorization: <scheme> <value>``, if present."""
    header = request.headers.get("authorization", "")
    kind, _, value = header.partition(" ")
    if kind.lower() != scheme.lower() or not value.strip():
        return None
    return value.strip()


def staff_from_token(services: Services, token: str | None) -> Staff:
    """Resolve a staff token, or raise ``unauthorized``."""
    if not token:
        raise Unauthorized("unauthorized", "send Authorization: Bearer <staff token>")
    with services.db.read() as tx:
        row = tx.one("SELECT role, name, revoked_at, expires_at FROM staff_tokens WHERE token_hash = ?",
                     (hash_secret(token),))
    if row is None or row["revoked_at"] is not None:
        raise Unauthorized("unauthorized", "unknown or revoked staff token")
    if row["expires_at"] is not None and row["expires_at"] <= services.clock():
        raise Unauthorized("token_expired", "this staff token has expired: ask an admin for a new one")
    return Staff(name=row["name"], role=row["role"])


def device_from_token(services: Services, token: str | None) -> DeviceAuth:
    """Resolve a device session token, or raise ``unauthorized`` / ``session_expired`` / ``device_revoked``."""
    if not token:
        raise Unauthorized("unauthorized", "send Authorization: Device <session token>")
    with services.db.read() as tx:
        row = tx.one(
            "SELECT s.expires_at, d.id, d.engineer_id, d.public_key, d.revoked_at, d.clock_offset_ms, d.last_sync_at "
            "FROM device_sessions s JOIN devices d ON d.id = s.device_id WHERE s.token_hash = ?",
            (hash_secret(token),),
        )
    if row is None:
        raise Unauthorized("unauthorized", "unknown device session")
    if row["revoked_at"] is not None:
        raise Forbidden("device_revoked", "this device has been revoked")
    if row["expires_at"] <= services.clock():
        raise Unauthorized("session_expired", "device session expired; open a new one")
    return DeviceAuth(row["id"], row["engineer_id"], bytes(row["public_key"]), int(row["clock_offset_ms"]),
                      row["last_sync_at"])
