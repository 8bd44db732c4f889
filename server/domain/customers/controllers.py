"""HTTP for customers (thin: parse, check role, call the service)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import HeaderParameter

from server.domain import idempotency
from server.domain.customers import service
from server.domain.customers.service import Customer, CustomerIn, CustomerPatch, SiteIn
from server.domain.idempotency.service import IdempotencyKey
from server.security import Staff
from server.services import Services

IfMatch = Annotated[str | None, HeaderParameter(
    name="If-Match", required=False,
    description="The ETag of the customer as last read (required: 428 without it, 412 when it is no longer current)")]


class CustomerController(Controller):
    """``/v1/customers`` (the archive of a customer is in ``server.domain.archive``)."""

    path = "/v1"
    tags = ["customers"]

    @post("/customers", sync_to_thread=True, status_code=201)
    def create_customer(self, request: Request[Any, Any, Any], data: CustomerIn, services: Services, staff: Staff,
                        idempotency_key: IdempotencyKey = None) -> Response[Customer]:
        staff.require("dispatcher", "backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: service.create_customer(svc, data, staff.name))

    @get("/customers", sync_to_thread=True)
    def list_customers(self, request: Request[Any, Any, Any], services: Services, staff: Staff,
                       q: str | None = None, external_ref: str | None = None, cursor: str | None = None,
                       limit: int = 50) -> Response[list[Customer]]:
        """Customers by name; ``q`` finds every word (Chinese inside names too); ``Next-Cursor`` when more follow."""
        limit = max(1, min(limit, 500))
        page = service.list_customers(services, q, external_ref, cursor, limit)
        if page.cursor is None:
            return Response(page.customers)
        link = f'<{request.url.path}?cursor={page.cursor}&limit={limit}>; rel="next"'
        return Response(page.customers, headers={"Next-Cursor": page.cursor, "Link": link})

    @get("/customers/{customer_id:str}", sync_to_thread=True)
    def get_customer(self, customer_id: str, services: Services, staff: Staff) -> Response[Customer]:
        """The customer; its ``ETag`` is the version a ``PATCH`` names in ``If-Match``."""
        customer, tag = service.get_customer(services, customer_id)
        return Response(customer, headers={"ETag": tag})

    @patch("/customers/{customer_id:str}", sync_to_thread=True, status_code=200)
    def patch_customer(self, customer_id: str, data: CustomerPatch, services: Services, staff: Staff,
                       if_match: IfMatch = None) -> Response[Customer]:
        """Change name, contacts or ERP reference (a JSON merge patch); a new name reaches its tickets."""
        staff.require("dispatcher", "backoffice")
        customer, tag = service.patch_customer(services, customer_id, data, if_match, staff.name)
        return Response(customer, headers={"ETag": tag})

    @post("/customers/{customer_id:str}/sites", sync_to_thread=True, status_code=201)
    def create_site(self, request: Request[Any, Any, Any], customer_id: str, data: SiteIn, services: Services,
                    staff: Staff, idempotency_key: IdempotencyKey = None) -> Response[Customer]:
        staff.require("dispatcher", "backoffice")
        return idempotency.run(services, staff, idempotency_key, request, data, 201,
                               lambda svc: service.create_site(svc, customer_id, data))
