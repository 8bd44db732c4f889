"""HTTP for the back office's service-report PDF of a signed job."""

from __future__ import annotations

from litestar import Controller, Response, get

from server.domain.signed_reports.service import report_pdf
from server.security import Staff
from server.services import Services


class SignedReportController(Controller):
    """``GET /v1/jobs/{job_id}/report.pdf``."""

    path = "/v1"
    tags = ["reports"]

    @get("/jobs/{job_id:str}/report.pdf", sync_to_thread=True, media_type="application/pdf")
    def report(self, job_id: str, services: Services, staff: Staff) -> Response[bytes]:
        pdf = report_pdf(services, job_id)
        return Response(content=pdf, media_type="application/pdf",
                        headers={"content-disposition": f'inline; filename="report-{job_id}.pdf"'})
