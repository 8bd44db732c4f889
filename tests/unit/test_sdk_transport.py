"""HttpTransport over httpx.MockTransport: paths, headers, bodies, and the error tree."""

from __future__ import annotations

import json

import httpx
import pytest

from schemas.codec import encode, pull_request_decoder
from schemas.wire import PullRequest, Signed
from sync.transport import (
    AsyncTransportBridge,
    BadResponse,
    HttpTransport,
    Offline,
    ProtocolError,
    ServerError,
    TransportError,
)

SIGNED = Signed(body=b"body", signature=b"sig", key_id="k1")


def problem(status: int, code: str) -> httpx.Response:
    doc = {"type": "about:blank", "title": code, "status": status, "detail": f"because {code}", "code": code}
    return httpx.Response(status, content=json.dumps(doc), headers={"content-type": "application/problem+json"})


def test_pull_sends_msgpack_with_device_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=encode(SIGNED), headers={"content-type": "application/msgpack"})

    t = HttpTransport("http://fs.test", transport=httpx.MockTransport(handler))
    t.token = "tok"
    assert t.pull(PullRequest(cursor="c1", limit=10)) == SIGNED
    [req] = seen
    assert (req.method, req.url.path) == ("POST", "/v1/sync/pull")
    assert req.headers["authorization"] == "Device tok"
    assert req.headers["content-type"] == "application/msgpack"
    assert pull_request_decoder.decode(req.content).cursor == "c1"


def test_push_sends_envelope_bytes_unchanged() -> None:
    envelope = b"\x82exact-bytes"
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200, content=encode(SIGNED))

    HttpTransport("http://fs.test", transport=httpx.MockTransport(handler)).push(envelope)
    assert seen == [envelope]


@pytest.mark.parametrize(
    ("status", "code", "cls", "new_session"),
    [
        (409, "chain_gap", ProtocolError, False),
        (400, "bad_signature", ProtocolError, False),
        (403, "device_revoked", ProtocolError, False),
        (401, "session_expired", ProtocolError, True),
        (401, "unauthorized", ProtocolError, True),
        (503, "unavailable", ServerError, False),
    ],
)
def test_problem_documents_become_protocol_errors(
    status: int, code: str, cls: type[ProtocolError], new_session: bool
) -> None:
    t = HttpTransport("http://fs.test", transport=httpx.MockTransport(lambda r: problem(status, code)))
    with pytest.raises(cls) as info:
        t.push(b"x")
    assert (info.value.code, info.value.status, info.value.needs_new_session) == (code, status, new_session)
    assert info.value.detail == f"because {code}"


def test_non_problem_error_body_gets_a_status_code() -> None:
    t = HttpTransport("http://fs.test", transport=httpx.MockTransport(lambda r: httpx.Response(404, text="nope")))
    with pytest.raises(ProtocolError) as info:
        t.pull(PullRequest())
    assert info.value.code == "http_404"


def test_network_failures_are_offline() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    for handler in (refuse, slow):
        with pytest.raises(Offline):
            HttpTransport("http://fs.test", transport=httpx.MockTransport(handler)).challenge("dev-1")
    assert issubclass(Offline, TransportError) and issubclass(ProtocolError, TransportError)


def test_undecodable_success_is_bad_response() -> None:
    t = HttpTransport("http://fs.test", transport=httpx.MockTransport(lambda r: httpx.Response(200, content=b"??")))
    with pytest.raises(BadResponse):
        t.push(b"x")


def test_blob_status_and_put() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return problem(404, "not_found")
        assert request.url.params["offset"] == "0" and request.url.params["size"] == "3"
        assert request.headers["content-type"] == "application/octet-stream"
        body = {"sha256": "ab", "size": 3, "received": len(request.content), "complete": True}
        return httpx.Response(200, json=body)

    t = HttpTransport("http://fs.test", transport=httpx.MockTransport(handler))
    assert t.blob_status("ab") is None
    status = t.blob_put("ab", 0, 3, b"abc")
    assert (status.received, status.complete) == (3, True)


def test_async_transport_is_bridged() -> None:
    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        assert scope["path"] == "/v1/devices/challenge"
        body = encode({"device_id": "dev-1", "nonce": "n1", "expires_in_s": 30})
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/msgpack")]}
        )  # type: ignore[operator]
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]

    t = HttpTransport("http://fs.test", transport=httpx.ASGITransport(app=app))
    assert t.challenge("dev-1").nonce == "n1"
    t.close()
    assert isinstance(AsyncTransportBridge(httpx.ASGITransport(app=app)), httpx.BaseTransport)


def test_a_dropped_keep_alive_connection_is_retried_once_for_sync_requests_only() -> None:
    """A push/pull on a connection the server closed while idle goes through; enrollment is never repeated."""
    calls: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) % 2 == 1:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return httpx.Response(200, content=b"\x80")

    t = HttpTransport("http://fs.test", transport=httpx.MockTransport(flaky))
    with pytest.raises(BadResponse):  # the second attempt reached the server (and answered nonsense)
        t.push(b"envelope")
    assert calls == ["/v1/sync/push", "/v1/sync/push"]
    calls.clear()
    from schemas.wire import EnrollRequest

    with pytest.raises(Offline):
        t.enroll(EnrollRequest(token="fs_enroll_x", public_key=b"k" * 32))
    assert calls == ["/v1/devices/enroll"]
