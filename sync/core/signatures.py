"""Ed25519 signature checks, shared by change-sets, sign-offs and device certificates.

Keys are made and signatures written with ``cryptography``; they are checked
with libsodium (PyNaCl).  On the machines we measured, libsodium checks one in
about half the time OpenSSL does (55 µs against 105 µs), which a push pays for
every sign-off it carries.  It is also the stricter of the two: it refuses
small-order keys and non-canonical signatures, which no honest device makes.
Both release the interpreter lock while they work.
"""

from __future__ import annotations

from typing import Final

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

PUBLIC_KEY_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64


def is_valid(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True
