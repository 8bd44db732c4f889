"""HTTP plumbing shared by the controllers: auth dependencies, raw bodies, msgpack replies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

import anyio.to_thread
import msgspec
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.openapi.spec import Parameter as OpenAPIParameter

from server.errors import BadRequest, Msg, PayloadTooLarge, UnsupportedMediaType
from server.security import DeviceAuth, Staff, bearer, device_from_token, staff_from_token
from server.services import Services
from sync.transport.encoding import (
    ANSWER_LEVEL,
    GZIP,
    BadEncoding,
    DecodedTooLarge,
    UnsupportedEncoding,
    accepts_gzip,
    decode_body,
    gzip_encode,
    worth_compressing,
)

T = TypeVar("T")
MSGPACK = "application/msgpack"


def services_of(state: State) -> Services:
    """The process's services, stored on the app state by ``create_app``."""
    svc: Services = state["services"]
    return svc


async def provide_services(state: State) -> Services:
    return services_of(state)


async def provide_staff(request: Request[Any, Any, Any], state: State) -> Staff:
    svc = services_of(state)
    staff = await anyio.to_thread.run_sync(staff_from_token, svc, bearer(request, "Bearer"))
    await refuse_nul_text(request)  # every staff write enters here: one check for all of them
    return staff


#: how JSON writes the NUL character (a raw NUL byte is not valid JSON)
_JSON_NUL: Final = b"\\u0000"


async def refuse_nul_text(request: Request[Any, Any, Any]) -> None:
    """Refuse a JSON body with the NUL character in any text (key or value) with 400 ``nul_in_text``.

    PostgreSQL cannot store NUL and SQLite would store it verbatim, so the same request would differ
    by backend; a body without the escape is not decoded twice.  Console forms check their fields
    (``server.console.views.text_field``); device ops are refused one by one (``nul_in_text``).
    """
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type:  # without a content type the body is read as JSON
        return
    body = await request.body()
    if _JSON_NUL not in body:
        return
    try:
        pending: list[Any] = [msgspec.json.decode(body)]
    except msgspec.DecodeError:
        return  # the handler's own decoding reports it
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise BadRequest("nul_in_text", "text may not contain the NUL character (\\u0000)")
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


async def provide_device(request: Request[Any, Any, Any], state: State) -> DeviceAuth:
    svc = services_of(state)
    return await anyio.to_thread.run_sync(device_from_token, svc, bearer(request, "Device"))


async def raw_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge("payload_too_large", f"body exceeds {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge("payload_too_large", f"body exceeds {limit} bytes")
    return body


#: what a sync answer says about request bodies (RFC 7694): the server takes gzip-coded pushes
ACCEPTS_CODINGS: Final = {"accept-encoding": GZIP}


async def device_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """A device's request body decoded from its ``Content-Encoding``; ``limit`` holds for the DECODED bytes.

    The coded body is read within ``limit`` too.  A body that would expand past ``limit`` is refused
    with 413 ``payload_too_large`` after expanding at most ``limit`` bytes (a compression bomb is never
    unpacked); a coding other than gzip is 415 ``unsupported_encoding``; broken gzip is 400
    ``bad_encoding``.  Nothing has been decoded or written when any of these is raised.
    """
    return decode_coded(await raw_body(request, limit), request.headers.get("content-encoding"), limit)


def decode_coded(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """``body`` decoded from ``content_encoding`` within ``limit`` decoded bytes, or the problem that says why not."""
    try:
        return decode_body(body, content_encoding, limit)
    except DecodedTooLarge as exc:
        raise PayloadTooLarge("payload_too_large", f"the decoded body exceeds {limit} bytes") from exc
    except UnsupportedEncoding as exc:
        raise UnsupportedMediaType("unsupported_encoding", str(exc)) from exc
    except BadEncoding as exc:
        raise BadRequest("bad_encoding", str(exc)) from exc


def coded_response(request: Request[Any, Any, Any], payload: bytes, media_type: str = "application/msgpack",
                   status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    """``payload`` gzip-coded when the request's ``Accept-Encoding`` takes gzip and it is worth it.

    Signatures inside ``payload`` are over the uncoded bytes: the coding only wraps what travels.
    """
    out = dict(headers or {})
    out["vary"] = "Accept-Encoding"
    if worth_compressing(len(payload), media_type) and accepts_gzip(request.headers.get("accept-encoding")):
        payload = gzip_encode(payload, ANSWER_LEVEL)
        out["content-encoding"] = GZIP
    return Response(content=payload, status_code=status, media_type=media_type, headers=out)


def decode_msgpack(body: bytes, tp: type[T]) -> T:
    """Decode a msgpack body into ``tp`` or raise a 400 problem."""
    try:
        return msgspec.msgpack.decode(body, type=tp)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadRequest("invalid_body", f"body is not a valid {tp.__name__} in msgpack: {exc}") from exc


def msgpack_response(payload: bytes, status: int = 200) -> Response[bytes]:
    return Response(content=payload, status_code=status, media_type=MSGPACK)


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking database work off the event loop."""
    return await anyio.to_thread.run_sync(fn, *args)


class QueryParameters:
    """The query parameters each documented route takes, read from the app's own OpenAPI document.

    The document is what integrators generate clients from, so refusing a name it does not list keeps the
    two in step: ``/v1/movements?format=csv`` is a 400 naming ``format``, not JSON that silently ignored it.
    Routes outside the document (the console, the tablet app) are not checked.
    """

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], frozenset[str]] | None = None

    def known(self, app: Litestar) -> dict[tuple[str, str], frozenset[str]]:
        """(path template, method) -> its query parameter names; built at the first request."""
        if self._known is None:
            known: dict[tuple[str, str], frozenset[str]] = {}
            for path, item in (app.openapi_schema.paths or {}).items():
                for method in ("get", "put", "post", "delete", "patch"):
                    operation = getattr(item, method, None)
                    if operation is None:
                        continue
                    names = {p.name for p in operation.parameters or [] if isinstance(p, OpenAPIParameter)
                             and p.param_in == "query"}
                    known[(path, method.upper())] = frozenset(names)
            self._known = known
        return self._known

    async def check(self, request: Request[Any, Any, Any]) -> None:
        """``before_request``: refuse a query parameter the route does not take (400 ``unknown_parameter``)."""
        if not request.scope.get("query_string"):
            return
        allowed = self.known(request.app).get((request.scope.get("path_template", ""), request.method))
        if allowed is None:
            return
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            names, takes = ", ".join(unknown)[:200], ", ".join(sorted(allowed))
            raise BadRequest("unknown_parameter", Msg("unknown_parameter" if takes else "no_parameters",
                                                      {"names": names, "takes": takes}), parameters=unknown[:20])
