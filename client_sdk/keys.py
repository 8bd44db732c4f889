"""The device's Ed25519 key: made on the tablet, stored as PKCS#8 PEM.

With a passphrase the key is encrypted at rest with
``BestAvailableEncryption`` (the strongest scheme the installed
``cryptography`` offers); without one it is stored unencrypted
(``NoEncryption``) and the tablet's own disk encryption is all that protects
it.  Pass the same passphrase to every ``FieldClient.open``.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client_sdk.errors import BadPassphrase


def generate_key() -> Ed25519PrivateKey:
    """A fresh device key."""
    return Ed25519PrivateKey.generate()


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of the public key (what enrollment registers)."""
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _secret(passphrase: str | bytes) -> bytes:
    return passphrase.encode() if isinstance(passphrase, str) else passphrase


def dump_private_key(key: Ed25519PrivateKey, passphrase: str | bytes | None) -> bytes:
    """PKCS#8 PEM of the private key, encrypted when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(_secret(passphrase)) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def load_private_key(pem: bytes, passphrase: str | bytes | None) -> Ed25519PrivateKey:
    """Open a stored key; raise :class:`BadPassphrase` when the passphrase is wrong or missing."""
    try:
        key = serialization.load_pem_private_key(pem, password=_secret(passphrase) if passphrase else None)
    except (ValueError, TypeError) as exc:
        raise BadPassphrase("the device key does not open with this passphrase") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise BadPassphrase("the stored device key is not an Ed25519 key")
    return key
