"""PostgreSQL adapter: psycopg 3 with a connection pool, for production.

Several stateless server processes can share one database.  Row locks
(``SELECT ... FOR UPDATE``) serialise pushes from one device and writes to one
job.  The change feed records each row's transaction id so that a pull never
skips a change when transactions commit out of order: every write transaction
first takes a shared advisory lock (before it has a transaction id), and a
reader only returns rows below the smallest transaction id of a writer still
in flight (``visible_xid_limit``).  Unrelated long transactions elsewhere in the
database do not hold pulls back.
Leadership for the SLA scheduler is a session-level advisory lock held on a
dedicated connection: when the holding process dies its lock goes with it.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.types.string import BytesBinaryDumper
from psycopg_pool import ConnectionPool

from sync.storage.base import Dialect, Params, Row, StorageError, upsert_sql
from sync.storage.schema import migrate

CEILING_SQL = """
WITH s AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax),
w AS (
  SELECT t.transactionid::text::bigint AS x
  FROM pg_locks a JOIN pg_locks t ON t.pid = a.pid AND t.locktype = 'transactionid'
    AND t.mode = 'ExclusiveLock' AND t.granted
  WHERE a.locktype = 'advisory' AND a.classid = 0 AND a.objid = %s AND a.objsubid = 1 AND a.granted
)
SELECT s.xmax, (SELECT min(CASE WHEN w.x <= (s.xmax & 4294967295) THEN ((s.xmax >> 32) << 32) | w.x
                           ELSE (((s.xmax >> 32) - 1) << 32) | w.x END) FROM w) AS writer
FROM s
"""


#: seconds a first connection may take before the server counts as unreachable (unless the URL sets
#: ``connect_timeout``): an operator waits for this, and libpq counts anything below 2 as 2
CONNECT_TIMEOUT_S: Final = 2


def _first_line(exc: BaseException) -> str:
    """psycopg's message without libpq's hint lines, for a one-line error."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` (escaping literal percent signs)."""
    return sql.replace("%", "%%").replace("?", "%s")


@lru_cache(maxsize=256)
def translate_binary(sql: str, binary: tuple[bool, ...]) -> str:
    """Like :func:`translate`, with ``%b`` (binary format) for the placeholders marked in ``binary``."""
    parts = sql.replace("%", "%%").split("?")
    if len(parts) != len(binary) + 1:  # psycopg reports the mismatch as it would for translate()
        return translate(sql)
    out = [parts[0]]
    for is_binary, part in zip(binary, parts[1:], strict=True):
        out.append("%b" if is_binary else "%s")
        out.append(part)
    return "".join(out)


def bind(sql: str, params: Params) -> tuple[str, Params | None]:
    """The psycopg statement and parameters for ``sql`` with ``?`` placeholders.

    A list parameter (an ``= ANY(?)`` of ids, an upsert's column) is sent in binary format: psycopg's
    text format builds an array literal in Python, several times the cost of the binary format, and
    the server decodes it more cheaply too.  The array then has its elements' type (``str``:
    ``text[]``, ``int``: the smallest integer type that holds them, ``bytes``: ``bytea[]``) where
    the text format left the type for the server to infer, so compare it with a column of that
    type or cast it.  psycopg refuses a list of mixed types in either format.
    """
    if not params:
        return translate(sql), None
    if list not in map(type, params):
        return translate(sql), params
    return translate_binary(sql, tuple(type(p) is list for p in params)), params


class PostgresTx:
    """A transaction on one pooled connection."""

    dialect: Dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], column_types: dict[str, dict[str, str]] | None = None) -> None:
        self.conn = conn
        self._xid: int | None = None
        self.column_types = {} if column_types is None else column_types  # shared by the database's transactions

    def execute(self, sql: str, params: Params = ()) -> int:
        cur = self.conn.execute(*bind(sql, params))
        return cur.rowcount

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(translate(sql), rows)

    def append(self, table: str, columns: Sequence[str], rows: Sequence[Params]) -> None:
        # COPY: one stream instead of a statement per row, in binary: bytea travels as it is, not as
        # hex text (`fieldsync bench` measures the difference)
        if rows:
            types = self._types(table)
            with self.conn.cursor() as cur, cur.copy(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([types[c] for c in columns])
                for row in rows:
                    copy.write_row(row)

    def upsert(self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Params]) -> None:
        self._insert_arrays(table, columns, key, rows, overwrite=True)

    def insert_new(self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Params]) -> None:
        self._insert_arrays(table, columns, key, rows, overwrite=False)

    def _insert_arrays(self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Params], *,
                       overwrite: bool) -> None:
        # one statement over arrays, one per column (unnest), instead of a statement per row
        if not rows:
            return
        # the arrays travel in binary format: much less client CPU than psycopg's text array literals,
        # see bind()
        types = self._types(table)
        arrays = ", ".join(f"%b::{types[c]}[]" for c in columns)
        sql = upsert_sql(table, columns, key, f"SELECT * FROM unnest({arrays})", overwrite=overwrite)
        self.conn.execute(sql, [list(col) for col in zip(*rows, strict=True)])

    def _types(self, table: str) -> dict[str, str]:
        """Column name -> SQL type of ``table`` (as the search path finds it), read once per database."""
        if table not in self.column_types:
            found = self.conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", (table,)).fetchall()
            self.column_types[table] = dict(found)
        return self.column_types[table]

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        cur = self.conn.execute(*bind(sql, params))
        if cur.description is None:
            return []
        cols = [d.name for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def rows(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        # Bulk reads come back in binary format: the same Python values, without parsing text (bytea
        # columns travel at half the size and need no hex decoding: the change feed's pages).
        return self.conn.execute(*bind(sql, params), binary=True).fetchall()

    def one(self, sql: str, params: Params = ()) -> Row | None:
        cur = self.conn.execute(*bind(sql, params))
        r = cur.fetchone()
        if r is None or cur.description is None:
            return None
        return dict(zip([d.name for d in cur.description], r, strict=True))

    def lock(self, sql: str, params: Params = ()) -> Row | None:
        return self.one(sql + " FOR UPDATE", params)

    def lock_all(self, sql: str, params: Params = ()) -> list[Row]:
        return self.query(sql + " FOR UPDATE", params)

    def current_xid(self) -> int:
        if self._xid is None:
            row = self.conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
            assert row is not None
            self._xid = int(row[0])
        return self._xid


class PostgresDatabase:
    """The PostgreSQL adapter of :class:`~sync.storage.base.Database`."""

    dialect: Dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 8, schema: str | None = None,
                 migrate_schema: bool = True) -> None:
        self.url = url
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.schema = schema or (query.pop("schema", [None])[0])
        conninfo = parts._replace(query="&".join(f"{k}={v[0]}" for k, v in query.items())).geturl()
        self._conninfo = conninfo
        self._probe()
        self.pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": False},
            configure=self._configure,
            open=False,
        )
        try:
            self.pool.open(wait=True, timeout=10)
        except Exception as exc:  # psycopg_pool raises PoolTimeout
            self.pool.close()
            raise StorageError(f"cannot reach PostgreSQL at {self._redacted()}: {_first_line(exc)}") from exc
        # the advisory lock every write transaction holds while it may add to the change feed
        self.feed_key = zlib.crc32((self.schema or "public").encode()) & 0x7FFFFFFF
        self._leader_conn: psycopg.Connection[Any] | None = None
        self._column_types: dict[str, dict[str, str]] = {}
        self._leader_lock = threading.Lock()
        if migrate_schema:
            with self.write() as tx:
                tx.execute("SELECT pg_advisory_xact_lock(727274)")  # one migrator at a time
                migrate(tx)

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 8, schema: str | None = None,
                 migrate_schema: bool = True) -> PostgresDatabase:
        return cls(url, pool_size=pool_size, schema=schema, migrate_schema=migrate_schema)

    def _redacted(self) -> str:
        p = urlsplit(self._conninfo)
        return f"{p.hostname}:{p.port or 5432}{p.path}"

    def _probe(self) -> None:
        """One direct connection before the pool opens (and the URL's schema created if missing).

        The pool would retry an unreachable server in the background, logging each attempt, until
        its own timeout; a single connection fails at once (or after :data:`CONNECT_TIMEOUT_S`) with
        libpq's reason, which becomes a one-line :class:`StorageError`.
        """
        conninfo = self._conninfo if "connect_timeout" in self._conninfo else make_conninfo(
            self._conninfo, connect_timeout=CONNECT_TIMEOUT_S)
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                if self.schema is not None:
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        except psycopg.Error as exc:
            raise StorageError(f"cannot reach PostgreSQL at {self._redacted()}: {_first_line(exc)}") from exc

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        # COPY picks its dumpers by column type, and psycopg's dumper for bytea in binary format is a
        # Python class (it also accepts psycopg.Binary wrappers, which this code never passes): the C
        # dumper for bytes instead, which formats a feed page's rows in about half the client CPU.
        conn.adapters.register_dumper(bytes, BytesBinaryDumper)
        # Large values (sign-off strokes, receipts) are compressed with lz4 instead of pglz: several
        # times less CPU when a push writes them.  A server built without lz4 keeps its default.
        try:
            conn.execute("SET default_toast_compression = 'lz4'")
        except psycopg.Error:
            conn.rollback()
        if self.schema is not None:
            conn.execute(f'SET search_path TO "{self.schema}"')
        conn.commit()

    @contextmanager
    def write(self) -> Iterator[PostgresTx]:
        with self.pool.connection() as conn:
            with conn.transaction():
                # taken before the transaction has an id, so readers see every feed writer in flight
                conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (self.feed_key,))
                yield PostgresTx(conn, self._column_types)

    @contextmanager
    def read(self) -> Iterator[PostgresTx]:
        """A read transaction; each statement sees the data committed when it starts (READ COMMITTED)."""
        with self.pool.connection() as conn:
            try:
                yield PostgresTx(conn)
            finally:
                conn.rollback()

    def visible_xid_limit(self, tx: Any) -> int | None:
        """Smallest transaction id of a feed writer still in flight, else the next id to be assigned.

        Must run before the statements that read the feed (their snapshots are taken after it): a
        writer that was not yet in flight here gets a larger id than any row those statements see.
        """
        row = tx.conn.execute(CEILING_SQL, (self.feed_key,)).fetchone()
        if row is None:
            return None
        xmax, writer = int(row[0]), row[1]
        return xmax if writer is None else min(xmax, int(writer))

    def try_leader_lock(self, name: str) -> bool:
        key = int.from_bytes(hashlib.sha256(f"{self.schema}:{name}".encode()).digest()[:8], "big", signed=True)
        with self._leader_lock:
            try:
                if self._leader_conn is None or self._leader_conn.closed:
                    self._leader_conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10)
                row = self._leader_conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                return bool(row and row[0])
            except psycopg.Error:
                self._leader_conn = None
                return False

    def close(self) -> None:
        with self._leader_lock:
            if self._leader_conn is not None:
                self._leader_conn.close()
                self._leader_conn = None
        self.pool.close()
