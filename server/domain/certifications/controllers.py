"""HTTP for engineers' certifications (office certifies, any staff reads)."""

from __future__ import annotations

from litestar import Controller, get, post

from server.domain.certifications import service as certifications
from server.domain.certifications.service import Certification, CertificationIn
from server.security import Staff
from server.services import Services


class CertificationController(Controller):
    """``/v1/engineers/{id}/certifications``."""

    path = "/v1"
    tags = ["certifications"]

    @post("/engineers/{engineer_id:str}/certifications", sync_to_thread=True, status_code=201)
    def add_certification(self, engineer_id: str, data: CertificationIn, services: Services,
                          staff: Staff) -> Certification:
        staff.require("backoffice")
        return certifications.add_certification(services, engineer_id, data, staff.name)

    @get("/engineers/{engineer_id:str}/certifications", sync_to_thread=True)
    def certifications(self, engineer_id: str, services: Services, staff: Staff) -> list[Certification]:
        return certifications.list_certifications(services, engineer_id)
