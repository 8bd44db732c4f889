"""``fieldsync simulate``: run the fleet simulation (:mod:`tools.fleet_sim`) and print its verdict.

Exit codes: 0 when every check held, 1 on any violation (a lost, doubled or
unexplained op, a device disagreeing with the server), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys

from tools.fleet_sim import SimConfig, format_report, report_json, run_simulation


def run_cli(args: argparse.Namespace) -> int:
    """Entry point wired by ``tools.cli``."""
    if args.devices < 1 or args.rounds < 1:
        print("error: --devices and --rounds must be at least 1", file=sys.stderr)
        return 2
    config = SimConfig(devices=args.devices, seed=args.seed, faults=bool(args.faults), rounds=args.rounds,
                       db_url=args.db)
    report = run_simulation(config)
    print(report_json(report) if args.json else format_report(report))
    return 0 if report.ok else 1
