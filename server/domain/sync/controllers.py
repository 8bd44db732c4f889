"""HTTP for the sync protocol: push, pull and receipts (device-authenticated, msgpack).

A push with ``Prefer: respond-async`` is answered 202 with a signed Accepted once its verified bytes
are stored; ``GET /v1/sync/receipts/{seq}?wait=S`` then answers its receipt (long poll: the wait holds
no thread and no database connection; see :mod:`server.domain.sync.merge_signal`).

Push and pull take gzip-coded bodies (limits hold for the decoded size) and answer gzip-coded when the device
asks for it (``Accept-Encoding``); every answer says ``Accept-Encoding: gzip`` so a device knows it may
compress its pushes.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any, Final

from litestar import Controller, Request, Response
from litestar import get as get_
from litestar import post as post_

from schemas.wire import PullRequest
from server.domain.sync import intake
from server.domain.sync import pull as pull_service
from server.errors import BadRequest, NotFound
from server.http import ACCEPTS_CODINGS, coded_response, decode_msgpack, device_body, in_thread
from server.observability import PULL_BYTES, PULL_SECONDS, PUSH_BYTES, PUSH_SECONDS
from server.security import DeviceAuth
from server.services import Services

#: the longest ``wait`` a receipt request may ask for, in seconds
MAX_WAIT_S: Final = 30
#: a long poll also looks in the database this often: another process may have merged the change-set
#: (PostgreSQL); SQLite has one server process, whose merges wake the poll, so it looks rarely
LOOK_EVERY_S: Final = {"postgresql": 1.0, "sqlite": 5.0}


def respond_async(request: Request[Any, Any, Any]) -> bool:
    """Whether the request's ``Prefer`` header asks for ``respond-async`` (RFC 7240)."""
    return any(p.split(";")[0].split("=")[0].strip().lower() == "respond-async"
               for v in request.headers.getall("prefer", []) for p in v.split(","))


def push_response(request: Request[Any, Any, Any], answer: intake.PushAnswer) -> Response[bytes]:
    """A push's answer: the receipt (200) or the Accepted (202, ``Preference-Applied: respond-async``)."""
    headers = dict(ACCEPTS_CODINGS)
    if answer.status == 202:
        headers["preference-applied"] = "respond-async"
    return coded_response(request, answer.body, status=answer.status, headers=headers)


def parse_wait(raw: str | None) -> int:
    """``wait`` in whole seconds 0..30 (absent: 0), or 400 ``bad_wait``."""
    if raw is None or raw == "":
        return 0
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_WAIT_S:
        raise BadRequest("bad_wait", f"wait is a whole number of seconds from 0 to {MAX_WAIT_S}")
    return int(raw)


class SyncController(Controller):
    """``/v1/sync/push``, ``/v1/sync/pull`` and ``/v1/sync/receipts/{seq}``."""

    path = "/v1"
    tags = ["sync"]

    @post_("/sync/push", status_code=200)
    async def push(self, request: Request[Any, Any, Any], services: Services, device: DeviceAuth) -> Response[bytes]:
        body = await device_body(request, services.settings.max_body_bytes)
        with PUSH_SECONDS.time():
            answer = await in_thread(partial(intake.submit, services, device, body,
                                             respond_async=respond_async(request)))
        PUSH_BYTES.observe(len(body))
        return push_response(request, answer)

    @get_("/sync/receipts/{seq:int}", status_code=200)
    async def receipt(self, request: Request[Any, Any, Any], seq: int, services: Services, device: DeviceAuth,
                      wait: str | None = None) -> Response[bytes]:
        """The change-set's receipt once merged (200), else after ``wait`` seconds its Accepted (202)."""
        seconds = parse_wait(wait)
        deadline = time.monotonic() + seconds
        while True:
            answer = await in_thread(intake.outcome, services, device.device_id, seq)
            if answer is None:
                raise NotFound("unknown_changeset", f"no change-set {seq} of this device was accepted or merged")
            left = deadline - time.monotonic()
            if answer.status == 200 or left <= 0:
                return coded_response(request, answer.body, status=answer.status)
            look = LOOK_EVERY_S[services.db.dialect]
            await services.merge_signal.wait_merged(device.device_id, seq, min(left, look))

    @post_("/sync/pull", status_code=200)
    async def pull(self, request: Request[Any, Any, Any], services: Services, device: DeviceAuth) -> Response[bytes]:
        req = decode_msgpack(await device_body(request, 4096), PullRequest)
        with PULL_SECONDS.time():
            page = await in_thread(pull_service.pull, services, device, req)
        PULL_BYTES.observe(len(page))
        return coded_response(request, page, headers=ACCEPTS_CODINGS)
