"""HTTP for the sync protocol: push and pull (device-authenticated, msgpack).

Both take gzip-coded bodies (limits hold for the decoded size) and answer gzip-coded when the device
asks for it (``Accept-Encoding``); every answer says ``Accept-Encoding: gzip`` so a device knows it may
compress its pushes.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response
from litestar import post as post_

from schemas.wire import PullRequest
from server.domain.sync import pull as pull_service
from server.domain.sync import push as push_service
from server.http import ACCEPTS_CODINGS, coded_response, decode_msgpack, device_body, in_thread
from server.observability import PULL_BYTES, PULL_SECONDS, PUSH_BYTES, PUSH_SECONDS
from server.security import DeviceAuth
from server.services import Services


class SyncController(Controller):
    """``/v1/sync/push`` and ``/v1/sync/pull``."""

    path = "/v1"
    tags = ["sync"]

    @post_("/sync/push", status_code=200)
    async def push(self, request: Request[Any, Any, Any], services: Services, device: DeviceAuth) -> Response[bytes]:
        body = await device_body(request, services.settings.max_body_bytes)
        with PUSH_SECONDS.time():
            receipt = await in_thread(push_service.push, services, device, body)
        PUSH_BYTES.observe(len(body))
        return coded_response(request, receipt, headers=ACCEPTS_CODINGS)

    @post_("/sync/pull", status_code=200)
    async def pull(self, request: Request[Any, Any, Any], services: Services, device: DeviceAuth) -> Response[bytes]:
        req = decode_msgpack(await device_body(request, 4096), PullRequest)
        with PULL_SECONDS.time():
            page = await in_thread(pull_service.pull, services, device, req)
        PULL_BYTES.observe(len(page))
        return coded_response(request, page, headers=ACCEPTS_CODINGS)
