"""Server storage: one :class:`~sync.storage.base.Database` interface, two adapters.

``open_database(url)`` picks the adapter from the URL: ``sqlite:///path`` for
the embedded default (one file, WAL, one writer) or ``postgresql://...`` for
production (psycopg 3 with a pool).  Both run the same versioned migrations
from :mod:`sync.storage.schema`.
"""

from __future__ import annotations

from sync.storage.base import Database, Row, StorageError, Tx, among, chunk_size, chunks


def open_database(url: str, *, pool_size: int = 8, schema: str | None = None, create: bool = True,
                  migrate_schema: bool = True) -> Database:
    """Open (and migrate) the database named by ``url``.

    ``create=False`` refuses a SQLite file that does not exist yet (a mistyped path
    must not become a new, empty database); a PostgreSQL database is never created.
    ``migrate_schema=False`` opens it as it is (``fieldsync admin status`` reads its version).
    """
    if url.startswith("sqlite://"):
        from sync.storage.sqlite import SqliteDatabase  # only the adapter in use: a tablet never loads psycopg

        return SqliteDatabase.from_url(url, create=create, migrate_schema=migrate_schema)
    if url.startswith(("postgresql://", "postgres://")):
        from sync.storage.postgres import PostgresDatabase  # psycopg only when a PostgreSQL URL asks for it

        return PostgresDatabase.from_url(url, pool_size=pool_size, schema=schema, migrate_schema=migrate_schema)
    raise StorageError(f"unsupported database URL {url!r}: use sqlite:///file.db or postgresql://...")


__all__ = ["Database", "Row", "StorageError", "Tx", "among", "chunk_size", "chunks", "open_database"]
