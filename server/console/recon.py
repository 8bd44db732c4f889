"""Reconciliation and warranty for the console, on top of the domain services.

The discrepancies come from ``server.domain.reconciliation.service`` (derived
from the records at read time, with the back office's stored resolutions);
warranty claims from ``server.domain.parts.service``.  This module only
shapes them for the page and turns form input into service calls.
"""

from __future__ import annotations

from typing import Any

import msgspec

from server.console.views import ID_RE, fmt_time, text_field
from server.domain.parts import service as parts
from server.domain.reconciliation import service as reconciliation
from server.errors import BadRequest
from server.services import Services

STATUSES = ("open", "resolved", "all")
KINDS = reconciliation.KINDS


def list_items(services: Services, status: str = "open", kind: str = "", engineer_id: str = "") -> list[dict[str, Any]]:
    """Discrepancies, oldest first, filtered by status, kind and engineer (as plain dicts)."""
    if status not in STATUSES:
        raise BadRequest("bad_filter", f"status must be one of {', '.join(STATUSES)}")
    if kind and kind not in KINDS:
        raise BadRequest("bad_filter", f"kind must be one of {', '.join(KINDS)}")
    if engineer_id and not ID_RE.match(engineer_id):
        raise BadRequest("bad_filter", "engineer is not a valid id")
    items = reconciliation.list_items(services, None if status == "all" else status, kind or None, engineer_id or None)
    return [msgspec.to_builtins(i) for i in items]


def export_csv(services: Services, status: str, kind: str, engineer_id: str) -> str:
    """The filtered list as CSV, in the same columns as ``GET /v1/reconciliation?format=csv``."""
    if status not in STATUSES:
        raise BadRequest("bad_filter", f"status must be one of {', '.join(STATUSES)}")
    if kind and kind not in KINDS:
        raise BadRequest("bad_filter", f"kind must be one of {', '.join(KINDS)}")
    items = reconciliation.list_items(services, None if status == "all" else status, kind or None, engineer_id or None)
    return reconciliation.to_csv(items)


def resolve(services: Services, item_id: str, form: dict[str, str], by: str) -> None:
    """Mark an item resolved with the reviewer's comment (kept in its history)."""
    comment = text_field(form, "comment", "A comment", max_len=2000)
    if not comment:
        raise BadRequest("invalid_form", "A comment is required: say how the discrepancy was resolved.",
                          field="comment")
    reconciliation.resolve(services, item_id, comment, by)


def warranty_claims(services: Services) -> list[dict[str, Any]]:
    """Open warranty claims, those still waiting for their old part first."""
    claims = [msgspec.to_builtins(c) for c in parts.list_claims(services, status="open")]
    for c in claims:
        c["created"] = fmt_time(c["created_at"])
    claims.sort(key=lambda c: (c["old_part_returned"], c["created_at"]))
    return claims


def decide_claim(services: Services, claim_id: str, form: dict[str, str], by: str) -> str:
    """Approve or reject a claim from the page's form; returns the decision."""
    decision = (form.get("decision") or "").strip()
    if decision not in ("approved", "rejected"):
        raise BadRequest("invalid_form", "Choose approve or reject.", field="decision")
    comment = text_field(form, "comment", "Comment", max_len=2000)
    parts.decide_claim(services, claim_id, decision, by, comment)  # type: ignore[arg-type]
    return decision
