"""The device's identity: a key made on the tablet, registered with the server by a one-time token.

:func:`enroll_device` makes the key, sends its public half with the token,
checks the server's certificate of it (the server's signature over the device
id, engineer id and public key) and only then stores the identity in the
device row, in one transaction: a failed enrollment leaves the tablet as it
was.  The private key is stored as PKCS#8 PEM, encrypted when a passphrase is
given (:mod:`client_sdk.keys`); :func:`open_device_key` opens it again on the
next start.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client_sdk import read_sql, write_sql
from client_sdk.clock import Clock
from client_sdk.errors import EnrollmentFailed
from client_sdk.keys import dump_private_key, generate_key, load_private_key, public_bytes
from client_sdk.store import LocalStore
from schemas.enrollment_link import enrollment_token
from schemas.wire import EnrollRequest
from sync.core.signoff import certificate_message, verify_signature
from sync.transport.base import Offline, ProtocolError, SyncTransport, TransportError


def open_device_key(store: LocalStore, passphrase: str | bytes | None) -> Ed25519PrivateKey | None:
    """The stored device key (None before enrollment); ``BadPassphrase`` when it does not open."""
    pem = read_sql.device_row(store.read)["private_key"]
    return load_private_key(pem, passphrase) if pem else None


def enroll_device(
    store: LocalStore,
    transport: SyncTransport,
    token: str,
    *,
    name: str,
    passphrase: str | bytes | None,
    clock: Clock,
) -> tuple[str, Ed25519PrivateKey]:
    """Register a fresh key with ``token`` (or the console's enrollment link); return the device id and key.

    Raises ``EnrollmentFailed`` whose ``code`` is the server's problem code
    (``token_used`` ...), ``invalid_link``, ``offline``, ``transport_error`` or
    ``bad_certificate``; nothing is stored then.
    """
    try:
        token = enrollment_token(token)
    except ValueError as exc:
        raise EnrollmentFailed("invalid_link", str(exc)) from exc
    key = generate_key()
    public = public_bytes(key)
    request = EnrollRequest(token=token, public_key=public, name=name, device_clock=clock())
    try:
        enrollment = transport.enroll(request)
    except Offline as exc:
        raise EnrollmentFailed("offline", str(exc)) from exc
    except ProtocolError as exc:
        raise EnrollmentFailed(exc.code, exc.detail) from exc
    except TransportError as exc:
        raise EnrollmentFailed("transport_error", str(exc)) from exc
    cert = certificate_message(enrollment.device_id, enrollment.engineer_id, public)
    if not verify_signature(enrollment.server_public_key, enrollment.certificate, cert):
        raise EnrollmentFailed("bad_certificate", "the server's certificate of the device key does not verify")
    with store.write() as tx:
        write_sql.record_enrollment(
            tx,
            device_id=enrollment.device_id,
            engineer_id=enrollment.engineer_id,
            name=request.name,
            private_key=dump_private_key(key, passphrase),
            key_encrypted=bool(passphrase),
            public_key=public,
            server_public_key=enrollment.server_public_key,
            server_key_id=enrollment.server_key_id,
            certificate=enrollment.certificate,
            enrolled_at=clock(),
        )
    return enrollment.device_id, key
