"""The console's Management desk: KPIs by month with their trend, certifications with expiry warnings and
training records, the versioned checklist template editor, engineers, console users and staff tokens.

Through the services the API and the CLI use, with their roles: KPIs,
certifications, templates and engineers are read by any staff member;
certifying and publishing a template are the back office's (as the API's
``POST`` routes), creating, disabling and enabling an engineer the back office's or a dispatcher's;
console users and staff tokens are an admin's (``fieldsync admin user`` and
``admin token`` do the same from a shell).

Templates are versioned by the catalog service: publishing makes version N+1
and leaves every earlier version as it was, so a job keeps the version pinned
when it was dispatched, in the field and on its report; only jobs created
afterwards get the new one.

Each KPI is shown against its target in force (``server.domain.kpis.targets.targets_in_force``: the
service plans', the policy file's, or one an admin sets on the page as ``PUT /v1/kpis/targets/{kpi}``),
with where it comes from, met or missed in words and a mark, not colour alone; the trend chart draws it
as a dashed line.  The plans' four KPIs are the figures of ``GET /v1/kpis/targets`` for the month, the
others those of ``GET /v1/kpis``.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final, TypeVar

import msgspec
from litestar import Request, Response, get, post
from litestar.response import Redirect

from schemas.domain import ChecklistItem, ChecklistTemplateIn, EngineerIn
from server.console import auth, desks, routes
from server.console.auth import ConsoleSession
from server.console.desks import fchoice, fid, fint, ftext
from server.console.i18n import Lang
from server.console.views import ID_RE, bad_filter
from server.domain.catalog import service as catalog
from server.domain.certifications import service as certifications
from server.domain.certifications.service import CertificationIn, TrainingIn
from server.domain.kpis import service as kpis
from server.domain.kpis import targets as kpi_targets
from server.domain.staff import store as staff_store
from server.errors import BadRequest, DomainError, NotFound
from server.http import in_thread
from server.security import DAY_MS, MAX_TOKEN_DAYS, ROLES, issue_staff_token, list_staff_tokens, revoke_staff_token
from server.services import Services

#: the KPIs the page shows (every KPI that takes a target) and how each is written
KPIS: Final = {k: "score" if k == "satisfaction" else "minutes" if k.startswith("mean_") else "rate"
               for k in kpi_targets.BETTER}
TREND_MONTHS: Final = 6
EXPIRY_WARN_DAYS: Final = 30
RESULTS: Final = ("pass", "fail")
ITEM_TYPES: Final = ("pass_fail", "number", "text", "choice", "photo")
BLANK_ROWS: Final = 3
MAX_ITEMS: Final = 500
MONTH_LEN: Final = 7
T = TypeVar("T")


def _q(request: Request[Any, Any, Any], name: str, default: str = "") -> str:
    return (request.query_params.get(name) or default).strip()[:200]


def _page(request: Request[Any, Any, Any]) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 7 else 1


def _date_ms(lang: Lang, form: dict[str, str], key: str, tz: str) -> int | None:
    value = (form.get(key) or "").strip()
    if not value:
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        raise desks.invalid(lang, "desk.form.date", key) from None
    return desks.day_bounds(value, lang, "from", tz)


# -- KPIs --------------------------------------------------------------------------------------------------


def kpi_value(kpi: str, value: float | None, lang: Lang) -> str:
    """A KPI as people read it: a percentage, a score out of 5, or a duration."""
    if value is None:
        return "—"
    kind = KPIS[kpi]
    if kind == "rate":
        return lang.percent(value)
    if kind == "score":
        return lang.t("mgmt.score", n=lang.number(value))
    return lang.dur(int(value * 60_000))


def kpis_page(services: Services, request: Request[Any, Any, Any], lang: Lang) -> dict[str, Any]:
    tz = services.settings.sla_timezone
    month = _q(request, "month") or desks.this_month(services.clock(), tz)
    kpi = _q(request, "kpi", "first_time_fix_rate")
    if len(month) != MONTH_LEN or not month[:4].isdigit() or month[4] != "-" or not month[5:].isdigit() \
            or not 1 <= int(month[5:]) <= 12 or not 2000 <= int(month[:4]) <= 2200:
        raise BadRequest("bad_filter", lang.t("mgmt.bad_month"))
    if kpi not in KPIS:
        raise bad_filter(lang, "kpi", list(KPIS))
    start, end = desks.month_bounds(month, tz)
    report = kpis.compute_kpis(services, start, end, "all")
    row = report["rows"][0] if report["rows"] else {}
    plans = kpi_targets.kpi_targets_report(services, start, end)
    values = {**{k: row.get(k) for k in KPIS}, **{f["kpi"]: f["value"] for f in plans["kpis"]}}
    in_force = kpi_targets.targets_in_force(services)
    table = []
    for k in KPIS:
        t = in_force[k]
        target, better = t.target, kpi_targets.BETTER[k]
        met = kpi_targets.target_met(k, values[k], target)
        table.append({"kpi": k, "name": lang.t(f"mgmt.kpi.{k}"), "value": kpi_value(k, values[k], lang),
                      "better": lang.t(f"mgmt.better.{better}"),
                      "target": lang.t(f"mgmt.target_{better}", v=kpi_value(k, target, lang))
                      if target is not None else lang.t("mgmt.no_target"), "has_target": target is not None,
                      "source": t.source or "", "source_text": lang.t(f"mgmt.source.{t.source}") if t.source else "",
                      "state": "none" if target is None else "nodata" if met is None else "met" if met else "missed",
                      "input": "" if target is None else f"{_to_unit(k, target):g}",
                      "unit": lang.t(f"mgmt.unit.{KPIS[k]}")})
    by_engineer = kpis.compute_kpis(services, start, end, "engineer")["rows"]
    names = {e.id: e.name for e in catalog.list_engineers(services)}
    engineers = [{"name": names.get(r["group"], lang.t("mgmt.unassigned") if r["group"] == "unassigned"
                                    else r["group"]), "tickets": lang.number(r["tickets"]),
                  "resolved": lang.number(r["resolved"]),
                  "ftf": kpi_value("first_time_fix_rate", r["first_time_fix_rate"], lang),
                  "restore": kpi_value("mean_restore_min", r["mean_restore_min"], lang),
                  "satisfaction": kpi_value("satisfaction", r["satisfaction"], lang)} for r in by_engineer]
    points = []
    months = desks.months_back(month, TREND_MONTHS)
    series: dict[str, float | None] = {}
    if kpi in kpi_targets.KPIS:  # the plans' KPIs: the targets report's trend over the six months
        trend = kpi_targets.kpi_targets_report(services, desks.month_bounds(months[0], tz)[0],
                                               desks.month_bounds(months[-1], tz)[1])["trend"]
        series = dict(zip(trend["months"], trend["series"][kpi], strict=True))
    for m in months:
        if kpi in kpi_targets.KPIS:
            v = series.get(m)
        else:
            s, e = desks.month_bounds(m, tz)
            rows = kpis.compute_kpis(services, s, e, "all")["rows"]
            v = rows[0].get(kpi) if rows else None
        points.append((m, v, kpi_value(kpi, v, lang)))
    goal = in_force[kpi].target
    line = lang.t("mgmt.target_line", v=kpi_value(kpi, goal, lang)) if goal is not None else ""
    chart = desks.line_chart(points, lang, lang.t("mgmt.trend_of", kpi=lang.t(f"mgmt.kpi.{kpi}")),
                             fmt=lambda v: kpi_value(kpi, v, lang), target=goal, target_text=line)
    return {"tab": "kpis", "month": month, "kpi": kpi, "kpis": list(KPIS), "table": table,
            "tickets": lang.number(row.get("tickets", 0)), "resolved": lang.number(row.get("resolved", 0)),
            "engineers": engineers, "chart": chart}


def _to_unit(kpi: str, value: float) -> float:
    """A stored target as the form shows it: rates in percent, satisfaction out of 5, times in minutes."""
    return round(value * 100, 2) if KPIS[kpi] == "rate" else value


def set_target(services: Services, kpi: str, form: dict[str, str], session: ConsoleSession,
               lang: Lang) -> tuple[str, str]:
    """Set an admin's target for a KPI from the page (in the units the page shows), or clear it (back to the
    policy file's or the plans' target)."""
    if kpi not in KPIS:
        raise NotFound("unknown_kpi", f"no KPI {kpi[:64]!r}")
    back_to = f"/manage/kpis?kpi={kpi}" + (f"&month={form['month']}" if len(form.get("month", "")) == MONTH_LEN
                                           and form["month"][:4].isdigit() else "")
    if form.get("clear"):
        kpi_targets.clear_target(services, kpi)
        return back_to, "mgmt_target_cleared"
    raw = (form.get("target") or "").strip().replace(",", ".").rstrip("%")
    try:
        value = float(raw)
    except ValueError:
        raise desks.invalid(lang, "mgmt.target_number", "target") from None
    if value != value:  # NaN
        raise desks.invalid(lang, "mgmt.target_number", "target")
    kpi_targets.set_target(services, kpi, value / 100 if KPIS[kpi] == "rate" else value, session.staff.name)
    return back_to, "mgmt_target_set"


# -- certifications ----------------------------------------------------------------------------------------


def certifications_page(services: Services, request: Request[Any, Any, Any], lang: Lang) -> dict[str, Any]:
    q, only = _q(request, "q"), _q(request, "only")
    if only and only not in ("expiring", "expired"):
        raise bad_filter(lang, "only", ("expiring", "expired"))
    now = services.clock()
    soon = now + EXPIRY_WARN_DAYS * DAY_MS
    rows = []
    for e in catalog.list_engineers(services):
        certs = []
        for c in certifications.list_certifications(services, e.id):
            state = "valid"
            if c.expires_at is not None and c.expires_at <= now:
                state = "expired"
            elif not c.valid:
                state = "not_yet"
            elif c.expires_at is not None and c.expires_at <= soon:
                state = "expiring"
            certs.append({"id": c.id, "name": c.name, "equipment_type": c.equipment_type, "state": state,
                          "state_name": lang.t(f"mgmt.cert.{state}"), "expires": lang.when(c.expires_at)
                          if c.expires_at else lang.t("mgmt.no_expiry"),
                          "left": lang.left(c.expires_at - now) if c.expires_at else ""})
        if only and not any(c["state"] == only for c in certs):
            continue
        if not desks.matches(q, e.id, e.name, *(c["name"] for c in certs), *(c["equipment_type"] for c in certs)):
            continue
        trainings = [{"id": tr.id, "course": tr.course, "date": tr.date, "trainer": tr.trainer,
                      "result": tr.result, "result_name": lang.t(f"mgmt.training.{tr.result}"),
                      "score": lang.number(tr.score) if tr.score is not None else "—"}
                     for tr in certifications.list_trainings(services, e.id)]
        rows.append({"id": e.id, "name": e.name, "skills": ", ".join(e.skills), "certs": certs,
                     "trainings": trainings, "warn": sum(c["state"] in ("expired", "expiring") for c in certs)})
    shown, pager = desks.paginate(request, rows, _page(request), lang)
    return {"tab": "certifications", "rows": shown, "pager": pager, "q": q, "only": only,
            "engineers": catalog.list_engineers(services), "warn_days": EXPIRY_WARN_DAYS}


def add_certification(services: Services, form: dict[str, str], session: ConsoleSession,
                      lang: Lang) -> tuple[str, str]:
    tz = services.settings.sla_timezone
    engineer = fid(lang, form, "engineer_id")
    data = _convert({"equipment_type": ftext(lang, form, "equipment_type", required=True),
                     "name": ftext(lang, form, "cert_name", required=True),
                     "issued_at": _date_ms(lang, form, "issued_on", tz),
                     "expires_at": _date_ms(lang, form, "expires_on", tz)}, CertificationIn, lang)
    certifications.add_certification(services, engineer, data, session.staff.name)
    return "/manage/certifications", "mgmt_certified"


def add_training(services: Services, form: dict[str, str], session: ConsoleSession, lang: Lang) -> tuple[str, str]:
    """A training record (as ``POST /v1/engineers/{id}/trainings``)."""
    engineer = fid(lang, form, "engineer_id")
    held_on = (form.get("training_date") or "").strip()
    try:
        date.fromisoformat(held_on)
    except ValueError:
        raise desks.invalid(lang, "desk.form.date", "training_date") from None
    data = _convert({"course": ftext(lang, form, "course", required=True), "date": held_on,
                     "trainer": ftext(lang, form, "trainer", required=True),
                     "result": fchoice(lang, form, "result", {r: lang.t(f"mgmt.training.{r}") for r in RESULTS}),
                     "score": fint(lang, form, "score", low=0, high=100, required=False)}, TrainingIn, lang)
    certifications.add_training(services, engineer, data, session.staff.name)
    return "/manage/certifications", "mgmt_trained"


# -- checklist templates -----------------------------------------------------------------------------------


def templates_page(services: Services, request: Request[Any, Any, Any], lang: Lang) -> dict[str, Any]:
    q = _q(request, "q")
    latest: dict[str, Any] = {}
    for tpl in catalog.list_templates(services):  # every version, oldest first
        latest[tpl.id] = tpl
    rows = [{"id": t.id, "name": t.name, "version": t.version, "items": len(t.items),
             "published": lang.when(t.published_at)} for t in latest.values() if desks.matches(q, t.id, t.name)]
    shown, pager = desks.paginate(request, rows, _page(request), lang)
    return {"tab": "templates", "rows": shown, "pager": pager, "q": q}


def template_page(services: Services, template_id: str, lang: Lang) -> dict[str, Any]:
    versions = [t for t in catalog.list_templates(services) if t.id == template_id]
    current = versions[-1] if versions else None
    items = [{"key": i.key, "label": i.label, "type": i.type, "required": i.required,
              "min": "" if i.min is None else f"{i.min:g}", "max": "" if i.max is None else f"{i.max:g}",
              "choices": ", ".join(i.choices), "existing": True} for i in (current.items if current else [])]
    items += [{"key": "", "label": "", "type": "pass_fail", "required": True, "min": "", "max": "", "choices": "",
               "existing": False} for _ in range(BLANK_ROWS)]
    return {"tab": "templates", "template_id": template_id, "current": current, "items": items,
            "types": ITEM_TYPES, "name": current.name if current else "",
            "versions": [{"version": v.version, "published": lang.when(v.published_at), "items": len(v.items)}
                         for v in reversed(versions)]}


def _number(lang: Lang, form: dict[str, str], key: str) -> float | None:
    value = (form.get(key) or "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise BadRequest("invalid_form", lang.t("mgmt.item_number", n=key.rsplit("_", 1)[1]), field=key) from None


def publish(services: Services, template_id: str, form: dict[str, str], lang: Lang) -> int:
    """Publish the edited items as the template's next version; returns that version."""
    name = ftext(lang, form, "template_name", required=True, max_len=200)
    count = fint(lang, form, "rows", low=0, high=MAX_ITEMS + BLANK_ROWS) or 0
    items = []
    for n in range(count):
        key, label = (form.get(f"key_{n}") or "").strip(), (form.get(f"label_{n}") or "").strip()
        if form.get(f"remove_{n}") or (not key and not label):
            continue
        row = n + 1
        if not key or not ID_RE.match(key):
            raise BadRequest("invalid_form", lang.t("mgmt.item_key", n=row), field=f"key_{n}")
        if not label or len(label) > 500:
            raise BadRequest("invalid_form", lang.t("mgmt.item_label", n=row), field=f"label_{n}")
        kind: Any = (form.get(f"type_{n}") or "").strip()
        if kind not in ITEM_TYPES:
            raise BadRequest("invalid_form", lang.t("mgmt.item_type", n=row), field=f"type_{n}")
        choices = [c.strip() for c in (form.get(f"choices_{n}") or "").replace("，", ",").split(",") if c.strip()]
        low, high = _number(lang, form, f"min_{n}"), _number(lang, form, f"max_{n}")
        items.append(ChecklistItem(key=key, label=label, type=kind, required=bool(form.get(f"required_{n}")),
                                   min=low if kind == "number" else None, max=high if kind == "number" else None,
                                   choices=choices if kind == "choice" else []))
    if not items:
        raise BadRequest("invalid_form", lang.t("mgmt.no_items"))
    data = _convert({"id": template_id, "name": name, "items": msgspec.to_builtins(items)}, ChecklistTemplateIn, lang)
    return catalog.publish_template(services, data).version


def _convert(raw: dict[str, Any], kind: type[T], lang: Lang) -> T:
    """Form values as the API's input type, refused as the API refuses them (in the page's words)."""
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        where = str(exc).rpartition("at `$.")[2].rstrip("`")
        raise BadRequest("invalid_form", lang.t("mgmt.invalid_value", where=where or "—")) from None


# -- engineers ---------------------------------------------------------------------------------------------


def engineers_page(services: Services, request: Request[Any, Any, Any], lang: Lang) -> dict[str, Any]:
    q = _q(request, "q")
    rows = [{"id": e.id, "name": e.name, "email": e.email, "skills": ", ".join(e.skills), "van": e.van_location,
             "active": e.active} for e in catalog.list_engineers(services)
            if desks.matches(q, e.id, e.name, e.email, *e.skills)]
    shown, pager = desks.paginate(request, rows, _page(request), lang)
    return {"tab": "engineers", "rows": shown, "pager": pager, "q": q}


def create_engineer(services: Services, form: dict[str, str], session: ConsoleSession,
                    lang: Lang) -> tuple[str, str]:
    skills = [s.strip() for s in ftext(lang, form, "skills", max_len=1000).replace("，", ",").split(",") if s.strip()]
    if any(len(s) > 64 for s in skills):
        raise desks.invalid(lang, "form.too_long", "skills", n=64)
    data = _convert({"id": fid(lang, form, "engineer_id"), "name": ftext(lang, form, "name", required=True),
                     "email": ftext(lang, form, "email"), "skills": skills}, EngineerIn, lang)
    catalog.create_engineer(services, data)
    return "/manage/engineers", "mgmt_engineer_created"


def set_engineer_state(services: Services, engineer_id: str, form: dict[str, str], session: ConsoleSession,
                       lang: Lang) -> tuple[str, str]:
    """Take an engineer off dispatch, or put them back on (``POST /v1/engineers/{id}/deactivate``)."""
    action = fchoice(lang, form, "action", {"disable": lang.t("mgmt.disable"), "enable": lang.t("mgmt.enable")})
    catalog.set_engineer_active(services, engineer_id, action == "enable")
    return "/manage/engineers", f"mgmt_engineer_{action}d"


# -- console users -----------------------------------------------------------------------------------------


def users_page(services: Services, request: Request[Any, Any, Any], lang: Lang) -> dict[str, Any]:
    q = _q(request, "q")
    rows = [{"name": u["name"], "role": u["role"], "role_name": lang.name("role", u["role"]),
             "created": _when(lang, u["created_at"]), "disabled": u["disabled_at"] is not None,
             "disabled_at": _when(lang, u["disabled_at"]) if u["disabled_at"] else ""}
            for u in auth.list_users(services) if desks.matches(q, u["name"], u["role"])]
    shown, pager = desks.paginate(request, rows, _page(request), lang)
    return {"tab": "users", "rows": shown, "pager": pager, "q": q, "roles": ROLES}


def _when(lang: Lang, ms: object) -> str:
    return lang.when(ms if isinstance(ms, int) else None)


def _roles(lang: Lang) -> dict[str, str]:
    return {r: lang.name("role", r) for r in ROLES}


def save_user(services: Services, form: dict[str, str], session: ConsoleSession, lang: Lang) -> tuple[str, str]:
    """Create a console user, or give one a new role and password (enabled again)."""
    name = ftext(lang, form, "user_name", required=True, max_len=64)
    role = fchoice(lang, form, "role", _roles(lang))
    password = form.get("password") or ""
    if not auth.MIN_PASSWORD <= len(password) <= auth.MAX_PASSWORD:
        raise desks.invalid(lang, "mgmt.weak_password", "password", n=auth.MIN_PASSWORD)
    created = auth.set_user(services, name, role, password)
    return "/manage/users", "mgmt_user_created" if created else "mgmt_user_updated"


def set_user_state(services: Services, name: str, form: dict[str, str], session: ConsoleSession,
                   lang: Lang) -> tuple[str, str]:
    """Disable a user (their sessions end), enable one again, or change their role."""
    action = fchoice(lang, form, "action", {"disable": lang.t("mgmt.disable"), "enable": lang.t("mgmt.enable"),
                                            "role": lang.t("mgmt.change_role")})
    if action == "disable":
        if name == session.staff.name:
            raise BadRequest("invalid_form", lang.t("mgmt.not_yourself"))
        auth.disable_user(services, name)
        return "/manage/users", "mgmt_user_disabled"
    role = fchoice(lang, form, "role", _roles(lang)) if action == "role" else None
    with services.db.write() as tx:
        if not staff_store.set_user_state(tx, name, role=role, enable=action == "enable"):
            raise NotFound("no_such_user", f"no console user {name!r}")
    return "/manage/users", "mgmt_user_enabled" if action == "enable" else "mgmt_user_updated"


# -- staff tokens ------------------------------------------------------------------------------------------


def tokens_page(services: Services, request: Request[Any, Any, Any], lang: Lang) -> dict[str, Any]:
    q, state = _q(request, "q"), _q(request, "state", "live")
    if state not in ("live", "all"):
        raise bad_filter(lang, "state", ("live", "all"))
    now = services.clock()
    rows = []
    for tok in list_staff_tokens(services):
        status = "revoked" if tok.revoked_at else "expired" if tok.expires_at and tok.expires_at <= now else "live"
        if (state == "live" and status != "live") or not desks.matches(q, tok.id, tok.name, tok.role):
            continue
        rows.append({"id": tok.id, "name": tok.name, "role_name": lang.name("role", tok.role), "status": status,
                     "status_name": lang.t(f"mgmt.token.{status}"), "created": lang.when(tok.created_at),
                     "expires": lang.when(tok.expires_at) if tok.expires_at else lang.t("mgmt.no_expiry")})
    shown, pager = desks.paginate(request, rows, _page(request), lang)
    return {"tab": "tokens", "rows": shown, "pager": pager, "q": q, "state": state, "roles": ROLES,
            "max_days": MAX_TOKEN_DAYS}


def issue_token(services: Services, form: dict[str, str], lang: Lang) -> dict[str, Any]:
    name = ftext(lang, form, "token_name", required=True, max_len=64)
    role = fchoice(lang, form, "role", _roles(lang))
    days = fint(lang, form, "days", low=1, high=MAX_TOKEN_DAYS, required=False)
    return {"token": issue_staff_token(services, role, name, days=days), "name": name}


def revoke_token(services: Services, token_id: str, lang: Lang) -> None:
    try:
        n = revoke_staff_token(services, token_id)
    except ValueError:
        raise BadRequest("invalid_form", lang.t("mgmt.bad_token_id")) from None
    if not n:
        raise BadRequest("invalid_form", lang.t("mgmt.no_live_token"))


# -- routes ------------------------------------------------------------------------------------------------


@get("/manage/kpis", include_in_schema=False)
async def mgmt_kpis(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.show(request, services, "mgmt_kpis.html", kpis_page)


@post("/manage/kpis/targets/{kpi:str}", include_in_schema=False, status_code=303)
async def mgmt_set_target(request: Request[Any, Any, Any], services: Services, kpi: str) -> Response[Any]:
    def do(svc: Services, form: dict[str, str], session: ConsoleSession, lang: Lang) -> tuple[str, str]:
        return set_target(svc, kpi, form, session, lang)

    return await desks.act(request, services, "/manage/kpis", do, "admin")


@get("/manage/certifications", include_in_schema=False)
async def mgmt_certifications(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.show(request, services, "mgmt_certifications.html", certifications_page)


@post("/manage/certifications", include_in_schema=False, status_code=303)
async def mgmt_certify(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.act(request, services, "/manage/certifications", add_certification, "backoffice")


@post("/manage/trainings", include_in_schema=False, status_code=303)
async def mgmt_train(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.act(request, services, "/manage/certifications", add_training, "backoffice")


@get("/manage/templates", include_in_schema=False)
async def mgmt_templates(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.show(request, services, "mgmt_templates.html", templates_page)


@get("/manage/template-new", include_in_schema=False)
async def mgmt_template_new(request: Request[Any, Any, Any], services: Services, id: str = "") -> Redirect:
    s, lang = await routes.enter(request, services, "backoffice")
    if not ID_RE.match(id.strip()):
        return desks.back(s, "/manage/templates", lang.t("form.bad_id", label=lang.t("desk.field.template_id")))
    return routes.redirect(f"/manage/templates/{id.strip()}")


@get("/manage/templates/{template_id:str}", include_in_schema=False)
async def mgmt_template(request: Request[Any, Any, Any], services: Services, template_id: str) -> Response[Any]:
    routes.known_id(template_id, "template")
    return await desks.show(request, services, "mgmt_template.html",
                            lambda svc, _req, lang: template_page(svc, template_id, lang))


@post("/manage/templates/{template_id:str}", include_in_schema=False, status_code=303)
async def mgmt_publish(request: Request[Any, Any, Any], services: Services, template_id: str) -> Response[Any]:
    routes.known_id(template_id, "template")

    def do(svc: Services, form: dict[str, str], session: ConsoleSession, lang: Lang) -> tuple[str, str]:
        publish(svc, template_id, form, lang)
        return f"/manage/templates/{template_id}", "mgmt_published"

    return await desks.act(request, services, f"/manage/templates/{template_id}", do, "backoffice")


@get("/manage/engineers", include_in_schema=False)
async def mgmt_engineers(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.show(request, services, "mgmt_engineers.html", engineers_page)


@post("/manage/engineers", include_in_schema=False, status_code=303)
async def mgmt_create_engineer(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.act(request, services, "/manage/engineers", create_engineer, "backoffice", "dispatcher")


@post("/manage/engineers/{engineer_id:str}", include_in_schema=False, status_code=303)
async def mgmt_engineer_state(request: Request[Any, Any, Any], services: Services, engineer_id: str) -> Response[Any]:
    routes.known_id(engineer_id, "engineer")

    def do(svc: Services, form: dict[str, str], session: ConsoleSession, lang: Lang) -> tuple[str, str]:
        return set_engineer_state(svc, engineer_id, form, session, lang)

    return await desks.act(request, services, "/manage/engineers", do, "backoffice", "dispatcher")


@get("/manage/users", include_in_schema=False)
async def mgmt_users(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.show(request, services, "mgmt_users.html", users_page, "admin")


@post("/manage/users", include_in_schema=False, status_code=303)
async def mgmt_save_user(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.act(request, services, "/manage/users", save_user, "admin")


@post("/manage/users/{name:str}", include_in_schema=False, status_code=303)
async def mgmt_user_state(request: Request[Any, Any, Any], services: Services, name: str) -> Response[Any]:
    def do(svc: Services, form: dict[str, str], session: ConsoleSession, lang: Lang) -> tuple[str, str]:
        return set_user_state(svc, name[:64], form, session, lang)

    return await desks.act(request, services, "/manage/users", do, "admin")


@get("/manage/tokens", include_in_schema=False)
async def mgmt_tokens(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.show(request, services, "mgmt_tokens.html", tokens_page, "admin")


@post("/manage/tokens", include_in_schema=False, status_code=200)
async def mgmt_issue_token(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    """A new staff token, shown once on the answer to this POST (never in an address or a cookie)."""
    s, lang = await routes.enter(request, services, "admin")
    form = await routes.read_form(request, s.csrf, lang)
    try:
        issued = await in_thread(issue_token, services, form, lang)
    except DomainError as exc:
        return desks.back(s, "/manage/tokens", desks.error_text(exc, lang), form)
    data = await in_thread(tokens_page, services, request, lang)
    return routes.page(request, services, s, lang, "mgmt_tokens.html", {**data, "issued": issued})


@post("/manage/tokens/{token_id:str}/revoke", include_in_schema=False, status_code=303)
async def mgmt_revoke_token(request: Request[Any, Any, Any], services: Services, token_id: str) -> Response[Any]:
    def do(svc: Services, form: dict[str, str], session: ConsoleSession, lang: Lang) -> tuple[str, str]:
        revoke_token(svc, token_id[:64], lang)
        return "/manage/tokens", "mgmt_token_revoked"

    return await desks.act(request, services, "/manage/tokens", do, "admin")


ROUTES: Final = [mgmt_kpis, mgmt_set_target, mgmt_certifications, mgmt_certify, mgmt_templates, mgmt_template_new,
                 mgmt_train, mgmt_template, mgmt_publish, mgmt_engineers, mgmt_create_engineer, mgmt_engineer_state,
                 mgmt_users, mgmt_save_user, mgmt_user_state, mgmt_tokens, mgmt_issue_token, mgmt_revoke_token]
