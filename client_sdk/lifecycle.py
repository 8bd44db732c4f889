"""What the tablet keeps of the service lifecycle: asset records with their history, and the knowledge base.

The server sends an ``asset`` change (the record and its last visits) and the
``kb`` cases of the asset's model with every assigned job.  They land in the
``assets`` and ``kb_cases`` tables (store migration ``0002_lifecycle`` in :mod:`client_sdk.migrations`); cases
are indexed in an FTS5 table so ``FieldClient.search_kb`` works offline with
the same rule as the server: every word must match (porter-stemmed).
"""

from __future__ import annotations

import json
import re
from typing import Final

import msgspec

from client_sdk.store import Tx
from schemas.records import AssetData, AssetVisit, KbData

WORD: Final = re.compile(r"\w+", re.UNICODE)


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


def apply_asset(tx: Tx, data: AssetData) -> None:
    tx.execute(
        "INSERT OR REPLACE INTO assets (serial, model, equipment_type, customer, site, installed_at, warranty_until, "
        "contract_until, history) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (data.serial, data.model, data.equipment_type, data.customer, data.site, data.installed_at,
         data.warranty_until, data.contract_until, msgspec.json.encode(data.history).decode()),
    )


def apply_kb(tx: Tx, data: KbData) -> None:
    case_id, parts = data.id, data.parts
    fields = [data.symptom, data.cause, data.fix, data.model, data.equipment_type]
    tx.execute(
        "INSERT OR REPLACE INTO kb_cases (id, model, equipment_type, symptom, cause, fix, parts, ticket_id, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (case_id, data.model, data.equipment_type, data.symptom, data.cause, data.fix, json.dumps(parts),
         data.ticket_id, data.created_at),
    )
    tx.execute("DELETE FROM kb_fts WHERE case_id = ?", (case_id,))
    body = " ".join([*fields[:3], " ".join(parts), *fields[3:]])
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
    """Cases matching every word (stemmed), best first; ``model`` filters exactly (any case)."""
    terms = [w.lower() for w in WORD.findall(words or "")][:20]
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
