"""The ``fieldsync`` command line: serve, demo, admin tasks, bench, simulate, verify.

Operators script these, so output is plain (``--json`` where a machine reads it)
and exit codes mean something: 0 ok, 1 a check failed, 2 bad usage or input
(an unreachable database, a missing SQLite file, a port already taken, a
malformed ``FIELDSYNC_*`` variable: one line on stderr).

Only ``serve``, ``demo`` and ``admin seed-demo`` create a database that does not
exist yet (``restore`` writes one from its backup; ``simulate`` and ``loadtest``
create the one their own server runs on); every other command opens an existing
one, so a mistyped ``--db`` path is an error, not a new empty database.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from server.settings import DEFAULT_DB, get_settings, uvicorn_proxy_options


def _db_url(args: argparse.Namespace) -> str:
    return args.db or os.environ.get("FIELDSYNC_DB") or DEFAULT_DB


def _services(url: str, *, create: bool = False):  # type: ignore[no-untyped-def]
    """Services on the database at ``url``; a SQLite file must exist unless ``create``."""
    from server.context import Services
    from sync.storage import StorageError, open_database
    from sync.storage.sqlite import MissingDatabase

    try:
        db = open_database(url, create=create)
    except MissingDatabase as exc:
        raise StorageError(f"{exc} (check --db or FIELDSYNC_DB; only serve, demo and admin seed-demo "
                           "create a database)") from exc
    return Services(db=db, settings=get_settings(db_url=url))


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.ports import check_port

    url = _db_url(args)
    settings = get_settings(db_url=url, host=args.host, port=args.port, workers=args.workers)
    check_port(settings.host, settings.port)  # before migrating: a taken port is one line, not uvicorn's exit 3
    os.environ["FIELDSYNC_DB"] = url
    _services(url, create=True).db.close()  # migrate once before workers start
    uvicorn.run("server.app:serve_app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level=args.log_level, **uvicorn_proxy_options(settings))
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from server.demo import seed_demo

    svc = _services(_db_url(args), create=True)
    with svc.db.read() as tx:
        row = tx.one("SELECT COUNT(*) AS n FROM engineers")
    if row and row["n"]:
        print("database already has data; seed-demo only fills an empty database", file=sys.stderr)
        return 2
    ids = seed_demo(svc)
    print(json.dumps(ids))
    return 0


def cmd_engineers(args: argparse.Namespace) -> int:
    import msgspec

    from server.domain.catalog.service import list_engineers

    engineers = list_engineers(_services(_db_url(args)))
    if args.json:
        print(json.dumps(msgspec.to_builtins(engineers)))
    else:
        for e in engineers:
            print(f"{e.id}\t{e.name}\t{e.van_location}\t{','.join(e.skills)}")
    return 0


def cmd_enroll_token(args: argparse.Namespace) -> int:
    from server.domain.devices.service import issue_enroll_token
    from server.errors import DomainError

    try:
        token, _ = issue_enroll_token(_services(_db_url(args)), args.engineer)
    except DomainError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2
    print(token)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from server.security import issue_staff_token

    print(issue_staff_token(_services(_db_url(args)), args.role, args.name or args.role))
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    """Create or reset a console user; the password comes from stdin (prompted twice on a terminal)."""
    from server.console.auth import set_user
    from server.errors import DomainError

    services = _services(_db_url(args))  # a wrong --db is an error before anyone types a password
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        created = set_user(services, args.name, args.role, password)
    except DomainError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2
    print(f"{'created' if created else 'updated'} user {args.name} ({args.role})")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Online backup of a SQLite database (PostgreSQL: print the pg_dump advice, exit 2)."""
    from server.backup import PG_ADVICE, BackupError, backup_sqlite, restore_sqlite, sqlite_path

    url = _db_url(args)
    path = sqlite_path(url)
    if path is None:
        print(PG_ADVICE.format(url=url), file=sys.stderr)
        return 2
    try:
        if args.admin == "backup":
            result = backup_sqlite(path, args.out)
        else:
            result = restore_sqlite(args.source, path, force=args.force)
    except BackupError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    verb = "backup written to" if args.admin == "backup" else "restored into"
    print(f"{verb} {result.path}: {result.bytes} bytes, {result.pages} pages, schema v{result.schema_version}, "
          f"integrity {result.integrity}")
    return 0


def cmd_export_schemas(args: argparse.Namespace) -> int:
    from schemas.export import write_schemas

    for p in write_schemas():
        print(p)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from server.demo_run import run_demo

    return run_demo(host=args.host, port=args.port, path=args.path, serve=not args.no_serve)


def cmd_bench(args: argparse.Namespace) -> int:
    from server.bench import run_cli

    return run_cli(args)


def cmd_simulate(args: argparse.Namespace) -> int:
    from server.simulate import run_cli

    return run_cli(args)


def cmd_verify(args: argparse.Namespace) -> int:
    from server.verify import run_cli

    return run_cli(args)


def cmd_loadtest(args: argparse.Namespace) -> int:
    from server.loadtest import run_cli

    return run_cli(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fieldsync", description="Offline-first field-service backend.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP server")
    s.add_argument("--db", help=f"database URL (default $FIELDSYNC_DB or {DEFAULT_DB})")
    # no flag defaults here: an unset flag leaves the FIELDSYNC_* variable (or the default) in force
    s.add_argument("--host", help="bind address (default $FIELDSYNC_HOST or 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default $FIELDSYNC_PORT or 8000)")
    s.add_argument("--workers", type=int, help="worker processes (default $FIELDSYNC_WORKERS or 1)")
    s.add_argument("--log-level", default="info")
    s.set_defaults(func=cmd_serve)

    d = sub.add_parser("demo", help="fresh embedded DB, demo data, a simulated offline day, then the console")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8000)
    d.add_argument("--path", default="fieldsync-demo.db", help="demo database file (recreated)")
    d.add_argument("--no-serve", action="store_true", help="prepare the demo and exit")
    d.set_defaults(func=cmd_demo)

    b = sub.add_parser("bench", help="benchmark the real push, pull, SDK and SLA paths")
    b.add_argument("--json", action="store_true", help="one JSON object per line")
    b.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    b.add_argument("--scenario", action="append", help="run only this scenario (repeatable)")
    b.add_argument("--scale", type=float, default=1.0, help="shrink (<1) or grow every scenario's size")
    b.add_argument("--pg", default=None, help="PostgreSQL URL (default $FIELDSYNC_TEST_PG or the local test db)")
    b.set_defaults(func=cmd_bench)

    m = sub.add_parser("simulate", help="randomized fleet simulation with faults; exit 1 on any lost op")
    m.add_argument("--devices", type=int, default=10)
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--faults", action="store_true", help="drop, duplicate, delay and reorder; crash and restart")
    m.add_argument("--rounds", type=int, default=20)
    m.add_argument("--db", default=None, help="server database URL (default: a temporary SQLite file)")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_simulate)

    v = sub.add_parser("verify", help="check a service report PDF or sign-off bundle offline")
    v.add_argument("file")
    v.add_argument("--server-key", help="hex or base64 server public key to trust (default: the one embedded)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_verify)

    lt = sub.add_parser("loadtest", help="device sessions pushing and pulling; throughput, p50/p99, errors, RSS")
    lt.add_argument("--sessions", type=int, default=500)
    lt.add_argument("--seconds", type=float, default=60.0)
    lt.add_argument("--url", default=None, help="a running server (default: start one on a temporary SQLite file)")
    lt.add_argument("--db", default=None, help="the server's database URL (required with --url)")
    lt.add_argument("--server-pid", type=int, default=None, help="sample this process's RSS (with --url)")
    lt.add_argument("--workers", type=int, default=1, help="server worker processes when the command starts it")
    lt.add_argument("--json", action="store_true")
    lt.set_defaults(func=cmd_loadtest)

    a = sub.add_parser("admin", help="operator tasks").add_subparsers(dest="admin", required=True)
    x = a.add_parser("seed-demo", help="load demo data into an empty database")
    x.add_argument("--db")
    x.set_defaults(func=cmd_seed)
    x = a.add_parser("engineers", help="list engineers")
    x.add_argument("--db")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_engineers)
    x = a.add_parser("enroll-token", help="one-time enrollment token for an engineer's tablet")
    x.add_argument("--engineer", required=True)
    x.add_argument("--db")
    x.set_defaults(func=cmd_enroll_token)
    x = a.add_parser("token", help="staff API token")
    x.add_argument("--role", required=True, choices=["dispatcher", "backoffice", "admin"])
    x.add_argument("--name")
    x.add_argument("--db")
    x.set_defaults(func=cmd_token)
    x = a.add_parser("user", help="create or reset a console user (password read from stdin)")
    x.add_argument("--name", required=True)
    x.add_argument("--role", required=True, choices=["dispatcher", "backoffice", "admin"])
    x.add_argument("--db")
    x.set_defaults(func=cmd_user)
    x = a.add_parser("backup", help="online backup of a SQLite database to a file (checked)")
    x.add_argument("--db")
    x.add_argument("--out", required=True, help="backup file to write")
    x.set_defaults(func=cmd_backup)
    x = a.add_parser("restore", help="restore a SQLite database from a backup file (refuses one in use)")
    x.add_argument("--db")
    x.add_argument("--from", dest="source", required=True, help="backup file to restore")
    x.add_argument("--force", action="store_true", help="overwrite even while another process has it open")
    x.set_defaults(func=cmd_backup)
    x = a.add_parser("export-schemas", help="write the JSON Schemas of the wire types to schemas/json/")
    x.set_defaults(func=cmd_export_schemas)

    from server.domain.sla.cli import add_commands as add_sla_commands

    add_sla_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fieldsync`` console script."""
    args = build_parser().parse_args(argv)
    from server.ports import PortUnavailable
    from server.settings import SettingsError
    from sync.storage import StorageError

    try:
        code: int = args.func(args)
    except (StorageError, SettingsError, PortUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
