"""The developer tools' commands of ``fieldsync``: demo, bench, simulate, loadtest and ``admin seed-demo``.

:func:`add_commands` hangs them on the production parser of :mod:`server.cli`;
:mod:`fieldsync.cli` (the console script) does that, so ``server`` never imports
the tools.  Each command imports its tool when it runs: ``fieldsync serve``
does not load the benchmark harness, the fleet simulation or the tablet SDK.

``demo`` and ``admin seed-demo`` take ``--locale`` (``zh-CN`` or ``en``), the
demo world to load; an unknown one is a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys

from schemas import i18n
from server.cli import CommandGroups, db_url, open_services
from server.cli_text import error, say


def demo_locale(value: str) -> str:
    """``--locale``: a locale the catalogs hold (``zh-CN``, ``zh_CN``, ``en``), else a usage error."""
    locale = i18n.normalise(value.strip()[:40])
    if locale is None:
        raise argparse.ArgumentTypeError(say("demo.locale", value=repr(value[:40]),
                                             choices=", ".join(loc.replace("_", "-") for loc in i18n.LOCALES)))
    return locale


def cmd_seed(args: argparse.Namespace) -> int:
    # loaded when the command runs (module docstring)
    from tools.demo_data import seed_demo
    from tools.demo_data_zh import WORLDS

    svc = open_services(db_url(args), create=True)
    with svc.db.read() as tx:
        row = tx.one("SELECT COUNT(*) AS n FROM engineers")
    if row and row["n"]:
        print(error(say("seed.has_data")), file=sys.stderr)
        return 2
    ids = seed_demo(svc, WORLDS[args.locale])
    print(json.dumps(ids))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    # loaded when the command runs (module docstring)
    from tools.demo import run_demo

    return run_demo(host=args.host, port=args.port, path=args.path, serve=not args.no_serve, locale=args.locale)


def cmd_bench(args: argparse.Namespace) -> int:
    # loaded when the command runs (module docstring)
    from tools.bench import run_cli

    return run_cli(args)


def cmd_simulate(args: argparse.Namespace) -> int:
    # loaded when the command runs (module docstring)
    from tools.simulate import run_cli

    return run_cli(args)


def cmd_loadtest(args: argparse.Namespace) -> int:
    # loaded when the command runs (module docstring)
    from tools.loadtest import run_cli

    return run_cli(args)


def add_commands(groups: CommandGroups) -> None:
    """Add the tools' commands to the ``fieldsync`` parser."""
    sub = groups.commands
    d = sub.add_parser("demo", help="fresh embedded DB, demo data, a simulated offline day, then the console")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8000)
    d.add_argument("--path", default="fieldsync-demo.db", help="demo database file (recreated)")
    d.add_argument("--no-serve", action="store_true", help="prepare the demo and exit")
    d.add_argument("--locale", type=demo_locale, default="en",
                   help="demo world and language: en (default) or zh-CN (Chinese data, Asia/Shanghai, CN holidays)")
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

    lt = sub.add_parser("loadtest", help="device sessions pushing and pulling; throughput, p50/p99, errors, RSS")
    lt.add_argument("--sessions", type=int, default=500)
    lt.add_argument("--seconds", type=float, default=60.0)
    lt.add_argument("--url", default=None, help="a running server (default: start one on a temporary SQLite file)")
    lt.add_argument("--db", default=None, help="the server's database URL (required with --url)")
    lt.add_argument("--server-pid", type=int, default=None, help="sample this process's RSS (with --url)")
    lt.add_argument("--workers", type=int, default=1, help="server worker processes when the command starts it")
    lt.add_argument("--json", action="store_true")
    lt.set_defaults(func=cmd_loadtest)

    x = groups.admin.add_parser("seed-demo", help="load demo data into an empty database")
    x.add_argument("--db")
    x.add_argument("--locale", type=demo_locale, default="en", help="demo world: en (default) or zh-CN")
    x.set_defaults(func=cmd_seed)
