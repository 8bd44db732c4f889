"""Device identity: one-time enrollment tokens, key registration, sessions, revocation.

A device proves possession of its key by signing a fresh server nonce; the
nonce and the session both expire by the *server's* clock, so a tablet whose
clock is hours or days off still gets in.  The offset between the clock the
device reports and the server's is measured here, at every session; a device
that reports no usable clock gets an *unknown* offset (its event times are then
flagged, see :mod:`sync.core.eventtime`), never a silent zero.

Rate limits (:class:`server.ratelimit.RateLimiter`) count what a caller cannot
forge: challenges and session attempts per client address, and sessions per
device only once the device's key has signed, so a stranger who knows a
tablet's id (it is printed on every service report) cannot lock it out.
"""

from __future__ import annotations

import secrets
from typing import Any

from schemas.domain import Device
from schemas.wire import Challenge, Enrollment, EnrollRequest, ServerKeyLink, Session, SessionRequest
from server.domain.devices import store
from server.errors import BadRequest, Forbidden, NotFound, Unauthorized
from server.ids import new_id
from server.security import hash_secret, new_secret
from server.services import Services
from sync.core.eventtime import measure_offset
from sync.core.signatures import is_usable_public_key
from sync.core.signoff import certificate_message, verify_signature

NONCE_TTL_MS = 120_000
#: sessions a device opens (with a valid signature) at the limiter's base rate and burst
SESSION_LIMIT_KEY = "session:{}"


def issue_enroll_token(services: Services, engineer_id: str) -> tuple[str, int]:
    """A one-time, expiring enrollment token for an engineer: (token, expires_at)."""
    now = services.clock()
    expires = now + services.settings.enroll_token_ttl_s * 1000
    token = new_secret("fs_enroll_")
    with services.db.write() as tx:
        if not store.engineer_exists(tx, engineer_id):
            raise NotFound("unknown_engineer", f"no engineer {engineer_id!r}")
        store.insert_enroll_token(tx, hash_secret(token), engineer_id, now, expires)
    return token, expires


def enroll(services: Services, req: EnrollRequest) -> Enrollment:
    """Register a device public key with a one-time token (a key that could never sign leaves the token unused)."""
    if len(req.public_key) != 32:
        raise BadRequest("invalid_public_key", "public_key must be 32 raw Ed25519 bytes")
    if not is_usable_public_key(req.public_key):
        raise BadRequest("invalid_public_key", "public_key is not a usable Ed25519 key (small order, not on the curve)")
    now = services.clock()
    key = services.key
    device_id = new_id("D-")
    with services.db.write() as tx:
        row = store.lock_enroll_token(tx, hash_secret(req.token))
        if row is None:
            raise Unauthorized("token_invalid", "unknown enrollment token")
        if row["used_at"] is not None:
            raise Unauthorized("token_used", "this enrollment token was already used")
        if row["expires_at"] <= now:
            raise Unauthorized("token_expired", "this enrollment token has expired")
        engineer_id = row["engineer_id"]
        offset = measure_offset(req.device_clock, now)
        store.use_enroll_token(tx, hash_secret(req.token), device_id, now)
        store.insert_device(tx, device_id, engineer_id, req.name[:100], req.public_key, now, offset or 0,
                            offset is not None)
    cert = key.sign(certificate_message(device_id, engineer_id, req.public_key))
    return Enrollment(device_id=device_id, engineer_id=engineer_id, server_public_key=key.public,
                      server_key_id=key.key_id, certificate=cert)


def challenge(services: Services, device_id: str) -> Challenge:
    """A fresh nonce for the device to sign."""
    now = services.clock()
    nonce = secrets.token_urlsafe(24)
    with services.db.write() as tx:
        row = store.revoked_at(tx, device_id)
        if row is None:
            raise Unauthorized("unknown_device", "no such device")
        if row["revoked_at"] is not None:
            raise Forbidden("device_revoked", "this device has been revoked")
        store.insert_nonce(tx, nonce, device_id, now, now + NONCE_TTL_MS)
    return Challenge(device_id=device_id, nonce=nonce, expires_in_s=NONCE_TTL_MS // 1000)


def open_session(services: Services, req: SessionRequest) -> Session:
    """Trade a signed nonce for a session token; measure the device clock offset."""
    now = services.clock()
    token = new_secret("fs_dev_")
    ttl = services.settings.session_ttl_s
    with services.db.write() as tx:
        nonce = store.lock_nonce(tx, req.nonce)
        if nonce is None or nonce["device_id"] != req.device_id or nonce["expires_at"] <= now:
            raise Unauthorized("bad_nonce", "unknown, used or expired nonce; ask for a new challenge")
        store.delete_nonce(tx, req.nonce)
        dev = store.lock_device_key(tx, req.device_id)
        if dev is None:
            raise Unauthorized("unknown_device", "no such device")
        if dev["revoked_at"] is not None:
            raise Forbidden("device_revoked", "this device has been revoked")
        if not verify_signature(bytes(dev["public_key"]), req.signature, req.nonce.encode()):
            raise Unauthorized("bad_signature", "nonce signature does not verify with the device key")
        # only the holder of the key gets here: a stranger's attempts cannot spend this device's sessions
        services.limiter.check(SESSION_LIMIT_KEY.format(req.device_id))
        offset = measure_offset(req.device_clock, now)
        store.set_clock_offset(tx, req.device_id, offset or 0, offset is not None)
        store.insert_session(tx, hash_secret(token), req.device_id, now, now + ttl * 1000)
    chain = [ServerKeyLink(key_id=k.key_id, public_key=k.public, endorsement=k.endorsement)
             for k in services.key.chain]
    return Session(token=token, expires_in_s=ttl, server_time=now, clock_offset_ms=offset or 0, server_keys=chain)


def revoke(services: Services, device_id: str) -> Device:
    """Revoke a device: from now on every request it makes is refused with ``device_revoked``."""
    now = services.clock()
    with services.db.write() as tx:
        if store.revoke(tx, device_id, now) == 0:
            raise NotFound("unknown_device", f"no device {device_id!r}")
    return get_device(services, device_id)


def _device(row: dict[str, Any]) -> Device:
    return Device(id=row["id"], engineer_id=row["engineer_id"], name=row["name"], enrolled_at=row["enrolled_at"],
                  revoked_at=row["revoked_at"], last_seq=row["last_seq"], last_sync_at=row["last_sync_at"],
                  clock_offset_ms=row["clock_offset_ms"], clock_known=bool(row["clock_known"]))


def get_device(services: Services, device_id: str) -> Device:
    with services.db.read() as tx:
        row = store.device(tx, device_id)
    if row is None:
        raise NotFound("unknown_device", f"no device {device_id!r}")
    return _device(row)


def list_devices(services: Services, engineer_id: str | None = None) -> list[Device]:
    with services.db.read() as tx:
        rows = store.devices(tx, engineer_id)
    return [_device(r) for r in rows]


def device_names(services: Services) -> dict[str, str]:
    """device id -> name, of every device."""
    with services.db.read() as tx:
        return store.names(tx)


def device_names_for_job(services: Services, engineer_id: str, job_id: str) -> dict[str, str]:
    """device id -> name, of the engineer's devices and every device that answered on the job."""
    with services.db.read() as tx:
        return store.names_for_job(tx, engineer_id, job_id)


def device_owners(services: Services) -> dict[str, tuple[str, str]]:
    """device id -> (name, engineer id), of every device."""
    with services.db.read() as tx:
        return store.owners(tx)
