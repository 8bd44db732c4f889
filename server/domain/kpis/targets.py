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

**The targets in force** (:func:`targets_in_force`, the one rule the API, the console and the CSV use):
the service plans' defaults, overridden by the SLA policy file's ``kpi_targets``, overridden by what an
admin set (``PUT /v1/kpis/targets/{kpi}``, table ``kpi_targets``; ``DELETE`` falls back to the policy
file's or the plans' target).  Each carries its ``source``: ``default``, ``policy`` or ``admin``.  Besides
the four KPIs above, an admin may set a target on the monthly figures of ``GET /v1/kpis``
(``parts_availability``, ``satisfaction``, ``mean_respond_min``, ``mean_arrive_min``,
``mean_restore_min``), which have none until then; a share or satisfaction meets its target at or above
it, a mean time at or below (:data:`BETTER`).  An admin's target replaces ``min`` (the share to reach);
``within`` stays the policy file's or the plans'.

Durations are working time on the policies' ``working_calendar`` (the default: P3's business calendar,
Mon-Fri 08:00-17:00 in ``FIELDSYNC_TZ`` on the working days of ``FIELDSYNC_HOLIDAYS``); months are
calendar months in ``FIELDSYNC_TZ``, a ticket counting in the month it was opened.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from schemas import i18n
from server.domain.kpis import store
from server.domain.kpis.service import first_time_fix, resolved_remotely
from server.domain.sla.calendar import Calendar, working_ms_between
from server.domain.sla.service import policy_set
from server.errors import BadRequest, Msg, NotFound
from server.services import Services
from sync.storage import Row

KPIS: Final = ("first_time_fix_rate", "remote_share", "follow_up_on_time", "complaint_closed_on_time")
COLUMNS: Final = ("scope", "kpi", "value", "count", "of", "target", "within", "status", "source")
#: every KPI that takes a target, and which way is better: the plans' four first (they have defaults),
#: then the monthly figures of ``GET /v1/kpis`` (a target only when an admin set one)
BETTER: Final[dict[str, Literal["more", "less"]]] = {
    "first_time_fix_rate": "more", "remote_share": "more", "follow_up_on_time": "more",
    "complaint_closed_on_time": "more", "parts_availability": "more", "satisfaction": "more",
    "mean_respond_min": "less", "mean_arrive_min": "less", "mean_restore_min": "less"}
#: the values a target may take: shares are fractions (0-1), satisfaction a 1-5 rating, times minutes
RANGE: Final[dict[str, tuple[float, float]]] = {
    **{k: (0.0, 1.0) for k in (*KPIS, "parts_availability")}, "satisfaction": (1.0, 5.0),
    **{k: (0.0, 1e6) for k in ("mean_respond_min", "mean_arrive_min", "mean_restore_min")}}


def instant(ms: int) -> str:
    """Epoch ms as an RFC 3339 UTC instant (``2026-09-22T09:00:00Z``)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class TargetInForce:
    """A KPI's target in force; ``target`` None (and ``source`` None): the KPI has none."""

    kpi: str
    target: float | None
    better: Literal["more", "less"]
    source: Literal["default", "policy", "admin"] | None
    #: the duration KPIs' time (working time), as configured (``1wd``) and in ms
    within: str | None = None
    within_ms: int | None = None
    set_at: int | None = None
    set_by: str | None = None


def targets_in_force(services: Services) -> dict[str, TargetInForce]:
    """Every KPI's target: the plans' defaults, overridden by the policy file, overridden by an admin's."""
    plans = policy_set(services).kpi_targets
    with services.db.read() as tx:
        set_ = {r["kpi"]: r for r in store.targets(tx)}
    out = {}
    for kpi, better in BETTER.items():
        plan, row = plans.get(kpi), set_.get(kpi)
        within = plan.within_text or None if plan is not None else None
        within_ms = plan.within_ms if plan is not None else None
        if row is not None:
            out[kpi] = TargetInForce(kpi, float(row["target"]), better, "admin", within, within_ms,
                                     int(row["set_at"]), str(row["set_by"]))
        elif plan is not None:
            out[kpi] = TargetInForce(kpi, plan.min, better, "policy" if plan.source == "policy" else "default",
                                     within, within_ms)
        else:
            out[kpi] = TargetInForce(kpi, None, better, None)
    return out


def target_met(kpi: str, value: float | None, target: float | None) -> bool | None:
    """Does ``value`` meet ``target`` (the KPI's way)?  None when there is no value or no target."""
    if value is None or target is None:
        return None
    return value >= target if BETTER[kpi] == "more" else value <= target


def _known(kpi: str) -> None:
    if kpi not in BETTER:
        raise NotFound("unknown_kpi", f"no KPI {kpi[:64]!r}; KPIs: {', '.join(BETTER)}")


def set_target(services: Services, kpi: str, target: float, by: str) -> TargetInForce:
    """An admin sets (or replaces) a KPI's target; it overrides the policy file's and the plans'."""
    _known(kpi)
    low, high = RANGE[kpi]
    if not low <= target <= high:  # NaN fails both comparisons
        raise BadRequest("bad_target", f"a target for {kpi} is from {low:g} to {high:g}", low=low, high=high)
    with services.db.write() as tx:
        store.set_target(tx, kpi, target, services.clock(), by)
    return targets_in_force(services)[kpi]


def clear_target(services: Services, kpi: str) -> TargetInForce:
    """Drop an admin's target (nothing to do when there is none): the policy file's or the plans' apply."""
    _known(kpi)
    with services.db.write() as tx:
        store.clear_target(tx, kpi)
    return targets_in_force(services)[kpi]


class _Tally:
    """Counted cases (``of``) and those that met the KPI (``count``), per KPI."""

    def __init__(self) -> None:
        self.count: dict[str, int] = defaultdict(int)
        self.of: dict[str, int] = defaultdict(int)

    def add(self, kpi: str, ok: bool) -> None:
        self.of[kpi] += 1
        self.count[kpi] += int(ok)

    def figures(self, targets: dict[str, TargetInForce]) -> list[dict[str, Any]]:
        out = []
        for kpi in KPIS:
            target, of = targets[kpi], self.of[kpi]
            value = round(self.count[kpi] / of, 4) if of else None
            met = target_met(kpi, value, target.target)
            status = "no_data" if met is None else "met" if met else "missed"
            out.append({"kpi": kpi, "value": value, "count": self.count[kpi], "of": of, "target": target.target,
                        "within": target.within, "status": status, "source": target.source})
        return out


def _on_time(calendar: Calendar, start: int, done: int | None, within: int | None, now: int) -> bool | None:
    """True/False once decided (done, or late though not done); None while still inside its time."""
    if within is None:
        return None
    if done is not None:
        return working_ms_between(calendar, start, done) <= within
    return False if working_ms_between(calendar, start, now) > within else None


def _cases(services: Services, start: int, end: int,
           targets: dict[str, TargetInForce]) -> list[tuple[Row, dict[str, bool]]]:
    """Each ticket of the period with what it counts for: KPI -> met (only the KPIs it counts in)."""
    calendar, now = policy_set(services).working_calendar, services.clock()
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
    targets = targets_in_force(services)
    period, per_month = _Tally(), defaultdict[str, _Tally](_Tally)
    for ticket, counts in _cases(services, start, end, targets):
        month = datetime.fromtimestamp(int(ticket["opened_at"]) / 1000, tz=zone).strftime("%Y-%m")
        for kpi, ok in counts.items():
            period.add(kpi, ok)
            per_month[month].add(kpi, ok)
    labels = _months(start, end, zone)
    monthly = {m: per_month[m].figures(targets) for m in labels}
    months = [{"month": m, "kpis": figures} for m, figures in monthly.items()]
    return {"from": instant(start), "to": instant(end), "timezone": services.settings.sla_timezone,
            "generated_at": instant(services.clock()),
            "targets": {k: {"min": targets[k].target, "within": targets[k].within, "source": targets[k].source}
                        for k in KPIS},
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
