"""Quarterly service-quality surveys (服务质量测评): recorded once per customer and quarter, read per customer
and per period.

A survey names the customer, the quarter (``2026-Q3``), each question with its score (1-5), the overall
score (1-5), who answered and their comment.  A second survey of the same customer and quarter is refused
with 409 ``survey_exists`` (the first is kept; ``survey_id`` names it).  Periods select quarters by their
first day: ``from``/``to`` (``YYYY-MM-DD`` or RFC 3339, read in the server's time zone) take the quarters
that start in ``[from, to)``.  Results average the overall score and each question's score over the
surveys of a customer (``group_by=customer``), of a quarter (``quarter``) or of the whole period (``all``).
"""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Annotated, Final
from zoneinfo import ZoneInfo

import msgspec

from server.domain.records import dumps, loads
from server.domain.surveys import store
from server.errors import BadRequest, Conflict, Msg
from server.ids import new_id
from server.services import Services
from sync.storage import Row

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Score = Annotated[int, msgspec.Meta(ge=1, le=5)]
QUARTER: Final = re.compile(r"^(\d{4})-Q([1-4])$")
GROUP_BY: Final = ("customer", "quarter", "all")


class QuestionScore(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One question of the survey and the customer's score for it (1 poor - 5 excellent)."""

    question: Text
    score: Score


class SurveyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A quarter's service-quality survey of one customer."""

    customer: Text
    quarter: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-Q[1-4]$")]
    scores: Annotated[list[QuestionScore], msgspec.Meta(min_length=1, max_length=50)]
    overall: Score
    respondent: Text
    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class Survey(msgspec.Struct, kw_only=True):
    """A recorded survey; ``quarter_start`` is the quarter's first day, ``created_at`` RFC 3339 UTC."""

    id: str
    customer: str
    quarter: str
    quarter_start: str
    scores: list[QuestionScore]
    overall: int
    respondent: str
    comment: str
    recorded_by: str
    created_at: datetime


class SurveyPage(msgspec.Struct, kw_only=True):
    """A page of surveys and the cursor of the next page (None: this was the last)."""

    items: list[Survey]
    next_cursor: str | None


class SurveyResult(msgspec.Struct, kw_only=True):
    """Averages over one group's surveys (2 decimals)."""

    group: str
    surveys: int
    mean_overall: float
    questions: dict[str, float]


class SurveyResults(msgspec.Struct, kw_only=True):
    """Survey results of the quarters starting in ``[from, to)``."""

    period_from: str = msgspec.field(name="from")
    to: str
    group_by: str
    rows: list[SurveyResult]


def quarter_start(quarter: str) -> str:
    """``2026-Q3`` -> ``2026-07-01``."""
    m = QUARTER.match(quarter)
    if m is None:
        raise BadRequest("invalid_value", f"quarter is YYYY-Qn, not {quarter[:20]!r}")
    try:
        return date(int(m.group(1)), 3 * int(m.group(2)) - 2, 1).isoformat()
    except ValueError:  # year 0000
        raise BadRequest("invalid_value", f"quarter is YYYY-Qn, not {quarter[:20]!r}") from None


def period_day(services: Services, value: str | None, default: str, name: str) -> str:
    """A ``from``/``to`` bound as a date (``YYYY-MM-DD``; an RFC 3339 instant in the server's time zone)."""
    if value is None or value == "":
        return default
    try:
        if len(value) == 10:
            return date.fromisoformat(value).isoformat()
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("invalid_parameter", Msg("time_or_date", {"name": name})) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(ZoneInfo(services.settings.sla_timezone)).date().isoformat()


def _survey(row: Row) -> Survey:
    return Survey(id=row["id"], customer=row["customer"], quarter=row["quarter"], quarter_start=row["quarter_start"],
                  scores=msgspec.convert(loads(row["scores"], []), list[QuestionScore]), overall=int(row["overall"]),
                  respondent=row["respondent"], comment=row["comment"], recorded_by=row["recorded_by"],
                  created_at=datetime.fromtimestamp(int(row["created_at"]) / 1000, tz=UTC))


def record_survey(services: Services, data: SurveyIn, by: str) -> Survey:
    """Record the quarter's survey of a customer (409 ``survey_exists`` for a second one)."""
    customer, respondent = data.customer.strip(), data.respondent.strip()
    if not customer or not respondent:
        raise BadRequest("invalid_value", "customer and respondent must not be blank")
    questions = [s.question.strip() for s in data.scores]
    if any(not q for q in questions) or len(set(questions)) != len(questions):
        raise BadRequest("invalid_value", "each question is named once and not blank")
    if any("\x00" in text for text in (customer, respondent, data.comment, *questions)):
        raise BadRequest("invalid_value", "text may not contain NUL characters")
    start = quarter_start(data.quarter)
    now = services.clock()
    sid = new_id("SV-")
    scores = [{"question": q, "score": s.score} for q, s in zip(questions, data.scores, strict=True)]
    with services.db.write() as tx:
        if not store.insert(tx, sid, customer, data.quarter, start, dumps(scores), data.overall, respondent,
                            data.comment, by, now):
            first = store.of_customer_quarter(tx, customer, data.quarter)
            raise Conflict("survey_exists", f"{customer} already has a survey for {data.quarter}",
                           survey_id=first["id"] if first else None)
        row = store.survey(tx, sid)
    assert row is not None
    return _survey(row)


def _cursor(row: Row) -> str:
    raw = "\x1f".join((row["quarter_start"], row["customer"], row["id"]))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[str, str, str] | None:
    if not cursor:
        return None
    try:
        parts = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("\x1f")
    except (ValueError, UnicodeDecodeError):
        parts = []
    if len(parts) != 3:
        raise BadRequest("bad_cursor", "the cursor is not one this server issued")
    return parts[0], parts[1], parts[2]


def _check_customer(customer: str | None) -> None:
    if customer is not None and "\x00" in customer:
        raise BadRequest("invalid_parameter", "customer may not contain NUL characters")


def list_surveys(services: Services, customer: str | None, period_from: str | None, to: str | None,
                 limit: int, cursor: str | None) -> SurveyPage:
    """Surveys of the quarters starting in ``[from, to)``, by quarter and customer, a page at a time."""
    _check_customer(customer)
    first = period_day(services, period_from, "0001-01-01", "from")
    last = period_day(services, to, "9999-12-31", "to")
    limit = max(1, min(limit, 500))
    with services.db.read() as tx:
        rows = store.page(tx, customer, first, last, _after(cursor), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return SurveyPage(items=[_survey(r) for r in rows], next_cursor=_cursor(rows[-1]) if more else None)


def survey_results(services: Services, customer: str | None, period_from: str | None, to: str | None,
                   group_by: str = "customer") -> SurveyResults:
    """Mean overall and per-question scores per customer, quarter or overall, for quarters in ``[from, to)``."""
    if group_by not in GROUP_BY:
        raise BadRequest("invalid_parameter", Msg("one_of", {"name": "group_by", "choices": ", ".join(GROUP_BY)}))
    _check_customer(customer)
    first = period_day(services, period_from, "0001-01-01", "from")
    last = period_day(services, to, "9999-12-31", "to")
    if last <= first:
        raise BadRequest("invalid_parameter", Msg("after", {"later": "to", "earlier": "from"}))
    with services.db.read() as tx:
        rows = store.in_period(tx, customer, first, last)
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[{"customer": r["customer"], "quarter": r["quarter"], "all": "all"}[group_by]].append(r)
    out = []
    for name in sorted(groups):
        members = groups[name]
        per_question: dict[str, list[int]] = defaultdict(list)
        for r in members:
            for s in loads(r["scores"], []):
                per_question[s["question"]].append(int(s["score"]))
        out.append(SurveyResult(group=name, surveys=len(members),
                                mean_overall=round(sum(int(r["overall"]) for r in members) / len(members), 2),
                                questions={q: round(sum(v) / len(v), 2) for q, v in sorted(per_question.items())}))
    return SurveyResults(period_from=first, to=last, group_by=group_by, rows=out)
