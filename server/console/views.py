"""What each console page shows: service data turned into plain dicts for the templates.

Everything here is synchronous (called off the event loop by ``routes``) and
reads through the domain services, so the console shows exactly what the API
returns.  Form input is checked here too, with messages meant for a person.
"""

from __future__ import annotations

import html
import io
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import msgspec

from schemas.domain import AssignIn, JobIn, ReportLocale, ResolveIn, SlaTarget, TicketEvent, TicketIn
from schemas.enrollment_link import enrollment_link
from schemas.wire import Amend, AnswerItem, MovePart, ReceivedSignOff, SetField, SetStatus
from server.console.i18n import Lang
from server.domain.archive.service import customer_archive
from server.domain.blobs.service import attachment_content_types
from server.domain.catalog import service as catalog
from server.domain.conflicts import service as conflicts
from server.domain.customers import service as customers
from server.domain.devices import service as devices
from server.domain.devices.service import device_names, device_names_for_job, device_owners
from server.domain.sla.service import compliance_report, due, list_by_sla, policy_set, target_order
from server.domain.sync import late_work
from server.domain.tickets import service as tickets
from server.domain.tickets.jobs import job_detail
from server.errors import BadRequest, NotFound
from server.services import Services

PRIORITIES = ("P1", "P2", "P3", "complaint")
CATEGORIES = ("fault", "inspection", "installation", "complaint")
#: the languages a service report can be written in (the catalogs' locales)
REPORT_LOCALES = get_args(ReportLocale)
QUEUE_STATES = ("running", "paused", "breached", "at_risk", "idle")
ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS


# -- formatting ------------------------------------------------------------------------------------------


def clock_class(state: str, fraction: float, breached: bool) -> str:
    """The colour class of one SLA clock: ok, w50, w75, breached, paused, met, late, na, idle."""
    if state == "not_applicable":  # the on-site clock of a ticket resolved remotely
        return "na"
    if state == "met":
        return "late" if breached else "met"
    if breached or state == "breached":
        return "breached"
    if state == "paused":
        return "paused"
    if state == "running":
        if fraction >= 0.75:
            return "w75"
        if fraction >= 0.5:
            return "w50"
        return "ok"
    return "idle"


def target_view(name: str, t: SlaTarget, now: int, lang: Lang) -> dict[str, Any]:
    cls = clock_class(t.state, t.elapsed_fraction, t.breached)
    left = (t.due_at - now) if t.due_at is not None and t.state in ("running", "paused", "breached") else None
    return {"name": name, "label": lang.name("target", name), "state": t.state, "cls": cls,
            "status": lang.name("clock", cls), "due_at": t.due_at, "due": lang.short(t.due_at),
            "met_at": lang.short(t.met_at),
            "left_ms": left, "left": lang.left(left), "ticking": t.state in ("running", "breached"),
            "pct": min(100, max(0, round(t.elapsed_fraction * 100))), "provisional": t.provisional,
            "paused": lang.dur(t.paused_seconds * 1000) if t.paused_seconds else ""}


def _engineers(services: Services) -> dict[str, str]:
    return {e.id: e.name for e in catalog.list_engineers(services)}


def board_engineers(services: Services) -> list[tuple[str, str]]:
    """(id, name) of every engineer, by name."""
    return sorted(_engineers(services).items(), key=lambda kv: kv[1])


def _clip(v: Any, n: int = 16) -> str:
    text = str(v)
    return text if len(text) <= n else text[: n - 1] + "…"


RECORD_TIMES = frozenset({"at", "received", "received_at", "device_time", "corrected_time", "created_at",
                          "recorded_at", "signed_at"})
#: which display names a record's ``kind`` takes, by record type
RECORD_KINDS = {"movement": "movement", "conflict": "conflict_kind", "event": "event", "attachment": "photo"}


def record_summary(records: Any, lang: Lang) -> list[str]:
    """One short line per record of a reconciliation item (movement, sign-off, stock ...)."""
    out = []
    for r in records if isinstance(records, list) else [records]:
        if isinstance(r, dict):
            kind = str(r.get("type", "record"))
            if kind == "conflict" and r.get("kind") == "late_work" and isinstance(r.get("values"), list):
                # a late visit's values are its ops as sent: counted here, shown step by step in the review queue
                r = {**r, "values": lang.t("visit.ops", n=max(len(r["values"]) - 1, 0))}
            parts = [f"{lang.name('record_field', k)}={_record_value(kind, k, v, lang)}" for k, v in r.items()
                     if v not in (None, "", [], {}) and k not in ("id", "type", "engineer_id", "device_id")]
            out.append(f"{lang.name('record', kind)}: " + lang.t("list.sep").join(parts[:8]))
        else:
            out.append(str(r))
    return out[:10]


def _record_value(record_type: str, key: str, value: Any, lang: Lang) -> str:
    if key in RECORD_TIMES and isinstance(value, int) and not isinstance(value, bool):
        return lang.short(value)
    if key == "kind" and record_type in RECORD_KINDS:
        return lang.name(RECORD_KINDS[record_type], value)
    if key == "status" and isinstance(value, str):
        return lang.name("conflict_status" if record_type == "conflict" else "status", value)
    if key == "values" and isinstance(value, list):
        return _clip(" / ".join(_show_value(v.get("value") if isinstance(v, dict) else v, lang) for v in value))
    return _clip(_show_value(value, lang) if isinstance(value, bool) else value)


def recon_summary(item: dict[str, Any], lang: Lang) -> str:
    """What a discrepancy is about: the service's own sentence in English, the catalog's in other locales."""
    if lang.locale == "en":
        return str(item.get("summary", ""))
    key = str(item.get("key", ""))
    return lang.t(f"recon_summary.{item.get('kind')}", key=key, job=item.get("job_id") or key,
                  status=lang.name("conflict_status", item.get("status")))


# -- form input ------------------------------------------------------------------------------------------


def _invalid(lang: Lang, key: str, field: str, **params: object) -> BadRequest:
    return BadRequest("invalid_form", lang.t(key, **params), field=field)


def text_field(lang: Lang, form: dict[str, str], key: str, *, required: bool = False, max_len: int = 200) -> str:
    """A text input, its label (catalog ``field.<key>``) naming it in the message when it is wrong."""
    value = (form.get(key) or "").strip()
    label = lang.t(f"field.{key}")
    if "\x00" in value:
        raise _invalid(lang, "form.bad_char", key, label=label)
    if required and not value:
        raise _invalid(lang, "form.required", key, label=label)
    if len(value) > max_len:
        raise _invalid(lang, "form.too_long", key, label=label, n=max_len)
    return value


def choice_field(lang: Lang, form: dict[str, str], key: str, choices: tuple[str, ...] | list[str],
                 *, required: bool = True) -> str:
    value = (form.get(key) or "").strip()
    if not value and not required:
        return ""
    if value not in choices:
        raise _invalid(lang, "form.one_of", key, label=lang.t(f"field.{key}"),
                       choices=lang.t("list.sep").join(lang.name(key, c) for c in choices))
    return value


def id_field(lang: Lang, form: dict[str, str], key: str, *, required: bool = True) -> str:
    value = (form.get(key) or "").strip()
    if not value and not required:
        return ""
    if not ID_RE.match(value):
        raise _invalid(lang, "form.bad_id", key, label=lang.t(f"field.{key}"))
    return value


def bad_filter(lang: Lang, name: str, choices: tuple[str, ...] | list[str] | tuple[int, ...]) -> BadRequest:
    """A filter in the address that the page does not offer (someone edited the URL)."""
    return BadRequest("bad_filter", lang.t("filter.bad", name=name,
                                           choices=lang.t("list.sep").join(str(c) for c in choices)))


# -- tickets board ---------------------------------------------------------------------------------------


def board(services: Services, priority: str, engineer: str, state: str, lang: Lang) -> dict[str, Any]:
    """Open tickets by time left on their most urgent clock, with the filter choices."""
    if priority and priority not in PRIORITIES:
        raise bad_filter(lang, "priority", PRIORITIES)
    if state and state not in QUEUE_STATES:
        raise bad_filter(lang, "state", QUEUE_STATES)
    names = _engineers(services)
    if engineer and engineer not in names:
        raise bad_filter(lang, "engineer", sorted(names))
    now = services.clock()
    items = list_by_sla(services, state=state or None, priority=priority or None, engineer_id=engineer or None)
    titles = tickets.ticket_titles(services, [i.ticket_id for i in items])
    rows: list[dict[str, Any]] = []
    for it in items:
        urgent = target_view(it.target, it.targets[it.target], now, lang) if it.target else None
        chips = [target_view(n, s, now, lang) for n, s in it.targets.items()]  # in the policy's order
        rows.append({"id": it.ticket_id, "priority": it.priority, "category": it.category, "customer": it.customer,
                     "site": it.site, "title": titles.get(it.ticket_id, ""), "status": it.status,
                     "engineers": [names.get(e, e) for e in it.engineer_ids], "urgent": urgent, "chips": chips,
                     "provisional": it.provisional, "opened": lang.when(it.opened_at)})
    counts = {"breached": sum(1 for r in rows if r["urgent"] and r["urgent"]["cls"] == "breached"),
              "w75": sum(1 for r in rows if r["urgent"] and r["urgent"]["cls"] == "w75"),
              "provisional": sum(1 for r in rows if r["provisional"]), "open": len(rows)}
    return {"rows": rows, "counts": counts, "engineers": sorted(names.items(), key=lambda kv: kv[1]),
            "templates": [t.id for t in catalog.list_templates(services)],
            "filters": {"priority": priority, "engineer": engineer, "state": state},
            "priorities": PRIORITIES, "categories": CATEGORIES, "report_locales": REPORT_LOCALES,
            "due": new_ticket_due(services, "P3", "fault", lang)}


def new_ticket_due(services: Services, priority: str, category: str, lang: Lang) -> dict[str, Any]:
    """What the New ticket form shows: when each clock a ticket opened now would start is due, in local time."""
    if priority not in PRIORITIES:
        raise bad_filter(lang, "priority", PRIORITIES)
    if category not in CATEGORIES:
        raise bad_filter(lang, "category", CATEGORIES)
    answer = due(services, priority, category, services.clock())
    rows = []
    for t in answer.targets:
        if t.due_local is None:
            continue
        rows.append({"name": t.target, "label": lang.name("target", t.target), "duration": t.duration,
                     "duration_text": lang.span(t.duration),
                     "iso": t.due_local, "when": lang.local(datetime.fromisoformat(t.due_local)), "tz": t.tz})
    regions = sorted({t.region for t in answer.targets if t.region and t.due_local})
    return {"priority": priority, "category": category, "opened": answer.opened_local, "tz": answer.tz,
            "regions": regions, "rows": rows}


def create_ticket(services: Services, form: dict[str, str], by: str, lang: Lang) -> str:
    """Open a ticket from the board's form and, if an engineer is chosen, dispatch a job at once."""
    customer = text_field(lang, form, "customer", required=True)
    site = text_field(lang, form, "site", required=True)
    priority = choice_field(lang, form, "priority", PRIORITIES)
    category = choice_field(lang, form, "category", CATEGORIES)
    title = text_field(lang, form, "title", max_len=300)
    serial = text_field(lang, form, "asset_serial", max_len=100) or None
    engineer = id_field(lang, form, "engineer_id", required=False)
    template = id_field(lang, form, "template", required=False)
    report_locale = choice_field(lang, form, "report_locale", REPORT_LOCALES, required=False) or None
    if engineer and engineer not in _engineers(services):
        raise _invalid(lang, "form.no_engineer", "engineer_id", id=engineer)
    ticket = tickets.create_ticket(services, TicketIn(customer=customer, site=site, priority=priority,  # type: ignore[arg-type]
                                                      category=category, title=title, asset_serial=serial,  # type: ignore[arg-type]
                                                      report_locale=report_locale), by)  # type: ignore[arg-type]
    if engineer:
        tickets.create_job(services, ticket.id, JobIn(engineer_id=engineer, checklist_template=template or None))
    return ticket.id


def ticket_page(services: Services, ticket_id: str, lang: Lang) -> dict[str, Any]:
    now = services.clock()
    t = tickets.get_ticket(services, ticket_id)
    names = _engineers(services)
    clocks = [target_view(n, s, now, lang) for n, s in t.sla.items()]  # in the policy's order
    return {"tk": t, "clocks": clocks, "provisional": any(c["provisional"] for c in clocks),
            "jobs": [{"j": j, "engineer": names.get(j.engineer_id, j.engineer_id)} for j in t.jobs],
            "timeline": [_event_view(e, names, lang, device_names(services)) for e in reversed(t.timeline)],
            "engineers": sorted(names.items(), key=lambda kv: kv[1]),
            "templates": [tp.id for tp in catalog.list_templates(services)], "report_locales": REPORT_LOCALES}


def customer_page(services: Services, customer_id: str, lang: Lang) -> dict[str, Any]:
    """A customer's page: the record (contacts, sites, assets) and its service archive."""
    customer, _ = customers.get_customer(services, customer_id)
    archive = customer_archive(services, customer_id)
    return {"c": customer, "archive": archive}


def set_report_locale(services: Services, ticket_id: str, form: dict[str, str], lang: Lang) -> None:
    """The dispatcher's choice of the language the ticket's service report is written in ('': the server's)."""
    chosen = choice_field(lang, form, "report_locale", REPORT_LOCALES, required=False) or None
    tickets.set_report_locale(services, ticket_id, chosen)


def add_job(services: Services, ticket_id: str, form: dict[str, str], lang: Lang) -> None:
    engineer = id_field(lang, form, "engineer_id")
    template = id_field(lang, form, "template", required=False)
    notes = text_field(lang, form, "notes", max_len=10_000)
    tickets.create_job(services, ticket_id, JobIn(engineer_id=engineer, checklist_template=template or None,
                                                  notes=notes))


def reassign(services: Services, job_id: str, form: dict[str, str], by: str, lang: Lang) -> str:
    engineer = id_field(lang, form, "engineer_id")
    return tickets.assign_job(services, job_id, AssignIn(engineer_id=engineer), by).id


HIDDEN_EVENT_KEYS = {"op_id", "hlc", "withdrawn_at", "withdrawn_by", "withdraws", "customer_id", "site_id"}


def _event_view(e: Any, names: dict[str, str], lang: Lang, devices: dict[str, str] | None = None) -> dict[str, Any]:
    skew = (e.device_time - e.corrected_time) if e.device_time is not None and e.corrected_time is not None else None
    data = {lang.name("event_field", k): _event_value(k, v, names, lang)
            for k, v in (e.data or {}).items() if k not in HIDDEN_EVENT_KEYS}
    source = e.source
    if source.startswith("device:") and devices:
        source = lang.t("timeline.tablet", name=devices.get(source.removeprefix("device:"),
                                                            source.removeprefix("device:")))
    elif source.startswith("staff:"):
        source = source.removeprefix("staff:")
    else:
        source = lang.name("source", source)
    skew_text = lang.dur(skew) if skew is not None and abs(skew) >= 1000 else ""
    withdrawn = (e.data or {}).get("withdrawn_at")
    kind = lang.name("event", e.kind)
    if isinstance(withdrawn, int):  # an SLA level a late sync showed was never reached
        data[lang.name("event_field", "withdrawn_at")] = lang.when(withdrawn)
        kind = lang.t("timeline.withdrawn", kind=kind)
    flag = getattr(e, "time_flag", None)
    return {"kind": kind, "raw_kind": e.kind, "flag": lang.name("time_flag", flag) if flag else "",
            "at": lang.when(e.at), "job_id": e.job_id,
            "device_time": lang.when(e.device_time) if e.device_time is not None else "",
            "corrected_time": lang.when(e.corrected_time) if e.corrected_time is not None else "",
            "received": lang.when(e.received_at), "source": source,
            "skew": lang.t("timeline.ahead" if skew and skew > 0 else "timeline.behind", d=skew_text)
            if skew_text else "", "data": data}


def _event_value(key: str, value: Any, names: dict[str, str], lang: Lang) -> Any:
    """An event's data value for people: engineer names for ids, display names for stored codes."""
    if isinstance(value, bool):
        return lang.t(f"value.{str(value).lower()}")
    if not isinstance(value, str):
        return value
    if key in ("status", "from_status", "to_status"):
        return lang.name("status", value)
    if key in ("priority", "category", "target"):
        return lang.name(key, value)
    if key in ("reason", "hold_reason"):
        return lang.name("hold", value)
    return names.get(value, value)


# -- job page --------------------------------------------------------------------------------------------


def job_page(services: Services, job_id: str, lang: Lang) -> dict[str, Any]:
    d = job_detail(services, job_id)
    job = d["job"]
    names = _engineers(services)
    t = tickets.get_ticket(services, job["ticket_id"])
    labels: dict[str, dict[str, Any]] = {}
    if job.get("template_id") and job.get("template_version"):
        try:
            tpl = catalog.get_template(services, job["template_id"], job["template_version"])
            labels = {i.key: {"label": i.label, "type": i.type, "required": i.required} for i in tpl.items}
        except NotFound:
            labels = {}
    answered = {a["item_key"] for a in d["answers"] if not a["deleted"]}
    answers = [{**a, "label": labels.get(a["item_key"], {}).get("label", a["item_key"]),
                "shown": _show_value(a["value"], lang), "shown_cls": _value_class(a["value"]),
                "when": lang.when(a["at"])} for a in d["answers"]]
    missing = [{"key": k, **v} for k, v in labels.items() if k not in answered]
    devs = device_names_for_job(services, job["engineer_id"], job_id)
    ctypes = attachment_content_types(services, job_id)
    photos = [{**a, "image": ctypes.get(a["sha256"], "").startswith("image/"), "short": a["sha256"][:12]}
              for a in d["attachments"] if not a["deleted"]]
    signoff = d["signoff"]
    sig = None
    if signoff is not None:
        sig = {**signoff, "svg": signature_svg(signoff["strokes"]), "when": lang.when(signoff["signed_at"]),
               "received": lang.when(signoff["received_at"]), "device": devs.get(signoff["device_id"],
                                                                                signoff["device_id"])}
    parts = [{**p, "when": lang.when(p.get("at"))} for p in d["parts"]]
    return {"job": job, "ticket": t, "engineer": names.get(job["engineer_id"], job["engineer_id"]),
            "answers": answers, "missing": missing, "parts": parts, "photos": photos,
            "evidence_missing": d["evidence_missing"], "signoff": sig,
            "timeline": [_event_view(_event_struct(e), names, lang, device_names(services)) for e in d["timeline"]],
            "conflicts": [{**c, "about": labels.get(c["key"], {}).get("label", c["key"]) if c["kind"] == "answer"
                           else lang.name("job_field", c["key"])} for c in d["conflicts"]],
            "devices": devs}


def _event_struct(e: dict[str, Any]) -> Any:
    return msgspec.convert(e, TicketEvent)


def _show_value(v: Any, lang: Lang) -> str:
    if v is True:
        return lang.t("answer.pass")
    if v is False:
        return lang.t("answer.fail")
    if v is None:
        return "—"
    if isinstance(v, int | float):
        return lang.number(v)
    return str(v)


def _value_class(v: Any) -> str:
    """The CSS class of an answer (``pass``/``fail`` colour the cell whatever the language)."""
    return "pass" if v is True else "fail" if v is False else "value"


def signature_svg(strokes: list[list[float]]) -> dict[str, Any] | None:
    """Polylines and a viewBox for pen strokes given as flat ``[x0, y0, x1, y1, ...]`` lists."""
    lines = []
    xs: list[float] = []
    ys: list[float] = []
    for stroke in strokes or []:
        if not isinstance(stroke, list):
            continue
        pts = [float(v) for v in stroke if isinstance(v, int | float)]
        pairs = list(zip(pts[0::2], pts[1::2], strict=False))
        if not pairs:
            continue
        xs += [p[0] for p in pairs]
        ys += [p[1] for p in pairs]
        if len(pairs) == 1:
            pairs.append((pairs[0][0] + 0.5, pairs[0][1]))
        lines.append(" ".join(f"{x:.1f},{y:.1f}" for x, y in pairs))
    if not lines:
        return None
    pad = 6.0
    x0, y0 = min(xs) - pad, min(ys) - pad
    w, h = max(xs) - min(xs) + 2 * pad, max(ys) - min(ys) + 2 * pad
    return {"lines": lines, "viewbox": f"{x0:.1f} {y0:.1f} {max(w, 1):.1f} {max(h, 1):.1f}",
            "stroke": max(1.5, max(w, h) / 150)}


# -- conflicts -------------------------------------------------------------------------------------------


def conflicts_page(services: Services, status: str, lang: Lang) -> dict[str, Any]:
    if status not in ("open", "resolved", "all"):
        raise bad_filter(lang, "status", ("open", "resolved", "all"))
    items = conflicts.list_conflicts(services, None if status == "all" else status)
    names = _engineers(services)
    dev_eng = device_owners(services)
    jobs = tickets.job_contexts(services, sorted({c.job_id for c in items}))
    labels: dict[tuple[str, int], dict[str, str]] = {}
    out = []
    for c in items:
        values = []
        for i, v in enumerate(c.values):
            dev = v.get("device_id") or ""
            dname, eng = dev_eng.get(dev, (dev, ""))
            who = lang.t("conflict.server") if dev == "server" else f"{names.get(eng, eng) or '?'} ({dname})"
            values.append({"i": i, "value": _conflict_value(v.get("value"), lang), "raw": v.get("value"), "who": who,
                           "at": lang.when(v.get("at")) if v.get("at") else "—", "note": v.get("note") or "",
                           "applied": c.applied == v})
        visit = _visit(services, c, jobs.get(c.job_id), names, dev_eng, labels, lang) if c.kind == "late_work" else None
        out.append({"c": c, "vals": values, "job": jobs.get(c.job_id), "created": lang.when(c.created_at),
                    "visit": visit,
                    "resolved": lang.when(c.resolved_at) if c.resolved_at else "",
                    "key": _conflict_key(services, c.kind, c.key, jobs.get(c.job_id), labels, lang),
                    "resolved_value": _conflict_value(c.resolution.get("value"), lang) if isinstance(
                        c.resolution, dict) else "",
                    "merge_allowed": c.kind in ("answer", "field")})
    return {"items": out, "status": status}


def _visit(services: Services, c: Any, job: Any, names: dict[str, str], dev_eng: dict[str, tuple[str, str]],
           labels: dict[tuple[str, int], dict[str, str]], lang: Lang) -> dict[str, Any]:
    """A late visit for people: who made it, who holds the job now, and each of its ops in words, in order."""
    vals = c.values
    dev = str(vals[1].get("device_id") or "") if len(vals) > 1 else ""
    dname, eng = dev_eng.get(dev, (dev, ""))
    holder = str(vals[0].get("value") or "") if vals else ""
    steps = []
    for v in vals[1:]:
        op = late_work.decode_op(v.get("value"))
        steps.append({"text": _visit_step(services, op, job, labels, lang), "at": lang.when(v.get("at")) if v.get(
            "at") else "—"})
    decided = c.resolution.get("value") if isinstance(c.resolution, dict) else None
    return {"by": lang.t("visit.by", engineer=names.get(eng, eng) or "?", device=dname,
                         holder=names.get(holder, holder) or "?"),
            "steps": steps, "decided": decided}


def _visit_step(services: Services, op: Any, job: Any, labels: dict[tuple[str, int], dict[str, str]],
                lang: Lang) -> str:
    if isinstance(op, SetStatus):
        return lang.t("visit.op.status", status=lang.name("status", op.status))
    if isinstance(op, AnswerItem):
        return lang.t("visit.op.answer", item=_conflict_key(services, "answer", op.item_key, job, labels, lang),
                      value=op.na_reason if op.na_reason else _conflict_value(op.value, lang))
    if isinstance(op, SetField):
        return lang.t("visit.op.field", field=lang.name("job_field", op.field), value=_conflict_value(op.value, lang))
    if isinstance(op, MovePart):
        return lang.t("visit.op.part", part_no=op.part_no, qty=op.qty)
    if isinstance(op, ReceivedSignOff):
        return lang.t("visit.op.signoff", name=op.signer_name)
    if isinstance(op, Amend):
        return lang.t("visit.op.amend", key=op.key, value=_conflict_value(op.value, lang), reason=op.reason)
    if op is None:
        return lang.t("visit.op.unreadable")
    return lang.t("visit.op.attachment")


def decide_visit(services: Services, conflict_id: str, form: dict[str, str], by: str, lang: Lang, *,
                 adopt: bool) -> None:
    """Adopt or discard a late visit from the queue's form (a reason is needed to discard)."""
    reason = text_field(lang, form, "comment", max_len=2000)
    if not adopt and not reason.strip():
        raise _invalid(lang, "form.reason_required", "comment")
    late_work.decide(services, conflict_id, by, adopt=adopt, comment=reason)


def _conflict_key(services: Services, kind: str, key: str, job: Any, labels: dict[tuple[str, int], dict[str, str]],
                  lang: Lang) -> str:
    """What a conflict is about for people: the checklist item's label, or the job field's display name."""
    if kind == "answer" and job is not None and job["template_id"] and job["template_version"]:
        version = (str(job["template_id"]), int(job["template_version"]))
        if version not in labels:
            try:
                tpl = catalog.get_template(services, *version)
                labels[version] = {i.key: i.label for i in tpl.items}
            except NotFound:
                labels[version] = {}
        return labels[version].get(key, key)
    return lang.name("job_field", key)


def _conflict_value(v: Any, lang: Lang) -> str:
    if isinstance(v, str) and len(v) > 300:
        return v[:300] + "…"
    return _show_value(v, lang)


def resolve_conflict(services: Services, conflict_id: str, form: dict[str, str], by: str, lang: Lang) -> None:
    """Resolve from the queue's form: a chosen value (``choice``) or a merged one (``merged``)."""
    current = conflicts.get_conflict(services, conflict_id)
    comment = text_field(lang, form, "comment", max_len=2000)
    merged = text_field(lang, form, "merged", max_len=10_000)
    raw_choice = (form.get("choice") or "").strip()
    if merged:
        value = _typed_like(merged, [v.get("value") for v in current.values], lang)
        conflicts.resolve(services, conflict_id, ResolveIn(value=value, comment=comment), by)
        return
    if not raw_choice:
        raise _invalid(lang, "form.choose_value", "choice")
    if not raw_choice.isdigit() or int(raw_choice) >= len(current.values):
        raise _invalid(lang, "form.not_a_value", "choice")
    choice = int(raw_choice)
    conflicts.resolve(services, conflict_id, ResolveIn(choice=choice, comment=comment), by)


def _typed_like(text: str, examples: list[Any], lang: Lang) -> str | int | float | bool:
    """A merged value typed like the values it merges (numbers stay numbers, pass/fail stays a bool)."""
    if any(isinstance(v, bool) for v in examples):
        low = text.lower()
        if low in ("pass", "true", "yes", "1", lang.t("answer.pass").lower()):
            return True
        if low in ("fail", "false", "no", "0", lang.t("answer.fail").lower()):
            return False
        raise _invalid(lang, "form.pass_fail", "merged", yes=lang.t("answer.pass"), no=lang.t("answer.fail"))
    if any(isinstance(v, int | float) and not isinstance(v, bool) for v in examples):
        try:
            number = float(text)
        except ValueError:
            raise _invalid(lang, "form.number", "merged") from None
        return int(number) if number.is_integer() else number
    return text


# -- devices ---------------------------------------------------------------------------------------------


def devices_page(services: Services, lang: Lang) -> dict[str, Any]:
    now = services.clock()
    names = _engineers(services)
    by_engineer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for dv in devices.list_devices(services):
        age = (now - dv.last_sync_at) if dv.last_sync_at is not None else (now - dv.enrolled_at)
        by_engineer[dv.engineer_id].append({
            "d": dv, "enrolled": lang.when(dv.enrolled_at), "last_sync": lang.when(dv.last_sync_at),
            "pending_age": lang.dur(age) if dv.revoked_at is None else "—",
            "stale": dv.revoked_at is None and age > 15 * 60_000,
            "offset": _offset_text(dv.clock_offset_ms, lang) if dv.clock_known else lang.t("device.clock_unknown"),
            "offset_bad": not dv.clock_known or abs(dv.clock_offset_ms) > 5 * 60_000,
            "revoked": lang.when(dv.revoked_at) if dv.revoked_at else ""})
    groups = [{"id": eid, "name": name, "devices": by_engineer.get(eid, [])}
              for eid, name in sorted(names.items(), key=lambda kv: kv[1])]
    return {"groups": groups, "engineers": sorted(names.items(), key=lambda kv: kv[1])}


def _offset_text(ms: int, lang: Lang) -> str:
    if abs(ms) < 1000:
        return lang.t("device.in_sync")
    return lang.t("timeline.ahead" if ms > 0 else "timeline.behind", d=lang.dur(ms))


def enroll_token(services: Services, form: dict[str, str], server_url: str, lang: Lang | None = None) -> dict[str, Any]:
    """Issue a one-time enrollment token and its QR code (inline SVG, made here)."""
    lang = lang or Lang()
    engineer = id_field(lang, form, "engineer_id")
    token, expires = devices.issue_enroll_token(services, engineer)
    payload = enrollment_link(server_url, token)
    return {"token": token, "expires": lang.when(expires), "engineer": _engineers(services).get(engineer, engineer),
            "qr": qr_svg(payload, lang.t("device.qr")), "payload": payload}


def qr_svg(text: str, label: str = "enrollment QR code") -> str:
    """An SVG QR code (``qrcode.image.svg``), without the XML declaration, to inline in a page."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buf = io.BytesIO()
    img.save(buf)
    svg = buf.getvalue().decode()
    svg = re.sub(r"^<\?xml[^>]*\?>\s*", "", svg)
    return svg.replace("<svg ", f'<svg class="qr" role="img" aria-label="{html.escape(label)}" ', 1)


# -- SLA compliance --------------------------------------------------------------------------------------


def sla_page(services: Services, target: str, weeks: int, lang: Lang) -> dict[str, Any]:
    """Met vs breached per priority and ISO week, and per engineer, as server-drawn SVG bar charts."""
    targets = tuple(target_order(policy_set(services)))  # every clock the policies in force name
    if target and target not in targets:
        raise bad_filter(lang, "target", targets)
    if weeks not in (4, 8, 12, 26):
        raise bad_filter(lang, "weeks", (4, 8, 12, 26))
    now = services.clock()
    today = datetime.fromtimestamp(now / 1000, tz=UTC).date()
    monday = today - timedelta(days=today.weekday())
    week_start = int(datetime(monday.year, monday.month, monday.day, tzinfo=UTC).timestamp() * 1000)
    end = now + 1
    weekly: list[dict[str, Any]] = []
    for k in range(weeks - 1, -1, -1):
        start = week_start - k * WEEK_MS
        stop = min(start + WEEK_MS, end)
        rep = compliance_report(services, start, stop, "priority")
        iso = datetime.fromtimestamp(start / 1000, tz=UTC).isocalendar()
        cells = {p: {"met": 0, "breached": 0, "open": 0} for p in PRIORITIES}
        for r in rep.rows:
            if target and r.target != target:
                continue
            cell = cells.setdefault(r.group, {"met": 0, "breached": 0, "open": 0})
            cell["met"] += r.met
            cell["breached"] += r.breached
            cell["open"] += r.open
        weekly.append({"label": lang.t("sla.week", n=f"{iso.week:02d}"), "cells": cells})
    eng = compliance_report(services, week_start - (weeks - 1) * WEEK_MS, end, "engineer")
    names = _engineers(services)
    per_eng: dict[str, dict[str, int]] = {}
    for r in eng.rows:
        if target and r.target != target:
            continue
        cell = per_eng.setdefault(r.group, {"met": 0, "breached": 0, "open": 0})
        cell["met"] += r.met
        cell["breached"] += r.breached
        cell["open"] += r.open
    prio = compliance_report(services, week_start - (weeks - 1) * WEEK_MS, end, "priority")
    table = [{"group": lang.priority(r.group), "target": lang.name("target", r.target),
              "tickets": lang.number(r.tickets), "met": lang.number(r.met),
              "breached": lang.number(r.breached), "open": lang.number(r.open), "pct": lang.percent(r.compliance)}
             for r in prio.rows if not target or r.target == target]
    return {"weekly_chart": weekly_chart(weekly, lang), "engineer_chart": hbar_chart(
                [(names.get(g, g), c) for g, c in sorted(per_eng.items(), key=lambda kv: names.get(kv[0], kv[0]))],
                lang),
            "table": table, "target": target, "weeks": weeks, "targets": targets,
            "labels": {t: lang.name("target", t) for t in targets}}


def weekly_chart(weeks: list[dict[str, Any]], lang: Lang) -> dict[str, Any]:
    """Grouped stacked bars: per week, one bar per priority, met (bottom) and breached (top)."""
    width, height, left, bottom, top = 1000, 230, 34, 36, 12
    plot_h = height - bottom - top
    peak = max([c["met"] + c["breached"] for w in weeks for c in w["cells"].values()] + [1])
    scale = _nice(peak)
    group_w = (width - left - 8) / max(1, len(weeks))
    bar_w = max(3.0, (group_w - 10) / len(PRIORITIES))
    bars, labels = [], []
    for gi, w in enumerate(weeks):
        gx = left + gi * group_w + 5
        labels.append({"x": round(gx + (group_w - 10) / 2, 1), "y": height - bottom + 16, "text": w["label"]})
        for pi, p in enumerate(PRIORITIES):
            c = w["cells"].get(p, {"met": 0, "breached": 0})
            x = round(gx + pi * bar_w, 1)
            met_h = plot_h * c["met"] / scale
            br_h = plot_h * c["breached"] / scale
            base = height - bottom
            if c["met"]:
                bars.append({"x": x, "y": round(base - met_h, 1), "w": round(bar_w - 1, 1), "h": round(met_h, 1),
                             "cls": f"met p-{p}",
                             "title": lang.t("sla.bar", week=w["label"], priority=lang.priority(p), n=c["met"],
                                             kind=lang.name("outcome", "met"))})
            if c["breached"]:
                bars.append({"x": x, "y": round(base - met_h - br_h, 1), "w": round(bar_w - 1, 1),
                             "h": round(br_h, 1), "cls": f"breached p-{p}",
                             "title": lang.t("sla.bar", week=w["label"], priority=lang.priority(p), n=c["breached"],
                                             kind=lang.name("outcome", "breached"))})
    grid = [{"y": round(height - bottom - plot_h * v / scale, 1), "v": v} for v in _ticks(scale)]
    return {"width": width, "height": height, "bars": bars, "labels": labels, "grid": grid, "left": left,
            "right": width - 4, "priorities": PRIORITIES,
            "empty": all(c["met"] + c["breached"] == 0 for w in weeks for c in w["cells"].values())}


def hbar_chart(rows: list[tuple[str, dict[str, int]]], lang: Lang) -> dict[str, Any]:
    """Horizontal stacked bars, one per engineer: met, breached, still open."""
    width, label_w, row_h = 1000, 130, 26
    peak = max([c["met"] + c["breached"] + c["open"] for _, c in rows] + [1])
    scale = _nice(peak)
    plot_w = width - label_w - 40
    out = []
    for i, (name, c) in enumerate(rows):
        y = 8 + i * row_h
        x = float(label_w)
        segs = []
        for kind in ("met", "breached", "open"):
            w = plot_w * c[kind] / scale
            if c[kind]:
                title = lang.t("sla.hbar", name=name, n=c[kind], kind=lang.name("outcome", kind))
                segs.append({"x": round(x, 1), "w": round(w, 1), "cls": kind, "title": title})
            x += w
        out.append({"name": name, "y": y, "segs": segs, "total": c["met"] + c["breached"] + c["open"],
                    "end": round(x + 6, 1), "met": c["met"], "breached": c["breached"]})
    return {"width": width, "height": 16 + max(1, len(rows)) * row_h, "rows": out, "label_w": label_w,
            "row_h": row_h, "empty": not rows}


def _nice(peak: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if peak <= step * 4:
            return step * 4
    return peak


def _ticks(scale: int) -> list[int]:
    return [scale * k // 4 for k in range(0, 5)]


# -- live updates ----------------------------------------------------------------------------------------


