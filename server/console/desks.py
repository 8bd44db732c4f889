"""What the Parts and Management desks share: pages with a flash message, POST-redirect-GET, paging, SVG charts.

A form on these desks never answers its POST with a page: it goes through, and
the browser is sent to the page with a ``?done=`` notice; or it fails, and the
browser is sent back to the page it came from, which shows the one message
and the values typed (kept a minute in a cookie signed with the session's CSRF
token, so nobody else can put words on the page).  Reloading never posts twice.

Lists are cut into pages of :data:`PER_PAGE` with ``?page=``; the pager keeps
the other query parameters.  Charts are inline SVG drawn here (no script, no
library): bars and lines carry their value as text, and the colours are the
Okabe-Ito palette, which colour-blind readers tell apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.response import Redirect

from server.console import routes
from server.console.auth import ConsoleSession
from server.console.i18n import Lang, known
from server.console.views import ID_RE
from server.errors import BadRequest, DomainError
from server.http import in_thread
from server.services import Services

FLASH_COOKIE: Final = "fs_flash"
PER_PAGE: Final = 25
#: Okabe-Ito: blue, orange, bluish green, vermillion, reddish purple, sky blue, yellow
PALETTE: Final = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
T = TypeVar("T")


# -- flash messages and POST-redirect-GET -----------------------------------------------------------------


def _sign(payload: str, key: str) -> str:
    return hmac.new(key.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]


def back(session: ConsoleSession, to: str, message: str, form: dict[str, str] | None = None) -> Redirect:
    """Back to ``to`` (a path of this site) with one error message and the values typed."""
    kept = {k: v[:500] for k, v in (form or {}).items() if k != "csrf"}
    payload = base64.urlsafe_b64encode(json.dumps({"m": message[:600], "f": kept, "p": to.split("?")[0]},
                                                  ensure_ascii=False).encode()).decode()
    if len(payload) > 3000:  # a cookie holds ~4 KB: the message matters more than what was typed
        payload = base64.urlsafe_b64encode(json.dumps({"m": message[:600], "f": {}, "p": to.split("?")[0]},
                                                      ensure_ascii=False).encode()).decode()
    cookie = Cookie(key=FLASH_COOKIE, value=f"{payload}.{_sign(payload, session.csrf)}", httponly=True,
                    samesite="strict", path="/", max_age=60)
    return Redirect(path=to, status_code=303, cookies=[cookie], headers={"cache-control": "no-store"})


def take_flash(request: Request[Any, Any, Any], session: ConsoleSession) -> tuple[str, dict[str, str]]:
    """The message and form values sent back to this page, if any (``("", {})`` otherwise)."""
    raw = request.cookies.get(FLASH_COOKIE, "")
    payload, _, sig = raw.rpartition(".")
    if not payload or not hmac.compare_digest(sig, _sign(payload, session.csrf)):
        return "", {}
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return "", {}
    if not isinstance(data, dict) or data.get("p") != request.url.path:
        return "", {}
    form = data.get("f")
    return str(data.get("m", "")), {str(k): str(v) for k, v in form.items()} if isinstance(form, dict) else {}


def forget_flash(response: Response[Any]) -> Response[Any]:
    response.set_cookie(Cookie(key=FLASH_COOKIE, value="", path="/", max_age=0))
    return response


def error_text(exc: DomainError, lang: Lang) -> str:
    """A service's refusal in the page's language: the desk catalog's words for its code when it has them."""
    key = f"desk.err.{exc.code}"
    return lang.t(key) if known(lang.locale, key) else routes.shown_detail(exc, lang)


Build = Callable[[Services, Request[Any, Any, Any], Lang], dict[str, Any]]
Act = Callable[[Services, dict[str, str], ConsoleSession, Lang], tuple[str, str]]


async def show(request: Request[Any, Any, Any], services: Services, template: str, build: Build,
               *roles: str) -> Response[Any]:
    """A desk page for a user with one of ``roles`` (any staff when none), with a message sent back to it."""
    s, lang = await routes.enter(request, services, *roles)
    error, form = take_flash(request, s)
    data = await in_thread(build, services, request, lang)
    resp = routes.page(request, services, s, lang, template, data, error=error, form=form)
    return forget_flash(resp) if error else resp


async def act(request: Request[Any, Any, Any], services: Services, back_to: str, do: Act,
              *roles: str) -> Response[Any]:
    """A desk form: ``do`` returns (where to go, which ``done.`` notice); a refusal goes back to ``back_to``."""
    s, lang = await routes.enter(request, services, *roles)
    form = await routes.read_form(request, s.csrf, lang)
    try:
        to, done = await in_thread(do, services, form, s, lang)
    except DomainError as exc:
        return back(s, back_to, error_text(exc, lang), form)
    return Redirect(path=to + ("&" if "?" in to else "?") + urlencode({"done": done}), status_code=303,
                    headers={"cache-control": "no-store"})


# -- lists -------------------------------------------------------------------------------------------------


def paginate(request: Request[Any, Any, Any], items: Sequence[T], page: int, lang: Lang,
             per: int = PER_PAGE) -> tuple[list[T], dict[str, Any]]:
    """One page of ``items`` and the pager under the list (links keep the other query parameters)."""
    pages = max(1, -(-len(items) // per))
    page = min(max(1, page), pages)
    rest = [(k, v) for k, v in request.query_params.multi_items() if k not in ("page", "done")]

    def link(n: int) -> str:
        return request.url.path + "?" + urlencode([*rest, ("page", str(n))])

    pager = {"page": page, "pages": pages, "total": len(items),
             "text": lang.t("desk.pager", page=page, pages=pages, n=len(items)),
             "prev": link(page - 1) if page > 1 else "", "next": link(page + 1) if page < pages else ""}
    return list(items[(page - 1) * per: page * per]), pager


def matches(q: str, *fields: object) -> bool:
    """Does the search text ``q`` appear in any of ``fields`` (case-insensitive; empty ``q`` matches all)?"""
    q = q.strip().lower()
    return not q or any(q in str(f or "").lower() for f in fields)


def day_bounds(value: str, lang: Lang, name: str, tz: str, *, end: bool = False) -> int | None:
    """``YYYY-MM-DD`` (or empty) as epoch ms at the start of that day in ``tz`` (the next day's when ``end``)."""
    value = value.strip()
    if not value:
        return None
    try:
        d = date.fromisoformat(value)
    except ValueError:
        raise BadRequest("bad_filter", lang.t("desk.bad_date", name=lang.t(f"desk.filter.{name}"))) from None
    if end:
        d += timedelta(days=1)
    return int(datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def month_bounds(month: str, tz: str) -> tuple[int, int]:
    """Epoch ms of the start of ``YYYY-MM`` and of the next month, in ``tz``."""
    y, m = (int(x) for x in month.split("-"))
    start = datetime(y, m, 1, tzinfo=ZoneInfo(tz))
    nxt = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=ZoneInfo(tz))
    return int(start.timestamp() * 1000), int(nxt.timestamp() * 1000)


def this_month(now_ms: int, tz: str) -> str:
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(ZoneInfo(tz)).strftime("%Y-%m")


def months_back(month: str, n: int) -> list[str]:
    """``n`` months ending with ``month``, oldest first."""
    y, m = (int(x) for x in month.split("-"))
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


# -- charts ------------------------------------------------------------------------------------------------


def _nice(peak: float) -> float:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000):
        if peak <= step * 4:
            return float(step * 4)
    return float(peak)


def bar_chart(rows: Sequence[tuple[str, int]], lang: Lang, title: str) -> dict[str, Any]:
    """Horizontal bars, one per row, each with its label on the left and its value at its end.

    Negative levels (a van that used more than the ledger gave it) are drawn left of the zero line in
    vermillion and hatched, so they read as wrong without relying on colour.
    """
    width, label_w, row_h, value_w = 760, 170, 24, 60
    low = min([0, *(v for _, v in rows)])
    high = max([1, *(v for _, v in rows)])
    span = _nice(high - low if low < 0 else high)
    plot_w = width - label_w - value_w
    zero = label_w + (plot_w * -low / span if low < 0 else 0)
    bars = []
    for i, (label, v) in enumerate(rows):
        w = plot_w * abs(v) / span
        x = zero if v >= 0 else zero - w
        bars.append({"label": label, "y": 6 + i * row_h, "x": round(x, 1), "w": round(max(w, 1 if v else 0), 1),
                     "h": row_h - 8, "neg": v < 0, "value": lang.number(v),
                     "vx": round((x + w + 4) if v >= 0 else zero + 4, 1), "ty": 6 + i * row_h + row_h - 12,
                     "title": f"{label}: {lang.number(v)}"})
    return {"width": width, "height": 12 + max(1, len(rows)) * row_h, "bars": bars, "zero": round(zero, 1),
            "label_w": label_w, "title": title, "empty": not rows}


def line_chart(points: Sequence[tuple[str, float | None, str]], lang: Lang, title: str,
               fmt: Callable[[float], str] | None = None, target: float | None = None,
               target_text: str = "") -> dict[str, Any]:
    """A line over months: each point labelled with its value (``None``: no data that month, a gap).

    ``points`` are (x label, value, value as shown); ``fmt`` writes the axis values; ``target`` draws a
    dashed line with its own label.
    """
    width, height, left, right, top, bottom, pad = 760, 250, 64, 16, 24, 40, 34
    values = [v for _, v, _ in points if v is not None] + ([target] if target is not None else [])
    high = max(values + [0.0])
    scale = _nice(high) if high > 1 else 1.0
    plot_w, plot_h = width - left - right - 2 * pad, height - top - bottom
    step = plot_w / max(1, len(points) - 1)

    def y_of(v: float) -> float:
        return round(top + plot_h * (1 - v / scale), 1)

    dots: list[dict[str, Any]] = []
    segments: list[str] = []
    current: list[str] = []
    for i, (label, v, shown) in enumerate(points):
        x = round(left + pad + i * step, 1) if len(points) > 1 else left + pad + plot_w / 2
        dots.append({"x": x, "label": label, "y": y_of(v) if v is not None else None, "shown": shown,
                     "title": f"{label}: {shown}"})
        if v is None:
            if current:
                segments.append(" ".join(current))
            current = []
        else:
            current.append(f"{x},{y_of(v)}")
    if current:
        segments.append(" ".join(current))
    show = fmt or (lambda v: lang.number(round(v, 2)))
    grid = [{"y": y_of(scale * k / 4), "v": show(scale * k / 4)} for k in range(5)]
    return {"width": width, "height": height, "left": left, "right": width - right, "bottom": height - bottom,
            "mid": round(top + plot_h / 2, 1), "dots": dots, "lines": segments, "grid": grid, "title": title,
            "target_y": y_of(target) if target is not None else None, "target_text": target_text,
            "empty": not any(v is not None for _, v, _ in points)}


# -- form fields -------------------------------------------------------------------------------------------


def _label(lang: Lang, key: str) -> str:
    return lang.t(f"desk.field.{key}")


def invalid(lang: Lang, message_key: str, key: str, **params: object) -> BadRequest:
    return BadRequest("invalid_form", lang.t(message_key, label=_label(lang, key), **params), field=key)


def ftext(lang: Lang, form: dict[str, str], key: str, *, required: bool = False, max_len: int = 200) -> str:
    """A text input (its label: catalog ``desk.field.<key>``)."""
    value = (form.get(key) or "").strip()
    if "\x00" in value:
        raise invalid(lang, "form.bad_char", key)
    if required and not value:
        raise invalid(lang, "form.required", key)
    if len(value) > max_len:
        raise invalid(lang, "form.too_long", key, n=max_len)
    return value


def fid(lang: Lang, form: dict[str, str], key: str, *, required: bool = True) -> str:
    """An id input (letters, digits and ``_ . : -``)."""
    value = (form.get(key) or "").strip()
    if not value and not required:
        return ""
    if not ID_RE.match(value):
        raise invalid(lang, "form.bad_id", key)
    return value


def fint(lang: Lang, form: dict[str, str], key: str, *, low: int, high: int, required: bool = True) -> int | None:
    """A whole number in ``[low, high]``."""
    value = (form.get(key) or "").strip()
    if not value and not required:
        return None
    try:
        n = int(value)
    except ValueError:
        raise invalid(lang, "desk.form.whole", key, low=low, high=high) from None
    if not low <= n <= high:
        raise invalid(lang, "desk.form.whole", key, low=low, high=high)
    return n


def fchoice(lang: Lang, form: dict[str, str], key: str, choices: dict[str, str]) -> str:
    """One of ``choices`` (code -> what the page calls it)."""
    value = (form.get(key) or "").strip()
    if value not in choices:
        raise invalid(lang, "form.one_of", key, choices=lang.t("list.sep").join(choices.values()))
    return value
