"""Reconciliation and warranty for the console, on top of the domain services.

The discrepancies come from ``server.domain.reconciliation.service`` (derived
from the records at read time, with the back office's stored resolutions);
warranty claims from ``server.domain.parts.service``.  This module only
shapes them for the page and turns form input into service calls.
"""

from __future__ import annotations

from typing import Any

import msgspec

from server.console.i18n import Lang
from server.console.views import ID_RE, bad_filter, text_field
from server.domain.parts import service as parts
from server.domain.reconciliation import service as reconciliation
from server.errors import BadRequest
from server.services import Services

STATUSES = ("open", "resolved", "all")
KINDS = reconciliation.KINDS


def list_items(services: Services, lang: Lang, status: str = "open", kind: str = "",
               engineer_id: str = "") -> list[dict[str, Any]]:
    """Discrepancies, oldest first, filtered by status, kind and engineer (as plain dicts)."""
    if status not in STATUSES:
        raise bad_filter(lang, "status", STATUSES)
    if kind and kind not in KINDS:
        raise bad_filter(lang, "kind", KINDS)
    if engineer_id and not ID_RE.match(engineer_id):
        raise bad_filter(lang, "engineer", ())
    items = reconciliation.list_items(services, None if status == "all" else status, kind or None, engineer_id or None)
    return [msgspec.to_builtins(i) for i in items]


def export_csv(services: Services, status: str, kind: str, engineer_id: str, lang: Lang) -> str:
    """The filtered list as CSV, in the same columns as ``GET /v1/reconciliation?format=csv``."""
    if status not in STATUSES:
        raise bad_filter(lang, "status", STATUSES)
    if kind and kind not in KINDS:
        raise bad_filter(lang, "kind", KINDS)
    items = reconciliation.list_items(services, None if status == "all" else status, kind or None, engineer_id or None)
    return reconciliation.to_csv(items)


def resolve(services: Services, item_id: str, form: dict[str, str], by: str, lang: Lang) -> None:
    """Mark an item resolved with the reviewer's comment (kept in its history)."""
    comment = text_field(lang, form, "comment", max_len=2000)
    if not comment:
        raise BadRequest("invalid_form", lang.t("form.recon_comment"), field="comment")
    reconciliation.resolve(services, item_id, comment, by)


def warranty_claims(services: Services, lang: Lang) -> list[dict[str, Any]]:
    """Open warranty claims, those still waiting for their old part first."""
    claims = [msgspec.to_builtins(c) for c in parts.list_claims(services, status="open")]
    for c in claims:
        c["created"] = lang.when(c["created_at"])
    claims.sort(key=lambda c: (c["old_part_returned"], c["created_at"]))
    return claims


def decide_claim(services: Services, claim_id: str, form: dict[str, str], by: str, lang: Lang) -> str:
    """Approve or reject a claim from the page's form; returns the decision."""
    decision = (form.get("decision") or "").strip()
    if decision not in ("approved", "rejected"):
        raise BadRequest("invalid_form", lang.t("form.decision"), field="decision")
    comment = text_field(lang, form, "comment", max_len=2000)
    parts.decide_claim(services, claim_id, decision, by, comment)  # type: ignore[arg-type]
    return decision
