"""What each console page shows: service data turned into plain dicts for the templates.

Everything here is synchronous (called off the event loop by ``routes``) and
reads through the domain services, so the console shows exactly what the API
returns.  Form input is checked here too, with messages meant for a person.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from schemas.domain import AssignIn, JobIn, ResolveIn, SlaTarget, TicketEvent, TicketIn
from schemas.enrollment_link import enrollment_link
from server.domain.blobs.service import attachment_content_types
from server.domain.catalog import service as catalog
from server.domain.conflicts import service as conflicts
from server.domain.devices import service as devices
from server.domain.devices.service import device_names, device_names_for_job, device_owners
from server.domain.sla.service import compliance_report, due, list_by_sla, policy_set, target_order
from server.domain.tickets import service as tickets
from server.domain.tickets.jobs import job_detail
from server.errors import BadRequest, NotFound
from server.services import Services
from sync.timetext import utc_text

PRIORITIES = ("P1", "P2", "P3", "complaint")
CATEGORIES = ("fault", "inspection", "installation", "complaint")
QUEUE_STATES = ("running", "paused", "breached", "at_risk", "idle")
TARGETS = ("respond", "on_site", "resolve", "follow_up")
TARGET_LABELS = {"respond": "Respond", "on_site": "On site", "resolve": "Resolve", "follow_up": "Follow-up"}
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS


# -- formatting ------------------------------------------------------------------------------------------


def fmt_time(ms: int | None) -> str:
    """Epoch ms as ``2026-09-21 14:03`` (UTC), or an em dash."""
    if ms is None:
        return "—"
    return utc_text(ms)


def fmt_dur(ms: int | None) -> str:
    """A duration like ``2d 3h``, ``3h 12m``, ``12m``, ``45s``; negative shows as overdue by the caller."""
    if ms is None:
        return "—"
    s = abs(int(ms)) // 1000
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m:02d}m"
    if m:
        return f"{m}m {sec:02d}s"
    return f"{sec}s"


def fmt_short(ms: int | None) -> str:
    """Epoch ms as ``11-21 14:03`` (UTC) for dense cells."""
    if ms is None:
        return "—"
    return utc_text(ms, "%m-%d %H:%M")


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


def clock_label(cls: str) -> str:
    return {"ok": "on track", "w50": "50 % used", "w75": "75 % used", "breached": "breached", "paused": "paused",
            "met": "met", "late": "met late", "na": "not applicable", "idle": "not started"}.get(cls, cls)


def target_view(name: str, t: SlaTarget, now: int) -> dict[str, Any]:
    cls = clock_class(t.state, t.elapsed_fraction, t.breached)
    left = (t.due_at - now) if t.due_at is not None and t.state in ("running", "paused", "breached") else None
    return {"name": name, "label": TARGET_LABELS.get(name, name), "state": t.state, "cls": cls,
            "status": clock_label(cls), "due_at": t.due_at, "due": fmt_short(t.due_at), "met_at": fmt_short(t.met_at),
            "left_ms": left, "left": _left_text(left), "ticking": t.state in ("running", "breached"),
            "pct": min(100, max(0, round(t.elapsed_fraction * 100))), "provisional": t.provisional,
            "paused": fmt_dur(t.paused_seconds * 1000) if t.paused_seconds else ""}


def _left_text(left: int | None) -> str:
    if left is None:
        return ""
    return f"{fmt_dur(left)} left" if left >= 0 else f"{fmt_dur(left)} over"


def _engineers(services: Services) -> dict[str, str]:
    return {e.id: e.name for e in catalog.list_engineers(services)}


def board_engineers(services: Services) -> list[tuple[str, str]]:
    """(id, name) of every engineer, by name."""
    return sorted(_engineers(services).items(), key=lambda kv: kv[1])


def _clip(v: Any, n: int = 16) -> str:
    text = str(v)
    return text if len(text) <= n else text[: n - 1] + "…"


def record_summary(records: Any) -> list[str]:
    """One short line per record of a reconciliation item (movement, sign-off, stock ...)."""
    out = []
    for r in records if isinstance(records, list) else [records]:
        if isinstance(r, dict):
            parts = [f"{k}={_clip(v)}" for k, v in r.items()
                     if v not in (None, "", [], {}) and k not in ("id", "type", "engineer_id", "device_id")]
            out.append(f"{r.get('type', 'record')}: " + ", ".join(parts[:8]))
        else:
            out.append(str(r))
    return out[:10]


# -- form input ------------------------------------------------------------------------------------------


def text_field(form: dict[str, str], key: str, label: str, *, required: bool = False, max_len: int = 200) -> str:
    value = (form.get(key) or "").strip()
    if "\x00" in value:
        raise BadRequest("invalid_form", f"{label} contains a character that cannot be stored.", field=key)
    if required and not value:
        raise BadRequest("invalid_form", f"{label} is required.", field=key)
    if len(value) > max_len:
        raise BadRequest("invalid_form", f"{label} is longer than {max_len} characters.", field=key)
    return value


def choice_field(form: dict[str, str], key: str, label: str, choices: tuple[str, ...] | list[str],
                 *, required: bool = True) -> str:
    value = (form.get(key) or "").strip()
    if not value and not required:
        return ""
    if value not in choices:
        raise BadRequest("invalid_form", f"{label} must be one of: {', '.join(choices)}.", field=key)
    return value


def id_field(form: dict[str, str], key: str, label: str, *, required: bool = True) -> str:
    value = (form.get(key) or "").strip()
    if not value and not required:
        return ""
    if not ID_RE.match(value):
        raise BadRequest("invalid_form", f"{label} is missing or not a valid id.", field=key)
    return value


# -- tickets board ---------------------------------------------------------------------------------------


def board(services: Services, priority: str, engineer: str, state: str) -> dict[str, Any]:
    """Open tickets by time left on their most urgent clock, with the filter choices."""
    if priority and priority not in PRIORITIES:
        raise BadRequest("bad_filter", f"priority must be one of {', '.join(PRIORITIES)}")
    if state and state not in QUEUE_STATES:
        raise BadRequest("bad_filter", f"state must be one of {', '.join(QUEUE_STATES)}")
    names = _engineers(services)
    if engineer and engineer not in names:
        raise BadRequest("bad_filter", f"no engineer {engineer!r}")
    now = services.clock()
    items = list_by_sla(services, state=state or None, priority=priority or None, engineer_id=engineer or None)
    titles = tickets.ticket_titles(services, [i.ticket_id for i in items])
    rows: list[dict[str, Any]] = []
    for it in items:
        urgent = target_view(it.target, it.targets[it.target], now) if it.target else None
        chips = [target_view(n, s, now) for n, s in it.targets.items()]  # in the policy's order
        rows.append({"id": it.ticket_id, "priority": it.priority, "category": it.category, "customer": it.customer,
                     "site": it.site, "title": titles.get(it.ticket_id, ""), "status": it.status,
                     "engineers": [names.get(e, e) for e in it.engineer_ids], "urgent": urgent, "chips": chips,
                     "provisional": it.provisional, "opened": fmt_time(it.opened_at)})
    counts = {"breached": sum(1 for r in rows if r["urgent"] and r["urgent"]["cls"] == "breached"),
              "w75": sum(1 for r in rows if r["urgent"] and r["urgent"]["cls"] == "w75"),
              "provisional": sum(1 for r in rows if r["provisional"]), "open": len(rows)}
    return {"rows": rows, "counts": counts, "engineers": sorted(names.items(), key=lambda kv: kv[1]),
            "templates": [t.id for t in catalog.list_templates(services)],
            "filters": {"priority": priority, "engineer": engineer, "state": state},
            "due": new_ticket_due(services, "P3", "fault")}


def new_ticket_due(services: Services, priority: str, category: str) -> dict[str, Any]:
    """What the New ticket form shows: when each clock a ticket opened now would start is due, in local time."""
    if priority not in PRIORITIES or category not in CATEGORIES:
        raise BadRequest("bad_filter", f"priority is one of {', '.join(PRIORITIES)}, "
                                       f"category one of {', '.join(CATEGORIES)}")
    answer = due(services, priority, category, services.clock())
    rows = []
    for t in answer.targets:
        if t.due_local is None:
            continue
        local = datetime.fromisoformat(t.due_local)
        rows.append({"name": t.target, "label": TARGET_LABELS.get(t.target, t.target), "duration": t.duration,
                     "iso": t.due_local, "when": f"{WEEKDAY_NAMES[local.weekday()]} {local:%Y-%m-%d %H:%M}",
                     "tz": t.tz})
    regions = sorted({t.region for t in answer.targets if t.region and t.due_local})
    return {"priority": priority, "category": category, "opened": answer.opened_local, "tz": answer.tz,
            "regions": regions, "rows": rows}


def create_ticket(services: Services, form: dict[str, str], by: str) -> str:
    """Open a ticket from the board's form and, if an engineer is chosen, dispatch a job at once."""
    customer = text_field(form, "customer", "Customer", required=True)
    site = text_field(form, "site", "Site", required=True)
    priority = choice_field(form, "priority", "Priority", PRIORITIES)
    category = choice_field(form, "category", "Category", CATEGORIES)
    title = text_field(form, "title", "Title", max_len=300)
    serial = text_field(form, "asset_serial", "Asset serial", max_len=100) or None
    engineer = id_field(form, "engineer_id", "Engineer", required=False)
    template = id_field(form, "template", "Checklist template", required=False)
    if engineer and engineer not in _engineers(services):
        raise BadRequest("invalid_form", f"Engineer {engineer!r} does not exist.", field="engineer_id")
    ticket = tickets.create_ticket(services, TicketIn(customer=customer, site=site, priority=priority,  # type: ignore[arg-type]
                                                      category=category, title=title, asset_serial=serial), by)  # type: ignore[arg-type]
    if engineer:
        tickets.create_job(services, ticket.id, JobIn(engineer_id=engineer, checklist_template=template or None))
    return ticket.id


def ticket_page(services: Services, ticket_id: str) -> dict[str, Any]:
    now = services.clock()
    t = tickets.get_ticket(services, ticket_id)
    names = _engineers(services)
    clocks = [target_view(n, s, now) for n, s in t.sla.items()]  # in the policy's order
    return {"t": t, "clocks": clocks, "provisional": any(c["provisional"] for c in clocks),
            "jobs": [{"j": j, "engineer": names.get(j.engineer_id, j.engineer_id)} for j in t.jobs],
            "timeline": [_event_view(e, names, device_names(services)) for e in reversed(t.timeline)],
            "engineers": sorted(names.items(), key=lambda kv: kv[1]),
            "templates": [tp.id for tp in catalog.list_templates(services)]}


def add_job(services: Services, ticket_id: str, form: dict[str, str]) -> None:
    engineer = id_field(form, "engineer_id", "Engineer")
    template = id_field(form, "template", "Checklist template", required=False)
    notes = text_field(form, "notes", "Notes", max_len=10_000)
    tickets.create_job(services, ticket_id, JobIn(engineer_id=engineer, checklist_template=template or None,
                                                  notes=notes))


def reassign(services: Services, job_id: str, form: dict[str, str], by: str) -> str:
    engineer = id_field(form, "engineer_id", "Engineer")
    return tickets.assign_job(services, job_id, AssignIn(engineer_id=engineer), by).id


HIDDEN_EVENT_KEYS = {"op_id", "hlc", "withdrawn_at", "withdrawn_by", "withdraws"}


def _event_view(e: Any, names: dict[str, str], devices: dict[str, str] | None = None) -> dict[str, Any]:
    skew = (e.device_time - e.corrected_time) if e.device_time is not None and e.corrected_time is not None else None
    data = {k.replace("_id", "").replace("_", " "): names.get(v, v) if isinstance(v, str) else v
            for k, v in (e.data or {}).items() if k not in HIDDEN_EVENT_KEYS}
    source = e.source
    if source.startswith("device:") and devices:
        source = "tablet " + devices.get(source.removeprefix("device:"), source.removeprefix("device:"))
    elif source.startswith("staff:"):
        source = source.removeprefix("staff:")
    withdrawn = (e.data or {}).get("withdrawn_at")
    if isinstance(withdrawn, int):  # an SLA level a late sync showed was never reached
        data["withdrawn at"] = fmt_time(withdrawn)
    kind = e.kind.replace("_", " ") + (" (withdrawn)" if withdrawn else "")
    return {"kind": kind, "raw_kind": e.kind, "at": fmt_time(e.at), "job_id": e.job_id,
            "device_time": fmt_time(e.device_time) if e.device_time is not None else "",
            "corrected_time": fmt_time(e.corrected_time) if e.corrected_time is not None else "",
            "received": fmt_time(e.received_at), "source": source,
            "skew": fmt_dur(skew) if skew is not None and abs(skew) >= 1000 else "",
            "skew_sign": "ahead" if skew and skew > 0 else "behind", "data": data}


# -- job page --------------------------------------------------------------------------------------------


def job_page(services: Services, job_id: str) -> dict[str, Any]:
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
                "shown": _show_value(a["value"]), "when": fmt_time(a["at"])} for a in d["answers"]]
    missing = [{"key": k, **v} for k, v in labels.items() if k not in answered]
    devs = device_names_for_job(services, job["engineer_id"], job_id)
    ctypes = attachment_content_types(services, job_id)
    photos = [{**a, "image": ctypes.get(a["sha256"], "").startswith("image/"), "short": a["sha256"][:12]}
              for a in d["attachments"] if not a["deleted"]]
    signoff = d["signoff"]
    sig = None
    if signoff is not None:
        sig = {**signoff, "svg": signature_svg(signoff["strokes"]), "when": fmt_time(signoff["signed_at"]),
               "received": fmt_time(signoff["received_at"]), "device": devs.get(signoff["device_id"],
                                                                                signoff["device_id"])}
    parts = [{**p, "when": fmt_time(p.get("at"))} for p in d["parts"]]
    return {"job": job, "ticket": t, "engineer": names.get(job["engineer_id"], job["engineer_id"]),
            "answers": answers, "missing": missing, "parts": parts, "photos": photos,
            "evidence_missing": d["evidence_missing"], "signoff": sig,
            "timeline": [_event_view(_event_struct(e), names, device_names(services)) for e in d["timeline"]],
            "conflicts": d["conflicts"], "devices": devs}


def _event_struct(e: dict[str, Any]) -> Any:
    return msgspec.convert(e, TicketEvent)


def _show_value(v: Any) -> str:
    if v is True:
        return "pass"
    if v is False:
        return "fail"
    if v is None:
        return "—"
    return str(v)


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


def conflicts_page(services: Services, status: str) -> dict[str, Any]:
    if status not in ("open", "resolved", "all"):
        raise BadRequest("bad_filter", "status must be open, resolved or all")
    items = conflicts.list_conflicts(services, None if status == "all" else status)
    names = _engineers(services)
    dev_eng = device_owners(services)
    jobs = tickets.job_contexts(services, sorted({c.job_id for c in items}))
    out = []
    for c in items:
        values = []
        for i, v in enumerate(c.values):
            dev = v.get("device_id") or ""
            dname, eng = dev_eng.get(dev, (dev, ""))
            who = "back office / server" if dev == "server" else f"{names.get(eng, eng) or '?'} ({dname})"
            values.append({"i": i, "value": _conflict_value(v.get("value")), "raw": v.get("value"), "who": who,
                           "at": fmt_time(v.get("at")) if v.get("at") else "—", "note": v.get("note") or "",
                           "applied": c.applied == v})
        out.append({"c": c, "vals": values, "job": jobs.get(c.job_id), "created": fmt_time(c.created_at),
                    "resolved": fmt_time(c.resolved_at) if c.resolved_at else "", "key": c.key.replace("_", " "),
                    "merge_allowed": c.kind in ("answer", "field")})
    return {"items": out, "status": status}


def _conflict_value(v: Any) -> str:
    if isinstance(v, str) and len(v) > 300:
        return v[:300] + "…"
    return _show_value(v)


def resolve_conflict(services: Services, conflict_id: str, form: dict[str, str], by: str) -> None:
    """Resolve from the queue's form: a chosen value (``choice``) or a merged one (``merged``)."""
    current = conflicts.get_conflict(services, conflict_id)
    comment = text_field(form, "comment", "Comment", max_len=2000)
    merged = text_field(form, "merged", "The merged value", max_len=10_000)
    raw_choice = (form.get("choice") or "").strip()
    if merged:
        value = _typed_like(merged, [v.get("value") for v in current.values])
        conflicts.resolve(services, conflict_id, ResolveIn(value=value, comment=comment), by)
        return
    if not raw_choice:
        raise BadRequest("invalid_form", "Choose one of the values or type a merged value.", field="choice")
    if not raw_choice.isdigit():
        raise BadRequest("invalid_form", "The chosen value is not one of this conflict's values.", field="choice")
    choice = int(raw_choice)
    if choice >= len(current.values):
        raise BadRequest("invalid_form", "The chosen value is not one of this conflict's values.", field="choice")
    conflicts.resolve(services, conflict_id, ResolveIn(choice=choice, comment=comment), by)


def _typed_like(text: str, examples: list[Any]) -> str | int | float | bool:
    """A merged value typed like the values it merges (numbers stay numbers, pass/fail stays a bool)."""
    if any(isinstance(v, bool) for v in examples):
        low = text.lower()
        if low in ("pass", "true", "yes", "1"):
            return True
        if low in ("fail", "false", "no", "0"):
            return False
        raise BadRequest("invalid_form", "This item is pass/fail: type pass or fail.", field="merged")
    if any(isinstance(v, int | float) and not isinstance(v, bool) for v in examples):
        try:
            number = float(text)
        except ValueError:
            raise BadRequest("invalid_form", "This item takes a number.", field="merged") from None
        return int(number) if number.is_integer() else number
    return text


# -- devices ---------------------------------------------------------------------------------------------


def devices_page(services: Services) -> dict[str, Any]:
    now = services.clock()
    names = _engineers(services)
    by_engineer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for dv in devices.list_devices(services):
        age = (now - dv.last_sync_at) if dv.last_sync_at is not None else (now - dv.enrolled_at)
        by_engineer[dv.engineer_id].append({
            "d": dv, "enrolled": fmt_time(dv.enrolled_at), "last_sync": fmt_time(dv.last_sync_at),
            "pending_age": fmt_dur(age) if dv.revoked_at is None else "—",
            "stale": dv.revoked_at is None and age > 15 * 60_000,
            "offset": _offset_text(dv.clock_offset_ms) if dv.clock_known else "unknown (no usable clock)",
            "offset_bad": not dv.clock_known or abs(dv.clock_offset_ms) > 5 * 60_000,
            "revoked": fmt_time(dv.revoked_at) if dv.revoked_at else ""})
    groups = [{"id": eid, "name": name, "devices": by_engineer.get(eid, [])}
              for eid, name in sorted(names.items(), key=lambda kv: kv[1])]
    return {"groups": groups, "engineers": sorted(names.items(), key=lambda kv: kv[1])}


def _offset_text(ms: int) -> str:
    if abs(ms) < 1000:
        return "in sync"
    return f"{fmt_dur(ms)} {'ahead' if ms > 0 else 'behind'}"


def enroll_token(services: Services, form: dict[str, str], server_url: str) -> dict[str, Any]:
    """Issue a one-time enrollment token and its QR code (inline SVG, made here)."""
    engineer = id_field(form, "engineer_id", "Engineer")
    token, expires = devices.issue_enroll_token(services, engineer)
    payload = enrollment_link(server_url, token)
    return {"token": token, "expires": fmt_time(expires), "engineer": _engineers(services).get(engineer, engineer),
            "qr": qr_svg(payload), "payload": payload}


def qr_svg(text: str) -> str:
    """An SVG QR code (``qrcode.image.svg``), without the XML declaration, to inline in a page."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buf = io.BytesIO()
    img.save(buf)
    svg = buf.getvalue().decode()
    svg = re.sub(r"^<\?xml[^>]*\?>\s*", "", svg)
    return svg.replace("<svg ", '<svg class="qr" role="img" aria-label="enrollment QR code" ', 1)


# -- SLA compliance --------------------------------------------------------------------------------------


def sla_page(services: Services, target: str, weeks: int) -> dict[str, Any]:
    """Met vs breached per priority and ISO week, and per engineer, as server-drawn SVG bar charts."""
    targets = tuple(target_order(policy_set(services)))  # every clock the policies in force name
    if target and target not in targets:
        raise BadRequest("bad_filter", f"target must be one of {', '.join(targets)}")
    if weeks not in (4, 8, 12, 26):
        raise BadRequest("bad_filter", "weeks must be 4, 8, 12 or 26")
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
        weekly.append({"label": f"W{iso.week:02d}", "cells": cells})
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
    table = [{"group": r.group, "target": TARGET_LABELS.get(r.target, r.target), "tickets": r.tickets, "met": r.met,
              "breached": r.breached, "open": r.open,
              "pct": "—" if r.compliance is None else f"{r.compliance * 100:.0f} %"}
             for r in prio.rows if not target or r.target == target]
    return {"weekly_chart": weekly_chart(weekly), "engineer_chart": hbar_chart(
                [(names.get(g, g), c) for g, c in sorted(per_eng.items(), key=lambda kv: names.get(kv[0], kv[0]))]),
            "table": table, "target": target, "weeks": weeks, "targets": targets,
            "labels": {t: TARGET_LABELS.get(t, t) for t in targets}}


def weekly_chart(weeks: list[dict[str, Any]]) -> dict[str, Any]:
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
                             "cls": f"met p-{p}", "title": f"{w['label']} {p}: {c['met']} met"})
            if c["breached"]:
                bars.append({"x": x, "y": round(base - met_h - br_h, 1), "w": round(bar_w - 1, 1),
                             "h": round(br_h, 1), "cls": f"breached p-{p}",
                             "title": f"{w['label']} {p}: {c['breached']} breached"})
    grid = [{"y": round(height - bottom - plot_h * v / scale, 1), "v": v} for v in _ticks(scale)]
    return {"width": width, "height": height, "bars": bars, "labels": labels, "grid": grid, "left": left,
            "right": width - 4, "priorities": PRIORITIES,
            "empty": all(c["met"] + c["breached"] == 0 for w in weeks for c in w["cells"].values())}


def hbar_chart(rows: list[tuple[str, dict[str, int]]]) -> dict[str, Any]:
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
                segs.append({"x": round(x, 1), "w": round(w, 1), "cls": kind, "title": f"{name}: {c[kind]} {kind}"})
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


