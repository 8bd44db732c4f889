"""The tablet's local SQLite store: schema migrations, one writer, small query helpers.

The file runs in WAL mode with ``synchronous=FULL`` so a committed write
survives a power cut.  Every SDK write is one ``BEGIN IMMEDIATE`` transaction
(:meth:`LocalStore.stage`, or :meth:`LocalStore.write` for the pull path and
enrollment): the local row and its outbox op commit together or not at all.
Inside :meth:`LocalStore.batch` the writes share one transaction and their
rows are queued in memory (:class:`WriteTx`) and written per statement when
something reads or the batch ends: inserts as multi-row statements, the rest
with one ``executemany``.  The
schema is a versioned list of migrations applied with ``sqlite_utils``'
``Migrations`` helper (recorded in ``_sqlite_migrations``).

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
from collections.abc import Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from client_sdk.lifecycle_schema import LIFECYCLE_V2
from sync.storage.sqlite_params import install as install_param_adapters
from sync.storage.sqlite_rows import ROWS_PER_INSERT, is_multi_row_insert, write_flat

Row = dict[str, Any]
Params = Sequence[Any]

install_param_adapters()  # NULLs and blobs bind without an adaptation miss

MIGRATIONS_SET: Final = "fieldsync_client"
#: A write that fills the WAL to this many pages copies them into the database file (two fsyncs, ~1.5 ms
#: here).  An SDK write adds ~8 pages, mostly the same hot ones (device row, outbox and index leaves), so
#: checkpoint cost grows far slower than the interval: 4000 pages (16 MB of WAL) puts one on every ~500th
#: single write instead of every ~125th (SQLite's default of 1000), a quarter of the checkpoint time in all.
WAL_CHECKPOINT_PAGES: Final = 4000
MEMO_LIMIT: Final = 4_096  # entries (a job row ~1.5 KB, its answer HLCs, templates, parts) kept between writes

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

MIGRATIONS: Final[list[tuple[str, str]]] = [
    ("0001_initial", _V1),
    ("0002_lifecycle", LIFECYCLE_V2),
    ("0003_changed_after_signoff", SIGNOFF_FLAG_V3),
    ("0004_write_path", WRITE_PATH_V4),
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


class _Reader(Tx):
    """``LocalStore.read``: every statement first hands the deferred rows of finished writes to SQLite."""

    def __init__(self, store: LocalStore) -> None:
        super().__init__(store.conn)
        self._store = store

    def execute(self, sql: str, params: Params = ()) -> int:
        if self._store.deferred:
            self._store.flush()
        self._store._memo.clear()  # a statement run here may change what the memo holds
        return super().execute(sql, params)

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        if self._store.deferred:
            self._store.flush()
        return super().query(sql, params)

    def scalar(self, sql: str, params: Params = ()) -> Any:
        if self._store.deferred:
            self._store.flush()
        return super().scalar(sql, params)


_ABSENT: Final = object()


class WriteTx(_Reader):
    """One SDK write in progress (:meth:`LocalStore.stage`): reads, a memo, and deferred row writes.

    - :meth:`defer` queues a statement instead of running it.  Queued
      statements run per SQL text (:meth:`LocalStore.flush`) when the store
      flushes: when the write ends outside a batch; inside a batch before any
      read through ``LocalStore.read`` or this class, before a direct write
      (``LocalStore.write``), and before COMMIT.  Statements of different SQL
      text may therefore run in another order than queued: only defer
      statements that commute with every other deferred statement (other
      tables, or full-row writes).  With ``key``, only the last queued row of
      that SQL and key runs.
    - :attr:`memo` keeps rows read (and changed) by staged writes: the
      store's state as these writes left it, so a write reads a job, its
      answers or a template once.  It outlives the transaction while no
      other connection commits (``PRAGMA data_version``) and no direct write
      (``LocalStore.write``) runs; either drops it.  Invariant: a row with
      deferred writes is in the memo (the memo is dropped only after a
      flush), so :attr:`raw` -- a reader that does not flush -- may load rows
      that are not in the memo yet.
    - A write reads first and defers last: a flush while it has queued rows
      raises (its rows could no longer be taken back alone).  A failed write
      inside a batch takes back its queued rows and drops the memo, so it
      may change memo entries before it fails.
    """

    def __init__(self, store: LocalStore) -> None:
        super().__init__(store)
        self.memo = store._memo
        self.raw = store._raw
        self._rows = store._rows
        self._widths = store._widths
        self._keyed = store._keyed
        self._journal = store._journal

    def execute(self, sql: str, params: Params = ()) -> int:
        raise TypeError("a staged write defers its row writes (WriteTx.defer); use LocalStore.write() to execute")

    def defer(self, sql: str, params: tuple[Any, ...], key: Hashable = None) -> None:
        """Queue ``sql`` with ``params`` (see the class docstring for what may be queued).

        Every row of one SQL text has as many parameters (at least one).
        """
        if key is None:
            # The row's values go flat onto one list per SQL text: a big batch then keeps no
            # object per row that the cyclic GC tracks (a tuple per row made every 700th
            # write run a collection, and now and then a full one: ~20 ms in a 85 ms batch).
            values = self._rows.get(sql)
            if values is None:
                if not params:
                    raise ValueError("a deferred statement without parameters: execute it instead")
                values = self._rows[sql] = []
                self._widths[sql] = len(params)
            self._journal.append((values, len(values)))
            values += params
        else:
            by_key = self._keyed.get(sql)
            if by_key is None:
                by_key = self._keyed[sql] = {}
            self._journal.append((by_key, key, by_key.get(key, _ABSENT)))
            by_key[key] = params

    def defer_state(self, sql: str, params: tuple[Any, ...]) -> None:
        """Queue ``sql`` writing a value that only moves forward (the device clock): the last queued row runs.

        Unlike :meth:`defer`, a write that fails inside a batch does not take
        it back: the value it moved stays moved (a clock that skips a tick is
        still monotonic), which costs no journal entry per write.
        """
        by_key = self._keyed.get(sql)
        if by_key is None:
            by_key = self._keyed[sql] = {}
        by_key[None] = params


class _Stage:
    """The context manager :meth:`LocalStore.stage` returns (one per store, reused: writes do not nest)."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.tx = WriteTx(store)

    def __enter__(self) -> WriteTx:
        store = self.store
        if store._writing:
            raise RuntimeError("SDK writes do not nest")
        if not store._batch_depth:
            store.conn.execute("BEGIN IMMEDIATE")
            try:
                store._check_memo()
            except BaseException:
                store._discard()
                raise
        store._writing = True
        return self.tx

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        store = self.store
        store._writing = False
        journal = store._journal
        if exc_type is None:
            journal.clear()
            if store._batch_depth:
                return
            try:
                store.flush()
                store.conn.execute("COMMIT")
            except BaseException:
                store._discard()
                raise
            return
        if not store._batch_depth:
            store._discard()
            return
        # A failed write inside a batch: take back what it queued, then, as the memo may
        # already hold its changes, flush the earlier writes and forget the memo.
        for entry in reversed(journal):
            if len(entry) == 2:  # (flat values of one SQL text, their length before this write's row)
                del entry[0][entry[1] :]
                continue
            container, key, previous = entry
            if previous is _ABSENT:
                del container[key]
            else:
                container[key] = previous
        journal.clear()
        store.flush()
        store._memo.clear()


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
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        build_migrations().apply(self.db)
        self._batch_depth = 0
        self._writing = False  # a staged write is open
        self._rows: dict[str, list[Any]] = {}  # SQL text -> the parameters of its queued rows, flat
        self._widths: dict[str, int] = {}  # SQL text -> parameters per row
        self._keyed: dict[str, dict[Hashable, tuple[Any, ...]]] = {}
        # what the open staged write queued: (values, length before) or (by_key, key, previous row)
        self._journal: list[tuple[Any, ...]] = []
        self._memo: dict[Hashable, Any] = {}
        self._data_version: int | None = None  # PRAGMA data_version the memo was kept under
        self._raw = Tx(conn)
        self.read: Tx = _Reader(self)
        self._stage = _Stage(self)

    @property
    def deferred(self) -> bool:
        """True while queued statements wait for a flush."""
        return bool(self._rows or self._keyed)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One ``BEGIN IMMEDIATE`` transaction: commits on normal exit, rolls back on any error.

        Inside :meth:`batch` it is a savepoint instead (after the batch's
        deferred rows are flushed and its memo dropped, since this write may
        change anything): a failed write is undone alone and the batch goes on;
        everything commits when the batch ends.
        """
        self._memo.clear()  # this write may change anything the memo holds
        if self._batch_depth:
            self.flush()
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

    def stage(self) -> AbstractContextManager[WriteTx]:
        """One SDK write whose row writes may be deferred (:class:`WriteTx`).

        Outside a batch it is one ``BEGIN IMMEDIATE`` transaction, flushed and
        committed on normal exit.  Inside :meth:`batch` nothing reaches SQLite
        yet: a failed write takes back the rows it queued (the batch goes on),
        and the queued rows of successful writes are written in bulk
        (:meth:`flush`) when the batch needs them or ends.
        """
        return self._stage

    def flush(self) -> None:
        """Run the queued statements, per SQL text in first-queued order.

        An ``INSERT`` goes in as multi-row statements (:mod:`sync.storage.sqlite_rows`: 32 rows a
        statement, in order), anything else with one ``executemany``.
        """
        if self._journal:
            raise RuntimeError("a staged write read after queueing rows: read first, defer last")
        conn = self.conn
        executemany = conn.executemany
        rows, keyed = self._rows, self._keyed
        while rows or keyed:  # in first-queued order of SQL text
            if rows:
                sql = next(iter(rows))
                values, width = rows.pop(sql), self._widths[sql]
                if len(values) >= width * ROWS_PER_INSERT and is_multi_row_insert(sql):
                    write_flat(conn, sql, values, width)
                else:  # a single write's few rows: as before, without the multi-row bookkeeping
                    flat = iter(values)
                    executemany(sql, zip(*[flat] * width, strict=True))
            else:
                sql = next(iter(keyed))
                executemany(sql, keyed.pop(sql).values())

    def _check_memo(self) -> None:
        """Drop the memo when another connection committed since the last write (or it grew large)."""
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version or len(self._memo) > MEMO_LIMIT:
            self._memo.clear()
            self._data_version = version

    def _discard(self) -> None:
        """Forget everything queued and memoised, and roll the open transaction back."""
        self._rows.clear()
        self._keyed.clear()
        self._journal.clear()
        self._memo.clear()
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

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
            self._check_memo()
            yield
            self.flush()
            self.conn.execute("COMMIT")
        except BaseException:
            self._discard()
            raise
        finally:
            self._batch_depth = 0

    @property
    def in_batch(self) -> bool:
        return self._batch_depth > 0

    def applied_migrations(self) -> list[str]:
        return [m.name for m in build_migrations().applied(self.db)]

    def close(self) -> None:
        self.conn.close()
