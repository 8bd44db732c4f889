"""Money reconciliation: what each completed job cost, what the customer is billed and what warranty bears.

Every amount is an integer in the currency's minor unit (fen for ``CNY``), with the currency's ISO
4217 code beside it; nothing is ever a float.  A job counts in the period its last completion falls
in (``[from, to)``), cancelled jobs not at all.  Per job:

- ``parts_billable`` / ``parts_warranty``: each consumption at its part's catalogue price
  (``unit_price_cents`` x qty); under warranty when the consumption was decided free of charge
  (``billable`` = false: the asset was under warranty when the part was used, 三包), billable otherwise
  (also when no asset is known, so nothing goes unbilled silently).
- ``labour_minutes`` and ``labour``: the minutes the job spent ``on_site`` or ``in_progress`` (its status
  timeline, as the service report counts them) at ``FIELDSYNC_LABOUR_RATE`` per hour, rounded half up to
  the minor unit.  A remote fix's time at work counts; a fix by phone from the office has none.
- ``travel``: a fixed ``FIELDSYNC_TRAVEL_FEE`` per visit (the job went ``en_route`` or ``on_site``); remote
  jobs travel nothing.  Fixed rather than per km: the tablet records no distances.
- ``under_warranty``: the ticket's asset was under warranty at the completion; its labour and travel
  are then borne by the company (``warranty_cost``), else billed.
- ``billable_total`` = billable parts + labour and travel when not under warranty;
  ``warranty_cost`` = warranty parts + labour and travel when under warranty.

Totals per customer and for the period add the jobs' amounts.  The CSV has one row per job with the
stable columns of :data:`CSV_COLUMNS` (headers in the request's language, values the same in every
language), for the accounting system's import.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, Final

from schemas import i18n
from server.domain.parts.service import under_warranty
from server.domain.reconciliation import store
from server.errors import BadRequest, Msg
from server.services import Services
from service_report.view import work_minutes

#: ticket event kind -> the job status it records (the status timeline labour is counted from)
STATUS_OF_EVENT: Final = {"acknowledged": "accepted", "en_route": "en_route", "on_site": "on_site",
                          "work_started": "in_progress", "on_hold": "on_hold", "completed": "completed",
                          "cannot_complete": "cannot_complete", "reopened": "reopened"}
AMOUNTS: Final = ("parts_billable", "parts_warranty", "labour", "travel", "billable_total", "warranty_cost")
CSV_COLUMNS: Final = ("job_id", "ticket_id", "customer", "site", "engineer_id", "completed_at", "remote",
                      "under_warranty", "labour_minutes", "visits", *AMOUNTS, "currency")


def instant(ms: int) -> str:
    """Epoch ms as an RFC 3339 UTC instant."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def labour_amount(minutes: int, rate_per_hour: int) -> int:
    """``minutes`` of labour at ``rate_per_hour`` minor units, rounded half up to the minor unit."""
    return (minutes * rate_per_hour + 30) // 60


def money_report(services: Services, start: int, end: int, customer: str | None = None) -> dict[str, Any]:
    """Per job, per customer and in total: parts at price, labour, travel, billable and warranty amounts."""
    if end <= start:
        raise BadRequest("invalid_parameter", Msg("after", {"later": "to", "earlier": "from"}))
    if customer is not None and "\x00" in customer:
        raise BadRequest("invalid_parameter", "customer may not contain NUL characters")
    settings = services.settings
    with services.db.read() as tx:
        jobs = store.completed_jobs(tx, start, end, customer)
        ids = [j["id"] for j in jobs]
        events = store.job_status_events(tx, ids)
        parts = store.job_consumptions(tx, ids)
    timeline: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for e in events:
        timeline[e["job_id"]].append((STATUS_OF_EVENT[e["kind"]], int(e["at"])))
    parts_of: dict[str, list[Any]] = defaultdict(list)
    for p in parts:
        parts_of[p["job_id"]].append(p)
    rows = []
    for j in jobs:
        completed = int(j["completed_at"])
        _travel, minutes = work_minutes(timeline[j["id"]])
        visited = any(status in ("en_route", "on_site") for status, _ in timeline[j["id"]])
        warranty = bool(under_warranty((j["asset_known"] is not None, None if j["warranty_until"] is None
                                        else int(j["warranty_until"])), completed))
        billable_parts = sum(int(p["qty"]) * int(p["unit_price"]) for p in parts_of[j["id"]] if p["billable"] != 0)
        warranty_parts = sum(int(p["qty"]) * int(p["unit_price"]) for p in parts_of[j["id"]] if p["billable"] == 0)
        labour = labour_amount(minutes, settings.labour_rate)
        travel = settings.travel_fee if visited else 0
        service = labour + travel
        rows.append({"job_id": j["id"], "ticket_id": j["ticket_id"], "customer": j["customer"], "site": j["site"],
                     "engineer_id": j["engineer_id"], "completed_at": instant(completed), "remote": bool(j["remote"]),
                     "under_warranty": warranty, "labour_minutes": minutes, "visits": int(visited),
                     "parts_billable": billable_parts, "parts_warranty": warranty_parts, "labour": labour,
                     "travel": travel, "billable_total": billable_parts + (0 if warranty else service),
                     "warranty_cost": warranty_parts + (service if warranty else 0),
                     "currency": settings.currency_code})
    per_customer: dict[str, dict[str, int]] = {}
    for r in rows:
        c = per_customer.setdefault(r["customer"], {"jobs": 0, "labour_minutes": 0, "visits": 0,
                                                    **dict.fromkeys(AMOUNTS, 0)})
        c["jobs"] += 1
        for k in ("labour_minutes", "visits", *AMOUNTS):
            c[k] += r[k]
    totals = {"jobs": len(rows), **{k: sum(r[k] for r in rows) for k in ("labour_minutes", "visits", *AMOUNTS)}}
    return {"from": instant(start), "to": instant(end), "generated_at": instant(services.clock()),
            "currency": settings.currency_code,
            "rates": {"labour_per_hour": settings.labour_rate, "travel_per_visit": settings.travel_fee},
            "jobs": rows,
            "customers": [{"customer": name, **per_customer[name], "currency": settings.currency_code}
                          for name in sorted(per_customer)],
            "totals": {**totals, "currency": settings.currency_code}}


def money_csv(report: dict[str, Any], locale: str = i18n.FALLBACK) -> str:
    """One row per job, :data:`CSV_COLUMNS` in order (booleans as ``true``/``false``), headed in ``locale``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([i18n.text(locale, "exports", f"money.{c}") for c in CSV_COLUMNS])
    for row in report["jobs"]:
        writer.writerow([("true" if row[c] else "false") if isinstance(row[c], bool) else row[c]
                         for c in CSV_COLUMNS])
    return out.getvalue()
