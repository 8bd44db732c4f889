"""SQLite adapter: the embedded default.  One file, WAL, one writer.

Every write goes through one connection guarded by a lock and opened with
``BEGIN IMMEDIATE`` (the datasette habit), so commits are serial and the
change feed's autoincrement order is commit order.  Reads use a small pool of
connections beside the writer (bounded, so memory does not grow with the
number of threads that ever read).  Bulk writes (``append``, ``upsert``) go in
as multi-row statements (:mod:`sync.storage.sqlite_rows`).  The WAL is copied
back into the database (checkpointed) by a background thread, not by whichever
commit crosses the threshold: a push that did was paying about a third more
for its commit.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sync.storage.base import Dialect, Params, Row, StorageError, upsert_sql
from sync.storage.schema import migrate
from sync.storage.sqlite_params import install as install_param_adapters
from sync.storage.sqlite_rows import write_rows

install_param_adapters()


class MissingDatabase(StorageError):
    """The SQLite file does not exist and the caller asked not to create one."""


class SqliteTx:
    """A transaction on one sqlite3 connection."""

    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Params = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self.conn.executemany(sql, rows)

    def append(self, table: str, columns: Sequence[str], rows: Sequence[Params]) -> None:
        if rows:
            marks = ", ".join("?" * len(columns))
            write_rows(self.conn, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def upsert(self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Params]) -> None:
        if rows:
            write_rows(self.conn, upsert_sql(table, columns, key), rows)

    def insert_new(self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Params]) -> None:
        if rows:
            write_rows(self.conn, upsert_sql(table, columns, key, overwrite=False), rows)

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        cur = self.conn.execute(sql, params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def rows(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Params = ()) -> Row | None:
        cur = self.conn.execute(sql, params)
        r = cur.fetchone()
        if r is None:
            return None
        return dict(zip([d[0] for d in cur.description], r, strict=True))

    def lock(self, sql: str, params: Params = ()) -> Row | None:
        # BEGIN IMMEDIATE already holds the database write lock.
        return self.one(sql, params)

    def lock_all(self, sql: str, params: Params = ()) -> list[Row]:
        return self.query(sql, params)

    def current_xid(self) -> int:
        return 0


#: WAL size past which the checkpointer copies it back (SQLite's own default: 1,000 pages of 4 KiB)
CHECKPOINT_BYTES: Final = 4 * 1024 * 1024
#: pause before the checkpointer copies what commits added while it was copying
RETRY_S: Final = 0.05
#: WAL size past which the committing writer checkpoints in line: commits that keep coming while the
#: background checkpoint copies would otherwise keep the WAL from ever being rewound
CATCH_UP_BYTES: Final = 4 * CHECKPOINT_BYTES


class Checkpointer:
    """Checkpoints the WAL on its own thread and connection once commits have grown it past a size.

    A checkpoint is what SQLite's auto-checkpoint does inside the commit that crosses the threshold
    (``PASSIVE``: it copies what no reader still needs, and never blocks readers); here no request
    waits for it.  A writer rewinds the WAL only when a checkpoint has copied all of it, and under a
    steady stream of commits the background one never catches up: past :data:`CATCH_UP_BYTES` the
    committing writer checkpoints in line, as SQLite would have, with the write lock still held.
    """

    def __init__(self, path: str, threshold: int = CHECKPOINT_BYTES, catch_up: int = CATCH_UP_BYTES) -> None:
        self.wal = path + "-wal"
        self.threshold = threshold
        self.catch_up = catch_up
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._wake = threading.Event()
        self._running = threading.Lock()  # one checkpoint at a time: SQLite refuses a second one as busy
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="fieldsync-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def wal_bytes(self) -> int:
        try:
            return os.stat(self.wal).st_size
        except OSError:
            return 0

    def after_commit(self, writer: sqlite3.Connection) -> None:
        """Called by the writer after each commit, with the write lock still held."""
        size = self.wal_bytes()  # past the threshold (the journal size limit), this is content
        if size > self.catch_up:
            with self._running, contextlib.suppress(sqlite3.Error):  # an error: the next commit tries again
                writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        elif size > self.threshold:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while not self._stopping and not self._checkpoint():
                # commits came in meanwhile: copy them too (after the next commit, or a pause), so that
                # a WAL left quiet is all in the database
                self._wake.clear()
                self._wake.wait(RETRY_S)
            if self._stopping:
                return

    def _checkpoint(self) -> bool:
        """One passive checkpoint; True when it copied the whole WAL."""
        try:
            with self._running:
                busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            return False
        return not busy and frames == copied

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=30)
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()


class SqliteDatabase:
    """The SQLite adapter of :class:`~sync.storage.base.Database`."""

    dialect: Dialect = "sqlite"
    max_readers: int = 8

    def __init__(self, path: str, *, create: bool = True, migrate_schema: bool = True) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        if path != ":memory:":
            parent = Path(path).parent
            if not parent.exists():
                raise StorageError(f"directory {parent} does not exist")
            if not create and not Path(path).is_file():
                raise MissingDatabase(f"no SQLite database at {path}")
        self._write_lock = threading.Lock()
        self._writer = self._connect()
        self._checkpointer: Checkpointer | None = None
        if path != ":memory:":
            self._writer.execute("PRAGMA wal_autocheckpoint=0")
            # a rewound WAL is cut back to the threshold, so its file size past that is new content
            self._writer.execute(f"PRAGMA journal_size_limit={CHECKPOINT_BYTES}")
            self._checkpointer = Checkpointer(path)
        # Readers come from a bounded pool shared by all threads: worker threads come and go, and a
        # connection per thread would leave every dead thread's connection (and its page cache) behind.
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._reader_count = 0
        self._all: list[sqlite3.Connection] = [self._writer]
        self._all_lock = threading.Lock()
        if migrate_schema:
            with self.write() as tx:
                migrate(tx)

    @classmethod
    def from_url(cls, url: str, *, create: bool = True, migrate_schema: bool = True) -> SqliteDatabase:
        path = url.removeprefix("sqlite://")
        if path.startswith("/"):
            path = path[1:]  # sqlite:///rel.db -> rel.db ; sqlite:////abs.db -> /abs.db
        return cls(path or "fieldsync.db", create=create, migrate_schema=migrate_schema)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {self.path}: {exc}") from exc
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextmanager
    def write(self) -> Iterator[SqliteTx]:
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteTx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
                if self._checkpointer is not None:
                    self._checkpointer.after_commit(conn)

    def _take_reader(self) -> sqlite3.Connection:
        try:
            return self._readers.get_nowait()
        except queue.Empty:
            pass
        with self._all_lock:
            if self._reader_count < self.max_readers:
                self._reader_count += 1
                conn = self._connect()
                self._all.append(conn)
                return conn
        return self._readers.get()  # every reader is busy: wait for one

    @contextmanager
    def read(self) -> Iterator[SqliteTx]:
        conn = self._take_reader()
        try:
            conn.execute("BEGIN")
            try:
                yield SqliteTx(conn)
            finally:
                conn.execute("ROLLBACK")
        finally:
            self._readers.put(conn)

    def visible_xid_limit(self, tx: Any) -> int | None:
        return None

    def try_leader_lock(self, name: str) -> bool:
        # One file, one server process: the process that opened it leads.
        return True

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        with self._all_lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
