"""Domain errors and the one place that maps them to HTTP problem documents.

Exception tree::

    DomainError (400, code)               -- anything the caller can correct
    ├── BadRequest (400)                  -- malformed or invalid input
    ├── Unauthorized (401)                -- no or bad credentials
    ├── Forbidden (403)                   -- credentials fine, action not allowed
    ├── NotFound (404)
    ├── Conflict (409)                    -- state forbids it (chain gap/fork, duplicate)
    ├── PayloadTooLarge (413)
    └── RateLimited (429)

Every error reaches the client as ``application/problem+json`` with a stable
``code``; anything unexpected becomes a 500 problem without internals.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import psycopg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from sync.core.changeset import ChangeSetError
from sync.storage import StorageError

log = logging.getLogger("fieldsync.errors")


class DomainError(Exception):
    """Base of every error the API reports to its caller."""

    status = 400

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra


class BadRequest(DomainError):
    """Malformed or invalid input."""

    status = 400


class Unauthorized(DomainError):
    """Missing, unknown or expired credentials."""

    status = 401


class Forbidden(DomainError):
    """The caller may not do this."""

    status = 403


class NotFound(DomainError):
    """No such record."""

    status = 404


class Conflict(DomainError):
    """The current state forbids the request."""

    status = 409


class PayloadTooLarge(DomainError):
    """The body exceeds the configured limit."""

    status = 413


class RateLimited(DomainError):
    """Too many attempts; try again later."""

    status = 429


CHANGESET_STATUS = {
    "bad_signature": 400,
    "malformed_changeset": 400,
    "unsupported_protocol": 400,
    "too_many_ops": 413,
    "device_mismatch": 403,
    "chain_gap": 409,
    "chain_fork": 409,
}

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          409: "Conflict", 413: "Payload Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Entity",
          429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def problem(status: int, code: str, detail: str, **extra: Any) -> Response[bytes]:
    """Build a problem document response."""
    body = {"type": f"https://fieldsync.dev/problems/{code}", "title": TITLES.get(status, "Error"),
            "status": status, "detail": detail, "code": code, **extra}
    return Response(content=msgspec.json.encode(body), status_code=status, media_type="application/problem+json")


def _http_code(exc: HTTPException) -> str:
    return {400: "invalid_body", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
            429: "rate_limited"}.get(exc.status_code, "http_error")


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """The one mapper from exceptions to HTTP."""
    if isinstance(exc, DomainError):
        return problem(exc.status, exc.code, exc.detail, **exc.extra)
    if isinstance(exc, ChangeSetError):
        return problem(CHANGESET_STATUS.get(exc.code, 400), exc.code, exc.message)
    if isinstance(exc, ValidationException):
        errors = msgspec.to_builtins(exc.extra or [])
        sources = {e.get("source") for e in errors if isinstance(e, dict)} if isinstance(errors, list) else set()
        code = "invalid_parameter" if sources and "body" not in sources else "invalid_body"
        return problem(400, code, str(exc.detail), errors=errors)
    if isinstance(exc, msgspec.ValidationError | msgspec.DecodeError):
        return problem(400, "invalid_body", str(exc))
    if isinstance(exc, RecursionError):  # the decoder gave up on a body nested thousands deep
        return problem(400, "invalid_body", "body is nested too deeply")
    if isinstance(exc, OverflowError | psycopg.DataError):  # the database refused a value; the tx rolled back
        return problem(400, "invalid_value", "a value is out of range or not storable (64-bit numbers, no NUL)")
    if isinstance(exc, HTTPException):
        if exc.status_code >= 500:
            log.error("HTTP %s on %s: %s", exc.status_code, request.url.path, exc.detail)
            return problem(exc.status_code, "server_error", "internal error")
        return problem(exc.status_code, _http_code(exc), str(exc.detail))
    if isinstance(exc, StorageError):
        log.error("storage unavailable: %s", exc)
        return problem(503, "storage_unavailable", "the database is unavailable; retry later")
    log.exception("unhandled error on %s", request.url.path)
    return problem(500, "server_error", "internal error")
