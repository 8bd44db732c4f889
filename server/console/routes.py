"""HTTP routes of the web console (server-rendered HTML at ``/``), and its own error pages.

Every page needs a console session (cookie) and checks the user's role; every
form carries the session's CSRF token.  A bad form comes back as the same
page with a message, never as a JSON problem; an error on a page is an HTML
page with the stable error code.  Nothing here is in the OpenAPI schema:
the console is a client of the same services the ``/v1`` API uses.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import secrets
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.params import QueryParameter
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect

from schemas import i18n as i18n_catalogs
from server.console import auth, dispatch, i18n, recon, servicedesk, views
from server.console.auth import SESSION_COOKIE, ConsoleSession
from server.console.i18n import Lang
from server.console.nav import nav_for
from server.domain.activity.service import data_version
from server.domain.blobs.service import content_type as blob_content_type
from server.domain.blobs.service import read_blob
from server.domain.customers import service as customers
from server.domain.devices.service import revoke
from server.domain.signed_reports.service import report_pdf
from server.domain.sla.policy import PolicyError
from server.domain.sla.service import policy_set
from server.errors import BadRequest, DomainError, Forbidden, NotFound
from server.http import in_thread
from server.services import Services

log = logging.getLogger("fieldsync.console")

HERE: Final = Path(__file__).parent
TEMPLATES: Final = HERE / "templates"
STATIC: Final = HERE / "static"
STATIC_TYPES: Final = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                       ".svg": "image/svg+xml"}
LOGIN_CSRF_COOKIE: Final = "fs_login_csrf"
IMAGE_TYPES: Final = ("image/png", "image/jpeg", "image/gif", "image/webp")
SECURITY_HEADERS: Final = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
#: the ``?done=`` notices a page shows after a form went through (texts: catalog ``done.<name>``)
DONE_MESSAGES: Final = ("ticket_created", "job_added", "reassigned", "resolved", "recon_resolved", "claim_approved",
                        "claim_rejected", "revoked", "language", "report_locale", "moved", "status_cancelled",
                        "status_on_hold", "status_closed", "status_reopened", "ticket_closed", "acknowledged",
                        "followup_logged", "confirmed", "complaint_opened", "survey_recorded")
Form = dict[str, str]


class SignInRequired(Exception):
    """No live console session: pages redirect to the sign-in form."""

    def __init__(self, target: str) -> None:
        super().__init__("sign in required")
        self.target = target


# -- rendering -------------------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


@functools.lru_cache(maxsize=1)
def engine() -> JinjaTemplateEngine:
    """The Jinja2 engine (Litestar's), with the console's filters and asset versions."""
    eng = JinjaTemplateEngine(directory=TEMPLATES)
    env = eng.engine
    env.filters["q"] = lambda s: quote(str(s), safe="")
    env.globals["nav_for"] = nav_for
    env.globals["asset_v"] = {p.name: _digest(p) for p in STATIC.iterdir() if p.suffix in STATIC_TYPES}
    env.trim_blocks = True
    env.lstrip_blocks = True
    return eng


def render(name: str, lang: Lang, ctx: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None,
           cookies: list[Cookie] | None = None) -> Response[str]:
    """A template in ``lang``: ``t(key, **params)`` gives its texts, ``L`` its names and formatting."""
    html = engine().get_template(name).render(t=lang.t, L=lang, locales=i18n.CHOICES, **ctx)
    return Response(content=html, status_code=status, media_type="text/html; charset=utf-8",
                    headers={**SECURITY_HEADERS, **(headers or {})}, cookies=cookies)


def page_(request: Request[Any, Any, Any], services: Services, session: ConsoleSession, lang: Lang, name: str,
          ctx: dict[str, Any]) -> Response[str]:
    """:func:`page`, for handlers whose ``page`` parameter (the list page number) hides the function."""
    return page(request, services, session, lang, name, ctx)


def page(request: Request[Any, Any, Any], services: Services, session: ConsoleSession, lang: Lang, name: str,
         ctx: dict[str, Any], *, status: int = 200, error: str = "", form: Form | None = None) -> Response[str]:
    done = request.query_params.get("done", "")
    refresh = ""
    cookies: list[Cookie] = []
    flashed = read_flash(request, session)
    if flashed is not None:  # the form error of the POST that redirected here (shown once, then forgotten)
        error, form = str(flashed.get("error", "")), {k: str(v) for k, v in dict(flashed.get("form", {})).items()}
        ctx = {**ctx, "error_field": str(flashed.get("field", "")), "error_id": str(flashed.get("id", ""))}
    if FLASH_COOKIE in request.cookies:
        cookies.append(Cookie(key=FLASH_COOKIE, value="", path="/", max_age=0))
    if request.method == "GET":
        refresh = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(name, lang, {"session": session, "path": request.url.path, "now": services.clock(),
                               "refresh_url": refresh, "here": _here(request),
                               "server_locale": services.settings.locale,
                               "error": error, "notice": lang.t(f"done.{done}") if done in DONE_MESSAGES or (
                                   done.startswith(("parts_", "mgmt_")) and i18n.known(lang.locale, f"done.{done}"))
                               else "",
                               "form": form or {}, "error_field": "", **ctx}, status=status, cookies=cookies)


# -- form errors after a redirect (POST-redirect-GET) ----------------------------------------------------

FLASH_COOKIE: Final = "fs_flash"
FLASH_MAX: Final = 3000


def _flash_mac(session: ConsoleSession, payload: str) -> str:
    return hmac.new(session.csrf.encode(), payload.encode(), hashlib.sha256).hexdigest()[:24]


def failed(session: ConsoleSession, to: str, exc: DomainError, lang: Lang, form: Form, *,
           error_id: str = "") -> Redirect:
    """A form the services refused: back to the page it was sent from (``to``, a GET), with the message and
    what was typed in a short-lived cookie signed for this session, so the message shows once and a reload
    does not send the form again."""
    keep = {k: v[:500] for k, v in form.items() if k != "csrf"}
    body = {"error": shown_detail(exc, lang), "field": str(exc.extra.get("field", "")), "id": error_id,
            "form": keep}
    payload = base64.urlsafe_b64encode(json.dumps(body, ensure_ascii=False).encode()).decode()
    if len(payload) > FLASH_MAX:
        body["form"] = {}
        payload = base64.urlsafe_b64encode(json.dumps(body, ensure_ascii=False).encode()).decode()[:FLASH_MAX]
    cookie = Cookie(key=FLASH_COOKIE, value=f"{payload}.{_flash_mac(session, payload)}", path="/", max_age=120,
                    httponly=True, samesite="strict")
    return Redirect(path=_safe_next(to), status_code=303, cookies=[cookie], headers={"cache-control": "no-store"})


def read_flash(request: Request[Any, Any, Any], session: ConsoleSession) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE, "")
    payload, _, mac = raw.rpartition(".")
    if not payload or not hmac.compare_digest(mac, _flash_mac(session, payload)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _here(request: Request[Any, Any, Any]) -> str:
    """This page's address without ``?done=`` (where the language switch comes back to)."""
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "done"])
    return _safe_next(request.url.path + (f"?{query}" if query else ""))


def lang_for(request: Request[Any, Any, Any], services: Services, session: ConsoleSession | None) -> Lang:
    """The language of this request (see :func:`server.console.i18n.choose_locale`), in ``FIELDSYNC_TZ``,
    with the priority and category names of the SLA policy file."""
    settings = services.settings
    locale = i18n.choose_locale(session.locale if session else None, request.cookies.get(i18n.LOCALE_COOKIE),
                                request.headers.get("accept-language"), settings.locale)
    try:
        names = policy_set(services).display_names()
    except PolicyError:  # the server refuses to start with a broken file; an edit since then shows the defaults
        names = {}
    return Lang(locale=locale, tz=settings.sla_timezone, overrides=names)


#: errors the console raises with its own catalog's words already (the form checks of ``views``, roles, CSRF)
CONSOLE_WORDED: Final = frozenset({"invalid_form", "bad_filter", "role_forbidden", "csrf_failed"})


def shown_detail(exc: DomainError, lang: Lang) -> str:
    """What a page says about a service's error: the console's own words, else the problem's detail in the
    page's language when the error can give it (``detail_in``), else its detail as raised."""
    if exc.code in CONSOLE_WORDED:
        return exc.detail
    detail_in = getattr(exc, "detail_in", None)  # the problems catalogs' words, where the errors carry them
    return str(detail_in(lang.locale)) if callable(detail_in) else exc.detail


def redirect(to: str, **query: str) -> Redirect:
    url = to + ("?" + urlencode(query) if query else "")
    return Redirect(path=url, status_code=303, headers={"cache-control": "no-store"})


# -- sessions, roles, CSRF -------------------------------------------------------------------------------


async def enter(request: Request[Any, Any, Any], services: Services, *roles: str) -> tuple[ConsoleSession, Lang]:
    """The signed-in user (with one of ``roles``) and the language their pages are shown in."""
    s = await in_thread(auth.current_session, services, request.cookies.get(SESSION_COOKIE))
    if s is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    lang = await in_thread(lang_for, request, services, s)
    if roles and not s.can(*roles):
        raise Forbidden("role_forbidden", lang.t("error.role", role=lang.name("role", s.staff.role),
                                                 needs=lang.t("list.or").join(lang.name("role", r) for r in roles)))
    return s, lang


async def session_of(request: Request[Any, Any, Any], services: Services, *roles: str) -> ConsoleSession:
    """The signed-in user, for routes that answer no page (PDF, photos, the live fingerprint)."""
    return (await enter(request, services, *roles))[0]


async def read_form(request: Request[Any, Any, Any], expected_csrf: str, lang: Lang | None = None) -> Form:
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    if not expected_csrf or not hmac.compare_digest(data.get("csrf", ""), expected_csrf):
        raise Forbidden("csrf_failed", (lang or Lang()).t("error.csrf"))
    return data


def _safe_next(target: str) -> str:
    """Only same-site paths after sign-in (no ``//host`` or scheme)."""
    if (target.startswith("/") and not target.startswith("//") and "\\" not in target and len(target) < 2000
            and all(32 < ord(ch) < 127 for ch in target)):
        return target
    return "/tickets"


def known_id(value: str, what: str) -> str:
    """A path id as the services store them; anything else cannot exist (404, never a database error)."""
    if not views.ID_RE.match(value):
        raise NotFound(f"unknown_{what}", f"no {what} {value[:64]!r}")  # the page says it in its language
    return value


# -- errors ----------------------------------------------------------------------------------------------


def console_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The console's error pages: sign-in redirects, HTML for everything else (JSON for ``/console/live``)."""
    wants_json = request.url.path.startswith("/console/live")
    if isinstance(exc, SignInRequired):
        if wants_json:
            return Response({"code": "unauthorized", "detail": "sign in"}, status_code=401)
        return redirect("/login", next=_safe_next(exc.target))
    services: Services = request.app.state["services"]
    lang = lang_for(request, services, None)
    if isinstance(exc, DomainError):
        status, code, detail = exc.status, exc.code, shown_detail(exc, lang)
        if status == 404 and code.startswith("unknown_"):
            detail = lang.t("error.not_found", what=lang.name("thing", code.removeprefix("unknown_")))
    elif isinstance(exc, HTTPException) and exc.status_code < 500:  # e.g. ?weeks=abc: the framework's words
        status, code, detail = exc.status_code, "invalid_request", lang.t("error.invalid_request")
    else:
        log.exception("console error on %s", request.url.path)
        status, code, detail = 500, "server_error", lang.t("error.server")
    if wants_json:
        return Response({"code": code, "detail": detail}, status_code=status)
    title = lang.t(f"error.title.{status}") if i18n.known(lang.locale, f"error.title.{status}") else \
        lang.t("error.title.other")
    return render("error.html", lang, {"session": None, "path": request.url.path, "status": status, "code": code,
                                       "title": title, "detail": detail, "now": 0, "here": _here(request)},
                  status=status)


# -- sign-in ---------------------------------------------------------------------------------------------


def _login_page(lang: Lang, next_path: str, error: str = "", name: str = "", status: int = 200) -> Response[str]:
    token = secrets.token_urlsafe(24)
    cookie = Cookie(key=LOGIN_CSRF_COOKIE, value=token, httponly=True, samesite="strict", path="/login",
                    max_age=3600)
    here = "/login?" + urlencode({"next": next_path})
    return render("login.html", lang, {"session": None, "path": "/login", "csrf": token, "next": next_path,
                                       "error": error, "name": name, "now": 0, "here": here},
                  status=status, cookies=[cookie])


@get("/", include_in_schema=False)
async def home(request: Request[Any, Any, Any], services: Services) -> Redirect:
    s = await in_thread(auth.current_session, services, request.cookies.get(SESSION_COOKIE))
    return redirect("/tickets" if s else "/login")


@get("/login", include_in_schema=False)
async def login_form(request: Request[Any, Any, Any], services: Services, next: str = "/tickets") -> Response[str]:
    return _login_page(await in_thread(lang_for, request, services, None), _safe_next(next))


@post("/login", include_in_schema=False, status_code=303)
async def login(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    next_path = _safe_next(data.get("next", "/tickets"))
    lang = await in_thread(lang_for, request, services, None)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(data.get("csrf", ""), expected):
        return _login_page(lang, next_path, lang.t("login.expired"), status=403)
    client = request.client.host if request.client else "?"
    try:
        services.limiter.check(f"console-login:{client}")
        raw = await in_thread(functools.partial(auth.sign_in, services, token=data.get("token", ""),
                                                name=data.get("name", ""), password=data.get("password", "")))
    except DomainError as exc:
        key = f"login.{exc.code}"
        message = lang.t(key) if i18n.known(lang.locale, key) else shown_detail(exc, lang)
        return _login_page(lang, next_path, message, data.get("name", "")[:64], status=exc.status)
    secure = request.url.scheme == "https"
    cookies = [Cookie(key=SESSION_COOKIE, value=raw, httponly=True, samesite="strict", path="/", secure=secure,
                      max_age=auth.SESSION_TTL_MS // 1000),
               Cookie(key=LOGIN_CSRF_COOKIE, value="", path="/login", max_age=0)]
    return Redirect(path=next_path, status_code=303, cookies=cookies)


@post("/logout", include_in_schema=False, status_code=303)
async def logout(request: Request[Any, Any, Any], services: Services) -> Redirect:
    s, lang = await enter(request, services)
    await read_form(request, s.csrf, lang)
    await in_thread(auth.close_session, services, request.cookies.get(SESSION_COOKIE))
    return Redirect(path="/login", status_code=303, cookies=[Cookie(key=SESSION_COOKIE, value="", path="/",
                                                                     max_age=0)])


@post("/console/locale", include_in_schema=False, status_code=303)
async def choose_locale(request: Request[Any, Any, Any], services: Services) -> Redirect:
    """The language switch: remembered for a password user, and in a cookie (sign-in page, staff tokens)."""
    s = await in_thread(auth.current_session, services, request.cookies.get(SESSION_COOKIE))
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    if s is not None and not (data.get("csrf") and hmac.compare_digest(data["csrf"], s.csrf)):
        raise Forbidden("csrf_failed", (await in_thread(lang_for, request, services, s)).t("error.csrf"))
    locale = i18n_catalogs.normalise(data.get("locale"))
    if locale is None:
        raise BadRequest("invalid_form", f"locale must be one of {', '.join(i18n.CHOICES)}", field="locale")
    if s is not None:
        await in_thread(auth.remember_locale, services, s, locale)
    cookie = Cookie(key=i18n.LOCALE_COOKIE, value=locale, httponly=True, samesite="strict", path="/",
                    max_age=400 * 86400, secure=request.url.scheme == "https")
    target = _safe_next(data.get("next", "/tickets"))
    target += ("&" if "?" in target else "?") + "done=language"
    return Redirect(path=target, status_code=303, cookies=[cookie],
                    headers={"cache-control": "no-store"})


# -- tickets and jobs ------------------------------------------------------------------------------------


@get("/tickets", include_in_schema=False)
async def tickets_board(request: Request[Any, Any, Any], services: Services, priority: str = "", engineer: str = "",
                        clock: Annotated[str, QueryParameter(name="state")] = "") -> Response[str]:
    s, lang = await enter(request, services)
    data = await in_thread(views.board, services, priority, engineer, clock, lang)
    return page(request, services, s, lang, "board.html", data)


@post("/tickets", include_in_schema=False, status_code=303)
async def create_ticket(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    s, lang = await enter(request, services, "dispatcher")
    form = await read_form(request, s.csrf, lang)
    try:
        await in_thread(views.create_ticket, services, form, s.staff.name, lang)
    except DomainError as exc:
        return failed(s, "/tickets", exc, lang, form)
    return redirect("/tickets", done="ticket_created")


@get("/console/sla-due", include_in_schema=False)
async def new_ticket_due(request: Request[Any, Any, Any], services: Services, priority: str = "P3",
                         category: str = "fault") -> Response[str]:
    """The New ticket form's due times for another priority or category (an HTML fragment the form swaps in)."""
    _, lang = await enter(request, services, "dispatcher")
    return render("_due.html", lang, {"due": await in_thread(views.new_ticket_due, services, priority, category,
                                                                lang)})


@get("/tickets/{ticket_id:str}", include_in_schema=False)
async def ticket_detail(request: Request[Any, Any, Any], services: Services, ticket_id: str) -> Response[str]:
    s, lang = await enter(request, services)
    known_id(ticket_id, "ticket")
    data = await in_thread(views.ticket_page, services, ticket_id, lang)
    return page(request, services, s, lang, "ticket.html", data)


@post("/tickets/{ticket_id:str}/report-locale", include_in_schema=False, status_code=303)
async def report_locale(request: Request[Any, Any, Any], services: Services, ticket_id: str) -> Response[Any]:
    """The language of the ticket's service report, as the dispatcher chooses it for the customer."""
    s, lang = await enter(request, services, "dispatcher")
    known_id(ticket_id, "ticket")
    form = await read_form(request, s.csrf, lang)
    try:
        await in_thread(views.set_report_locale, services, ticket_id, form, lang)
    except DomainError as exc:
        if exc.status == 404:
            raise
        return failed(s, f"/tickets/{quote(ticket_id)}", exc, lang, form)
    return redirect(f"/tickets/{quote(ticket_id)}", done="report_locale")


@post("/tickets/{ticket_id:str}/jobs", include_in_schema=False, status_code=303)
async def add_job(request: Request[Any, Any, Any], services: Services, ticket_id: str) -> Response[Any]:
    s, lang = await enter(request, services, "dispatcher")
    known_id(ticket_id, "ticket")
    form = await read_form(request, s.csrf, lang)
    try:
        await in_thread(views.add_job, services, ticket_id, form, lang)
    except DomainError as exc:
        if exc.status == 404 and exc.code == "unknown_ticket":
            raise
        return failed(s, f"/tickets/{quote(ticket_id)}", exc, lang, form)
    return redirect(f"/tickets/{quote(ticket_id)}", done="job_added")


@post("/jobs/{job_id:str}/assign", include_in_schema=False, status_code=303)
async def reassign_job(request: Request[Any, Any, Any], services: Services, job_id: str) -> Response[Any]:
    s, lang = await enter(request, services, "dispatcher")
    known_id(job_id, "job")
    form = await read_form(request, s.csrf, lang)
    try:
        ticket_id = await in_thread(views.reassign, services, job_id, form, s.staff.name, lang)
    except DomainError as exc:
        back = form.get("ticket_id", "")
        if exc.status == 404 and exc.code == "unknown_job" or not views.ID_RE.match(back):
            raise
        return failed(s, f"/tickets/{quote(back)}", exc, lang, form, error_id=job_id)
    return redirect(f"/tickets/{quote(ticket_id)}", done="reassigned")


@post("/jobs/{job_id:str}/status", include_in_schema=False, status_code=303)
async def job_status(request: Request[Any, Any, Any], services: Services, job_id: str) -> Response[Any]:
    """Cancel, close or reopen a job from its ticket's page (the roles of ``POST /v1/jobs/{id}/status``)."""
    s, lang = await enter(request, services, "dispatcher", "backoffice")
    known_id(job_id, "job")
    form = await read_form(request, s.csrf, lang)
    back = form.get("ticket_id", "")
    try:
        ticket_id = await in_thread(views.job_status, services, job_id, form, s.staff.name, lang)
    except DomainError as exc:
        if exc.status == 404 or not views.ID_RE.match(back):
            raise
        return failed(s, f"/tickets/{quote(back)}", exc, lang, form, error_id=job_id)
    return redirect(f"/tickets/{quote(ticket_id)}", done=f"status_{form.get('status')}")


@post("/tickets/{ticket_id:str}/close", include_in_schema=False, status_code=303)
async def close_ticket(request: Request[Any, Any, Any], services: Services, ticket_id: str) -> Response[Any]:
    """Close the ticket with its finished jobs (a complaint once the customer confirmed)."""
    s, lang = await enter(request, services, "dispatcher", "backoffice")
    known_id(ticket_id, "ticket")
    form = await read_form(request, s.csrf, lang)
    try:
        await in_thread(views.close_ticket, services, ticket_id, form, s.staff.name, lang)
    except DomainError as exc:
        if exc.status == 404:
            raise
        return failed(s, f"/tickets/{quote(ticket_id)}", exc, lang, form)
    return redirect(f"/tickets/{quote(ticket_id)}", done="ticket_closed")


@post("/tickets/{ticket_id:str}/acknowledge", include_in_schema=False, status_code=303)
async def acknowledge_ticket(request: Request[Any, Any, Any], services: Services, ticket_id: str) -> Response[Any]:
    """The office responded (stops the respond clock)."""
    s, lang = await enter(request, services, "dispatcher", "backoffice")
    known_id(ticket_id, "ticket")
    form = await read_form(request, s.csrf, lang)
    try:
        await in_thread(views.acknowledge, services, ticket_id, form, s.staff.name, lang)
    except DomainError as exc:
        if exc.status == 404:
            raise
        return failed(s, f"/tickets/{quote(ticket_id)}", exc, lang, form)
    return redirect(f"/tickets/{quote(ticket_id)}", done="acknowledged")


@get("/jobs/{job_id:str}", include_in_schema=False)
async def job_page(request: Request[Any, Any, Any], services: Services, job_id: str) -> Response[str]:
    s, lang = await enter(request, services)
    known_id(job_id, "job")
    return page(request, services, s, lang, "job.html", await in_thread(views.job_page, services, job_id, lang))


@get("/jobs/{job_id:str}/report.pdf", include_in_schema=False)
async def job_report(request: Request[Any, Any, Any], services: Services, job_id: str) -> Response[bytes]:
    """The signed job's service report for a signed-in user: the PDF ``GET /v1/jobs/{id}/report.pdf`` serves.

    Any staff role may read it, as in the API.  A job not signed yet is the console's 409 page.
    """
    await session_of(request, services)
    known_id(job_id, "job")
    pdf = await in_thread(report_pdf, services, job_id, str(request.base_url))
    return Response(content=pdf, media_type="application/pdf",
                    headers={"content-disposition": f'inline; filename="report-{job_id}.pdf"',
                             "x-content-type-options": "nosniff", "cache-control": "no-store"})


@get("/console/blobs/{sha256:str}", include_in_schema=False)
async def blob(request: Request[Any, Any, Any], services: Services, sha256: str) -> Response[bytes]:
    """Photo bytes for staff; images inline, anything else as a download."""
    await session_of(request, services)
    data = await in_thread(read_blob, services, sha256)

    ctype = await in_thread(blob_content_type, services, sha256) or "application/octet-stream"
    inline = ctype in IMAGE_TYPES
    headers = {"x-content-type-options": "nosniff", "cache-control": "private, max-age=86400, immutable",
               "content-security-policy": "default-src 'none'; sandbox"}
    if not inline:
        headers["content-disposition"] = f'attachment; filename="{sha256[:16]}"'
    return Response(content=data, media_type=ctype if inline else "application/octet-stream", headers=headers)


# -- dispatch desk ---------------------------------------------------------------------------------------


@get("/dispatch", include_in_schema=False)
async def dispatch_board(request: Request[Any, Any, Any], services: Services, day: str = "") -> Response[str]:
    """The schedule board: engineers by day, jobs as blocks, SLA due markers, unscheduled jobs."""
    s, lang = await enter(request, services, "dispatcher")
    return page(request, services, s, lang, "dispatch.html", await in_thread(dispatch.board, services, day, lang))


@post("/dispatch/move", include_in_schema=False, status_code=303)
async def dispatch_move(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    """Reassign and reschedule a job from the board (a dropped block, or its form without JavaScript)."""
    s, lang = await enter(request, services, "dispatcher")
    form = await read_form(request, s.csrf, lang)
    back = "/dispatch?" + urlencode({"day": form.get("day", "")[:10]})
    try:
        day = await in_thread(dispatch.move, services, form, s.staff.name, s.staff, lang)
    except DomainError as exc:
        return failed(s, back, exc, lang, form, error_id=form.get("job_id", "")[:64])
    return redirect("/dispatch", day=day[:10], done="moved")


# -- service desk ----------------------------------------------------------------------------------------


@get("/all-tickets", include_in_schema=False)
async def all_tickets(request: Request[Any, Any, Any], services: Services, q: str = "", status: str = "",
                      page: int = 1) -> Response[str]:
    """Every ticket, any status: search by id, customer, site, title or asset serial; in pages."""
    s, lang = await enter(request, services)
    data = await in_thread(servicedesk.all_tickets_page, services, q, status, page, lang)
    return page_(request, services, s, lang, "all_tickets.html", data)


@get("/followups", include_in_schema=False)
async def followups_page(request: Request[Any, Any, Any], services: Services, q: str = "", page: int = 1,
                         wanted: Annotated[str, QueryParameter(name="state")] = "") -> Response[str]:
    """Resolved tickets' follow-up calls (回访): due first, with the call form."""
    s, lang = await enter(request, services, "dispatcher", "backoffice")
    data = await in_thread(servicedesk.followups_page, services, wanted, q, page, lang)
    return page_(request, services, s, lang, "followups.html", data)


@post("/tickets/{ticket_id:str}/follow-up", include_in_schema=False, status_code=303)
async def log_follow_up(request: Request[Any, Any, Any], services: Services, ticket_id: str) -> Response[Any]:
    """Log a follow-up call; a low rating opens a complaint, shown next."""
    s, lang = await enter(request, services, "dispatcher", "backoffice")
    known_id(ticket_id, "ticket")
    form = await read_form(request, s.csrf, lang)
    back = _safe_next(form.get("back", "") or "/followups")
    try:
        opened = await in_thread(servicedesk.log_follow_up, services, ticket_id, form, s.staff.name, lang)
    except DomainError as exc:
        if exc.status == 404:
            raise
        return failed(s, back, exc, lang, form, error_id=ticket_id)
    if opened:
        return redirect("/complaints", status="open", done="complaint_opened", new=opened[0])
    return Redirect(path=back + ("&" if "?" in back else "?") + "done=followup_logged", status_code=303)


@get("/complaints", include_in_schema=False)
async def complaints_page(request: Request[Any, Any, Any], services: Services, status: str = "", q: str = "",
                          page: int = 1, new: str = "") -> Response[str]:
    """Complaints (投诉) with their respond (2 h) and resolve (15 days) clocks and the customer's confirmation."""
    s, lang = await enter(request, services)
    data = await in_thread(servicedesk.complaints_page, services, status, q, page, lang)
    return page_(request, services, s, lang, "complaints.html", {**data, "new": new})


@post("/tickets/{ticket_id:str}/customer-confirmation", include_in_schema=False, status_code=303)
async def confirm_complaint(request: Request[Any, Any, Any], services: Services, ticket_id: str) -> Response[Any]:
    s, lang = await enter(request, services, "dispatcher", "backoffice")
    known_id(ticket_id, "ticket")
    form = await read_form(request, s.csrf, lang)
    try:
        await in_thread(servicedesk.confirm, services, ticket_id, form, s.staff.name, lang)
    except DomainError as exc:
        if exc.status == 404:
            raise
        return failed(s, "/complaints", exc, lang, form, error_id=ticket_id)
    return redirect("/complaints", done="confirmed")


@get("/surveys", include_in_schema=False)
async def surveys_page(request: Request[Any, Any, Any], services: Services, quarter: str = "", customer: str = "",
                       page: int = 1) -> Response[str]:
    """Quarterly satisfaction surveys (服务质量测评): the list, each customer's average and the form."""
    s, lang = await enter(request, services)
    data = await in_thread(servicedesk.surveys_page, services, quarter, customer, page, lang)
    return page_(request, services, s, lang, "surveys.html", data)


@post("/surveys", include_in_schema=False, status_code=303)
async def record_survey(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    """Record a customer's survey of a quarter (as ``POST /v1/surveys``: dispatcher or back office)."""
    s, lang = await enter(request, services, "dispatcher", "backoffice")
    form = await read_form(request, s.csrf, lang)
    try:
        customer = await in_thread(servicedesk.record_survey, services, form, s.staff.name, lang)
    except DomainError as exc:
        return failed(s, "/surveys", exc, lang, form)
    return redirect("/surveys", customer=customer, done="survey_recorded")


@get("/plans", include_in_schema=False)
async def plans_page(request: Request[Any, Any, Any], services: Services, q: str = "", overdue: str = "",
                     page: int = 1) -> Response[str]:
    s, lang = await enter(request, services)
    data = await in_thread(servicedesk.plans_page, services, q, overdue, page, lang)
    return page_(request, services, s, lang, "plans.html", data)


@get("/plans/{plan_id:str}", include_in_schema=False)
async def plan_page(request: Request[Any, Any, Any], services: Services, plan_id: str) -> Response[str]:
    s, lang = await enter(request, services)
    known_id(plan_id, "plan")
    return page_(request, services, s, lang, "plan.html", await in_thread(servicedesk.plan_page, services, plan_id,
                                                                          lang))


@get("/customers", include_in_schema=False)
async def customers_page(request: Request[Any, Any, Any], services: Services, q: str = "",
                         page: int = 1) -> Response[str]:
    s, lang = await enter(request, services)
    data = await in_thread(servicedesk.customers_page, services, q[:200], page, lang)
    return page_(request, services, s, lang, "customers.html", data)


@get("/customers/{customer_id:str}", include_in_schema=False)
async def customer_page(request: Request[Any, Any, Any], services: Services,
                        customer_id: str) -> Response[str] | Redirect:
    """A customer's page: its record (contacts, sites, external reference) and its service archive.

    A link that names the customer (lists built from tickets, plans, complaints) leads to the id's page.
    """
    s, lang = await enter(request, services)
    if not customer_id.strip() or len(customer_id) > 200 or "\x00" in customer_id:
        raise NotFound("unknown_customer", "no such customer")
    cid, by_name = await in_thread(customers.resolve_archive, services, customer_id)
    if by_name:
        return Redirect(f"/customers/{quote(cid, safe='')}", status_code=303)
    return page_(request, services, s, lang, "customer.html",
                 await in_thread(servicedesk.customer_page, services, customer_id, lang))


@get("/assets/{serial:str}", include_in_schema=False)
async def asset_page(request: Request[Any, Any, Any], services: Services, serial: str) -> Response[str]:
    s, lang = await enter(request, services)
    if not serial.strip() or len(serial) > 100 or "\x00" in serial:
        raise NotFound("unknown_asset", "no such asset")
    return page_(request, services, s, lang, "asset.html", await in_thread(servicedesk.asset_page, services, serial,
                                                                           lang))


# -- conflicts -------------------------------------------------------------------------------------------


@get("/conflicts", include_in_schema=False)
async def conflicts_page(request: Request[Any, Any, Any], services: Services, status: str = "open") -> Response[str]:
    s, lang = await enter(request, services, "backoffice")
    data = await in_thread(views.conflicts_page, services, status, lang)
    return page(request, services, s, lang, "conflicts.html", data)


@post("/conflicts/{conflict_id:str}/resolve", include_in_schema=False, status_code=303)
async def resolve_conflict(request: Request[Any, Any, Any], services: Services, conflict_id: str) -> Response[Any]:
    s, lang = await enter(request, services, "backoffice")
    known_id(conflict_id, "conflict")
    form = await read_form(request, s.csrf, lang)
    try:
        await in_thread(views.resolve_conflict, services, conflict_id, form, s.staff.name, lang)
    except DomainError as exc:
        return failed(s, "/conflicts", exc, lang, form, error_id=conflict_id)
    return redirect("/conflicts", done="resolved")


async def _decide_visit(request: Request[Any, Any, Any], services: Services, conflict_id: str,
                       adopt: bool) -> Response[Any]:
    s, lang = await enter(request, services, "backoffice")
    known_id(conflict_id, "conflict")
    form = await read_form(request, s.csrf, lang)
    try:
        await in_thread(lambda: views.decide_visit(services, conflict_id, form, s.staff.name, lang, adopt=adopt))
    except DomainError as exc:
        data = await in_thread(views.conflicts_page, services, "open", lang)
        return page(request, services, s, lang, "conflicts.html", {**data, "error_id": conflict_id}, status=exc.status,
                    error=shown_detail(exc, lang), form=form)
    return redirect("/conflicts", done="resolved")


@post("/conflicts/{conflict_id:str}/adopt", include_in_schema=False, status_code=303)
async def adopt_visit(request: Request[Any, Any, Any], services: Services, conflict_id: str) -> Response[Any]:
    return await _decide_visit(request, services, conflict_id, True)


@post("/conflicts/{conflict_id:str}/discard", include_in_schema=False, status_code=303)
async def discard_visit(request: Request[Any, Any, Any], services: Services, conflict_id: str) -> Response[Any]:
    return await _decide_visit(request, services, conflict_id, False)


# -- reconciliation --------------------------------------------------------------------------------------


def _recon_data(services: Services, status: str, kind: str, engineer: str, lang: Lang) -> dict[str, Any]:
    items = recon.list_items(services, lang, status, kind, engineer)
    names = dict(views.board_engineers(services))
    about = views.conflict_items_about(services, items, lang)
    for i in items:
        ids = i.get("engineer_ids") or ([i["engineer_id"]] if i.get("engineer_id") else [])
        i["engineer"] = ", ".join(names.get(e, e) for e in ids) or "—"
        i["created"] = lang.when(i["created_at"])
        i["lines"] = views.record_summary(i.get("records", []), lang)
        i["summary_shown"] = views.recon_summary(i, lang, about.get(str(i["id"])))
        i["history_view"] = [{**h, "when": lang.when(h.get("at")), "kept_text": views._show_value(h.get("kept"), lang)}
                             for h in i.get("history", []) if isinstance(h, dict)]
    return {"items": items, "warranty": recon.warranty_claims(services, lang), "kinds": recon.KINDS,
            "engineers": sorted(names.items(), key=lambda kv: kv[1]),
            "filters": {"status": status, "kind": kind, "engineer": engineer},
            "csv_query": urlencode({"status": status, "kind": kind, "engineer": engineer})}


@get("/reconciliation", include_in_schema=False)
async def reconciliation(request: Request[Any, Any, Any], services: Services, status: str = "open", kind: str = "",
                         engineer: str = "") -> Response[str]:
    s, lang = await enter(request, services, "backoffice")
    data = await in_thread(_recon_data, services, status, kind, engineer, lang)
    return page(request, services, s, lang, "reconciliation.html", data)


@get("/reconciliation.csv", include_in_schema=False)
async def reconciliation_csv(request: Request[Any, Any, Any], services: Services, status: str = "all",
                             kind: str = "", engineer: str = "") -> Response[str]:
    _, lang = await enter(request, services, "backoffice")
    text = await in_thread(recon.export_csv, services, status, kind, engineer, lang)
    return Response(content=text, media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": 'attachment; filename="reconciliation.csv"',
                             "cache-control": "no-store", "x-content-type-options": "nosniff"})


@post("/reconciliation/{item_id:str}/resolve", include_in_schema=False, status_code=303)
async def resolve_item(request: Request[Any, Any, Any], services: Services, item_id: str) -> Response[Any]:
    s, lang = await enter(request, services, "backoffice")
    known_id(item_id, "item")
    form = await read_form(request, s.csrf, lang)
    try:
        await in_thread(recon.resolve, services, item_id, form, s.staff.name, lang)
    except DomainError as exc:
        return failed(s, "/reconciliation", exc, lang, form, error_id=item_id)
    return redirect("/reconciliation", done="recon_resolved")


@post("/warranty/{claim_id:str}/decide", include_in_schema=False, status_code=303)
async def decide_claim(request: Request[Any, Any, Any], services: Services, claim_id: str) -> Response[Any]:
    s, lang = await enter(request, services, "backoffice")
    known_id(claim_id, "claim")
    form = await read_form(request, s.csrf, lang)
    try:
        decision = await in_thread(recon.decide_claim, services, claim_id, form, s.staff.name, lang)
    except DomainError as exc:
        return failed(s, "/reconciliation", exc, lang, form, error_id=claim_id)
    return redirect("/reconciliation", done=f"claim_{decision}")


# -- devices ---------------------------------------------------------------------------------------------


@get("/devices", include_in_schema=False)
async def devices_page(request: Request[Any, Any, Any], services: Services) -> Response[str]:
    s, lang = await enter(request, services, "dispatcher")
    return page(request, services, s, lang, "devices.html", await in_thread(views.devices_page, services, lang))


@post("/devices/enroll-token", include_in_schema=False, status_code=200)
async def enroll_token(request: Request[Any, Any, Any], services: Services) -> Response[str]:
    s, lang = await enter(request, services, "dispatcher")
    form = await read_form(request, s.csrf, lang)
    base = f"{request.url.scheme}://{request.url.netloc}"
    try:
        issued = await in_thread(views.enroll_token, services, form, base, lang)
    except DomainError as exc:
        return failed(s, "/devices", exc, lang, form)
    data = await in_thread(views.devices_page, services, lang)
    return page(request, services, s, lang, "devices.html", {**data, "issued": issued})


@post("/devices/{device_id:str}/revoke", include_in_schema=False, status_code=303)
async def revoke_device(request: Request[Any, Any, Any], services: Services, device_id: str) -> Response[Any]:
    s, lang = await enter(request, services, "admin")
    known_id(device_id, "device")
    await read_form(request, s.csrf, lang)
    await in_thread(revoke, services, device_id)
    return redirect("/devices", done="revoked")


# -- SLA, live updates, assets ---------------------------------------------------------------------------


@get("/sla", include_in_schema=False)
async def sla_page(request: Request[Any, Any, Any], services: Services, target: str = "",
                   weeks: int = 8) -> Response[str]:
    s, lang = await enter(request, services)
    return page(request, services, s, lang, "sla.html", await in_thread(views.sla_page, services, target, weeks, lang))


@get("/console/live", include_in_schema=False)
async def live(request: Request[Any, Any, Any], services: Services) -> Response[dict[str, Any]]:
    """A small fingerprint the pages poll; when it changes they fetch their live regions again."""
    await session_of(request, services)
    return Response(await in_thread(data_version, services), headers={"cache-control": "no-store"})


@get("/console/static/{name:str}", include_in_schema=False)
async def static(name: str) -> Response[bytes]:
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
        raise NotFound("unknown_asset", f"no asset {name!r}")
    return Response(content=path.read_bytes(), media_type=STATIC_TYPES[path.suffix],
                    headers={"cache-control": "public, max-age=86400", "x-content-type-options": "nosniff"})


@get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response[bytes]:
    """The console's icon where browsers look for it on pages without an icon link (the PDF viewer)."""
    return Response(content=(STATIC / "favicon.svg").read_bytes(), media_type=STATIC_TYPES[".svg"],
                    headers={"cache-control": "public, max-age=86400", "x-content-type-options": "nosniff"})


def console_router(*desks: Any) -> Router:
    """The console's routes under ``/`` with its HTML error pages, and ``desks``: the routes of the desks that
    are modules of their own (they use this module's helpers, so ``server.app`` hands them in)."""
    return Router(path="/", route_handlers=[*desks,
        home, login_form, login, logout, choose_locale, tickets_board, create_ticket, new_ticket_due, ticket_detail,
        report_locale, add_job, reassign_job,
        job_page, job_report, blob, conflicts_page, resolve_conflict, adopt_visit, discard_visit, reconciliation,
        reconciliation_csv, resolve_item,
        decide_claim, devices_page, enroll_token, revoke_device, sla_page, live, static, favicon,
        dispatch_board, dispatch_move, job_status, close_ticket, acknowledge_ticket,
        all_tickets, followups_page, log_follow_up, complaints_page, confirm_complaint, plans_page, plan_page,
        customers_page, customer_page, asset_page, surveys_page, record_survey,
    ], exception_handlers={Exception: console_error}, include_in_schema=False)
