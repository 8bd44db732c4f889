"""What the tablet keeps of the service lifecycle: asset records with their history, and the knowledge base.

The server sends an ``asset`` change (the record and its last visits) and the
``kb`` cases of the asset's model with every assigned job.  They land in the
``assets`` and ``kb_cases`` tables (store migration ``0002_lifecycle`` in :mod:`client_sdk.migrations`); cases
are indexed in an FTS5 table so ``FieldClient.search_kb`` works offline with
the same rule as the server: a case is indexed and a query asked as the tokens
of :mod:`sync.core.search` (Chinese as characters and character pairs, so
``异响`` finds ``风机异响``; other words stemmed), and every token must match.  A case's index row has the
case's ``rid`` as its rowid (store migration ``0008_kb_fts_rowid``), so replacing it is a key lookup.
"""

from __future__ import annotations

import json

import msgspec

from client_sdk.store import Tx
from schemas.records import AssetData, AssetVisit, KbData
from sync.core.search import kb_index_text, query_tokens


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
    """Store a case and index its tokens under its ``rid`` (an update keeps the ``rid`` and replaces its index row)."""
    case_id, parts = data.id, data.parts
    row = (data.model, data.equipment_type, data.symptom, data.cause, data.fix, json.dumps(parts), data.ticket_id,
           data.created_at)
    rid = tx.scalar("SELECT rid FROM kb_cases WHERE id = ?", (case_id,))
    if rid is None:
        rid = tx.conn.execute(
            "INSERT INTO kb_cases (model, equipment_type, symptom, cause, fix, parts, ticket_id, created_at, id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (*row, case_id)).lastrowid
    else:
        tx.execute("UPDATE kb_cases SET model = ?, equipment_type = ?, symptom = ?, cause = ?, fix = ?, parts = ?, "
                   "ticket_id = ?, created_at = ? WHERE rid = ?", (*row, rid))
        tx.execute("DELETE FROM kb_fts WHERE rowid = ?", (rid,))
    body = kb_index_text(data.symptom, data.cause, data.fix, parts, data.model, data.equipment_type)
    tx.execute("INSERT INTO kb_fts (rowid, body) VALUES (?, ?)", (rid, body))


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
            "SELECT c.* FROM kb_fts JOIN kb_cases c ON c.rid = kb_fts.rowid WHERE kb_fts MATCH ?"
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
