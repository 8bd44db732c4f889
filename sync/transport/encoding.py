"""HTTP content codings of sync bodies: gzip both ways, negotiated, with limits on the decoded size.

Pure functions shared by the server (decoding pushed bodies, encoding pull pages, receipts and
blob downloads) and the Python SDK (encoding pushes).  The tablet web app does the same with the
browser's ``CompressionStream('gzip')``.  Signatures and hashes are always over the decoded bytes:
a content coding only wraps what travels.

Negotiation (RFC 9110 section 8.4 and RFC 7694): a client asks for compressed answers with
``Accept-Encoding: gzip``; the server says it takes gzip request bodies with an
``Accept-Encoding: gzip`` header on its sync answers, and only then does a client send
``Content-Encoding: gzip``.  A client that never sends it (an old tablet) is served as before.

The gzip this module writes carries no time stamp or name, so the same bytes always compress to
the same bytes (a resumable upload resumes the same stream after a restart).
"""

from __future__ import annotations

import zlib
from typing import Final

GZIP: Final = "gzip"
#: bodies smaller than this travel as they are: gzip's 18 bytes of framing and the CPU buy nothing
MIN_COMPRESS: Final = 1024
#: the client's level for pushes (the tablet's CPU is idle while the link is slow)
PUSH_LEVEL: Final = 6
#: the server's level for answers (cheap for the server's CPU, ~10 % larger than level 6 on pull pages)
ANSWER_LEVEL: Final = 1
#: content types that are compressed already (photos, PDFs): sent as they are
PRECOMPRESSED: Final = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "application/pdf",
                        "application/zip", "application/gzip", "video/", "audio/")


class EncodingError(ValueError):
    """A body's content coding cannot be decoded."""


class UnsupportedEncoding(EncodingError):
    """A content coding this side does not speak."""


class BadEncoding(EncodingError):
    """The bytes are not a complete, valid stream of their content coding."""


class DecodedTooLarge(EncodingError):
    """The decoded body would exceed the limit (a compression bomb stops here, unexpanded)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the decoded body exceeds {limit} bytes")
        self.limit = limit


def gzip_encode(data: bytes, level: int = PUSH_LEVEL) -> bytes:
    """``data`` as one gzip member without time stamp or name (deterministic)."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def decode_body(data: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body as sent before its content coding; at most ``limit`` bytes are ever expanded.

    ``None``, ``""`` and ``identity`` mean no coding.  Raises :class:`UnsupportedEncoding`,
    :class:`BadEncoding` (truncated, corrupt, or bytes after the gzip member) or
    :class:`DecodedTooLarge`.
    """
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity"):
        if len(data) > limit:
            raise DecodedTooLarge(limit)
        return data
    if coding not in (GZIP, "x-gzip"):
        raise UnsupportedEncoding(f"content coding {coding[:40]!r} is not supported; send gzip or none")
    d = zlib.decompressobj(31)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BadEncoding(f"the body is not valid gzip: {exc}") from exc
    if len(out) > limit:
        raise DecodedTooLarge(limit)
    if not d.eof:
        raise BadEncoding("the gzip stream ends early")
    if d.unused_data:
        raise BadEncoding("bytes follow the gzip stream")
    return out


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header takes gzip (``gzip``, ``x-gzip`` or ``*``, with a q-value above 0)."""
    if not accept_encoding:
        return False
    star: bool | None = None
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name in (GZIP, "x-gzip"):
            return q > 0
        if name == "*":
            star = q > 0
    return bool(star)


def worth_compressing(size: int, content_type: str | None = None) -> bool:
    """Whether a body of ``size`` bytes and this content type is worth gzip."""
    if size < MIN_COMPRESS:
        return False
    ct = (content_type or "").lower()
    return not any(ct.startswith(p) for p in PRECOMPRESSED)


__all__ = ["ANSWER_LEVEL", "GZIP", "MIN_COMPRESS", "PUSH_LEVEL", "BadEncoding", "DecodedTooLarge", "EncodingError",
           "UnsupportedEncoding", "accepts_gzip", "decode_body", "gzip_encode", "worth_compressing"]
