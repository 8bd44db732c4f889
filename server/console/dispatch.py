"""The dispatch desk: the schedule board (engineers by day, jobs as blocks) and choosing an engineer.

The board is drawn by the server: each engineer's lane is a CSS grid of
quarter hours (:data:`SLOTS` from :data:`FIRST_HOUR`), a job a block spanning
its scheduled start to its window end (one hour when it has no end), the SLA
due time of its ticket's most urgent clock a marker.  The page reads without
JavaScript; a move is a form (``/dispatch/move``: engineer, day, start time,
duration) that ``dispatch.js`` fills and submits when a block is dropped
elsewhere.  Moves go through :func:`server.domain.tickets.service.assign_job`
and :func:`~server.domain.tickets.service.schedule_job`, as the API's do.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from schemas.domain import AssignIn, ScheduleIn
from schemas.instant import instant_of
from server.console.i18n import Lang
from server.domain.catalog import service as catalog
from server.domain.certifications import service as certifications
from server.domain.parts import service as parts
from server.domain.sla.service import list_by_sla
from server.domain.tickets import service as tickets
from server.errors import BadRequest, DomainError, NotFound
from server.services import Services

FIRST_HOUR: Final = 6
HOURS: Final = 14
SLOTS: Final = HOURS * 4
SLOT_MS: Final = 15 * 60_000
DEFAULT_MS: Final = 3_600_000
ID_RE: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
#: the durations the forms offer, in minutes
DURATIONS: Final = (30, 60, 90, 120, 180, 240, 360, 480)


def instant_or_none(ms: int | None) -> datetime | None:
    """Epoch ms as the aware datetime a request body's instant is (None stays None)."""
    return None if ms is None else instant_of(ms)


def zone(services: Services) -> ZoneInfo:
    return ZoneInfo(services.settings.sla_timezone)


def today(services: Services) -> date:
    return datetime.fromtimestamp(services.clock() / 1000, tz=zone(services)).date()


def day_bounds(services: Services, day: date) -> tuple[int, int]:
    """Epoch ms of the day's midnight and the next one, in the board's zone."""
    tz = zone(services)
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def parse_day(services: Services, text: str, lang: Lang) -> date:
    if not text:
        return today(services)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest("bad_filter", lang.t("filter.bad", name="day", choices="YYYY-MM-DD")) from None


def _local(ms: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=tz)


def board(services: Services, day_text: str, lang: Lang) -> dict[str, Any]:
    """Every active engineer's jobs on one day as blocks, the SLA due markers, and the unscheduled jobs."""
    day = parse_day(services, day_text, lang)
    start, end = day_bounds(services, day)
    tz = zone(services)
    grid_start = start + FIRST_HOUR * 3_600_000
    grid_end = grid_start + HOURS * 3_600_000
    engineers = [e for e in catalog.list_engineers(services) if e.active]
    names = {e.id: e.name for e in engineers}
    urgent = {i.ticket_id: (i.target, i.due_at, i.breached) for i in list_by_sla(services) if i.due_at is not None}
    blocks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    marks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    listed = []
    for j in tickets.jobs_between(services, start, end):
        s = int(j["scheduled_start"])
        e = int(j["scheduled_end"]) if j["scheduled_end"] is not None else s + DEFAULT_MS
        first = max(0, min(SLOTS - 1, (max(s, grid_start) - grid_start) // SLOT_MS))
        last = max(first + 1, min(SLOTS, -(-(min(e, grid_end) - grid_start) // SLOT_MS)))
        movable = j["status"] not in tickets.FINISHED_STATUSES
        due = urgent.get(j["ticket_id"])
        view = {"id": j["id"], "ticket_id": j["ticket_id"], "customer": j["customer"], "site": j["site"],
                "title": j["title"] or lang.category(j["category"]), "priority": j["priority"],
                "status": j["status"], "engineer_id": j["engineer_id"],
                "engineer": names.get(j["engineer_id"], j["engineer_id"]), "movable": movable,
                "s": int(first), "w": int(last - first), "start": s, "end": e,
                "time": f"{_local(s, tz):%H:%M}–{_local(e, tz):%H:%M}", "date": _local(s, tz).date().isoformat(),
                "hm": f"{_local(s, tz):%H:%M}", "minutes": max(15, (e - s) // 60_000),
                "before": s < grid_start, "after": e > grid_end,
                "due": lang.t("dispatch.due", target=lang.name("target", due[0]), at=lang.short(due[1]))
                if due else "", "late": bool(due and (due[2] or (due[1] or 0) < e))}
        blocks[j["engineer_id"]].append(view)
        listed.append(view)
        if due and due[1] is not None and grid_start <= due[1] < grid_end:
            marks[j["engineer_id"]].append({"s": int((due[1] - grid_start) // SLOT_MS), "job": j["id"],
                                            "text": view["due"]})
    rows = [{"id": e.id, "name": e.name, "skills": e.skills, "blocks": blocks.get(e.id, []),
             "marks": marks.get(e.id, []), "n": len(blocks.get(e.id, []))} for e in engineers]
    unscheduled = []
    for j in tickets.unscheduled_jobs(services):
        due = urgent.get(j["ticket_id"])
        unscheduled.append({"id": j["id"], "ticket_id": j["ticket_id"], "customer": j["customer"],
                            "site": j["site"], "priority": j["priority"], "status": j["status"],
                            "engineer_id": j["engineer_id"], "engineer": names.get(j["engineer_id"], j["engineer_id"]),
                            "title": j["title"] or lang.category(j["category"]),
                            "due": lang.t("dispatch.due", target=lang.name("target", due[0]), at=lang.short(due[1]))
                            if due else ""})
    hours = [{"s": h * 4, "label": f"{FIRST_HOUR + h:02d}:00"} for h in range(HOURS)]
    return {"day": day.isoformat(), "day_label": lang.day(start), "rows": rows, "hours": hours, "slots": SLOTS,
            "jobs": sorted(listed, key=lambda v: (v["engineer"], v["start"])), "unscheduled": unscheduled,
            "engineers": sorted(names.items(), key=lambda kv: kv[1]), "durations": DURATIONS,
            "first_hour": FIRST_HOUR, "slot_minutes": SLOT_MS // 60_000,
            "days": {"prev": (day - timedelta(days=1)).isoformat(), "next": (day + timedelta(days=1)).isoformat(),
                     "today": today(services).isoformat(),
                     "tomorrow": (today(services) + timedelta(days=1)).isoformat()}}


def schedule_from_form(services: Services, form: dict[str, str], lang: Lang, *,
                       required: bool = False) -> tuple[int | None, int | None]:
    """``date`` + ``time`` (local), and ``duration`` minutes or a ``window_end`` time: (start, end) epoch ms.

    Nothing given and not ``required``: (None, None), an unscheduled job.
    """
    day_text = (form.get("date") or "").strip()
    time_text = (form.get("time") or "").strip()
    if not day_text and not time_text and not required:
        return None, None
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise BadRequest("invalid_form", lang.t("form.bad_date", label=lang.t("field.date")),
                         field="date") from None
    tz = zone(services)
    try:
        at = time.fromisoformat(time_text or "08:00")
    except ValueError:
        raise BadRequest("invalid_form", lang.t("form.bad_time", label=lang.t("field.time")),
                         field="time") from None
    start = int(datetime.combine(day, at, tzinfo=tz).timestamp() * 1000)
    window_end = (form.get("window_end") or "").strip()
    if window_end:
        try:
            end_at = time.fromisoformat(window_end)
        except ValueError:
            raise BadRequest("invalid_form", lang.t("form.bad_time", label=lang.t("field.window_end")),
                             field="window_end") from None
        end = int(datetime.combine(day, end_at, tzinfo=tz).timestamp() * 1000)
        if end <= start:
            raise BadRequest("invalid_form", lang.t("form.window_order"), field="window_end")
        return start, end
    minutes = (form.get("duration") or "60").strip()
    if not minutes.isdigit() or int(minutes) not in DURATIONS:
        raise BadRequest("invalid_form", lang.t("form.one_of", label=lang.t("field.duration"),
                                                choices=lang.t("list.sep").join(lang.dur(m * 60_000)
                                                                                for m in DURATIONS)),
                         field="duration")
    return start, start + int(minutes) * 60_000


def move(services: Services, form: dict[str, str], by: str, staff: Any, lang: Lang) -> str:
    """Reassign and/or reschedule one job from the board (its drop or its fallback form); the day to show."""
    job_id = _id(form, "job_id", lang)
    engineer = _id(form, "engineer_id", lang)
    start, end = schedule_from_form(services, form, lang, required=True)
    current = next(j for j in tickets.get_ticket(services, _ticket_of(services, job_id)).jobs if j.id == job_id)
    if current.status in tickets.FINISHED_STATUSES:
        raise BadRequest("invalid_form", lang.t("dispatch.finished", status=lang.name("status", current.status)),
                         field="job_id")
    if engineer != current.engineer_id:
        tickets.assign_job(services, job_id, AssignIn(engineer_id=engineer), by, staff)
    tickets.schedule_job(services, job_id, ScheduleIn(scheduled_start=instant_or_none(start),
                                                      scheduled_end=instant_or_none(end)), by)
    return (form.get("date") or "").strip()


def _id(form: dict[str, str], key: str, lang: Lang) -> str:
    value = (form.get(key) or "").strip()
    if not ID_RE.match(value):
        raise BadRequest("invalid_form", lang.t("form.bad_id", label=lang.t(f"field.{key}")), field=key)
    return value


def _ticket_of(services: Services, job_id: str) -> str:
    ctx = tickets.job_contexts(services, [job_id]).get(job_id)
    if ctx is None:
        raise NotFound("unknown_job", f"no job {job_id!r}")
    return str(ctx["ticket_id"])


def candidates(services: Services, ticket_id: str, asset_type: str | None, lang: Lang) -> list[dict[str, Any]]:
    """What a dispatcher weighs when choosing an engineer: skills, certifications (for the ticket's equipment
    type first), jobs today and tomorrow, and their van's stock of the parts this ticket has needed."""
    now = services.clock()
    day = today(services)
    t0, t1 = day_bounds(services, day)
    _, t2 = day_bounds(services, day + timedelta(days=1))
    load_today: dict[str, int] = defaultdict(int)
    load_tomorrow: dict[str, int] = defaultdict(int)
    for j in tickets.jobs_between(services, t0, t2):
        if j["status"] == "cancelled":
            continue
        if int(j["scheduled_start"]) < t1:
            load_today[j["engineer_id"]] += 1
        else:
            load_tomorrow[j["engineer_id"]] += 1
    needed = tickets.ticket_part_numbers(services, ticket_id)
    out = []
    for e in catalog.list_engineers(services):
        if not e.active:
            continue
        certs = []
        try:
            for c in certifications.list_certifications(services, e.id):
                certs.append({"name": c.name, "type": c.equipment_type, "valid": c.valid,
                              "match": asset_type is not None and c.equipment_type == asset_type,
                              "expires": lang.when(c.expires_at) if c.expires_at else ""})
        except DomainError:
            certs = []
        stock: list[dict[str, Any]] = []
        if needed:
            try:
                van = {line.part_no: line.qty for line in parts.van_stock(services, e.id).parts}
            except DomainError:
                van = {}
            stock = [{"part_no": p, "qty": van.get(p, 0)} for p in needed]
        certified = asset_type is None or any(c["match"] and c["valid"] for c in certs)
        certs.sort(key=lambda c: not c["match"])
        out.append({"id": e.id, "name": e.name, "skills": e.skills, "certs": certs,
                    "today": load_today.get(e.id, 0), "tomorrow": load_tomorrow.get(e.id, 0), "stock": stock,
                    "certified": certified, "now": now})
    return sorted(out, key=lambda c: (not c["certified"], c["today"], c["name"]))


def asset_type(services: Services, ticket_id: str) -> str | None:
    """The equipment type of the ticket's asset, which certifications are for (None when unknown)."""
    with services.db.read() as tx:
        return certifications.ticket_equipment_type(tx, ticket_id)
