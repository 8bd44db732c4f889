"""The production commands of ``fieldsync``: serve, verify and the operator's admin tasks.

The developer tools (demo, bench, simulate, loadtest, ``admin seed-demo``) live
in :mod:`tools.cli`; :mod:`fieldsync.cli`, the console script, hands them to
:func:`build_parser` so one ``fieldsync`` command holds both while ``server``
never imports ``tools``.  Each command imports what it runs when it runs, so
``fieldsync verify`` does not load the web stack and ``serve`` does not load the
admin helpers.

Operators script these, so output is plain (``--json`` where a machine reads it)
and exit codes mean something: 0 ok, 1 a check failed, 2 bad usage or input
(an unreachable database, a missing SQLite file, a port already taken, a
malformed ``FIELDSYNC_*`` variable: one line on stderr).  What they say to a person
is in the operator's language (:mod:`server.cli_text`: ``FIELDSYNC_LOCALE``, else
``LANG``); what scripts read (``--json``, tokens, ids) is the same in every one.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from schemas import i18n
from schemas.export import write_schemas
from server.backup import (
    BackupError,
    backup_postgres,
    backup_sqlite,
    restore_postgres,
    restore_sqlite,
    sqlite_path,
)
from server.cli_text import cli_locale, error, say
from server.keys import ServerKeyLocked
from server.ports import PortUnavailable, check_port
from server.settings import DEFAULT_DB, SettingsError, get_settings, uvicorn_proxy_options
from sync.storage import StorageError

if TYPE_CHECKING:
    from server.services import Services


@dataclass(frozen=True, slots=True)
class CommandGroups:
    """Where more commands hang: the top-level subcommands and the ``admin`` ones."""

    commands: argparse._SubParsersAction[argparse.ArgumentParser]
    admin: argparse._SubParsersAction[argparse.ArgumentParser]


Extension = Callable[[CommandGroups], None]


def db_url(args: argparse.Namespace) -> str:
    """The database URL of a command: ``--db``, then ``FIELDSYNC_DB``, then the default."""
    return args.db or os.environ.get("FIELDSYNC_DB") or DEFAULT_DB


def open_services(url: str, *, create: bool = False) -> Services:
    """Services on the database at ``url``; a SQLite file must exist unless ``create``."""
    # on use, like every command's imports here: `fieldsync verify` need not load the web stack
    from server.services import Services
    from sync.storage import open_database
    from sync.storage.sqlite import MissingDatabase

    try:
        db = open_database(url, create=create)
    except MissingDatabase as exc:
        raise StorageError(say("open.missing_db", error=exc)) from exc
    return Services(db=db, settings=get_settings(db_url=url))


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    # loaded when the command runs (module docstring): the web stack's logging, not needed by verify
    from server.observability import logging_config

    url = db_url(args)
    settings = get_settings(db_url=url, host=args.host, port=args.port, workers=args.workers)
    check_port(settings.host, settings.port)  # before migrating: a taken port is one line, not uvicorn's exit 3
    os.environ["FIELDSYNC_DB"] = url
    services = open_services(url, create=True)  # migrate once before workers start
    try:
        key = services.key  # a sealed key that FIELDSYNC_KEY_FILE does not open stops here, in one line
    except ServerKeyLocked as exc:
        print(error(exc.message), file=sys.stderr)
        return 2
    finally:
        services.db.close()
    if not all(link.sealed for link in key.chain):
        print(say("keys.raw_warning"), file=sys.stderr)
    uvicorn.run("server.app:serve_app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_level=args.log_level,
                log_config=logging_config(settings.log_format, args.log_level), **uvicorn_proxy_options(settings))
    return 0


def cmd_engineers(args: argparse.Namespace) -> int:
    import msgspec

    # loaded when the command runs (module docstring)
    from server.domain.catalog.service import list_engineers

    engineers = list_engineers(open_services(db_url(args)))
    if args.json:
        print(json.dumps(msgspec.to_builtins(engineers)))
    else:
        for e in engineers:
            print(f"{e.id}\t{e.name}\t{e.van_location}\t{','.join(e.skills)}")
    return 0


def cmd_enroll_token(args: argparse.Namespace) -> int:
    # loaded when the command runs (module docstring)
    from server.domain.devices.service import issue_enroll_token
    from server.errors import DomainError

    try:
        token, _ = issue_enroll_token(open_services(db_url(args)), args.engineer)
    except DomainError as exc:
        print(error(exc.detail_in(cli_locale())), file=sys.stderr)
        return 2
    print(token)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    # loaded when the command runs (module docstring)
    from server.security import issue_staff_token

    try:
        token = issue_staff_token(open_services(db_url(args)), args.role, args.name or args.role,
                                  days=args.days or None)
    except ValueError as exc:
        print(error(str(exc)), file=sys.stderr)
        return 2
    print(token)
    return 0


def cmd_tokens(args: argparse.Namespace) -> int:
    """List staff tokens: id (start of the hash), name, role, created, expires, revoked."""
    # loaded when the command runs (module docstring)
    from server.security import list_staff_tokens
    from sync.timetext import utc_text

    tokens = list_staff_tokens(open_services(db_url(args)))
    if args.json:
        print(json.dumps([{"id": t.id, "name": t.name, "role": t.role, "created_at": t.created_at,
                           "expires_at": t.expires_at, "revoked_at": t.revoked_at} for t in tokens]))
        return 0
    print(say("tokens.header"))
    for t in tokens:
        expires = say("tokens.never") if t.expires_at is None else utc_text(t.expires_at, "%Y-%m-%d %H:%M")
        revoked = "-" if t.revoked_at is None else utc_text(t.revoked_at, "%Y-%m-%d %H:%M")
        print(f"{t.id:<12}  {t.name[:20]:<20}  {t.role:<10}  {utc_text(t.created_at, '%Y-%m-%d %H:%M'):<16}  "
              f"{expires:<16}  {revoked}")
    return 0


def cmd_revoke_token(args: argparse.Namespace) -> int:
    # loaded when the command runs (module docstring)
    from server.security import revoke_staff_token

    try:
        n = revoke_staff_token(open_services(db_url(args)), args.id)
    except ValueError as exc:
        print(error(str(exc)), file=sys.stderr)
        return 2
    if n == 0:
        print(error(say("tokens.none_live", id=args.id)), file=sys.stderr)
        return 2
    print(say("tokens.revoked", id=args.id))
    return 0


def cmd_webhooks(args: argparse.Namespace) -> int:
    """The webhook delivery log, newest attempt first, and the outbox's backlog."""
    # loaded when the command runs (module docstring)
    from server.domain.webhooks.service import backlog, list_deliveries
    from sync.timetext import utc_text

    services = open_services(db_url(args))
    log = list_deliveries(services, args.limit, args.event_id)
    waiting = backlog(services)
    if args.json:
        print(json.dumps({"backlog": waiting, "deliveries": [msgspec.to_builtins(d) for d in log]}))
        return 0

    def text(key: str, **params: object) -> str:
        return i18n.text(cli_locale(), "webhooks", key, **params)

    print(text("cli.backlog", **waiting))
    if not log:
        print(text("cli.none"))
        return 0
    print(text("cli.header"))
    for d in log:
        result = str(d.status_code) if d.status_code is not None else (d.error or "-")[:40]
        print(f"{utc_text(d.at, '%Y-%m-%d %H:%M:%S'):<18}{d.attempt:<9}{result[:10]:<11}{d.state:<11}"
              f"{d.event} {d.event_id}")
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    """List console users: name, role, created, disabled."""
    # loaded when the command runs (module docstring)
    from server.console.auth import list_users
    from sync.timetext import utc_text

    users = list_users(open_services(db_url(args)))
    if args.json:
        print(json.dumps(users))
        return 0
    for u in users:
        state = say("users.enabled") if u["disabled_at"] is None else say(
            "users.disabled", at=utc_text(int(str(u["disabled_at"])), "%Y-%m-%d %H:%M"))
        print(f"{u['name']:<24}  {u['role']:<10}  {state}")
    return 0


def cmd_disable_user(args: argparse.Namespace) -> int:
    # loaded when the command runs (module docstring)
    from server.console.auth import disable_user
    from server.errors import DomainError

    try:
        disable_user(open_services(db_url(args)), args.name)
    except DomainError as exc:
        print(error(exc.detail), file=sys.stderr)
        return 2
    print(say("users.disabled_now", name=args.name))
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    """Create or reset a console user; the password comes from stdin (prompted twice on a terminal)."""
    # loaded when the command runs (module docstring)
    from server.console.auth import set_user
    from server.errors import DomainError

    services = open_services(db_url(args))  # a wrong --db is an error before anyone types a password
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass(say("user.password"))
        if getpass.getpass(say("user.again")) != password:
            print(error(say("user.passwords_differ")), file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        created = set_user(services, args.name, args.role, password)
    except DomainError as exc:
        print(error(exc.detail_in(cli_locale())), file=sys.stderr)
        return 2
    print(say("user.created" if created else "user.updated", name=args.name, role=args.role))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """The database's schema version against this code's: 0 current, 1 migrations pending, 2 newer or bad."""
    # loaded when the command runs (module docstring)
    from sync.storage import open_database
    from sync.storage.schema import latest_version, pending_versions, schema_version

    db = open_database(db_url(args), create=False, migrate_schema=False)
    try:
        with db.read() as tx:
            version, pending = schema_version(tx), pending_versions(tx)
    finally:
        db.close()
    code = latest_version()
    state = "newer" if version > code else "pending" if pending else "current"
    if args.json:
        print(json.dumps({"database": db.dialect, "schema_version": version, "code_version": code,
                          "pending": pending, "state": state}))
    else:
        print(say(f"status.{state}", dialect=db.dialect, version=version, code=code, n=len(pending),
                  pending=", ".join(map(str, pending))))
    return 2 if version > code else 1 if pending else 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations (in one transaction with their records: all or none) and say which."""
    # loaded when the command runs (module docstring)
    from sync.storage import open_database
    from sync.storage.schema import latest_version, pending_versions

    db = open_database(db_url(args), create=False, migrate_schema=False)
    try:
        with db.read() as tx:
            pending = pending_versions(tx)
    finally:
        db.close()
    open_database(db_url(args), create=False).close()  # migrates, under the migrators' lock on PostgreSQL
    print(say("migrate.applied" if pending else "migrate.nothing", version=latest_version(),
              pending=", ".join(map(str, pending))))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Backup or restore: SQLite's online backup API, or pg_dump / pg_restore for PostgreSQL."""
    url = db_url(args)
    path = sqlite_path(url)
    try:
        if path is None:
            if args.admin == "backup":
                pg = backup_postgres(url, args.out)
            else:
                pg = restore_postgres(args.source, url, force=args.force)
            print(say("backup.pg_written" if args.admin == "backup" else "backup.pg_restored", path=pg.path,
                      bytes=pg.bytes, tables=pg.tables, version=pg.schema_version))
            return 0
        if args.admin == "backup":
            result = backup_sqlite(path, args.out)
        else:
            result = restore_sqlite(args.source, path, force=args.force)
    except BackupError as exc:
        print(error(exc.message), file=sys.stderr)
        return exc.exit_code
    print(say("backup.written" if args.admin == "backup" else "backup.restored", path=result.path,
              bytes=result.bytes, pages=result.pages, version=result.schema_version, integrity=result.integrity))
    return 0


def _key_file(args: argparse.Namespace, name: str = "key_file") -> str | None:
    return getattr(args, name, None) or get_settings().key_file


def cmd_keys(args: argparse.Namespace) -> int:
    """The server's public keys, oldest first: id, created, sealed at rest, the key (hex) to pin in verify."""
    # loaded when the command runs (module docstring)
    from server.keys import key_chain
    from sync.timetext import utc_text

    chain = key_chain(open_services(db_url(args)).db)
    if args.json:
        print(json.dumps([{"id": k.key_id, "public_key": k.public.hex(), "created_at": k.created_at,
                           "sealed": k.sealed, "endorsed": k.endorsement is not None} for k in chain]))
        return 0
    for n, k in enumerate(chain):
        state = say("keys.current" if n == len(chain) - 1 else "keys.older")
        print(f"{k.key_id}  {utc_text(k.created_at, '%Y-%m-%d %H:%M')}  "
              f"{say('keys.is_sealed' if k.sealed else 'keys.is_raw'):<10}  {state:<8}  {k.public.hex()}")
    return 0


def cmd_encrypt_key(args: argparse.Namespace) -> int:
    """Seal the stored signing keys under the key file (re-seal with --old-key-file when the file changes)."""
    # loaded when the command runs (module docstring)
    from server.keys import encrypt_server_keys, load_or_create_server_key, read_key_file

    path = _key_file(args)
    if path is None:
        print(error(say("keys.no_key_file")), file=sys.stderr)
        return 2
    services = open_services(db_url(args))
    try:
        kek = read_key_file(path)
        assert kek is not None
        n = encrypt_server_keys(services.db, kek, read_key_file(args.old_key_file))
        load_or_create_server_key(services.db, services.clock(), kek)  # a database without a key gets one, sealed
    except ServerKeyLocked as exc:
        print(error(exc.message), file=sys.stderr)
        return 2
    print(say("keys.sealed_now", n=n, file=path))
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    """A new signing key endorsed by the current one; the old public keys stay (what they signed verifies)."""
    # loaded when the command runs (module docstring)
    from server.keys import read_key_file, rotate_server_key

    services = open_services(db_url(args))
    try:
        before = services.key
        after = rotate_server_key(services.db, services.clock(), read_key_file(services.settings.key_file))
    except ServerKeyLocked as exc:
        print(error(exc.message), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"id": after.key_id, "public_key": after.public.hex(), "previous_id": before.key_id}))
    else:
        print(say("keys.rotated", id=after.key_id, previous=before.key_id, seconds=services.settings.key_refresh_s))
    return 0


def cmd_export_schemas(args: argparse.Namespace) -> int:
    for p in write_schemas():
        print(p)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    # loaded when the command runs (module docstring)
    from server.verify import run_cli

    return run_cli(args)


def build_parser(*extensions: Extension) -> argparse.ArgumentParser:
    """The parser of the production commands, with each extension's commands added."""
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

    v = sub.add_parser("verify", help="check a service report PDF or sign-off bundle offline")
    v.add_argument("file")
    v.add_argument("--server-key", action="append",
                   help="hex or base64 server public key to trust, repeatable: any of them (default: the one "
                        "embedded; `fieldsync admin keys` lists a server's keys)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_verify)

    a = sub.add_parser("admin", help="operator tasks").add_subparsers(dest="admin", required=True)
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
    x.add_argument("--days", type=int, default=90, help="days it stays valid (default 90; 0: until revoked)")
    x.add_argument("--db")
    x.set_defaults(func=cmd_token)
    x = a.add_parser("tokens", help="list staff tokens (their ids, never the tokens)")
    x.add_argument("--json", action="store_true")
    x.add_argument("--db")
    x.set_defaults(func=cmd_tokens)
    x = a.add_parser("revoke-token", help="revoke a staff token by the id `admin tokens` lists")
    x.add_argument("id")
    x.add_argument("--db")
    x.set_defaults(func=cmd_revoke_token)
    x = a.add_parser("webhooks", help="the webhook delivery log (newest first) and the outbox's backlog")
    x.add_argument("--event-id", help="only this event's attempts")
    x.add_argument("--limit", type=int, default=50)
    x.add_argument("--json", action="store_true")
    x.add_argument("--db")
    x.set_defaults(func=cmd_webhooks)
    x = a.add_parser("users", help="list console users")
    x.add_argument("--json", action="store_true")
    x.add_argument("--db")
    x.set_defaults(func=cmd_users)
    x = a.add_parser("disable-user", help="disable a console user and end their sessions")
    x.add_argument("name")
    x.add_argument("--db")
    x.set_defaults(func=cmd_disable_user)
    x = a.add_parser("user", help="create or reset a console user (password read from stdin)")
    x.add_argument("--name", required=True)
    x.add_argument("--role", required=True, choices=["dispatcher", "backoffice", "admin"])
    x.add_argument("--db")
    x.set_defaults(func=cmd_user)
    x = a.add_parser("status", help="the database's schema version against this code's (exit 1: pending)")
    x.add_argument("--json", action="store_true")
    x.add_argument("--db")
    x.set_defaults(func=cmd_status)
    x = a.add_parser("migrate", help="apply pending migrations, before starting new serve processes")
    x.add_argument("--db")
    x.set_defaults(func=cmd_migrate)
    x = a.add_parser("backup", help="online backup to a file, checked (SQLite: backup API; PostgreSQL: pg_dump)")
    x.add_argument("--db")
    x.add_argument("--out", required=True, help="backup file to write")
    x.set_defaults(func=cmd_backup)
    x = a.add_parser("restore", help="restore a backup file (SQLite: refuses one in use; PostgreSQL: pg_restore "
                                     "into a database without fieldsync tables, one transaction)")
    x.add_argument("--db")
    x.add_argument("--from", dest="source", required=True, help="backup file to restore")
    x.add_argument("--force", action="store_true", help="overwrite even while another process has it open "
                                                          "(PostgreSQL: replace the fieldsync tables there)")
    x.set_defaults(func=cmd_backup)
    x = a.add_parser("keys", help="the server's public signing keys, oldest first (the current one last)")
    x.add_argument("--json", action="store_true")
    x.add_argument("--db")
    x.set_defaults(func=cmd_keys)
    x = a.add_parser("encrypt-key", help="seal the stored signing keys under the key file ($FIELDSYNC_KEY_FILE)")
    x.add_argument("--key-file", help="the key-encryption key file (default $FIELDSYNC_KEY_FILE)")
    x.add_argument("--old-key-file", help="the file the keys are sealed under now, to re-seal under a new one")
    x.add_argument("--db")
    x.set_defaults(func=cmd_encrypt_key)
    x = a.add_parser("rotate-key", help="a new signing key endorsed by the current one (older ones stay valid)")
    x.add_argument("--json", action="store_true")
    x.add_argument("--db")
    x.set_defaults(func=cmd_rotate_key)
    x = a.add_parser("export-schemas", help="write the JSON Schemas of the wire types to schemas/json/")
    x.set_defaults(func=cmd_export_schemas)
    for extend in extensions:
        extend(CommandGroups(commands=sub, admin=a))
    return p


def main(argv: Sequence[str] | None = None, *extensions: Extension) -> int:
    """Run one command of :func:`build_parser` (with ``extensions``); return its exit code."""
    args = build_parser(*extensions).parse_args(argv)
    try:
        code: int = args.func(args)
    except (StorageError, SettingsError, PortUnavailable) as exc:
        print(error(str(exc)), file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
