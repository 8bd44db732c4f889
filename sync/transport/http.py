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

The seam is swappable at two levels: pass any :class:`SyncTransport` to the
SDK, or keep this class and hand it an httpx transport (``transport=``) or a
ready ``httpx.Client`` (``client=``, e.g. Litestar's ``TestClient``).  An async
transport such as ``httpx.ASGITransport`` is wrapped in
:class:`AsyncTransportBridge` so the synchronous client can call an ASGI app
in-process.
"""

from __future__ import annotations

import asyncio
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

MSGPACK: Final = "application/msgpack"
OCTETS: Final = "application/octet-stream"
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=5.0)

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
        return _decode(session_decoder, response)

    # -- sync ------------------------------------------------------------

    def push(self, envelope: bytes) -> Signed:
        """Send sealed change-set bytes unchanged; returns the server-signed receipt."""
        return _decode(signed_decoder, self._send("POST", "/v1/sync/push", content=envelope))

    def pull(self, req: PullRequest) -> Signed:
        """Fetch one page; returns the server-signed pull page."""
        return _decode(signed_decoder, self._send("POST", "/v1/sync/pull", content=encode(req)))

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
        params: dict[str, int] | None = None,
        auth: bool = True,
        content_type: str = MSGPACK,
        accept: str = MSGPACK,
        retry: bool = True,
    ) -> httpx.Response:
        headers = {"Accept": f"{accept}, application/problem+json"}
        if content is not None:
            headers["Content-Type"] = content_type
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
