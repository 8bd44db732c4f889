"""Ed25519 checks (libsodium) against signatures made the way devices and the server make them (OpenSSL)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.core.signatures import LONG_MESSAGE, is_valid

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes_raw()


@settings(max_examples=200)
@given(message=st.binary(max_size=2048), long=st.booleans(), flip=st.integers(min_value=0))
def test_a_signature_verifies_and_any_changed_bit_does_not(message: bytes, long: bool, flip: int) -> None:
    """Short messages are checked by libsodium, long ones by OpenSSL: the same verdicts either way."""
    if long:
        message = message * (LONG_MESSAGE // max(1, len(message)) + 1) if message else b"\x00" * LONG_MESSAGE
    signature = KEY.sign(message)
    assert is_valid(PUBLIC, signature, message)
    bit = flip % (8 * (len(signature) + len(message)))
    tampered = bytearray(signature + message)
    tampered[bit // 8] ^= 1 << (bit % 8)
    sig, msg = bytes(tampered[:64]), bytes(tampered[64:])
    assert not is_valid(PUBLIC, sig, msg)


@given(message=st.binary(max_size=256))
def test_another_key_does_not_verify(message: bytes) -> None:
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not is_valid(other, KEY.sign(message), message)


def test_malformed_keys_and_signatures_are_invalid_not_errors() -> None:
    signature = KEY.sign(b"m")
    assert not is_valid(PUBLIC[:31], signature, b"m")
    assert not is_valid(PUBLIC + b"\x00", signature, b"m")
    assert not is_valid(PUBLIC, signature[:63], b"m")
    assert not is_valid(PUBLIC, b"", b"m")
    assert not is_valid(b"", b"", b"")


def test_a_small_order_key_is_refused_for_short_and_long_messages() -> None:
    """The identity point as a public key: any signature with R = identity, S = 0 would verify under it."""
    identity = b"\x01" + b"\x00" * 31
    assert not is_valid(identity, identity + b"\x00" * 32, b"anything")
    assert not is_valid(identity, identity + b"\x00" * 32, b"x" * LONG_MESSAGE)
