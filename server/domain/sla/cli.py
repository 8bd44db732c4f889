"""``fieldsync sla ...``: SLA questions an operator asks from a shell (today: when is a ticket due).

Self-contained: ``server.cli`` only calls ``add_commands``.  The answer is the
server's own (``service.due``), under the configuration the server would read
(``FIELDSYNC_SLA_POLICIES``, ``FIELDSYNC_TZ``, ``FIELDSYNC_HOLIDAYS``) on the
database of ``--db``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

import msgspec

from server.api_json import api_value
from server.cli import CommandGroups, db_url, open_services
from server.cli_text import error, say
from server.domain.sla import service
from server.domain.sla.due import CATEGORIES, DueTimes, parse_opened
from server.domain.sla.policy import PRIORITIES, PolicyError

__all__ = ["add_commands", "cmd_due", "due_lines"]


def add_commands(groups: CommandGroups) -> None:
    """Register ``sla due`` on the top-level subcommands of ``fieldsync`` (an extension of :mod:`server.cli`)."""
    sla = groups.commands.add_parser("sla", help="SLA questions: when is a ticket due").add_subparsers(
        dest="sla", required=True)
    x = sla.add_parser("due", help="each SLA target's due time for a ticket opened at a given time")
    x.add_argument("--priority", required=True, choices=PRIORITIES)
    x.add_argument("--opened", required=True, help="RFC 3339 date-time with offset, e.g. 2026-10-09T20:00+08:00")
    x.add_argument("--category", default="fault", choices=CATEGORIES, help="complaints use the complaint policy")
    x.add_argument("--db", help="database URL (default $FIELDSYNC_DB)")
    x.add_argument("--json", action="store_true", help="the JSON of GET /v1/sla/due")
    x.set_defaults(func=cmd_due)


def cmd_due(args: argparse.Namespace) -> int:
    try:
        opened_ms = parse_opened(args.opened)
    except ValueError as exc:
        print(error(say("sla.opened", reason=exc)), file=sys.stderr)
        return 2
    services = open_services(db_url(args))
    try:
        answer = service.due(services, args.priority, args.category, opened_ms)
    except (OSError, PolicyError) as exc:
        print(error(say("sla.policies", reason=exc)), file=sys.stderr)
        return 2
    finally:
        services.db.close()
    if args.json:
        print(json.dumps(msgspec.to_builtins(api_value(answer)), ensure_ascii=False))  # as the API writes it
    else:
        print("\n".join(due_lines(answer)))
    return 0


def due_lines(answer: DueTimes) -> list[str]:
    """The answer for a person: one line per target, due time in the calendar's zone (with weekday) and UTC."""
    lines = [say("sla.header", priority=answer.priority, policy=answer.policy, opened=_wall(answer.opened_local),
                 tz=answer.tz, utc=answer.opened_utc)]
    for t in answer.targets:
        where = t.calendar + (f", {t.tz}" if t.calendar != "24x7" else "") + (f", {t.region}" if t.region else "")
        if t.due_local is None or t.due_utc is None:
            due = say("sla.starts", times=say("sla.or").join(t.starts_on))
        else:
            due = say("sla.due", due=_wall(t.due_local), tz=t.tz, utc=t.due_utc)
        lines.append(f"  {t.target:<10} {t.duration:<6} {due}  [{where}]")
    return lines


def _wall(local_rfc3339: str) -> str:
    moment = datetime.fromisoformat(local_rfc3339)
    return f"{say(f'weekday.{moment.weekday()}')} {moment:%Y-%m-%d %H:%M}"
