"""The storage port every adapter implements, and the migration runner they share.

SQL is written once with ``?`` placeholders; an adapter translates it for its
driver.  A :class:`Tx` is one database transaction: everything done through it
commits together or not at all, which is what makes a push atomic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final, Literal, Protocol

Row = dict[str, Any]
Params = Sequence[Any]
Dialect = Literal["sqlite", "postgresql"]


class StorageError(Exception):
    """The database cannot be opened or used (bad URL, unreachable server)."""


class Tx(Protocol):
    """One open transaction."""

    dialect: Dialect

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the number of rows it changed."""
        ...

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement for many parameter rows."""
        ...

    def append(self, table: str, columns: Sequence[str], rows: Sequence[Params]) -> None:
        """Insert rows the caller knows are new, by the fastest path the backend has (COPY on PostgreSQL).

        No ``ON CONFLICT``: a row that already exists fails the transaction.  ``table`` and
        ``columns`` are identifiers from the code, never from input.
        """
        ...

    def upsert(self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Params]) -> None:
        """Insert rows; where a row with the same ``key`` exists, overwrite its other ``columns``.

        One statement for all rows on PostgreSQL.  No two rows may share a key.  ``table``,
        ``columns`` and ``key`` are identifiers from the code, never from input.
        """
        ...

    def insert_new(self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Params]) -> None:
        """Insert rows; where a row with the same ``key`` exists, leave it as it is (``ON CONFLICT DO NOTHING``).

        For rows that are new unless written before (an outbox event sent again): one statement for all
        rows on PostgreSQL, like :meth:`upsert`.  ``table``, ``columns`` and ``key`` are identifiers from
        the code, never from input.
        """
        ...

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a query and return all rows as dicts."""
        ...

    def one(self, sql: str, params: Params = ()) -> Row | None:
        """Run a query and return its first row, or None."""
        ...

    def rows(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Run a query and return plain tuples (bulk reads: no dict per row)."""
        ...

    def lock(self, sql: str, params: Params = ()) -> Row | None:
        """Select one row and hold a write lock on it until the end of the transaction."""
        ...

    def lock_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Select rows and hold write locks on all of them until the end of the transaction.

        One round trip for a batch (a change-set's jobs); give the query an
        ``ORDER BY`` so concurrent transactions take the locks in the same order.
        """
        ...

    def current_xid(self) -> int:
        """The id of this transaction for the change feed (0 where commits are serial)."""
        ...


class Database(Protocol):
    """A server database: transactions for writing, snapshots for reading."""

    dialect: Dialect
    url: str

    def write(self) -> AbstractContextManager[Tx]:
        """A read-write transaction; commits on normal exit, rolls back on error."""
        ...

    def read(self) -> AbstractContextManager[Tx]:
        """A read-only transaction (consistent snapshot where the backend has one)."""
        ...

    def visible_xid_limit(self, tx: Tx) -> int | None:
        """Change-feed rows with ``xid`` below this can no longer appear (None = no limit).

        Call it first in a read transaction, before the queries that read the feed.
        """
        ...

    def try_leader_lock(self, name: str) -> bool:
        """Take (or keep) a process-wide leadership lock; True when this process holds it."""
        ...

    def close(self) -> None:
        """Release every connection."""
        ...


def rows_as_dicts(columns: Sequence[str], rows: Iterator[Sequence[Any]] | list[Any]) -> list[Row]:
    """Turn driver tuples into dicts keyed by column name."""
    return [dict(zip(columns, r, strict=True)) for r in rows]


#: ids one look-up names at most on SQLite (a ``?`` each, well under its variable limit)
CHUNK: Final = 500


def chunks(ids: list[str], size: int = CHUNK) -> Iterator[list[str]]:
    """``ids`` in slices of ``size`` (:data:`CHUNK` unless told)."""
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def chunk_size(tx: Tx) -> int:
    """How many ids one look-up names: :data:`CHUNK` on SQLite (a ``?`` each, under its variable limit),
    all of them on PostgreSQL (one array parameter: 750 movement ids are one query, not two)."""
    return 2**62 if tx.dialect == "postgresql" else CHUNK


def among(tx: Tx, column: str, ids: list[str]) -> tuple[str, list[Any]]:
    """``column`` is one of ``ids``: SQL and parameters (one array parameter on PostgreSQL, which plans
    it once and probes the index per id, where a long ``IN`` list is planned anew and slow; on SQLite a
    ``?`` per id, so keep ``ids`` under its variable limit)."""
    if tx.dialect == "postgresql":
        return f"{column} = ANY(?)", [ids]
    return f"{column} IN ({','.join('?' * len(ids))})", ids


def upsert_sql(table: str, columns: Sequence[str], key: Sequence[str], source: str | None = None, *,
               overwrite: bool = True) -> str:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` of every other column, from ``VALUES (?, ...)`` or ``source``.

    ``overwrite`` False: ``DO NOTHING`` (the existing row is kept as it is).
    """
    values = source or f"VALUES ({', '.join('?' * len(columns))})"
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key) if overwrite else ""
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return (f"INSERT INTO {table} ({', '.join(columns)}) {values} "
            f"ON CONFLICT ({', '.join(key)}) {action}")
