"""HTTP plumbing shared by the controllers: auth dependencies, raw bodies, msgpack replies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
import msgspec
from litestar import Request, Response
from litestar.datastructures import State

from server.context import Services
from server.errors import BadRequest, PayloadTooLarge
from server.security import DeviceAuth, Staff, bearer, device_from_token, staff_from_token

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
    return await anyio.to_thread.run_sync(staff_from_token, svc, bearer(request, "Bearer"))


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
