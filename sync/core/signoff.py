"""Sign-off digests and messages, computed the same way on tablet and server.

The customer signs the digest of the report content; the device key
countersigns :func:`sign_off_message`.  Anyone holding the server's public
key can check a :class:`~schemas.report.SignOffBundle` offline with
:func:`verify_bundle`.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from schemas.codec import canonical_json
from schemas.report import ReportContent, SignOffBundle
from sync.core.changeset import digest


def report_digest(content: ReportContent) -> str:
    """Hex SHA-256 of the canonical JSON of the report content."""
    return digest(canonical_json(content))


def sign_off_message(job_id: str, report_digest_hex: str, signed_at: int, signer_name: str) -> bytes:
    """The exact bytes the device key signs for a sign-off."""
    return f"fieldsync-signoff:v1:{job_id}:{report_digest_hex}:{signed_at}:{signer_name}".encode()


def certificate_message(device_id: str, engineer_id: str, public_key: bytes) -> bytes:
    """The bytes the server signs to vouch for a device key at enrollment."""
    return b"fieldsync-device:v1:" + device_id.encode() + b":" + engineer_id.encode() + b":" + public_key


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_bundle(bundle: SignOffBundle, engineer_id: str | None = None) -> list[str]:
    """Check a sign-off bundle offline; return the problems found (empty = valid)."""
    problems: list[str] = []
    if report_digest(bundle.content) != bundle.report_digest:
        problems.append("report content does not match the signed digest")
    message = sign_off_message(bundle.content.job_id, bundle.report_digest, bundle.signed_at, bundle.signer_name)
    if not verify_signature(bundle.device_public_key, bundle.device_signature, message):
        problems.append("device signature over the sign-off does not verify")
    if bundle.server_public_key:
        owner = engineer_id or bundle.content.engineer_id
        cert = certificate_message(bundle.device_id, owner, bundle.device_public_key)
        if not verify_signature(bundle.server_public_key, bundle.certificate, cert):
            problems.append("device key is not certified by the server key")
    return problems
