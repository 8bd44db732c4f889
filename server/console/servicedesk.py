"""The service desk: follow-up calls (回访), complaints (投诉), inspection plans, the customer and asset
archive, and every ticket with search and pages.

Each page reads through the domain services the API uses (follow-ups,
complaints, plans, archive, tickets); the follow-up call and the customer's
confirmation of a complaint are the API's own writes.  Lists are cut into
pages of :data:`PAGE` here.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

import msgspec

from server.console.i18n import Lang
from server.console.views import _engineers, _invalid, bad_filter, choice_field, target_view, text_field
from server.domain.archive import service as archive
from server.domain.complaints import service as complaints
from server.domain.complaints.service import ConfirmationIn
from server.domain.customers import service as customers
from server.domain.followups import service as followups
from server.domain.followups.service import FollowUpIn
from server.domain.plans import service as plans
from server.domain.surveys import service as surveys
from server.domain.surveys.service import SurveyIn
from server.domain.tickets import service as tickets
from server.errors import BadRequest
from server.services import Services

PAGE: Final = 25
FOLLOWUP_STATES: Final = ("due", "overdue", "done")
COMPLAINT_STATUSES: Final = ("open", "closed")
TICKET_STATUSES: Final = ("open", "closed", "cancelled")
RATINGS: Final = ("1", "2", "3", "4", "5")
#: question rows the survey form offers (at least one is filled in)
SURVEY_QUESTIONS: Final = 3


def pager(page: int, count: int, path: str, query: dict[str, str], lang: Lang) -> dict[str, Any]:
    """Previous / next links of a list cut into pages (``count``: items on this page; more may follow)."""
    keep = {k: v for k, v in query.items() if v}
    prev = f"{path}?{urlencode({**keep, 'page': str(page - 1)})}" if page > 1 else ""
    nxt = f"{path}?{urlencode({**keep, 'page': str(page + 1)})}" if count > PAGE else ""
    return {"page": page, "prev": prev, "next": nxt, "label": lang.t("pager.page", n=page)}


def _page_no(page: int, lang: Lang) -> int:
    if page < 1 or page > 10_000:
        raise bad_filter(lang, "page", ("1", "2", "…"))
    return page


def _matches(text: str, *values: Any) -> bool:
    needle = text.strip().lower()
    return not needle or any(needle in str(v or "").lower() for v in values)


# -- follow-up calls -------------------------------------------------------------------------------------


def followups_page(services: Services, state: str, q: str, page: int, lang: Lang) -> dict[str, Any]:
    if state and state not in FOLLOWUP_STATES:
        raise bad_filter(lang, "state", FOLLOWUP_STATES)
    page = _page_no(page, lang)
    items = [f for f in followups.list_follow_ups(services, state or None, 500)
             if _matches(q, f.ticket_id, f.customer, f.site)]
    now = services.clock()
    rows = []
    for f in items[(page - 1) * PAGE: page * PAGE + 1]:
        left = (f.due_at - now) if f.due_at is not None and f.state != "done" else None
        rows.append({"f": f, "resolved": lang.when(f.resolved_at), "due": lang.when(f.due_at),
                     "left": lang.left(left) if left is not None else "", "overdue": f.state == "overdue",
                     "reached": lang.when(f.reached_at) if f.reached_at else ""})
    return {"rows": rows[:PAGE], "filters": {"state": state, "q": q}, "states": FOLLOWUP_STATES,
            "ratings": RATINGS, "pager": pager(page, len(rows), "/followups", {"state": state, "q": q}, lang),
            "back": "/followups?" + urlencode({k: v for k, v in {"state": state, "q": q}.items() if v})}


def log_follow_up(services: Services, ticket_id: str, form: dict[str, str], by: str, lang: Lang) -> list[str]:
    """The call as the clerk logged it; the complaints it opened (a rating of 2 or less opens one)."""
    reached = choice_field(lang, form, "reached", ("yes", "no")) == "yes"
    rating_text = choice_field(lang, form, "rating", RATINGS, required=False)
    comment = text_field(lang, form, "comment", max_len=2000)
    if rating_text and not reached:
        raise BadRequest("invalid_form", lang.t("form.rating_needs_contact"), field="rating")
    before = set(followups.get_follow_up(services, ticket_id).complaint_ids)
    after = followups.record_follow_up(services, ticket_id, FollowUpIn(
        reached=reached, rating=int(rating_text) if rating_text else None, comment=comment), by)
    return [c for c in after.complaint_ids if c not in before]


# -- complaints ------------------------------------------------------------------------------------------


def complaints_page(services: Services, status: str, q: str, page: int, lang: Lang) -> dict[str, Any]:
    if status and status not in COMPLAINT_STATUSES:
        raise bad_filter(lang, "status", COMPLAINT_STATUSES)
    page = _page_no(page, lang)
    now = services.clock()
    items = [c for c in complaints.list_complaints(services, status or None, 500)
             if _matches(q, c.ticket_id, c.customer, c.site, c.origin_ticket_id)]
    rows = []
    for c in items[(page - 1) * PAGE: page * PAGE + 1]:
        sla = tickets.get_ticket(services, c.ticket_id).sla
        clocks = [target_view(name, sla[name], now, lang) for name in ("respond", "resolve") if name in sla]
        about = (lang.t("complaint.from_rating", rating=c.rating, source=lang.name("complaint_source", c.source))
                 if c.rating is not None else lang.name("complaint_source", c.source))
        rows.append({"c": c, "clocks": clocks, "about": about, "opened": lang.when(c.opened_at),
                     "confirmed": lang.when(c.confirmed_at) if c.confirmed_at else ""})
    return {"rows": rows[:PAGE], "filters": {"status": status, "q": q}, "statuses": COMPLAINT_STATUSES,
            "pager": pager(page, len(rows), "/complaints", {"status": status, "q": q}, lang)}


def confirm(services: Services, ticket_id: str, form: dict[str, str], by: str, lang: Lang) -> None:
    who = text_field(lang, form, "confirmed_by", required=True)
    note = text_field(lang, form, "note", max_len=2000)
    complaints.confirm_by_customer(services, ticket_id, ConfirmationIn(confirmed_by=who, note=note), by)


# -- inspection plans ------------------------------------------------------------------------------------


def plans_page(services: Services, q: str, overdue: str, page: int, lang: Lang) -> dict[str, Any]:
    if overdue not in ("", "1"):
        raise bad_filter(lang, "overdue", ("1",))
    page = _page_no(page, lang)
    names = _engineers(services)
    items = [p for p in plans.list_plans(services, overdue == "1", None, None, 500)
             if _matches(q, p.id, p.name, p.customer, p.site, p.asset_serial)]
    rows = [{"p": p, "engineer": names.get(p.engineer_id, p.engineer_id), "next": lang.when(p.next_due_at),
             "every": lang.t("plan.every", n=p.every_months) if p.every_months else lang.t("plan.dates",
                                                                                            n=len(p.dates))}
            for p in items[(page - 1) * PAGE: page * PAGE + 1]]
    return {"rows": rows[:PAGE], "filters": {"q": q, "overdue": overdue},
            "pager": pager(page, len(rows), "/plans", {"q": q, "overdue": overdue}, lang)}


def plan_page(services: Services, plan_id: str, lang: Lang) -> dict[str, Any]:
    p = plans.get_plan(services, plan_id)
    names = _engineers(services)
    visits = [{"v": v, "due": lang.when(v.due_at)} for v in p.visits]
    return {"p": p, "engineer": names.get(p.engineer_id, p.engineer_id), "visits": visits,
            "start": lang.when(p.start_at), "end": lang.when(p.end_at) if p.end_at else "—",
            "next": lang.when(p.next_due_at), "created": lang.when(p.created_at)}


# -- customers and assets --------------------------------------------------------------------------------


def customers_page(services: Services, q: str, page: int, lang: Lang) -> dict[str, Any]:
    page = _page_no(page, lang)
    found = archive.find_customers(services, q, 2000)
    rows = found[(page - 1) * PAGE: page * PAGE + 1]
    return {"rows": rows[:PAGE], "filters": {"q": q}, "pager": pager(page, len(rows), "/customers", {"q": q}, lang)}


def _visits(visits: list[dict[str, Any]], names: dict[str, str], lang: Lang) -> list[dict[str, Any]]:
    out = []
    for t in visits:
        jobs = [{**j, "engineer": names.get(j["engineer_id"], j["engineer_id"]),
                 "done": lang.when(j["completed_at"]) if j["completed_at"] else "",
                 "parts": [f"{m['part_no']} × {lang.number(m['qty'])}" for m in j["parts"]],
                 "rating": j["signoff"]["rating"] if j["signoff"] else None} for j in t["jobs"]]
        out.append({**t, "opened": lang.when(t["opened_at"]), "jobs": jobs,
                    "calls": [{**f, "when": lang.when(f["at"])} for f in t["followups"]]})
    return out


def _asset_view(a: dict[str, Any], lang: Lang) -> dict[str, Any]:
    return {**a, "installed": lang.when(a["installed_at"]) if a.get("installed_at") else "—",
            "warranty": lang.when(a["warranty_until"]) if a.get("warranty_until") else "—",
            "contract": lang.when(a["contract_until"]) if a.get("contract_until") else "—"}


def customer_page(services: Services, customer_id: str, lang: Lang) -> dict[str, Any]:
    """A customer's record and its service archive (visits, assets, plans, summary)."""
    record, _ = customers.get_customer(services, customer_id)
    data = archive.customer_archive(services, customer_id)
    names = _engineers(services)
    summary = data["summary"]
    return {"name": record.name, "c": record, "assets": [_asset_view(a, lang) for a in data["assets"]],
            "tickets": _visits(data["tickets"], names, lang),
            "plans": [{**p, "engineer": names.get(p.get("engineer_id", ""), p.get("engineer_id", ""))}
                      for p in data["plans"]],
            "summary": {**summary, "mean": lang.number(summary["mean_rating"])
                        if summary["mean_rating"] is not None else "—"}}


def asset_page(services: Services, serial: str, lang: Lang) -> dict[str, Any]:
    data = archive.asset_history(services, serial)
    names = _engineers(services)
    return {"serial": serial, "asset": _asset_view(data["asset"], lang) if data["asset"] else None,
            "tickets": _visits(data["tickets"], names, lang), "plans": data["plans"]}


# -- every ticket ----------------------------------------------------------------------------------------


def all_tickets_page(services: Services, q: str, status: str, page: int, lang: Lang) -> dict[str, Any]:
    if status and status not in TICKET_STATUSES:
        raise bad_filter(lang, "status", TICKET_STATUSES)
    if len(q) > 200:
        raise bad_filter(lang, "q", ("…",))
    page = _page_no(page, lang)
    rows = tickets.search_tickets(services, q, status or None, PAGE + 1, (page - 1) * PAGE)
    shown = [{**r, "opened": lang.when(r["opened_at"])} for r in rows[:PAGE]]
    return {"rows": shown, "filters": {"q": q, "status": status}, "statuses": TICKET_STATUSES,
            "pager": pager(page, len(rows), "/all-tickets", {"q": q, "status": status}, lang)}


# -- satisfaction surveys --------------------------------------------------------------------------------


def _quarter_bounds(quarter: str, lang: Lang) -> tuple[str | None, str | None]:
    """The ``[from, to)`` days of a ``YYYY-Qn`` filter (none: every quarter)."""
    if not quarter:
        return None, None
    if surveys.QUARTER.match(quarter) is None or quarter.startswith("0000"):
        raise bad_filter(lang, "quarter", ("2026-Q1", "2026-Q2", "…"))
    year, n = int(quarter[:4]), int(quarter[-1])
    after = f"{year + 1:04d}-Q1" if n == 4 else f"{year:04d}-Q{n + 1}"
    start = surveys.quarter_start(quarter)
    return start, (surveys.quarter_start(after) if year < 9999 or n < 4 else "9999-12-31")


def surveys_page(services: Services, quarter: str, customer: str, page: int, lang: Lang) -> dict[str, Any]:
    """Surveys (服务质量测评) of a quarter and/or customer, in pages, with each customer's average overall."""
    quarter, customer = quarter.strip(), customer.strip()
    if len(customer) > 200 or "\x00" in customer:
        raise bad_filter(lang, "customer", ("…",))
    page = _page_no(page, lang)
    first, last = _quarter_bounds(quarter, lang)
    items = surveys.list_surveys(services, customer or None, first, last, 500, None).items
    rows = [{"s": s, "recorded": lang.when(int(s.created_at.timestamp() * 1000)),
             "scores": [f"{q.question} {lang.number(q.score)}" for q in s.scores]}
            for s in items[(page - 1) * PAGE: page * PAGE + 1]]
    results = surveys.survey_results(services, customer or None, first, last, "customer").rows
    query = {"quarter": quarter, "customer": customer}
    return {"rows": rows[:PAGE], "filters": query, "ratings": RATINGS, "questions": range(1, SURVEY_QUESTIONS + 1),
            "results": [{"customer": r.group, "surveys": r.surveys, "mean": lang.number(r.mean_overall),
                         "questions": [f"{q} {lang.number(v)}" for q, v in r.questions.items()]} for r in results],
            "pager": pager(page, len(rows), "/surveys", query, lang)}


def record_survey(services: Services, form: dict[str, str], by: str, lang: Lang) -> str:
    """The survey as the clerk typed it; the customer it was recorded for."""
    customer = text_field(lang, form, "customer", required=True)
    quarter = text_field(lang, form, "quarter", required=True, max_len=7)
    if surveys.QUARTER.match(quarter) is None or quarter.startswith("0000"):
        raise _invalid(lang, "form.quarter", "quarter", label=lang.t("field.quarter"))
    scores = []
    for i in range(1, SURVEY_QUESTIONS + 1):
        question = text_field(lang, form, f"question_{i}")
        if not question:
            continue
        score = choice_field(lang, form, f"score_{i}", RATINGS)
        scores.append({"question": question, "score": int(score)})
    if not scores:
        raise _invalid(lang, "form.required", "question_1", label=lang.t("field.question_1"))
    overall = choice_field(lang, form, "overall", RATINGS)
    respondent = text_field(lang, form, "respondent", required=True)
    comment = text_field(lang, form, "comment", max_len=2000)
    try:
        data = msgspec.convert({"customer": customer, "quarter": quarter, "scores": scores, "overall": int(overall),
                                "respondent": respondent, "comment": comment}, SurveyIn)
    except msgspec.ValidationError as exc:
        raise BadRequest("invalid_form", str(exc)) from None
    return surveys.record_survey(services, data, by).customer
