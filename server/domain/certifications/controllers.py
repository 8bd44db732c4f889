"""HTTP for engineers' certifications and training records (office records, any staff reads)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post

from server.domain import idempotency
from server.domain.certifications import service as certifications
from server.domain.certifications.service import Certification, CertificationIn, Training, TrainingIn
from server.domain.idempotency.service import IdempotencyKey
from server.security import Staff
from server.services import Services


class CertificationController(Controller):
    """``/v1/engineers/{id}/certifications`` and ``/v1/engineers/{id}/trainings``."""

    path = "/v1"
    tags = ["certifications"]

    @post("/engineers/{engineer_id:str}/certifications", sync_to_thread=True, status_code=201)
    def add_certification(self, request: Request[Any, Any, Any], engineer_id: str, data: CertificationIn,
                          services: Services, staff: Staff,
                          idempotency_key: IdempotencyKey = None) -> Response[Certification]:
        staff.require("backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: certifications.add_certification(svc, engineer_id, data, staff.name))

    @get("/engineers/{engineer_id:str}/certifications", sync_to_thread=True)
    def certifications(self, engineer_id: str, services: Services, staff: Staff) -> list[Certification]:
        return certifications.list_certifications(services, engineer_id)

    @post("/engineers/{engineer_id:str}/trainings", sync_to_thread=True, status_code=201)
    def add_training(self, request: Request[Any, Any, Any], engineer_id: str, data: TrainingIn,
                     services: Services, staff: Staff, idempotency_key: IdempotencyKey = None) -> Response[Training]:
        staff.require("backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: certifications.add_training(svc, engineer_id, data, staff.name))

    @get("/engineers/{engineer_id:str}/trainings", sync_to_thread=True)
    def trainings(self, engineer_id: str, services: Services, staff: Staff) -> list[Training]:
        return certifications.list_trainings(services, engineer_id)
