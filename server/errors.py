"""Domain errors and the one place that maps them to HTTP problem documents.

Exception tree::

    DomainError (400, code)               -- anything the caller can correct
    ├── BadRequest (400)                  -- malformed or invalid input
    ├── Unauthorized (401)                -- no or bad credentials
    ├── Forbidden (403)                   -- credentials fine, action not allowed
    ├── NotFound (404)
    ├── Conflict (409)                    -- state forbids it (chain gap/fork, duplicate)
    ├── PreconditionFailed (412)          -- If-Match names a version that is no longer current
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)        -- a content coding the server does not speak
    ├── Unprocessable (422)               -- well-formed, but cannot be done (an idempotency key reused)
    ├── PreconditionRequired (428)        -- a conditional write sent without If-Match
    ├── RateLimited (429)
    └── Unavailable (503)                 -- sound, but not now (an earlier change-set's merge pending)

Every error reaches the client as ``application/problem+json`` with a stable
``code``; anything unexpected becomes a 500 problem without internals.

The human texts of a problem (``title``, ``detail``) are in the locale the
request's ``Accept-Language`` asks for (English when it names none we speak),
from the ``problems`` catalogs; ``type``, ``code`` and every other member stay
the same in every language.  The title is the status's; the detail is the one
the raise site wrote -- its catalog text when it was raised with a :class:`Msg`
(``BadRequest("invalid_parameter", Msg("format_json_or_csv"))``), else in
English as written and, in another locale, the catalog's text for its code.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import msgspec
import psycopg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from schemas import i18n
from server.http_locale import content_language, request_locale
from sync.core.changeset import ChangeSetError
from sync.storage import StorageError

log = logging.getLogger("fieldsync.errors")


DOMAIN = "problems"


class Msg(NamedTuple):
    """A problem detail from the catalogs: ``detail.<key>`` of the ``problems`` domain, with its placeholders."""

    key: str
    params: Mapping[str, object] = {}

    def text(self, locale: str) -> str:
        """The detail in ``locale``."""
        return i18n.text(locale, DOMAIN, f"detail.{self.key}", **self.params)


class DomainError(Exception):
    """Base of every error the API reports to its caller (``detail`` is English; see :meth:`detail_in`)."""

    status = 400

    def __init__(self, code: str, detail: str | Msg, **extra: Any) -> None:
        self.msg = detail if isinstance(detail, Msg) else None
        english = detail.text(i18n.FALLBACK) if isinstance(detail, Msg) else detail
        super().__init__(english)
        self.code = code
        self.detail = english
        self.extra = extra

    def detail_in(self, locale: str) -> str:
        """The detail for a person reading ``locale``."""
        return localized_detail(locale, self.code, self.detail, self.msg, self.extra)


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


class PreconditionFailed(DomainError):
    """The version the caller read is no longer the current one."""

    status = 412


class Unprocessable(DomainError):
    """Well-formed, but the request cannot be done as sent."""

    status = 422


class PreconditionRequired(DomainError):
    """The write must say which version it changes (``If-Match``)."""

    status = 428


class PayloadTooLarge(DomainError):
    """The body exceeds the configured limit."""

    status = 413


class UnsupportedMediaType(DomainError):
    """The body is sent in a form (a content coding) the server does not take."""

    status = 415


class RateLimited(DomainError):
    """Too many attempts; try again later."""

    status = 429


class Unavailable(DomainError):
    """The request is sound but cannot be served now; the same request later can (``retry_after_s``)."""

    status = 503


CHANGESET_STATUS = {
    "bad_signature": 400,
    "malformed_changeset": 400,
    "unsupported_protocol": 400,
    "too_many_ops": 413,
    "device_mismatch": 403,
    "chain_gap": 409,
    "chain_fork": 409,
}

#: the English title of each status a problem carries (the catalogs hold every locale's)
TITLES: dict[int, str] = {int(key.removeprefix("title.")): value
                          for key, value in i18n.catalog(i18n.FALLBACK, DOMAIN).items()
                          if key.startswith("title.") and key.removeprefix("title.").isdigit()}


def title(locale: str, status: int) -> str:
    """The title of a problem with ``status`` in ``locale``."""
    key = f"title.{status}" if status in TITLES else "title.other"
    return i18n.text(locale, DOMAIN, key)


def localized_detail(locale: str, code: str, detail: str, msg: Msg | None = None,
                     extra: Mapping[str, Any] | None = None) -> str:
    """A problem's detail in ``locale``: the :class:`Msg`'s text, the English as written, or the code's text."""
    if msg is not None:
        return msg.text(locale)
    if locale == i18n.FALLBACK:
        return detail
    generic = i18n.catalog(locale, DOMAIN).get(f"code.{code}")
    if generic is None:  # a code the catalogs do not know yet (tests/unit/test_problems.py keeps them complete)
        return detail
    return i18n.text(locale, DOMAIN, f"code.{code}", **{k: v for k, v in (extra or {}).items()
                                                         if isinstance(v, str | int | float)})


def problem(status: int, code: str, detail: str, *, locale: str = i18n.FALLBACK, msg: Msg | None = None,
            **extra: Any) -> Response[bytes]:
    """Build a problem document response, its title and detail in ``locale``."""
    body = {"type": f"https://fieldsync.dev/problems/{code}", "title": title(locale, status),
            "status": status, "detail": localized_detail(locale, code, detail, msg, extra), "code": code, **extra}
    return Response(content=msgspec.json.encode(body), status_code=status, media_type="application/problem+json",
                    headers={"content-language": content_language(locale), "vary": "Accept-Language"})


def _http_code(exc: HTTPException) -> str:
    return {400: "invalid_body", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
            429: "rate_limited"}.get(exc.status_code, "http_error")


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """The one mapper from exceptions to HTTP (texts in the locale the request asks for)."""
    try:
        locale = request_locale(request.headers.get("accept-language"))
    except Exception:  # noqa: BLE001 -- the error page of any request, however broken its headers
        locale = i18n.FALLBACK
    if isinstance(exc, DomainError):
        return problem(exc.status, exc.code, exc.detail, locale=locale, msg=exc.msg, **exc.extra)
    return _problem_of(request, exc, locale)


_AT: Final = re.compile(r"- at `([^`]{1,200})`$")


def _naming(locale: str, code: str, where: str) -> Msg | None:
    """Outside English, a validation problem's detail names the parameters or the body's path it is about.

    In English the detail stays the decoder's own sentence (clients and tests read it as it always was).
    """
    if locale == i18n.FALLBACK or not where:
        return None
    if code == "invalid_parameter":
        return Msg("invalid_parameters", {"names": where[:200]})
    return Msg("invalid_body_at", {"path": where[:200]})


def _problem_of(request: Request[Any, Any, Any], exc: Exception, locale: str) -> Response[bytes]:
    """The problem of an exception the domain did not raise (the framework's, the decoder's, the database's)."""
    if isinstance(exc, ChangeSetError):
        return problem(CHANGESET_STATUS.get(exc.code, 400), exc.code, exc.message, locale=locale)
    if isinstance(exc, ValidationException):
        errors = msgspec.to_builtins(exc.extra or [])
        sources = {e.get("source") for e in errors if isinstance(e, dict)} if isinstance(errors, list) else set()
        code = "invalid_parameter" if sources and "body" not in sources else "invalid_body"
        keys = sorted({str(e["key"]) for e in errors if isinstance(e, dict) and e.get("key")}) \
            if isinstance(errors, list) else []
        if code == "invalid_parameter" and not set(keys) <= set(request.query_params):
            keys = []  # the framework names an aliased parameter by its Python name (start for ?from=): say none
        return problem(400, code, str(exc.detail), locale=locale, errors=errors,
                       msg=_naming(locale, code, ", ".join(keys)))
    if isinstance(exc, msgspec.ValidationError | msgspec.DecodeError):
        at = _AT.search(str(exc))
        return problem(400, "invalid_body", str(exc), locale=locale,
                       msg=_naming(locale, "invalid_body", at.group(1) if at else ""))
    if isinstance(exc, RecursionError):  # the decoder gave up on a body nested thousands deep
        return problem(400, "invalid_body", "", locale=locale, msg=Msg("body_too_deep"))
    if isinstance(exc, OverflowError | psycopg.DataError):  # the database refused a value; the tx rolled back
        return problem(400, "invalid_value", "a value is out of range or not storable (64-bit numbers, no NUL)",
                       locale=locale)
    if isinstance(exc, HTTPException):
        if exc.status_code >= 500:
            log.error("HTTP %s on %s: %s", exc.status_code, request.url.path, exc.detail)
            return problem(exc.status_code, "server_error", "internal error", locale=locale)
        return problem(exc.status_code, _http_code(exc), str(exc.detail), locale=locale)
    if isinstance(exc, StorageError):
        log.error("storage unavailable: %s", exc)
        return problem(503, "storage_unavailable", "the database is unavailable; retry later", locale=locale)
    log.exception("unhandled error on %s", request.url.path)
    return problem(500, "server_error", "internal error", locale=locale)
