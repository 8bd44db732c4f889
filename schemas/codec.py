"""Encoders and decoders, built once at import and reused everywhere.

msgpack is the sync wire format (compact, binary-safe for signatures);
JSON is offered to the back office and to tools.  Decoding a change-set is a
two-step affair: the outer :class:`SignedChangeSet` first (so the signature
can be checked over the raw bytes), the inner :class:`ChangeSet` only after.

Digests are taken over RFC 8785 canonical JSON (JCS, :func:`canonical_json`),
which any language can reproduce; ``docs/protocol.md`` states the rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import msgspec
import rfc8785
from msgspec.structs import replace

from schemas.signoff import ReportContent
from schemas.wire import (
    Accepted,
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
#: sorted keys and struct fields, no spaces: RFC 8785 itself for values without floats (see canonical_json)
sorted_json_encoder: Final = msgspec.json.Encoder(order="sorted")

signed_changeset_decoder: Final = msgspec.msgpack.Decoder(SignedChangeSet)
changeset_decoder: Final = msgspec.msgpack.Decoder(ChangeSet)
#: the server's: sign-off strokes stay msgpack until stored (see ``ReceivedSignOff``)
received_changeset_decoder: Final = msgspec.msgpack.Decoder(ReceivedChangeSet)
strokes_decoder: Final = msgspec.msgpack.Decoder(list[list[int]])
receipt_decoder: Final = msgspec.msgpack.Decoder(Receipt)
accepted_decoder: Final = msgspec.msgpack.Decoder(Accepted)
signed_decoder: Final = msgspec.msgpack.Decoder(Signed)
pull_page_decoder: Final = msgspec.msgpack.Decoder(PullPage)
pull_request_decoder: Final = msgspec.msgpack.Decoder(PullRequest)
challenge_decoder: Final = msgspec.msgpack.Decoder(Challenge)
session_request_decoder: Final = msgspec.msgpack.Decoder(SessionRequest)
session_decoder: Final = msgspec.msgpack.Decoder(Session)
enroll_request_decoder: Final = msgspec.msgpack.Decoder(EnrollRequest)
enrollment_decoder: Final = msgspec.msgpack.Decoder(Enrollment)
any_msgpack_decoder: Final = msgspec.msgpack.Decoder()


def decode_push_answer(body: bytes) -> Receipt | Accepted:
    """A push's signed body: an :class:`Accepted` (its map's ``kind`` is ``accepted``) or a :class:`Receipt`.

    ``msgspec.ValidationError`` / ``DecodeError`` when it is neither.
    """
    try:
        return accepted_decoder.decode(body)
    except msgspec.ValidationError:
        return receipt_decoder.decode(body)


def encode(obj: Any) -> bytes:
    """Encode to msgpack (the sync wire format)."""
    return msgpack_encoder.encode(obj)


def encode_json(obj: Any) -> bytes:
    """Encode to JSON."""
    return json_encoder.encode(obj)


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON of ``obj``: the bytes report digests are taken over.

    Keys sorted by their UTF-16 code units, no whitespace, strings escaped as RFC 8785 says, floats
    written as ECMAScript writes a Number (``9.0`` -> ``9``, ``1e21`` -> ``1e+21``, ``-0.0`` -> ``0``).
    One extension: an integer is written in exact decimal at any size, where RFC 8785 has no form for
    integers beyond 2**53 (within that range the two agree).  NaN and infinities raise ``ValueError``.

    msgspec's sorted JSON is already these bytes for everything but floats and the order of dictionary
    keys outside ASCII (tests prove it against the ``rfc8785`` library): a report's content takes that
    path, with its few float answers swapped for their RFC 8785 text first.
    """
    if type(obj) is ReportContent and "".join(obj.times).isascii():
        answers = obj.answers
        floats = [i for i, a in enumerate(answers) if type(a.value) is float]
        if floats:
            answers = answers.copy()
            for i in floats:
                # the encoder writes Raw bytes as they are: the RFC 8785 text of the number
                answer = answers[i]
                answers[i] = replace(answer, value=msgspec.Raw(_jcs_float(answer.value)))  # type: ignore[arg-type]
            obj = replace(obj, answers=answers)
        return sorted_json_encoder.encode(obj)
    out: list[bytes] = []
    _write_jcs(msgspec.to_builtins(obj, str_keys=True), out.append)
    return b"".join(out)


def legacy_canonical_json(obj: Any) -> bytes:
    """The canonical form before RFC 8785: msgspec's sorted JSON (floats as Python writes them).

    Sign-offs made before the change were digested over these bytes; verifiers still accept them
    (:func:`sync.core.signoff.digest_matches`).  They differ from :func:`canonical_json` only when
    the content holds a float written differently (``9.0``, ``1e+21``, ``-0.0``).
    """
    return sorted_json_encoder.encode(obj)


def _jcs_float(value: float) -> bytes:
    text = repr(value)
    if "e" not in text and math.isfinite(value):
        # Python writes the same shortest digits as ECMAScript; without an exponent the forms differ only
        # in Python's trailing ".0" (and in the sign of zero)
        if value == 0:
            return b"0"
        return (text[:-2] if text.endswith(".0") else text).encode()
    if not math.isfinite(value):
        raise ValueError(f"{value} has no canonical JSON form")
    return rfc8785.dumps(value)  # where ECMAScript and Python place the exponent differently


def _write_jcs(value: Any, out: Callable[[bytes], Any]) -> None:
    kind = type(value)
    if kind is float:
        out(_jcs_float(value))
    elif value is None or kind is bool or kind is int or kind is str:
        out(json_encoder.encode(value))  # strings escape as RFC 8785 says; integers exact
    elif kind is list:
        out(b"[")
        for i, item in enumerate(value):
            if i:
                out(b",")
            _write_jcs(item, out)
        out(b"]")
    elif kind is dict:
        out(b"{")
        for i, key in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be"))):
            if i:
                out(b",")
            out(json_encoder.encode(key))
            out(b":")
            _write_jcs(value[key], out)
        out(b"}")
    else:
        raise TypeError(f"{kind.__name__} has no canonical JSON form")
