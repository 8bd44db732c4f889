"""SQL of the knowledge base: cases (``kb_cases``) and their full-text index.

``search_text`` holds a case's tokens (:mod:`sync.core.search`); the database's
own full-text engine matches and ranks them as they are: SQLite FTS5
(``kb_fts``, ``unicode61``, ranked by ``bm25``) or PostgreSQL
``to_tsvector('simple', ...) @@ plainto_tsquery('simple', ...)`` over a GIN
expression index (ranked by ``ts_rank``), chosen by ``tx.dialect``.
"""

from __future__ import annotations

from typing import Any

from sync.storage import Row, Tx


def ticket_exists(tx: Tx, ticket_id: str) -> bool:
    return tx.one("SELECT id FROM tickets WHERE id = ?", (ticket_id,)) is not None


def insert_case(tx: Tx, case_id: str, model: str, equipment_type: str, symptom: str, cause: str, fix: str,
                parts_json: str, ticket_id: str | None, search_text: str, by: str, now: int) -> None:
    """Store a case and index its tokens (``search_text``)."""
    tx.execute("INSERT INTO kb_cases (id, model, equipment_type, symptom, cause, fix, parts, ticket_id, "
               "search_text, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (case_id, model, equipment_type, symptom, cause, fix, parts_json, ticket_id, search_text, by, now))
    if tx.dialect == "sqlite":
        tx.execute("INSERT INTO kb_fts (case_id, body) VALUES (?, ?)", (case_id, search_text))


def case(tx: Tx, case_id: str) -> Row | None:
    return tx.one("SELECT * FROM kb_cases WHERE id = ?", (case_id,))


def engineers_with_open_jobs_on_model(tx: Tx, model: str) -> list[str]:
    """Engineers with a job not closed or cancelled on an asset of ``model`` (any case)."""
    return [r["engineer_id"] for r in tx.query(
        "SELECT DISTINCT j.engineer_id FROM jobs j JOIN tickets t ON t.id = j.ticket_id "
        "JOIN assets a ON a.serial = t.asset_serial WHERE lower(a.model) = lower(?) "
        "AND j.status NOT IN ('closed', 'cancelled') ORDER BY j.engineer_id", (model,))]


def newest_of_model(tx: Tx, model: str, limit: int) -> list[Row]:
    return tx.query("SELECT * FROM kb_cases WHERE lower(model) = lower(?) ORDER BY created_at DESC, id LIMIT ?",
                    (model, limit))


def search_rows(tx: Tx, tokens: list[str], model: str | None, limit: int) -> list[Row]:
    """Cases holding every token (of :func:`sync.core.search.query_tokens`), best first; ``model`` exactly."""
    params: list[Any] = []
    model_sql = ""
    if model:
        model_sql = " AND lower(c.model) = lower(?)"
    if not tokens:
        sql = f"SELECT c.* FROM kb_cases c WHERE 1 = 1{model_sql} ORDER BY c.created_at DESC, c.id LIMIT ?"
        return tx.query(sql, [*([model] if model else []), limit])
    if tx.dialect == "sqlite":
        match = " ".join(f'"{t}"' for t in tokens)  # letters and digits only: each a quoted string
        params = [match, *([model] if model else []), limit]
        sql = ("SELECT c.* FROM kb_fts JOIN kb_cases c ON c.id = kb_fts.case_id WHERE kb_fts MATCH ?"
               f"{model_sql} ORDER BY bm25(kb_fts), c.created_at DESC LIMIT ?")
    else:
        query = " ".join(tokens)
        params = [query, *([model] if model else []), query, limit]
        sql = ("SELECT c.* FROM kb_cases c WHERE to_tsvector('simple', c.search_text) @@ "
               f"plainto_tsquery('simple', ?){model_sql} ORDER BY ts_rank(to_tsvector('simple', c.search_text), "
               "plainto_tsquery('simple', ?)) DESC, c.created_at DESC LIMIT ?")
    return tx.query(sql, params)
