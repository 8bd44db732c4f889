"""HTTP for resumable change-set uploads (device session): status, chunks, commit."""

from __future__ import annotations

from functools import partial
from typing import Any, Final

from litestar import Controller, Request, Response, get, post, put
from litestar.exceptions import InternalServerException

from server.domain.sync.controllers import push_response, respond_async
from server.domain.uploads import service
from server.errors import BadRequest
from server.http import in_thread
from server.observability import PUSH_BYTES, PUSH_SECONDS
from server.security import DeviceAuth
from server.services import Services

#: what a PUT has received is stored in pieces of this size as it arrives (and the rest when the link drops)
PERSIST_EVERY: Final = 64 * 1024


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
        """Store the body at ``offset`` as it arrives, in pieces: when the link drops mid-body, what came is kept.

        A device may send the whole rest of its upload in one PUT; the server keeps every piece that
        arrived, so the next attempt (after ``GET``) sends only what is missing and no round trip per
        chunk is spent meanwhile.
        """
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and offset >= 0 and offset + int(length) > max(size, 0):
            raise BadRequest("bad_range", "chunk does not fit the declared size")
        at, pending, status, cut = offset, bytearray(), None, False
        try:
            async for piece in request.stream():
                pending += piece
                if len(pending) >= PERSIST_EVERY:
                    status = await in_thread(service.put_chunk, services, device.device_id, sha256, at, size,
                                             encoding, bytes(pending))
                    at += len(pending)
                    pending.clear()
        except InternalServerException:
            cut = True  # the device's link dropped mid-body: keep what arrived, nobody reads the answer
        if pending or status is None:
            if cut and not pending:
                return {}
            status = await in_thread(service.put_chunk, services, device.device_id, sha256, at, size, encoding,
                                     bytes(pending))
        return status

    @post("/sync/uploads/{sha256:str}/commit", status_code=200)
    async def commit(self, request: Request[Any, Any, Any], sha256: str, services: Services,
                     device: DeviceAuth) -> Response[bytes]:
        with PUSH_SECONDS.time():
            answer = await in_thread(partial(service.commit, services, device, sha256,
                                             respond_async=respond_async(request)))
        PUSH_BYTES.observe(len(answer.body))
        return push_response(request, answer)
