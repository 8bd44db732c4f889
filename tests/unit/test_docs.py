"""The README documents every CLI command and the quick start that CI runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from fieldsync.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _commands(parser: argparse.ArgumentParser, prefix: str = "fieldsync") -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = _commands(sub, f"{prefix} {name}")
                out += nested or [f"{prefix} {name}"]
    return out


def test_every_cli_command_is_documented() -> None:
    missing = [c for c in _commands(build_parser()) if f"`{c}" not in README]
    assert not missing, f"document these in README.md: {missing}"


def test_ci_runs_the_readme_test_command() -> None:
    command = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest"
    assert command in README
    assert command in (ROOT / ".ci" / "run").read_text()
