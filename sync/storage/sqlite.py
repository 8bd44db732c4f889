"""SQLite adapter: the embedded default.  One file, WAL, one writer.

Every write goes through one connection guarded by a lock and opened with
``BEGIN IMMEDIATE`` (the datasette habit), so commits are serial and the
change feed's autoincrement order is commit order.  Reads use a small pool of
connections beside the writer (bounded, so memory does not grow with the
number of threads that ever read).
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync.storage.base import Dialect, Params, Row, StorageError, upsert_sql
from sync.storage.schema import migrate


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
            self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def upsert(self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Params]) -> None:
        if rows:
            self.conn.executemany(upsert_sql(table, columns, key), rows)

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


class SqliteDatabase:
    """The SQLite adapter of :class:`~sync.storage.base.Database`."""

    dialect: Dialect = "sqlite"
    max_readers: int = 8

    def __init__(self, path: str) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        if path != ":memory:":
            parent = Path(path).parent
            if not parent.exists():
                raise StorageError(f"directory {parent} does not exist")
        self._write_lock = threading.Lock()
        self._writer = self._connect()
        # Readers come from a bounded pool shared by all threads: worker threads come and go, and a
        # connection per thread would leave every dead thread's connection (and its page cache) behind.
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._reader_count = 0
        self._all: list[sqlite3.Connection] = [self._writer]
        self._all_lock = threading.Lock()
        with self.write() as tx:
            migrate(tx)

    @classmethod
    def from_url(cls, url: str) -> SqliteDatabase:
        path = url.removeprefix("sqlite://")
        if path.startswith("/"):
            path = path[1:]  # sqlite:///rel.db -> rel.db ; sqlite:////abs.db -> /abs.db
        return cls(path or "fieldsync.db")

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
        with self._all_lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
