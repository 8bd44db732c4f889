"""HTTP for the back office's service-report PDF of a signed job, and the public page its QR code opens."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get

from server.domain.signed_reports.page import render_page
from server.domain.signed_reports.service import public_report, report_pdf
from server.security import Staff
from server.services import Services


class SignedReportController(Controller):
    """``GET /v1/jobs/{job_id}/report.pdf`` (staff) and ``GET /reports/{job_id}/{token}`` (the link's holder)."""

    tags = ["reports"]

    @get("/v1/jobs/{job_id:str}/report.pdf", sync_to_thread=True, media_type="application/pdf")
    def report(self, request: Request[Any, Any, Any], job_id: str, services: Services,
               staff: Staff) -> Response[bytes]:
        pdf = report_pdf(services, job_id, str(request.base_url))
        return Response(content=pdf, media_type="application/pdf",
                        headers={"content-disposition": f'inline; filename="report-{job_id}.pdf"'})

    @get("/reports/{job_id:str}/{token:str}", sync_to_thread=True, media_type="text/html", include_in_schema=False)
    def public_page(self, job_id: str, token: str, services: Services) -> Response[str]:
        """The signed content and whether the job still matches it, for whoever holds the report's link."""
        report, problems = public_report(services, job_id, token)
        return Response(content=render_page(report, problems), media_type="text/html; charset=utf-8",
                        headers={"cache-control": "no-store", "x-content-type-options": "nosniff",
                                 "referrer-policy": "no-referrer"})
