"""What the tablet keeps of the service lifecycle: asset records with their history, and the knowledge base.

The server sends an ``asset`` change (the record and its last visits) and the
``kb`` cases of the asset's model with every assigned job.  They land in the
``assets`` and ``kb_cases`` tables (store migration ``0002_lifecycle`` in :mod:`client_sdk.migrations`); cases
are indexed in an FTS5 table so ``FieldClient.search_kb`` works offline with
the same rule as the server: a case is indexed and a query asked as the tokens
of :mod:`sync.core.search` (Chinese as characters and character pairs, so
``异响`` finds ``风机异响``; other words stemmed), and every token must match.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from client_sdk.store import Tx
from sync.core.search import kb_index_text, query_tokens


class AssetVisit(msgspec.Struct, kw_only=True):
    """One past visit on an asset, as the tablet received it."""

    job_id: str
    ticket_id: str
    engineer_id: str
    category: str = ""
    title: str = ""
    completed_at: int | None = None
    remote: bool = False
    diagnosis: str = ""
    resolution: str = ""
    parts: list[str] = []


class LocalAsset(msgspec.Struct, kw_only=True):
    """An asset of an assigned job with its last service visits; ``under_warranty`` at the tablet's time."""

    serial: str
    model: str
    equipment_type: str
    customer: str
    site: str
    installed_at: int | None
    warranty_until: int | None
    contract_until: int | None
    under_warranty: bool
    history: list[AssetVisit]


class KbCase(msgspec.Struct, kw_only=True):
    """A solved case from the knowledge base."""

    id: str
    model: str
    equipment_type: str
    symptom: str
    cause: str
    fix: str
    parts: list[str]
    ticket_id: str | None = None


def apply_asset(tx: Tx, serial: str, data: dict[str, Any]) -> None:
    tx.execute(
        "INSERT OR REPLACE INTO assets (serial, model, equipment_type, customer, site, installed_at, warranty_until, "
        "contract_until, history) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            str(data.get("serial", serial)),
            data.get("model") or "",
            data.get("equipment_type") or "",
            data.get("customer") or "",
            data.get("site") or "",
            data.get("installed_at"),
            data.get("warranty_until"),
            data.get("contract_until"),
            json.dumps(data.get("history") or []),
        ),
    )


def apply_kb(tx: Tx, case_id: str, data: dict[str, Any]) -> None:
    case_id = str(data.get("id", case_id))
    parts = [str(p) for p in data.get("parts") or []]
    fields = [str(data.get(k) or "") for k in ("symptom", "cause", "fix", "model", "equipment_type")]
    tx.execute(
        "INSERT OR REPLACE INTO kb_cases (id, model, equipment_type, symptom, cause, fix, parts, ticket_id, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (case_id, fields[3], fields[4], fields[0], fields[1], fields[2], json.dumps(parts), data.get("ticket_id"),
         int(data.get("created_at") or 0)),
    )
    tx.execute("DELETE FROM kb_fts WHERE case_id = ?", (case_id,))
    body = kb_index_text(fields[0], fields[1], fields[2], parts, fields[3], fields[4])
    tx.execute("INSERT INTO kb_fts (case_id, body) VALUES (?, ?)", (case_id, body))


def local_asset(tx: Tx, serial: str, now: int) -> LocalAsset | None:
    row = tx.one("SELECT * FROM assets WHERE serial = ?", (serial,))
    if row is None:
        return None
    until = row["warranty_until"]
    return LocalAsset(
        serial=row["serial"], model=row["model"], equipment_type=row["equipment_type"], customer=row["customer"],
        site=row["site"], installed_at=row["installed_at"], warranty_until=until,
        contract_until=row["contract_until"], under_warranty=until is not None and now <= int(until),
        history=msgspec.convert(json.loads(row["history"]), list[AssetVisit]),
    )


def search(tx: Tx, words: str, model: str | None, limit: int) -> list[KbCase]:
    """Cases holding every token of ``words`` (:func:`sync.core.search.query_tokens`), best first; ``model``
    filters exactly (any case)."""
    terms = query_tokens(words)
    model_sql, params = "", []
    if model:
        model_sql, params = " AND lower(c.model) = lower(?)", [model]
    if terms:
        rows = tx.query(
            "SELECT c.* FROM kb_fts JOIN kb_cases c ON c.id = kb_fts.case_id WHERE kb_fts MATCH ?"
            f"{model_sql} ORDER BY bm25(kb_fts), c.created_at DESC LIMIT ?",
            [" ".join(f'"{t}"' for t in terms), *params, limit],
        )
    else:
        rows = tx.query(f"SELECT c.* FROM kb_cases c WHERE 1 = 1{model_sql} ORDER BY c.created_at DESC LIMIT ?",
                        [*params, limit])
    return [
        KbCase(id=r["id"], model=r["model"], equipment_type=r["equipment_type"], symptom=r["symptom"],
               cause=r["cause"], fix=r["fix"], parts=json.loads(r["parts"]), ticket_id=r["ticket_id"])
        for r in rows
    ]
