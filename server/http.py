"""HTTP plumbing shared by the controllers: auth dependencies, raw bodies, msgpack replies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

import anyio.to_thread
import msgspec
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.openapi.spec import Parameter as OpenAPIParameter

from server.errors import BadRequest, Msg, PayloadTooLarge
from server.security import DeviceAuth, Staff, bearer, device_from_token, staff_from_token
from server.services import Services

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
