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


def issue_staff_token(services: Services, role: str, name: str = "") -> str:
    """Create a staff token for ``role``; the token is returned once and stored hashed."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    token = new_secret("fs_staff_")
    with services.db.write() as tx:
        tx.execute("INSERT INTO staff_tokens (token_hash, role, name, created_at) VALUES (?, ?, ?, ?)",
                   (hash_secret(token), role, name or role, services.clock()))
    return token


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
        row = tx.one("SELECT role, name, revoked_at FROM staff_tokens WHERE token_hash = ?", (hash_secret(token),))
    if row is None or row["revoked_at"] is not None:
        raise Unauthorized("unauthorized", "unknown or revoked staff token")
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
