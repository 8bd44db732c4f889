"""``fieldsync verify FILE``: check a service-report PDF or a sign-off bundle offline.

No database and no network: everything needed is in the file, and the only
outside input is the server public key to trust (``--server-key``, hex or
base64).  Exit codes: 0 valid, 1 invalid (the reasons are printed), 2 the file
cannot be read or is neither a report PDF nor a bundle.  The lines for a person
are in the operator's language (:mod:`server.cli_text`); ``VALID``/``INVALID``
lead their line in every language, and ``--json`` is the same in all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from server.cli_text import error, say
from service_report.pdf import ReportUnreadable, parse_server_key, verify_file_bytes
from sync.timetext import utc_text


def run_cli(args: argparse.Namespace) -> int:
    """Entry of the ``verify`` subcommand (see the module docstring for exit codes)."""
    as_json = bool(getattr(args, "json", False))

    def fail(reason: str) -> int:
        if as_json:
            print(json.dumps({"valid": False, "unreadable": True, "problems": [reason]}))
        else:
            print(error(reason), file=sys.stderr)
        return 2

    trusted: list[bytes | None] = [None]
    if getattr(args, "server_key", None):
        try:  # one or more (a server's keys before and after a rotation: `fieldsync admin keys`)
            trusted = [parse_server_key(k) for k in args.server_key]
        except ValueError as exc:
            return fail(f"--server-key: {exc}")
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        return fail(say("verify.cannot_read", file=args.file, reason=exc.strerror or exc))
    try:
        verdicts = [verify_file_bytes(data, key) for key in trusted]
        verdict = next((v for v in verdicts if v.valid), verdicts[-1])
    except ReportUnreadable as exc:
        return fail(f"{args.file}: {exc}")
    if as_json:
        print(json.dumps(verdict.as_dict()))
    else:
        what = say("verify.pdf" if verdict.kind == "pdf" else "verify.bundle")
        signed = utc_text(verdict.signed_at, "%Y-%m-%dT%H:%M:%S+00:00") if verdict.signed_at else "-"
        print(say("verify.of_job", file=args.file, what=what, job=verdict.job_id or "?"))
        print(say("verify.signed", signer=verdict.signer_name or "?", at=signed, device=verdict.device_id or "?"))
        print(say("verify.digest", digest=verdict.report_digest or "?"))
        if verdict.sealed_by:
            print(say("verify.sealed", by=verdict.sealed_by))
        if verdict.server_key_fingerprint:
            pin = say("verify.pinned" if verdict.server_key_pinned else "verify.not_pinned")
            print(say("verify.server_key", fingerprint=verdict.server_key_fingerprint, pin=pin))
        if verdict.amendments:
            print(say("verify.amended", count=len(verdict.amendments)))
            for a in verdict.amendments:
                print(say("verify.amendment", at=utc_text(int(a["at"]), "%Y-%m-%dT%H:%M:%S+00:00"),
                          engineer=a["engineer_id"], key=a["key"], value=json.dumps(a["value"], ensure_ascii=False),
                          reason=a["reason"]))
        if verdict.valid:
            print(say("verify.valid"))
        else:
            print(say("verify.invalid"))
            for p in verdict.problems:
                print(f"  - {p}")
    return 0 if verdict.valid else 1
