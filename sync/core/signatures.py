"""Ed25519 signature checks, shared by change-sets, sign-offs and device certificates.

Keys are made and signatures written with ``cryptography`` (OpenSSL).  Short
messages (sign-offs, session nonces, certificates) are checked with libsodium
(PyNaCl), which checks one faster than OpenSSL does, and a push pays that for
every sign-off it carries.  Long messages (change-sets, up to megabytes) are
checked with OpenSSL, whose SHA-512 is the faster one.
Either way the rules are libsodium's, the stricter: a small-order or
non-canonical key never verifies.  Both libraries release the interpreter lock
while they work.
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_core_ed25519_is_valid_point
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

PUBLIC_KEY_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64
#: from this size on, hashing the message costs more than the curve, and OpenSSL hashes faster
LONG_MESSAGE: Final = 16 * 1024


def is_usable_public_key(public_key: bytes) -> bool:
    """A key a device may enroll: 32 bytes encoding a point of the curve's main subgroup, canonically.

    Small-order keys verify forged signatures in lax implementations and never verify here: they are refused
    up front, before an enrollment token is spent on them.
    """
    return len(public_key) == PUBLIC_KEY_BYTES and bool(crypto_core_ed25519_is_valid_point(public_key))


def is_valid(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    if len(message) >= LONG_MESSAGE:
        if not crypto_core_ed25519_is_valid_point(public_key):
            return False
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True
