"""The transport port of the sync protocol and its error tree.

A transport moves bytes between the tablet and the sync server and turns
failures into a small set of exceptions the sync loop can act on::

    TransportError                 anything that stopped a request
     ├── Offline                   no answer: refused, unreachable, timed out, cut off
     └── ProtocolError             the server answered with a problem document
          │                        (``code``, ``status``, ``detail``; ``code`` is stable)
          ├── ServerError          5xx: the server failed; try again later
          └── BadResponse          a 2xx body that is not what the protocol says

``Offline`` is the normal state of a field tablet, not a bug: the sync loop
reports it and stops.  A ``ProtocolError`` with status 401 and code
``session_expired`` or ``unauthorized`` asks the caller to open a new session
and retry once.
"""

from __future__ import annotations

from typing import Protocol

from schemas.wire import (
    BlobStatus as BlobStatus,  # re-exported: the transports' callers have always imported it from here
)
from schemas.wire import (
    Challenge,
    Enrollment,
    EnrollRequest,
    PullRequest,
    Session,
    SessionRequest,
    Signed,
)

#: problem codes after which a new session is opened and the request retried once.
SESSION_CODES: frozenset[str] = frozenset({"session_expired", "unauthorized"})


class TransportError(Exception):
    """A request did not complete as the protocol expects."""


class Offline(TransportError):
    """The server could not be reached (connection refused, DNS, timeout, dropped link)."""


class ProtocolError(TransportError):
    """The server refused the request with a problem document.

    ``code`` is the problem's stable machine code (``chain_gap``,
    ``bad_signature``, ``session_expired`` ...), ``status`` the HTTP status and
    ``detail`` the human explanation.
    """

    def __init__(self, code: str, status: int, detail: str = "") -> None:
        super().__init__(f"{status} {code}: {detail}" if detail else f"{status} {code}")
        self.code = code
        self.status = status
        self.detail = detail

    @property
    def needs_new_session(self) -> bool:
        """True when a fresh session (challenge + signature) may make the request pass."""
        return self.status == 401 and self.code in SESSION_CODES


class ServerError(ProtocolError):
    """The server failed (5xx); nothing is wrong with the request, retry later."""


class BadResponse(ProtocolError):
    """A success status whose body does not decode as the protocol message it should be."""



class SyncTransport(Protocol):
    """What the tablet SDK needs from a transport (HTTP in production, fakes in tests).

    ``token`` is the device session token sent on authenticated calls
    (``push``, ``pull``, blobs); the caller sets it after :meth:`session`.
    """

    token: str | None

    def enroll(self, req: EnrollRequest) -> Enrollment:
        """Register the device public key with a one-time enrollment token."""
        ...

    def challenge(self, device_id: str) -> Challenge:
        """Ask for a nonce to sign."""
        ...

    def session(self, req: SessionRequest) -> Session:
        """Trade a signed nonce for a session token."""
        ...

    def push(self, envelope: bytes) -> Signed:
        """Send a sealed change-set envelope; the answer's body is a receipt or an ``Accepted``."""
        ...

    def pull(self, req: PullRequest) -> Signed:
        """Fetch one page of changes; the answer's body is a pull page."""
        ...

    def receipt(self, seq: int, wait_s: int = 0) -> Signed:
        """The receipt of accepted change-set ``seq`` (its Accepted again while unmerged after ``wait_s``)."""
        ...

    def blob_status(self, sha256: str) -> BlobStatus | None:
        """Upload state of a blob, or None when the server has never seen it."""
        ...

    def blob_put(self, sha256: str, offset: int, size: int, chunk: bytes) -> BlobStatus:
        """Upload ``chunk`` at ``offset`` of a blob of ``size`` bytes."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
