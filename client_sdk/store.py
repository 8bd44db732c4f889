"""The tablet's local SQLite store: the one writer, batched writes, small query helpers.

The file runs in WAL mode with ``synchronous=FULL`` so a committed write
survives a power cut.  Every SDK write is one ``BEGIN IMMEDIATE`` transaction
(:meth:`LocalStore.stage`, or :meth:`LocalStore.write` for the pull path and
enrollment): the local row and its outbox op commit together or not at all.
Inside :meth:`LocalStore.batch` the writes share one transaction and their
rows are queued in memory (:class:`WriteTx`) and written per statement when
something reads or the batch ends: inserts as multi-row statements, the rest
with one ``executemany``.  The schema and its migrations, applied on open, are
in :mod:`client_sdk.migrations`; the statements the SDK's reads, writes and
sync loop run are in :mod:`client_sdk.read_sql`, :mod:`client_sdk.write_sql`
and :mod:`client_sdk.sync_sql`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from sqlite_utils import Database

from client_sdk.migrations import build_migrations, refresh_kb_index
from sync.storage.sqlite_params import install as install_param_adapters
from sync.storage.sqlite_rows import ROWS_PER_INSERT, is_multi_row_insert, write_flat

Row = dict[str, Any]
Params = Sequence[Any]

install_param_adapters()  # NULLs and blobs bind without an adaptation miss

#: A write that fills the WAL to this many pages copies them into the database file (two fsyncs).  An
#: SDK write adds a few pages, mostly the same hot ones (device row, outbox and index leaves), so the
#: cost of a checkpoint grows far slower than the interval between two: a long interval (16 MB of WAL)
#: means fewer checkpoints per write than SQLite's default of 1000 pages, and less checkpoint time in all.
WAL_CHECKPOINT_PAGES: Final = 4000
#: SQLite's ``PRAGMA synchronous`` level of a commit that need not wait for the disk (``write(durable=False)``)
SYNCHRONOUS_NORMAL: Final = 1
MEMO_LIMIT: Final = 4_096  # entries (a job row ~1.5 KB, its answer HLCs, templates, parts) kept between writes


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
            # object per row that the cyclic GC tracks (a tuple per row would make the
            # collector run every few hundred writes, and now and then a full collection).
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
        refresh_kb_index(self.db)
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
    def write(self, *, durable: bool = True) -> Iterator[Tx]:
        """One ``BEGIN IMMEDIATE`` transaction: commits on normal exit, rolls back on any error.

        Inside :meth:`batch` it is a savepoint instead (after the batch's
        deferred rows are flushed and its memo dropped, since this write may
        change anything): a failed write is undone alone and the batch goes on;
        everything commits when the batch ends.

        ``durable=False`` commits without waiting for the disk (``synchronous =
        NORMAL``, then the store's own level again): in WAL mode the commit is
        still atomic and commits reach the disk in order, so a power cut can
        lose such a commit only together with every commit after it, up to the
        next durable one, whose flush of the log makes them all durable.  For a
        caller that can redo what it loses (a pull page with its cursor).
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
        level = 0 if durable else int(self.conn.execute("PRAGMA synchronous").fetchone()[0])  # its own: FULL
        relax = level > SYNCHRONOUS_NORMAL
        if relax:
            self.conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS_NORMAL}")  # not allowed inside a transaction
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self.conn)
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        finally:
            if relax:
                self.conn.execute(f"PRAGMA synchronous = {level}")

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
