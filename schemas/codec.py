"""Encoders and decoders, built once at import and reused everywhere.

msgpack is the sync wire format (compact, binary-safe for signatures);
JSON is offered to the back office and to tools.  Decoding a change-set is a
two-step affair: the outer :class:`SignedChangeSet` first (so the signature
can be checked over the raw bytes), the inner :class:`ChangeSet` only after.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from schemas.wire import (
    Challenge,
    ChangeSet,
    Enrollment,
    EnrollRequest,
    PullPage,
    PullRequest,
    Receipt,
    ReceivedChangeSet,
    Session,
    SessionRequest,
    Signed,
    SignedChangeSet,
)

msgpack_encoder: Final = msgspec.msgpack.Encoder()
json_encoder: Final = msgspec.json.Encoder()
#: sorted keys and struct fields, no spaces: what digests are taken over
canonical_encoder: Final = msgspec.json.Encoder(order="sorted")

signed_changeset_decoder: Final = msgspec.msgpack.Decoder(SignedChangeSet)
changeset_decoder: Final = msgspec.msgpack.Decoder(ChangeSet)
#: the server's: sign-off strokes stay msgpack until stored (see ``ReceivedSignOff``)
received_changeset_decoder: Final = msgspec.msgpack.Decoder(ReceivedChangeSet)
strokes_decoder: Final = msgspec.msgpack.Decoder(list[list[int]])
receipt_decoder: Final = msgspec.msgpack.Decoder(Receipt)
signed_decoder: Final = msgspec.msgpack.Decoder(Signed)
pull_page_decoder: Final = msgspec.msgpack.Decoder(PullPage)
pull_request_decoder: Final = msgspec.msgpack.Decoder(PullRequest)
challenge_decoder: Final = msgspec.msgpack.Decoder(Challenge)
session_request_decoder: Final = msgspec.msgpack.Decoder(SessionRequest)
session_decoder: Final = msgspec.msgpack.Decoder(Session)
enroll_request_decoder: Final = msgspec.msgpack.Decoder(EnrollRequest)
enrollment_decoder: Final = msgspec.msgpack.Decoder(Enrollment)
any_msgpack_decoder: Final = msgspec.msgpack.Decoder()


def encode(obj: Any) -> bytes:
    """Encode to msgpack (the sync wire format)."""
    return msgpack_encoder.encode(obj)


def encode_json(obj: Any) -> bytes:
    """Encode to JSON."""
    return json_encoder.encode(obj)


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON (sorted keys and struct fields, no spaces): the bytes digests are taken over.

    Encoded in one pass; the same bytes as encoding ``msgspec.to_builtins(obj)`` sorted for the structs,
    lists, dicts and scalars digests are taken over (tests hold the two together and a recorded digest).
    """
    return canonical_encoder.encode(obj)
