"""HTTP for the sync protocol: push, pull and blobs (device-authenticated, msgpack)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, put
from litestar import post as post_

from schemas.wire import PullRequest
from server.context import Services
from server.domain.sync import pull as pull_service
from server.domain.sync import push as push_service
from server.errors import BadRequest
from server.http import decode_msgpack, in_thread, msgpack_response, raw_body
from server.security import DeviceAuth, Staff


class SyncController(Controller):
    """``/v1/sync/*`` and ``/v1/blobs/*``."""

    path = "/v1"
    tags = ["sync"]

    @post_("/sync/push", status_code=200)
    async def push(self, request: Request[Any, Any, Any], services: Services, device: DeviceAuth) -> Response[bytes]:
        body = await raw_body(request, services.settings.max_body_bytes)
        return msgpack_response(await in_thread(push_service.push, services, device, body))

    @post_("/sync/pull", status_code=200)
    async def pull(self, request: Request[Any, Any, Any], services: Services, device: DeviceAuth) -> Response[bytes]:
        req = decode_msgpack(await raw_body(request, 4096), PullRequest)
        return msgpack_response(await in_thread(pull_service.pull, services, device, req))

    @get("/blobs/{sha256:str}/status", sync_to_thread=True)
    def blob_status(self, sha256: str, services: Services, device: DeviceAuth) -> dict[str, object]:
        return pull_service.blob_status(services, device.device_id, sha256)

    @put("/blobs/{sha256:str}", status_code=200)
    async def put_blob(self, request: Request[Any, Any, Any], sha256: str, services: Services,
                       device: DeviceAuth, offset: int = 0, size: int = 0) -> dict[str, object]:
        chunk = await raw_body(request, 4 * 1024 * 1024)
        if size <= 0:
            raise BadRequest("size_required", "give the blob's total size as ?size=")
        return await in_thread(pull_service.put_blob_chunk, services, device.device_id, sha256, offset, size, chunk)

    @get("/blobs/{sha256:str}", sync_to_thread=True)
    def get_blob(self, sha256: str, services: Services, staff: Staff) -> Response[bytes]:
        data = pull_service.read_blob(services, sha256)
        return Response(content=data, media_type="application/octet-stream")
