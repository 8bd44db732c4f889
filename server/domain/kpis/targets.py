"""The service plans' KPIs against their targets, for a period and for each month in it (the trend).

Four KPIs, over the tickets opened in ``[from, to)`` (cancelled ones left out), each with its target
(:data:`server.domain.sla.policy.KPI_TARGET_DEFAULTS`, overridable in the SLA policy file's
``kpi_targets``) and ``met`` / ``missed`` (``no_data`` when nothing counted):

- ``first_time_fix_rate`` (>= 95 %): resolved tickets fixed with one visit / resolved tickets;
  complaints are not fixes and count on neither side.
- ``remote_share`` (>= 80 %): resolved tickets resolved remotely (``remote_resolved``) / resolved
  tickets, complaints left out the same way.
- ``follow_up_on_time`` (100 % within 1 working day): resolved tickets whose follow-up call reached
  the customer within ``within`` of working time after the last resolution / resolved tickets whose
  follow-up is done or overdue (one still inside its time counts once it is done or late).
- ``complaint_closed_on_time`` (100 % within 15 working days): complaints the customer confirmed
  resolved within ``within`` of working time after they were opened / complaints confirmed or overdue.

Durations are working time on the policies' ``working_calendar`` (the default: P3's business calendar,
Mon-Fri 08:00-17:00 in ``FIELDSYNC_TZ`` on the working days of ``FIELDSYNC_HOLIDAYS``); months are
calendar months in ``FIELDSYNC_TZ``, a ticket counting in the month it was opened.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from schemas import i18n
from server.domain.kpis import store
from server.domain.kpis.service import first_time_fix, resolved_remotely
from server.domain.sla.calendar import Calendar, working_ms_between
from server.domain.sla.policy import KpiTarget
from server.domain.sla.service import policy_set
from server.errors import BadRequest, Msg
from server.services import Services
from sync.storage import Row

KPIS: Final = ("first_time_fix_rate", "remote_share", "follow_up_on_time", "complaint_closed_on_time")
COLUMNS: Final = ("scope", "kpi", "value", "count", "of", "target", "within", "status")


def instant(ms: int) -> str:
    """Epoch ms as an RFC 3339 UTC instant (``2026-09-22T09:00:00Z``)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Tally:
    """Counted cases (``of``) and those that met the KPI (``count``), per KPI."""

    def __init__(self) -> None:
        self.count: dict[str, int] = defaultdict(int)
        self.of: dict[str, int] = defaultdict(int)

    def add(self, kpi: str, ok: bool) -> None:
        self.of[kpi] += 1
        self.count[kpi] += int(ok)

    def figures(self, targets: dict[str, KpiTarget]) -> list[dict[str, Any]]:
        out = []
        for kpi in KPIS:
            target, of = targets[kpi], self.of[kpi]
            value = round(self.count[kpi] / of, 4) if of else None
            status = "no_data" if value is None else "met" if value >= target.min else "missed"
            out.append({"kpi": kpi, "value": value, "count": self.count[kpi], "of": of, "target": target.min,
                        "within": target.within_text or None, "status": status})
        return out


def _on_time(calendar: Calendar, start: int, done: int | None, within: int | None, now: int) -> bool | None:
    """True/False once decided (done, or late though not done); None while still inside its time."""
    if within is None:
        return None
    if done is not None:
        return working_ms_between(calendar, start, done) <= within
    return False if working_ms_between(calendar, start, now) > within else None


def _cases(services: Services, start: int, end: int) -> list[tuple[Row, dict[str, bool]]]:
    """Each ticket of the period with what it counts for: KPI -> met (only the KPIs it counts in)."""
    policies = policy_set(services)
    calendar, targets, now = policies.working_calendar, policies.kpi_targets, services.clock()
    with services.db.read() as tx:
        tickets = store.tickets(tx, start, end)
        jobs = store.jobs(tx, start, end)
        events = store.timeline_events(tx, start, end)
        confirmed = store.confirmations(tx, start, end)
    live: dict[str, list[Row]] = defaultdict(list)
    for j in jobs:
        if j["status"] != "cancelled":
            live[j["ticket_id"]].append(j)
    by_ticket: dict[str, list[Row]] = defaultdict(list)
    for e in events:
        by_ticket[e["ticket_id"]].append(e)
    out = []
    for t in tickets:
        evs = by_ticket.get(t["id"], [])
        counts: dict[str, bool] = {}
        completions = [e for e in evs if e["kind"] == "completed"]
        if t["category"] == "complaint":
            opened = next((int(e["at"]) for e in evs if e["kind"] == "opened"), int(t["opened_at"]))
            closed = _on_time(calendar, opened, confirmed.get(t["id"]), targets["complaint_closed_on_time"].within_ms,
                              now)
            if closed is not None:
                counts["complaint_closed_on_time"] = closed
        elif completions:
            counts["first_time_fix_rate"] = first_time_fix(live.get(t["id"], []), evs)
            counts["remote_share"] = resolved_remotely(evs, completions[0])
        if completions:
            last = int(completions[-1]["at"])
            call = next((int(e["at"]) for e in evs if e["kind"] == "follow_up_done" and int(e["at"]) >= last), None)
            followed = _on_time(calendar, last, call, targets["follow_up_on_time"].within_ms, now)
            if followed is not None:
                counts["follow_up_on_time"] = followed
        out.append((t, counts))
    return out


def _months(start: int, end: int, zone: ZoneInfo) -> list[str]:
    """``YYYY-MM`` of every month ``[start, end)`` touches, in ``zone``."""
    first = datetime.fromtimestamp(start / 1000, tz=zone)
    last = datetime.fromtimestamp((end - 1) / 1000, tz=zone)
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def kpi_targets_report(services: Services, start: int, end: int) -> dict[str, Any]:
    """The four KPIs with their targets for ``[start, end)``, per month and as a trend per KPI."""
    if end <= start:
        raise BadRequest("invalid_parameter", Msg("after", {"later": "to", "earlier": "from"}))
    zone = ZoneInfo(services.settings.sla_timezone)
    targets = dict(policy_set(services).kpi_targets)
    period, per_month = _Tally(), defaultdict[str, _Tally](_Tally)
    for ticket, counts in _cases(services, start, end):
        month = datetime.fromtimestamp(int(ticket["opened_at"]) / 1000, tz=zone).strftime("%Y-%m")
        for kpi, ok in counts.items():
            period.add(kpi, ok)
            per_month[month].add(kpi, ok)
    labels = _months(start, end, zone)
    monthly = {m: per_month[m].figures(targets) for m in labels}
    months = [{"month": m, "kpis": figures} for m, figures in monthly.items()]
    return {"from": instant(start), "to": instant(end), "timezone": services.settings.sla_timezone,
            "generated_at": instant(services.clock()),
            "targets": {k: {"min": v.min, "within": v.within_text or None} for k, v in targets.items()},
            "kpis": period.figures(targets), "months": months,
            "trend": {"months": labels,
                      "series": {kpi: [next(f["value"] for f in figures if f["kpi"] == kpi)
                                       for figures in monthly.values()] for kpi in KPIS}}}


def kpi_targets_csv(report: dict[str, Any], locale: str = i18n.FALLBACK) -> str:
    """One row per (scope, KPI): the period (``scope`` = ``period``) first, then each month (``YYYY-MM``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([i18n.text(locale, "exports", f"kpi_targets.{c}") for c in COLUMNS])
    scopes = [("period", report["kpis"])] + [(m["month"], m["kpis"]) for m in report["months"]]
    for scope, figures in scopes:
        for f in figures:
            row = {"scope": scope, **f}
            writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
    return out.getvalue()
