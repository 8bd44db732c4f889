"""The tablet store's lifecycle tables (migration ``0002_lifecycle``): assets, knowledge-base cases, FTS5 index.

Kept apart from :mod:`client_sdk.lifecycle` so the store can import the DDL
without importing the code that uses the store.
"""

from __future__ import annotations

from typing import Final

LIFECYCLE_V2: Final = """
CREATE TABLE assets (
  serial TEXT PRIMARY KEY, model TEXT NOT NULL DEFAULT '', equipment_type TEXT NOT NULL DEFAULT '',
  customer TEXT NOT NULL DEFAULT '', site TEXT NOT NULL DEFAULT '', installed_at INTEGER,
  warranty_until INTEGER, contract_until INTEGER, history TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE kb_cases (
  id TEXT PRIMARY KEY, model TEXT NOT NULL DEFAULT '', equipment_type TEXT NOT NULL DEFAULT '',
  symptom TEXT NOT NULL, cause TEXT NOT NULL DEFAULT '', fix TEXT NOT NULL DEFAULT '',
  parts TEXT NOT NULL DEFAULT '[]', ticket_id TEXT, created_at INTEGER NOT NULL DEFAULT 0
);
CREATE VIRTUAL TABLE kb_fts USING fts5(case_id UNINDEXED, body, tokenize = 'porter unicode61')
"""
