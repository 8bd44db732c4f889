"""HTTP for devices: enrollment, sessions (device side) and the back office's device list."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post

from schemas.codec import encode
from schemas.domain import Device, TokenOut
from schemas.wire import EnrollRequest, SessionRequest
from server.domain.devices import service
from server.http import ACCEPTS_CODINGS, MSGPACK, decode_msgpack, in_thread, msgpack_response, raw_body
from server.security import Staff
from server.services import Services

AUTH_BODY_LIMIT = 4096
#: challenges and session attempts from one client address: fifty times the limiter's base rate and burst
#: (50 a second, bursts of 1,000 by default), as a depot's or a load test's tablets may share one address;
#: a device id in the body is never the key (anyone can send it)
DEVICE_AUTH_SCALE = 50.0


def client_address(request: Request[Any, Any, Any]) -> str:
    """The caller's address as the server sees it (a proxy's ``X-Forwarded-For`` only when configured)."""
    return request.client.host if request.client else "?"


class ChallengeIn(msgspec.Struct, kw_only=True):
    """Ask for a nonce."""

    device_id: str


class DeviceAuthController(Controller):
    """Device-side enrollment and session opening (msgpack bodies)."""

    path = "/v1/devices"
    tags = ["devices"]

    @post("/enroll", status_code=200)
    async def enroll(self, request: Request[Any, Any, Any], services: Services) -> Response[bytes]:
        req = decode_msgpack(await raw_body(request, AUTH_BODY_LIMIT), EnrollRequest)
        services.limiter.check(f"enroll:{client_address(request)}")
        return msgpack_response(encode(await in_thread(service.enroll, services, req)))

    @post("/challenge", status_code=200)
    async def challenge(self, request: Request[Any, Any, Any], services: Services) -> Response[bytes]:
        req = decode_msgpack(await raw_body(request, AUTH_BODY_LIMIT), ChallengeIn)
        services.limiter.check(f"auth:{client_address(request)}", rate_scale=DEVICE_AUTH_SCALE,
                               burst_scale=DEVICE_AUTH_SCALE)
        return msgpack_response(encode(await in_thread(service.challenge, services, req.device_id)))

    @post("/session", status_code=200)
    async def session(self, request: Request[Any, Any, Any], services: Services) -> Response[bytes]:
        req = decode_msgpack(await raw_body(request, AUTH_BODY_LIMIT), SessionRequest)
        services.limiter.check(f"auth:{client_address(request)}", rate_scale=DEVICE_AUTH_SCALE,
                               burst_scale=DEVICE_AUTH_SCALE)
        # the session's answer already says the server takes gzip-coded pushes (RFC 7694)
        return Response(content=encode(await in_thread(service.open_session, services, req)), status_code=200,
                        media_type=MSGPACK, headers=ACCEPTS_CODINGS)


class DeviceAdminController(Controller):
    """Back-office view of devices."""

    path = "/v1"
    tags = ["devices"]

    @get("/devices", sync_to_thread=True)
    def list_devices(self, services: Services, staff: Staff, engineer_id: str | None = None) -> list[Device]:
        return service.list_devices(services, engineer_id)

    @post("/devices/{device_id:str}/revoke", sync_to_thread=True, status_code=200)
    def revoke(self, device_id: str, services: Services, staff: Staff) -> Device:
        staff.require("admin")
        return service.revoke(services, device_id)

    @post("/engineers/{engineer_id:str}/enroll-token", sync_to_thread=True, status_code=201)
    def enroll_token(self, engineer_id: str, services: Services, staff: Staff) -> TokenOut:
        staff.require("dispatcher", "admin")
        token, expires = service.issue_enroll_token(services, engineer_id)
        return TokenOut(token=token, expires_at=expires)
