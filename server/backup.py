"""Backup and restore of the embedded SQLite database (``fieldsync admin backup|restore``).

Backup uses SQLite's online backup API (``sqlite3.Connection.backup``) in one
step: it reads one consistent snapshot while the server keeps writing (WAL lets
writers go on beside a reader), into a temporary file that is checked with
``PRAGMA integrity_check``, switched to a self-contained rollback journal and
only then renamed into place, so a failed backup never leaves a half file.

Restore checks the backup first (integrity, and that it is a fieldsync
database), then refuses a target that another process has open unless
``force`` is given: a database file in WAL mode cannot leave WAL while any
other connection is open, which is the test used here.  The copy goes through
the same backup API into the target, so it is one write transaction there.

A PostgreSQL database is backed up with PostgreSQL's own tools, which must be on
``PATH`` (the client package, the same major version as the server or newer):
``pg_dump --format=custom`` reads one consistent snapshot (a single
REPEATABLE READ transaction) while the servers keep writing, into a temporary
file that ``pg_restore --list`` must read back, with fieldsync's
``schema_migrations`` in it, before it is renamed into place.  With
``?schema=NAME`` in the URL only that schema is dumped.  Restore refuses a
database (schema) that already holds fieldsync tables unless ``force`` is
given, then runs ``pg_restore --single-transaction --exit-on-error`` (with
``--clean --if-exists`` when forced): all of the backup or nothing.  The
signing keys travel with the data, still encrypted when they were (the
key-encryption key stays outside the backup).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit


class BackupError(Exception):
    """The backup or restore cannot be done (bad file, database in use, failed check)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True, slots=True)
class BackupResult:
    """What was written: the file, its size, and the integrity check's verdict."""

    path: str
    bytes: int
    pages: int
    integrity: str
    schema_version: int


def sqlite_path(url: str) -> str | None:
    """The file path of a ``sqlite://`` URL (None for other URLs); same rules as the storage adapter."""
    if not url.startswith("sqlite://"):
        return None
    path = url.removeprefix("sqlite://")
    if path.startswith("/"):
        path = path[1:]
    return path or "fieldsync.db"


def integrity(conn: sqlite3.Connection) -> str:
    """``ok`` or the first problems ``PRAGMA integrity_check`` reports."""
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    return "; ".join(str(r[0]) for r in rows[:5])


def _schema_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    except sqlite3.DatabaseError:
        return 0
    return int(row[0] or 0) if row else 0


def backup_sqlite(db_path: str, out: str | Path) -> BackupResult:
    """Copy a live database file to ``out`` (one consistent snapshot), checked before it is put in place."""
    if not Path(db_path).is_file():
        raise BackupError(f"no database file at {db_path}")
    target = Path(out)
    if not target.parent.exists():
        raise BackupError(f"directory {target.parent} does not exist")
    tmp = target.with_name(target.name + ".partial")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(db_path, timeout=30)
    try:
        src.execute("PRAGMA busy_timeout = 30000")
        dest = sqlite3.connect(tmp)
        try:
            src.backup(dest)  # pages=-1: the whole database in one step, from one read snapshot
            dest.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            verdict = integrity(dest)
            pages = int(dest.execute("PRAGMA page_count").fetchone()[0])
            version = _schema_version(dest)
        finally:
            dest.close()
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"backup failed: {exc}", 1) from exc
    finally:
        src.close()
    if verdict != "ok":
        tmp.unlink(missing_ok=True)
        raise BackupError(f"the copy failed its integrity check: {verdict}", 1)
    os.replace(tmp, target)
    return BackupResult(str(target), target.stat().st_size, pages, verdict, version)


def in_use(db_path: str) -> bool:
    """True when another connection has the database open (it cannot leave WAL mode then)."""
    conn = sqlite3.connect(db_path, timeout=0)
    try:
        mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode != "wal":
            conn.execute("BEGIN EXCLUSIVE")  # a rollback-journal database: can we take it alone?
            conn.execute("ROLLBACK")
            return False
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA journal_mode = WAL")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def restore_sqlite(backup: str | Path, db_path: str, force: bool = False) -> BackupResult:
    """Replace the database at ``db_path`` with a checked backup; refuse one in use unless ``force``."""
    source = Path(backup)
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            verdict = integrity(src)
            version = _schema_version(src)
        finally:
            src.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} is not a readable SQLite database: {exc}") from exc
    if verdict != "ok":
        raise BackupError(f"{source} fails its integrity check: {verdict}")
    if version == 0:
        raise BackupError(f"{source} is not a fieldsync database (no schema_migrations)")
    if not Path(db_path).parent.exists():
        raise BackupError(f"directory {Path(db_path).parent} does not exist")
    if Path(db_path).exists() and in_use(db_path) and not force:
        raise BackupError(f"{db_path} is open in another process (a running server?); stop it or pass --force", 1)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dest = sqlite3.connect(db_path, timeout=30)
    try:
        dest.execute("PRAGMA busy_timeout = 30000")
        src.backup(dest)
        dest.execute("PRAGMA journal_mode = WAL")
        verdict = integrity(dest)
        pages = int(dest.execute("PRAGMA page_count").fetchone()[0])
    except sqlite3.Error as exc:
        raise BackupError(f"restore failed: {exc}", 1) from exc
    finally:
        dest.close()
        src.close()
    if verdict != "ok":
        raise BackupError(f"the restored database fails its integrity check: {verdict}", 1)
    return BackupResult(db_path, Path(db_path).stat().st_size, pages, verdict, version)


@dataclass(frozen=True, slots=True)
class PgBackupResult:
    """A PostgreSQL backup or restore: the file, its size, its tables and the schema version in it."""

    path: str
    bytes: int
    tables: int
    schema_version: int


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not on PATH (install PostgreSQL's client programs, e.g. postgresql-client)")
    return found


def pg_target(url: str) -> tuple[str, str | None]:
    """The libpq connection string of a ``postgresql://`` URL, and its ``?schema=`` (None: public)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    schema = query.pop("schema", [None])[0]
    conninfo = parts._replace(query=urlencode({k: v[0] for k, v in query.items()})).geturl()
    return conninfo, schema


def _run(argv: list[str], what: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=24 * 3600)
    except OSError as exc:
        raise BackupError(f"{what} could not run: {exc}", 1) from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: {' / '.join(detail[-3:]) or f'exit {done.returncode}'}", 1)
    return done.stdout


def _toc(path: Path) -> tuple[int, list[str]]:
    """The tables and the highest ``schema_migrations`` version a custom-format dump holds (via pg_restore)."""
    listing = _run([_pg_tool("pg_restore"), "--list", str(path)], "pg_restore --list")
    tables = [line.split()[-2] for line in listing.splitlines()
              if not line.startswith(";") and " TABLE " in line and " TABLE DATA " not in line]
    if "schema_migrations" not in tables:
        raise BackupError(f"{path} is not a fieldsync backup (no schema_migrations table in it)")
    version = 0
    data = subprocess.run([_pg_tool("pg_restore"), "--data-only", "--table=schema_migrations", "--file=-",
                           str(path)], capture_output=True, text=True, timeout=600)
    for line in data.stdout.splitlines():
        head = line.split("\t", 1)[0]
        if head.isdigit():
            version = max(version, int(head))
    return version, tables


def backup_postgres(url: str, out: str | Path) -> PgBackupResult:
    """``pg_dump --format=custom`` of the database (or the URL's schema) to ``out``, read back before it is kept."""
    target = Path(out)
    if not target.parent.exists():
        raise BackupError(f"directory {target.parent} does not exist")
    conninfo, schema = pg_target(url)
    tmp = target.with_name(target.name + ".partial")
    tmp.unlink(missing_ok=True)
    argv = [_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={tmp}"]
    if schema:
        argv.append(f"--schema={schema}")
    try:
        _run([*argv, f"--dbname={conninfo}"], "pg_dump")
        version, tables = _toc(tmp)
    except BackupError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    return PgBackupResult(str(target), target.stat().st_size, len(tables), version)


def restore_postgres(backup: str | Path, url: str, force: bool = False) -> PgBackupResult:
    """Restore a :func:`backup_postgres` file into ``url``'s database in one transaction.

    A database (schema) that already holds a fieldsync schema is refused unless ``force``: then the backup's
    objects replace the ones there (``--clean --if-exists``).  Stop the servers first.
    """
    import psycopg

    source = Path(backup)
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    version, tables = _toc(source)
    conninfo, schema = pg_target(url)
    try:
        with psycopg.connect(conninfo, connect_timeout=10) as conn:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                               (f'"{schema}".schema_migrations' if schema else "public.schema_migrations",)
                               ).fetchone()
    except psycopg.Error as exc:
        raise BackupError(f"cannot connect to the target database: {exc}".strip()) from exc
    if row and row[0] and not force:
        raise BackupError("the target database already holds a fieldsync schema; restore into a new database, "
                          "or pass --force to replace it (stop the servers first)", 1)
    argv = [_pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
            f"--dbname={conninfo}"]
    if force:
        argv += ["--clean", "--if-exists"]
    _run([*argv, str(source)], "pg_restore")
    return PgBackupResult(url, source.stat().st_size, len(tables), version)
