"""HTTP for the quarterly service-quality surveys (record, list a page at a time, results)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import QueryParameter

from server.domain import idempotency
from server.domain.idempotency.service import IdempotencyKey
from server.domain.surveys import service as surveys
from server.domain.surveys.service import Survey, SurveyIn, SurveyPage, SurveyResults
from server.security import Staff
from server.services import Services

From = Annotated[str | None, QueryParameter(name="from")]


class SurveyController(Controller):
    """``/v1/surveys``."""

    path = "/v1"
    tags = ["surveys"]

    @post("/surveys", sync_to_thread=True, status_code=201)
    def record_survey(self, request: Request[Any, Any, Any], data: SurveyIn, services: Services, staff: Staff,
                      idempotency_key: IdempotencyKey = None) -> Response[Survey]:
        staff.require("dispatcher", "backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: surveys.record_survey(svc, data, staff.name))

    @get("/surveys", sync_to_thread=True)
    def list_surveys(self, services: Services, staff: Staff, customer: str | None = None,
                     period_from: From = None, to: str | None = None, limit: int = 100,
                     cursor: str | None = None) -> Response[SurveyPage]:
        """Surveys of the quarters that start in ``[from, to)``, by quarter and customer, a page at a time.

        A page with more after it names the next in ``next_cursor`` and the ``Next-Cursor`` header.
        """
        page = surveys.list_surveys(services, customer, period_from, to, limit, cursor)
        return Response(page, headers={"Next-Cursor": page.next_cursor} if page.next_cursor else {})

    @get("/surveys/results", sync_to_thread=True)
    def survey_results(self, services: Services, staff: Staff, customer: str | None = None,
                       period_from: From = None, to: str | None = None,
                       group_by: str = "customer") -> SurveyResults:
        """Mean overall and per-question scores per customer, quarter or the whole period."""
        return surveys.survey_results(services, customer, period_from, to, group_by)
