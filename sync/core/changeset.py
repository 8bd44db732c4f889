"""Change-set chains and signatures: seal on the tablet, verify on the server.

The tablet encodes a :class:`~schemas.wire.ChangeSet` once, signs those bytes
with its Ed25519 key and sends them unchanged.  The server checks the
signature over the raw bytes *before* decoding, then checks the chain
(``seq`` and ``prev_hash``) against the device's stored head.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.codec import changeset_decoder, encode, received_changeset_decoder, signed_changeset_decoder
from schemas.wire import PROTOCOL_VERSION, ChangeSet, Op, ReceivedChangeSet, SignedChangeSet
from sync.core.signatures import is_valid

MAX_OPS_PER_CHANGESET: Final = 20_000

ChainVerdict = Literal["next", "duplicate", "gap", "fork"]
CS = TypeVar("CS", ChangeSet, ReceivedChangeSet)


class ChangeSetError(Exception):
    """A change-set the server refuses as a whole; ``code`` is stable for clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last change-set accepted from a device (seq 0 and '' when none)."""

    seq: int
    hash: str


def digest(data: bytes) -> str:
    """Hex SHA-256 of bytes (change-set hashes, blob addresses)."""
    return hashlib.sha256(data).hexdigest()


def seal(
    key: Ed25519PrivateKey,
    device_id: str,
    head: ChainHead,
    ops: list[Op],
    device_clock: int,
) -> tuple[bytes, ChainHead]:
    """Encode, chain and sign the next change-set; return its envelope bytes and new head."""
    cs = ChangeSet(
        protocol_version=PROTOCOL_VERSION,
        device_id=device_id,
        seq=head.seq + 1,
        prev_hash=head.hash,
        device_clock=device_clock,
        ops=ops,
    )
    body = encode(cs)
    envelope = encode(SignedChangeSet(changeset=body, signature=key.sign(body)))
    return envelope, ChainHead(seq=cs.seq, hash=digest(body))


def open_envelope(envelope: bytes) -> SignedChangeSet:
    """Decode only the outer envelope (signature not yet checked)."""
    try:
        return signed_changeset_decoder.decode(envelope)
    except msgspec.DecodeError as exc:
        raise ChangeSetError("malformed_changeset", f"not a signed change-set: {exc}") from exc


def verify_signature(signed: SignedChangeSet, public_key: bytes) -> None:
    """Raise ``bad_signature`` unless the device key signed these exact bytes."""
    if not is_valid(public_key, signed.signature, signed.changeset):
        raise ChangeSetError("bad_signature", "change-set signature does not verify")


def decode_changeset(signed: SignedChangeSet, device_id: str) -> ChangeSet:
    """Decode verified bytes and check they belong to ``device_id`` and this protocol."""
    return _checked(_decode(changeset_decoder, signed), device_id)


def receive_changeset(signed: SignedChangeSet, device_id: str) -> ReceivedChangeSet:
    """:func:`decode_changeset` as the server does it: sign-off strokes left undecoded."""
    return _checked(_decode(received_changeset_decoder, signed), device_id)


def _decode(decoder: msgspec.msgpack.Decoder[CS], signed: SignedChangeSet) -> CS:
    try:
        return decoder.decode(signed.changeset)
    except msgspec.DecodeError as exc:
        raise ChangeSetError("malformed_changeset", f"change-set does not decode: {exc}") from exc


def _checked(cs: CS, device_id: str) -> CS:
    if cs.device_id != device_id:
        raise ChangeSetError("device_mismatch", "change-set was sealed by another device")
    if cs.protocol_version > PROTOCOL_VERSION or cs.protocol_version < 1:
        raise ChangeSetError("unsupported_protocol", f"protocol_version {cs.protocol_version} unsupported")
    if len(cs.ops) > MAX_OPS_PER_CHANGESET:
        raise ChangeSetError("too_many_ops", f"at most {MAX_OPS_PER_CHANGESET} ops per change-set")
    if cs.seq < 1:
        raise ChangeSetError("chain_gap", "seq starts at 1")
    return cs


def judge_chain(cs_seq: int, prev_hash: str, body_hash: str, head: ChainHead, stored_hash: str | None) -> ChainVerdict:
    """Place a change-set against the device's chain head.

    ``stored_hash`` is the hash stored for ``cs_seq`` when ``cs_seq <= head.seq``
    (None otherwise).  A re-sent change-set is a ``duplicate``; a different one
    at an already used seq, or one whose ``prev_hash`` is not the head, is a ``fork``.
    """
    if cs_seq <= head.seq:
        return "duplicate" if stored_hash == body_hash else "fork"
    if cs_seq > head.seq + 1:
        return "gap"
    if prev_hash != head.hash:
        return "fork"
    return "next"
