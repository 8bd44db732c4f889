"""The tablet store's schema: the versioned list of migrations, applied on open with ``sqlite_utils``.

``sqlite_utils``' ``Migrations`` helper records each applied migration (in
``_sqlite_migrations``) and runs each new one in its own transaction, so a
store made by an older SDK upgrades in place on the next open, or stays as it
was when a migration fails half way.  Append new migrations at the end; never
edit one that has shipped.

Tables (JSON columns hold lists/dicts/scalars as JSON text):

- ``device``: one row (id=1): device id, engineer, encrypted private key,
  server public key and key id, certificate, chain head (``head_seq``,
  ``head_hash``), last HLC, pull cursor, last clock offset.
- ``jobs``, ``answers``, ``templates``, ``parts``, ``stock``, ``movements``,
  ``attachments`` + ``blobs`` (local bytes, content-addressed), ``signoffs``,
  ``conflicts``: the tablet's view of its records.
- ``assets``, ``kb_cases`` + ``kb_fts`` (FTS5 over the tokens of
  :mod:`sync.core.search`, since ``0005_kb_search_tokens``; since
  ``0008_kb_fts_rowid`` a case's index row has the case's ``rid`` as its
  rowid; ``kb_tokens`` the fingerprint of the tokens it holds): the service
  lifecycle records pulled with assigned jobs (:mod:`client_sdk.lifecycle`).
- ``outbox``: unsynced ops in write order (``seq``), msgpack bodies, and the
  change-set that holds them once sealed (``sealed_seq``).
- ``sealed``: a change-set sealed but not yet acknowledged (exact envelope
  bytes, hash, op ids) so it is re-sent byte for byte after a crash.
- ``op_results``: the server's result for every pushed op (kept queryable).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from sync.core.search import fingerprint, kb_index_text

MIGRATIONS_SET: Final = "fieldsync_client"

_V1: Final = """
CREATE TABLE device (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  device_id TEXT, engineer_id TEXT, name TEXT,
  private_key BLOB, key_encrypted INTEGER NOT NULL DEFAULT 0, public_key BLOB,
  server_public_key BLOB, server_key_id TEXT, certificate BLOB, enrolled_at INTEGER,
  head_seq INTEGER NOT NULL DEFAULT 0, head_hash TEXT NOT NULL DEFAULT '',
  hlc_last INTEGER NOT NULL DEFAULT 0, pull_cursor TEXT NOT NULL DEFAULT '',
  clock_offset_ms INTEGER, last_sync_at INTEGER
);
INSERT INTO device (id) VALUES (1);
CREATE TABLE jobs (
  id TEXT PRIMARY KEY, ticket_id TEXT NOT NULL, engineer_id TEXT NOT NULL, status TEXT NOT NULL,
  hold_reason TEXT, notes TEXT NOT NULL DEFAULT '', diagnosis TEXT NOT NULL DEFAULT '',
  resolution TEXT NOT NULL DEFAULT '', remote INTEGER NOT NULL DEFAULT 0,
  template_id TEXT, template_version INTEGER, scheduled_start INTEGER, scheduled_end INTEGER,
  signed_off INTEGER NOT NULL DEFAULT 0, rating INTEGER, customer_comment TEXT,
  field_hlc TEXT NOT NULL DEFAULT '{}', ticket TEXT NOT NULL DEFAULT '{}', times TEXT NOT NULL DEFAULT '{}',
  updated_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE answers (
  job_id TEXT NOT NULL, item_key TEXT NOT NULL, value TEXT, note TEXT, na_reason TEXT,
  hlc INTEGER NOT NULL DEFAULT 0, device_id TEXT, template_version INTEGER,
  deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (job_id, item_key)
);
CREATE TABLE templates (
  id TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, items TEXT NOT NULL,
  PRIMARY KEY (id, version)
);
CREATE TABLE parts (
  part_no TEXT PRIMARY KEY, name TEXT NOT NULL, serialized INTEGER NOT NULL DEFAULT 0,
  unit_price_cents INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE stock (
  location TEXT NOT NULL, part_no TEXT NOT NULL, qty INTEGER NOT NULL, PRIMARY KEY (location, part_no)
);
CREATE TABLE movements (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, part_no TEXT NOT NULL, qty INTEGER NOT NULL,
  serial TEXT, returned_serial TEXT, from_location TEXT, to_location TEXT, job_id TEXT,
  at INTEGER NOT NULL DEFAULT 0, billable INTEGER, local INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX movements_job ON movements (job_id);
CREATE TABLE attachments (
  job_id TEXT NOT NULL, sha256 TEXT NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL,
  content_type TEXT NOT NULL DEFAULT 'application/octet-stream', deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, sha256)
);
CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, data BLOB NOT NULL,
  uploaded INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL
);
CREATE TABLE signoffs (
  job_id TEXT PRIMARY KEY, signer_name TEXT NOT NULL, signer_role TEXT NOT NULL, signed_at INTEGER NOT NULL,
  report_digest TEXT NOT NULL, strokes TEXT NOT NULL DEFAULT '[]', device_signature BLOB,
  rating INTEGER, comment TEXT, content TEXT, op_id TEXT
);
CREATE TABLE conflicts (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, job_id TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL,
  vals TEXT NOT NULL DEFAULT '[]', applied TEXT NOT NULL DEFAULT '{}', resolution TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, op_id TEXT NOT NULL UNIQUE, job_id TEXT NOT NULL,
  type TEXT NOT NULL, key TEXT NOT NULL, body BLOB NOT NULL, created_at INTEGER NOT NULL,
  sealed_seq INTEGER
);
CREATE INDEX outbox_job_key ON outbox (job_id, key);
CREATE TABLE sealed (
  seq INTEGER PRIMARY KEY, envelope BLOB NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL,
  op_ids TEXT NOT NULL, sealed_at INTEGER NOT NULL
);
CREATE TABLE op_results (
  op_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, type TEXT NOT NULL, result TEXT NOT NULL,
  reason TEXT, conflict_id TEXT, changeset_seq INTEGER NOT NULL, received_at INTEGER NOT NULL
);
CREATE INDEX op_results_result ON op_results (result);
"""

# the service lifecycle: assets with their visit history, knowledge-base cases and their full-text index
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

# the server's verdict on signed content: the report no longer matches what the customer signed
SIGNOFF_FLAG_V3: Final = "ALTER TABLE jobs ADD COLUMN changed_after_signoff INTEGER NOT NULL DEFAULT 0"

#: Cheaper SDK writes (each table rebuilt with its rows, in the migration's transaction):
#: - ``outbox``: ``seq`` is a plain rowid (no AUTOINCREMENT, whose ``sqlite_sequence`` row was
#:   rewritten by every append) and ``op_id`` has no UNIQUE index (a random 32-hex key: every
#:   append inserted into a random leaf of that index).  ``seq`` still grows with every append while
#:   the outbox holds rows (a new rowid is above every present one); op ids are 122 random bits
#:   made on the device and the server applies each op id once.
#: - ``answers``: ``WITHOUT ROWID``, clustered on its key ``(job_id, item_key)`` (one B-tree, not a
#:   table plus its primary-key index).
WRITE_PATH_V4: Final = """
CREATE TABLE outbox_v4 (
  seq INTEGER PRIMARY KEY, op_id TEXT NOT NULL, job_id TEXT NOT NULL,
  type TEXT NOT NULL, key TEXT NOT NULL, body BLOB NOT NULL, created_at INTEGER NOT NULL,
  sealed_seq INTEGER
);
INSERT INTO outbox_v4 (seq, op_id, job_id, type, key, body, created_at, sealed_seq)
  SELECT seq, op_id, job_id, type, key, body, created_at, sealed_seq FROM outbox ORDER BY seq;
DROP TABLE outbox;
ALTER TABLE outbox_v4 RENAME TO outbox;
CREATE INDEX outbox_job_key ON outbox (job_id, key);
CREATE TABLE answers_v4 (
  job_id TEXT NOT NULL, item_key TEXT NOT NULL, value TEXT, note TEXT, na_reason TEXT,
  hlc INTEGER NOT NULL DEFAULT 0, device_id TEXT, template_version INTEGER,
  deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (job_id, item_key)
) WITHOUT ROWID;
INSERT INTO answers_v4 (job_id, item_key, value, note, na_reason, hlc, device_id, template_version, deleted)
  SELECT job_id, item_key, value, note, na_reason, hlc, device_id, template_version, deleted FROM answers;
DROP TABLE answers;
ALTER TABLE answers_v4 RENAME TO answers
"""

#: Knowledge-base search that understands Chinese, the server's rule: ``kb_fts`` holds the tokens of
#: :mod:`sync.core.search` (CJK as characters and character pairs, other words stemmed) and the engine
#: neither stems nor folds them again; :func:`_reindex_kb` then indexes every case the tablet holds anew.
#: ``kb_tokens`` holds the :func:`sync.core.search.fingerprint` the cases were indexed with.
KB_SEARCH_V5: Final = """
DROP TABLE kb_fts;
CREATE VIRTUAL TABLE kb_fts USING fts5(case_id UNINDEXED, body, tokenize = 'unicode61 remove_diacritics 0');
CREATE TABLE kb_tokens (fingerprint TEXT NOT NULL)
"""

#: Amendments of signed content made on this tablet (``FieldClient.amend``): the service report lists them
#: apart from the content the customer signed.
AMENDMENTS_V6: Final = """
CREATE TABLE amendments (
  op_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, edit_op_id TEXT NOT NULL, target TEXT NOT NULL, key TEXT NOT NULL,
  value TEXT, reason TEXT NOT NULL, at INTEGER NOT NULL, engineer_id TEXT NOT NULL, device_id TEXT NOT NULL
);
CREATE INDEX amendments_job ON amendments (job_id, at)
"""

#: Change-sets the server accepted (a signed Accepted, 202) whose receipt has not come yet: their ops are
#: safe on the server and never sent again; the sync loop asks for their receipts (``accepted_at``, epoch ms).
ACCEPTED_V7: Final = """
ALTER TABLE sealed ADD COLUMN accepted_at INTEGER
"""

#: A case's index row found by its key, not by a scan: ``kb_fts`` had the case id in an ``UNINDEXED`` column, so
#: replacing a case's row (``DELETE ... WHERE case_id = ?``) read the whole index, and a bootstrap of 20,000 cases
#: grew with the square of their number.  ``kb_cases`` gets ``rid``, an ``INTEGER PRIMARY KEY`` (the table's rowid
#: under a name, so ``VACUUM`` keeps it; ``id`` stays unique) and ``kb_fts`` holds only the tokens, its rowid the
#: case's ``rid``; :func:`_reindex_kb` then indexes every case the tablet holds anew.
KB_FTS_ROWID_V8: Final = """
CREATE TABLE kb_cases_v8 (
  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, model TEXT NOT NULL DEFAULT '',
  equipment_type TEXT NOT NULL DEFAULT '', symptom TEXT NOT NULL, cause TEXT NOT NULL DEFAULT '',
  fix TEXT NOT NULL DEFAULT '', parts TEXT NOT NULL DEFAULT '[]', ticket_id TEXT, created_at INTEGER NOT NULL DEFAULT 0
);
INSERT INTO kb_cases_v8 (id, model, equipment_type, symptom, cause, fix, parts, ticket_id, created_at)
  SELECT id, model, equipment_type, symptom, cause, fix, parts, ticket_id, created_at FROM kb_cases ORDER BY id;
DROP TABLE kb_cases;
ALTER TABLE kb_cases_v8 RENAME TO kb_cases;
DROP TABLE kb_fts;
CREATE VIRTUAL TABLE kb_fts USING fts5(body, tokenize = 'unicode61 remove_diacritics 0')
"""

#: The versioned schema: append new migrations at the end, never edit an applied one.
MIGRATIONS: Final[list[tuple[str, str]]] = [
    ("0001_initial", _V1),
    ("0002_lifecycle", LIFECYCLE_V2),
    ("0003_changed_after_signoff", SIGNOFF_FLAG_V3),
    ("0004_write_path", WRITE_PATH_V4),
    ("0005_kb_search_tokens", KB_SEARCH_V5),
    ("0006_amendments", AMENDMENTS_V6),
    ("0007_accepted", ACCEPTED_V7),
    ("0008_kb_fts_rowid", KB_FTS_ROWID_V8),
]


def _case_body(r: dict[str, Any]) -> str:
    """The tokens a stored case is indexed as (the row's ``parts`` a JSON list)."""
    return kb_index_text(r["symptom"], r["cause"], r["fix"], [str(p) for p in json.loads(r["parts"] or "[]")],
                         r["model"], r["equipment_type"])


def _record_fingerprint(db: Database) -> None:
    """The index now holds the tokens of this :func:`sync.core.search.fingerprint`."""
    db.execute("DELETE FROM kb_tokens")
    db.execute("INSERT INTO kb_tokens (fingerprint) VALUES (?)", (fingerprint(),))


def _reindex_kb_0005(db: Database) -> None:
    """``0005_kb_search_tokens``' step, as it shipped: the index of its schema (the case id in ``case_id``)."""
    db.execute("DELETE FROM kb_fts")
    rows = list(db.query("SELECT id, symptom, cause, fix, parts, model, equipment_type FROM kb_cases ORDER BY id"))
    for r in rows:
        db.execute("INSERT INTO kb_fts (case_id, body) VALUES (?, ?)", (r["id"], _case_body(r)))
    _record_fingerprint(db)


def _reindex_kb(db: Database) -> None:
    """Index every knowledge-base case the tablet holds as the tokens of :mod:`sync.core.search`, each under its
    ``rid`` (the schema since ``0008_kb_fts_rowid``; :func:`client_sdk.lifecycle.apply_kb` indexes one case)."""
    db.execute("DELETE FROM kb_fts")
    rows = db.query("SELECT rid, symptom, cause, fix, parts, model, equipment_type FROM kb_cases ORDER BY rid")
    db.conn.executemany("INSERT INTO kb_fts (rowid, body) VALUES (?, ?)",
                        ((r["rid"], _case_body(r)) for r in list(rows)))
    _record_fingerprint(db)


def refresh_kb_index(db: Database) -> None:
    """After the migrations, on every open: index the cases anew if the search tokens changed since.

    The rule of :mod:`sync.core.search` or the stemmer under it (a new SDK or
    ``snowballstemmer`` version, PyStemmer installed) may make other tokens
    than the ones the cases were indexed with; queries would then miss them.
    """
    if not db["kb_tokens"].exists():  # a store kept at an older version (tests of the migrations)
        return
    row = db.execute("SELECT fingerprint FROM kb_tokens").fetchone()
    if row is not None and row[0] == fingerprint():
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        _reindex_kb(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


#: work a migration does beyond its SQL, run after it in the same transaction
STEPS: Final[dict[str, Callable[[Database], None]]] = {"0005_kb_search_tokens": _reindex_kb_0005,
                                                        "0008_kb_fts_rowid": _reindex_kb}


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def build_migrations() -> Migrations:
    """The migration set of the tablet store."""
    migrations = Migrations(MIGRATIONS_SET)
    for name, script in MIGRATIONS:

        def apply(db: Database, /, script: str = script, name: str = name) -> None:
            for statement in _statements(script):
                db.execute(statement)
            if name in STEPS:
                STEPS[name](db)

        apply.__name__ = name
        migrations(name=name)(apply)
    return migrations
