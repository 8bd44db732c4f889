"""HTTP for resumable change-set uploads (device session): status, chunks, commit."""

from __future__ import annotations

from typing import Any, Final

from litestar import Controller, Request, Response, get, post, put

from server.domain.uploads import service
from server.http import ACCEPTS_CODINGS, coded_response, in_thread, raw_body
from server.observability import PUSH_BYTES, PUSH_SECONDS
from server.security import DeviceAuth
from server.services import Services

#: the largest chunk one PUT may carry
MAX_CHUNK: Final = 4 * 1024 * 1024


class UploadController(Controller):
    """``/v1/sync/uploads/{sha256}``: a push in chunks that resumes where a cut left it."""

    path = "/v1"
    tags = ["sync"]

    @get("/sync/uploads/{sha256:str}", sync_to_thread=True)
    def upload_status(self, sha256: str, services: Services, device: DeviceAuth) -> dict[str, object]:
        return service.upload_status(services, device.device_id, sha256)

    @put("/sync/uploads/{sha256:str}", status_code=200)
    async def put_chunk(self, request: Request[Any, Any, Any], sha256: str, services: Services,
                        device: DeviceAuth, offset: int = 0, size: int = 0,
                        encoding: str = "identity") -> dict[str, object]:
        chunk = await raw_body(request, MAX_CHUNK)
        return await in_thread(service.put_chunk, services, device.device_id, sha256, offset, size, encoding,
                               chunk)

    @post("/sync/uploads/{sha256:str}/commit", status_code=200)
    async def commit(self, request: Request[Any, Any, Any], sha256: str, services: Services,
                     device: DeviceAuth) -> Response[bytes]:
        with PUSH_SECONDS.time():
            receipt = await in_thread(service.commit, services, device, sha256)
        PUSH_BYTES.observe(len(receipt))
        return coded_response(request, receipt, headers=ACCEPTS_CODINGS)
