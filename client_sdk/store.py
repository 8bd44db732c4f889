"""The tablet's local SQLite store: schema migrations, one writer, small query helpers.

The file runs in WAL mode with ``synchronous=FULL`` so a committed write
survives a power cut.  Every SDK write is one ``BEGIN IMMEDIATE`` transaction
(:meth:`LocalStore.write`): the local row and its outbox op commit together or
not at all.  The schema is a versioned list of migrations applied with
``sqlite_utils``' ``Migrations`` helper (recorded in ``_sqlite_migrations``).

Tables (JSON columns hold lists/dicts/scalars as JSON text):

- ``device``: one row (id=1): device id, engineer, encrypted private key,
  server public key and key id, certificate, chain head (``head_seq``,
  ``head_hash``), last HLC, pull cursor, last clock offset.
- ``jobs``, ``answers``, ``templates``, ``parts``, ``stock``, ``movements``,
  ``attachments`` + ``blobs`` (local bytes, content-addressed), ``signoffs``,
  ``conflicts``: the tablet's view of its records.
- ``outbox``: unsynced ops in write order (``seq``), msgpack bodies, and the
  change-set that holds them once sealed (``sealed_seq``).
- ``sealed``: a change-set sealed but not yet acknowledged (exact envelope
  bytes, hash, op ids) so it is re-sent byte for byte after a crash.
- ``op_results``: the server's result for every pushed op (kept queryable).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from client_sdk.lifecycle_schema import LIFECYCLE_V2

Row = dict[str, Any]
Params = Sequence[Any]

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

#: The versioned schema: append new migrations at the end, never edit an applied one.
# the server's verdict on signed content: the report no longer matches what the customer signed
SIGNOFF_FLAG_V3: Final = "ALTER TABLE jobs ADD COLUMN changed_after_signoff INTEGER NOT NULL DEFAULT 0"

MIGRATIONS: Final[list[tuple[str, str]]] = [
    ("0001_initial", _V1),
    ("0002_lifecycle", LIFECYCLE_V2),
    ("0003_changed_after_signoff", SIGNOFF_FLAG_V3),
]


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def build_migrations() -> Migrations:
    """The migration set of the tablet store."""
    migrations = Migrations(MIGRATIONS_SET)
    for name, script in MIGRATIONS:

        def apply(db: Database, /, script: str = script) -> None:
            for statement in _statements(script):
                db.execute(statement)

        apply.__name__ = name
        migrations(name=name)(apply)
    return migrations


class Tx:
    """One open transaction (or a plain reader): execute and query with ``?`` placeholders."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Params = ()) -> int:
        return self.conn.execute(sql, tuple(params)).rowcount

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = self.conn.execute(sql, tuple(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.conn.execute(sql, tuple(params)).fetchone()
        return None if row is None else row[0]


class LocalStore:
    """The tablet database file: migrated on open, written one transaction at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        self.db = Database(conn)
        self.conn = conn
        conn.execute("PRAGMA busy_timeout = 10000")
        self.db.enable_wal()
        conn.execute("PRAGMA synchronous = FULL")
        build_migrations().apply(self.db)
        self.read = Tx(conn)
        self._batch_depth = 0

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One ``BEGIN IMMEDIATE`` transaction: commits on normal exit, rolls back on any error.

        Inside :meth:`batch` it is a savepoint instead: a failed write is undone
        alone and the batch goes on; everything commits when the batch ends.
        """
        if self._batch_depth:
            self.conn.execute("SAVEPOINT w")
            try:
                yield Tx(self.conn)
            except BaseException:
                self.conn.execute("ROLLBACK TO w")
                self.conn.execute("RELEASE w")
                raise
            self.conn.execute("RELEASE w")
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield Tx(self.conn)
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group writes in one transaction (one fsync): all of them commit at the end, or none on error."""
        if self._batch_depth:
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._batch_depth = 1
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._batch_depth = 0

    @property
    def in_batch(self) -> bool:
        return self._batch_depth > 0

    def applied_migrations(self) -> list[str]:
        return [m.name for m in build_migrations().applied(self.db)]

    def close(self) -> None:
        self.conn.close()
