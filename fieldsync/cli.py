"""The ``fieldsync`` console script: :mod:`server.cli`'s production commands plus :mod:`tools.cli`'s.

The one module that sees both layers, so the dependency rule holds below it:
``tools`` imports ``server``, and ``server`` imports neither ``tools`` nor
``client_sdk``.  ``python -m fieldsync`` runs the same command.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from server import cli as server_cli
from server.domain.sla import cli as sla_cli
from tools import cli as tools_cli


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``fieldsync`` command (``tests/unit/test_docs.py`` checks each is documented)."""
    return server_cli.build_parser(sla_cli.add_commands, tools_cli.add_commands)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fieldsync`` console script."""
    return server_cli.main(argv, sla_cli.add_commands, tools_cli.add_commands)
