"""HTTP for blobs: a device uploads in chunks and asks how far it got; staff read complete blobs."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, put

from schemas.wire import BlobStatus
from server.domain.blobs import service as blob_service
from server.errors import BadRequest
from server.http import coded_response, in_thread, raw_body
from server.security import DeviceAuth, Staff
from server.services import Services
from sync.transport.encoding import worth_compressing


class BlobController(Controller):
    """``/v1/blobs/{sha256}``: status and chunked upload (device session), download (staff)."""

    path = "/v1"
    tags = ["blobs"]

    @get("/blobs/{sha256:str}/status", sync_to_thread=True)
    def blob_status(self, sha256: str, services: Services, device: DeviceAuth) -> BlobStatus:
        return blob_service.blob_status(services, device.device_id, sha256)

    @put("/blobs/{sha256:str}", status_code=200)
    async def put_blob(self, request: Request[Any, Any, Any], sha256: str, services: Services,
                       device: DeviceAuth, offset: int = 0, size: int = 0) -> BlobStatus:
        chunk = await raw_body(request, 4 * 1024 * 1024)
        if size <= 0:
            raise BadRequest("size_required", "give the blob's total size as ?size=")
        return await in_thread(blob_service.put_blob_chunk, services, device.device_id, sha256, offset, size, chunk)

    @get("/blobs/{sha256:str}", sync_to_thread=True)
    def get_blob(self, request: Request[Any, Any, Any], sha256: str, services: Services,
                 staff: Staff) -> Response[bytes]:
        data = blob_service.read_blob(services, sha256)
        # gzip-coded per Accept-Encoding unless the attachment declared a type that is compressed already
        declared = blob_service.content_type(services, sha256)
        if declared is not None and not worth_compressing(len(data), declared):
            return Response(content=data, media_type="application/octet-stream")
        return coded_response(request, data, "application/octet-stream")
