"""HTTP adapter of the sync transport, over a synchronous ``httpx.Client``.

Sync bodies are msgpack (``application/msgpack``); blob chunks are raw bytes;
errors come back as JSON problem documents with a stable ``code``.  Every
failure becomes one of these (defined in :mod:`sync.transport.base`)::

    TransportError
     ├── Offline            httpx.TimeoutException, httpx.NetworkError,
     │                      httpx.RemoteProtocolError (the link dropped mid-answer)
     └── ProtocolError      4xx problem document -> code, status, detail
          ├── ServerError   5xx
          └── BadResponse   2xx body that does not decode

Pushes travel gzip-coded (``Content-Encoding: gzip``) once the server has said it takes them (an
``Accept-Encoding: gzip`` header on its session and sync answers, RFC 7694); a server that never says
so gets them as they are.  A push body larger than :data:`RESUMABLE_MIN` goes up as a resumable upload
(``/v1/sync/uploads/{sha256}``) in PUTs of at most :data:`UPLOAD_CHUNK` whose bytes the server stores
as it reads them: a cut link costs the bytes in flight (at most one PUT), the next attempt asks the
server how far it got and sends the rest, and the commit answers
with the change-set's receipt, the same one on every retry.  A server without the upload route
(404 ``not_found``) gets the one-shot push.  Answers come back gzip-coded when the server sends them
so (httpx asks with ``Accept-Encoding`` and decodes).

The seam is swappable at two levels: pass any :class:`SyncTransport` to the
SDK, or keep this class and hand it an httpx transport (``transport=``) or a
ready ``httpx.Client`` (``client=``, e.g. Litestar's ``TestClient``).  An async
transport such as ``httpx.ASGITransport`` is wrapped in
:class:`AsyncTransportBridge` so the synchronous client can call an ASGI app
in-process.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, Final, TypeVar

import httpx
import msgspec

from schemas.codec import (
    challenge_decoder,
    encode,
    enrollment_decoder,
    session_decoder,
    signed_decoder,
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
from sync.transport.base import (
    BadResponse,
    BlobStatus,
    Offline,
    ProtocolError,
    ServerError,
    TransportError,
)
from sync.transport.encoding import GZIP, PUSH_LEVEL, gzip_encode, worth_compressing

MSGPACK: Final = "application/msgpack"
OCTETS: Final = "application/octet-stream"
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=5.0)
#: push bodies (as sent, after gzip) above this go up as a resumable upload
RESUMABLE_MIN: Final = 64 * 1024
#: the most one upload PUT carries.  The server keeps a PUT's bytes as it reads them, so a cut usually costs
#: only the bytes in flight; what it had received but not yet read when the link dropped is lost with the
#: connection, and this bounds that loss (a few round trips per change-set on a slow link buy the bound)
UPLOAD_CHUNK: Final = 256 * 1024
#: attempts in a row that move an upload no further before the push reports the tablet offline
MAX_STALLS: Final = 4

T = TypeVar("T")

_blob_status_decoder: Final = msgspec.json.Decoder(BlobStatus)


class AsyncTransportBridge(httpx.BaseTransport):
    """Drive an async httpx transport (``httpx.ASGITransport``) from a synchronous client.

    Each request runs to completion on a private event loop owned by the
    bridge, so the ASGI app sees one loop for its whole life.  Note that
    ``ASGITransport`` does not run the app's lifespan (startup hooks).
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self._loop = asyncio.new_event_loop()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._loop.run_until_complete(self._send(request))

    async def _send(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        response = await self._inner.handle_async_request(forwarded)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=content,
            request=request,
            extensions=response.extensions,
        )

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._inner.aclose())
            self._loop.close()


class HttpTransport:
    """The tablet's HTTP client for ``/v1`` device, sync and blob endpoints.

    ``token`` is the current device session token (None until a session is
    opened); it is sent as ``Authorization: Device <token>``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        client: httpx.Client | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        compress: bool = True,
        resumable: bool = True,
        upload_chunk: int = UPLOAD_CHUNK,
        respond_async: bool = True,
    ) -> None:
        if client is not None:
            self._client = client
            self._owns_client = False
        else:
            sync_transport: httpx.BaseTransport | None
            if isinstance(transport, httpx.AsyncBaseTransport):
                sync_transport = AsyncTransportBridge(transport)
            else:
                sync_transport = transport
            self._client = httpx.Client(base_url=base_url, transport=sync_transport, timeout=timeout)
            self._owns_client = True
        # Paths are relative: the client's base_url (ours, or the one a given client carries) applies.
        self.base_url = str(self._client.base_url) or base_url
        self.token: str | None = None
        #: gzip-code pushes when the server takes them (``compress=False``: never, as an old tablet)
        self.compress = compress
        #: send large pushes as resumable uploads while the server has the route
        self.resumable = resumable
        self.upload_chunk = upload_chunk
        #: ask for the early "accepted" answer (``Prefer: respond-async``, protocol §4.7); False: the receipt
        #: after the merge, as a tablet before it (a server before it answers 200 with the receipt either way)
        self.respond_async = respond_async
        #: learned from the ``Accept-Encoding`` header of the server's session and sync answers
        self.server_takes_gzip = False

    # -- device identity -------------------------------------------------

    def enroll(self, req: EnrollRequest) -> Enrollment:
        # a one-time token: never repeated blindly
        response = self._send("POST", "/v1/devices/enroll", content=encode(req), auth=False, retry=False)
        return _decode(enrollment_decoder, response)

    def challenge(self, device_id: str) -> Challenge:
        body = encode({"device_id": device_id})
        response = self._send("POST", "/v1/devices/challenge", content=body, auth=False)
        return _decode(challenge_decoder, response)

    def session(self, req: SessionRequest) -> Session:
        # a one-time nonce: never repeated blindly
        response = self._send("POST", "/v1/devices/session", content=encode(req), auth=False, retry=False)
        self.server_takes_gzip = _takes_gzip(response)
        return _decode(session_decoder, response)

    # -- sync ------------------------------------------------------------

    def push(self, envelope: bytes) -> Signed:
        """Send sealed change-set bytes (gzip-coded when the server takes it); returns the signed answer.

        Its body is the receipt, or with :attr:`respond_async` and a server that has it, an ``Accepted``
        (tagged ``kind``: see :func:`schemas.codec.decode_push_answer`).

        The bytes the server verifies and hashes are ``envelope`` exactly: the coding only wraps them.
        """
        body, coding = envelope, "identity"
        if self.compress and self.server_takes_gzip and worth_compressing(len(envelope)):
            body, coding = gzip_encode(envelope, PUSH_LEVEL), GZIP
        if self.resumable and len(body) > RESUMABLE_MIN:
            answer = self._push_resumable(body, coding)
            if answer is not None:
                return answer
        try:
            response = self._send("POST", "/v1/sync/push", content=body, prefer=self._prefer,
                                  content_encoding=None if coding == "identity" else coding)
        except ProtocolError as exc:
            if exc.status != 415 or coding == "identity":
                raise
            self.server_takes_gzip = False  # the server stopped taking gzip (a downgrade): send it plain
            response = self._send("POST", "/v1/sync/push", content=envelope, prefer=self._prefer)
        self._learn_codings(response)
        return _decode(signed_decoder, response)

    def _push_resumable(self, body: bytes, coding: str) -> Signed | None:
        """Upload ``body`` in chunks from where the server stands, then commit; None when the server has no uploads."""
        sha256 = hashlib.sha256(body).hexdigest()
        path = f"/v1/sync/uploads/{sha256}"
        size = len(body)
        stalls = 0
        status: BlobStatus | None = None
        known = False
        while True:
            try:
                if not known:
                    status = self._upload_status(path)
                    known = True
                offset = 0 if status is None or status.size != size else status.received
                complete = status is not None and status.complete
                while not complete and offset < size:
                    chunk = body[offset:offset + self.upload_chunk]
                    status = _decode(_blob_status_decoder, self._send(
                        "PUT", path, content=chunk, params={"offset": offset, "size": size, "encoding": coding},
                        content_type=OCTETS, accept="application/json", retry=False))
                    offset, complete = status.received, status.complete
                    stalls = 0
                response = self._send("POST", path + "/commit", retry=False, prefer=self._prefer)
                self._learn_codings(response)
                return _decode(signed_decoder, response)
            except ProtocolError as exc:
                if exc.status == 404 and exc.code == "not_found":
                    self.resumable = False  # a server from before resumable uploads: the one-shot push
                    return None
                if exc.code not in ("offset_mismatch", "upload_incomplete", "unknown_upload"):
                    raise
                stalls += 1  # the server holds another offset than we thought: ask it and go on from there
                if stalls >= MAX_STALLS:
                    raise
                known = False
            except Offline:
                stalls += 1  # the link was cut: the chunks before the one in flight are kept on the server
                if stalls >= MAX_STALLS:
                    raise
                known = False

    @property
    def _prefer(self) -> str | None:
        return "respond-async" if self.respond_async else None

    def receipt(self, seq: int, wait_s: int = 0) -> Signed:
        """The outcome of accepted change-set ``seq``: its signed receipt once merged, else its signed Accepted.

        The server holds the request up to ``wait_s`` seconds (0..30) for the merge.  404 ``unknown_changeset``
        when the server has no such change-set of this device.
        """
        response = self._send("GET", f"/v1/sync/receipts/{seq}", params={"wait": wait_s})
        return _decode(signed_decoder, response)

    def _upload_status(self, path: str) -> BlobStatus | None:
        try:
            response = self._send("GET", path, accept="application/json", retry=False)
        except ProtocolError as exc:
            if exc.status == 404 and exc.code == "unknown_upload":
                return None
            raise
        return _decode(_blob_status_decoder, response)

    def _learn_codings(self, response: httpx.Response) -> None:
        if "accept-encoding" in response.headers:
            self.server_takes_gzip = _takes_gzip(response)

    def pull(self, req: PullRequest) -> Signed:
        """Fetch one page; returns the server-signed pull page."""
        response = self._send("POST", "/v1/sync/pull", content=encode(req))
        self._learn_codings(response)
        return _decode(signed_decoder, response)

    # -- blobs -----------------------------------------------------------

    def blob_status(self, sha256: str) -> BlobStatus | None:
        try:
            response = self._send("GET", f"/v1/blobs/{sha256}/status", accept="application/json")
        except ProtocolError as exc:
            if exc.status == 404:
                return None
            raise
        return _decode(_blob_status_decoder, response)

    def blob_put(self, sha256: str, offset: int, size: int, chunk: bytes) -> BlobStatus:
        response = self._send(
            "PUT",
            f"/v1/blobs/{sha256}",
            content=chunk,
            params={"offset": offset, "size": size},
            content_type=OCTETS,
            accept="application/json",
        )
        return _decode(_blob_status_decoder, response)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # -- plumbing --------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: dict[str, int | str] | None = None,
        auth: bool = True,
        content_type: str = MSGPACK,
        accept: str = MSGPACK,
        retry: bool = True,
        content_encoding: str | None = None,
        prefer: str | None = None,
    ) -> httpx.Response:
        headers = {"Accept": f"{accept}, application/problem+json"}
        if prefer:
            headers["Prefer"] = prefer
        if content is not None:
            headers["Content-Type"] = content_type
            if content_encoding:
                headers["Content-Encoding"] = content_encoding
        if auth and self.token:
            headers["Authorization"] = f"Device {self.token}"
        attempts = 2 if retry else 1
        for attempt in range(attempts):
            try:
                response = self._client.request(method, path, content=content, params=params, headers=headers)
                break
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                # most often a keep-alive connection the server closed while idle: every sync request is
                # safe to repeat (a push is answered from its stored receipt), so try once more at once
                if attempt + 1 < attempts:
                    continue
                raise Offline(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            except (httpx.TimeoutException, httpx.NetworkError) as exc:
                raise Offline(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            except httpx.HTTPError as exc:
                raise TransportError(f"{method} {path}: {exc}") from exc
        if response.status_code >= 400:
            raise problem_error(response)
        return response


def _takes_gzip(response: httpx.Response) -> bool:
    """Whether the server's answer says it takes gzip-coded request bodies (``Accept-Encoding``, RFC 7694)."""
    return any(part.split(";")[0].strip().lower() == GZIP
               for part in response.headers.get("accept-encoding", "").split(","))


def problem_error(response: httpx.Response) -> ProtocolError:
    """Turn an error response into a :class:`ProtocolError` (problem documents first, anything else after)."""
    status = response.status_code
    doc = _problem_document(response.content)
    code = str(doc.get("code") or f"http_{status}")
    detail = str(doc.get("detail") or doc.get("title") or response.reason_phrase or "")
    cls = ServerError if status >= 500 else ProtocolError
    return cls(code, status, detail)


def _problem_document(content: bytes) -> dict[str, Any]:
    for loads in (json.loads, msgspec.msgpack.decode):
        try:
            doc = loads(content)
        except (ValueError, msgspec.DecodeError, TypeError):
            continue
        if isinstance(doc, dict):
            return doc
    return {}


def _decode(decoder: msgspec.msgpack.Decoder[T] | msgspec.json.Decoder[T], response: httpx.Response) -> T:
    try:
        return decoder.decode(response.content)
    except msgspec.DecodeError as exc:
        raise BadResponse("bad_response", response.status_code, f"undecodable body: {exc}") from exc
