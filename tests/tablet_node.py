"""Running the tablet app's JavaScript from pytest: Node, its locked dev dependencies, the rules file.

The app (``client_sdk/web``) has no build step, but its tests and type check need the npm dev
dependencies in ``client_sdk/web/node_modules``; :func:`ensure_node_modules` runs ``npm ci`` when they are
missing or differ from ``package-lock.json``.  Without Node these tests fail under ``CI=true`` and skip
elsewhere, like the browser tests without Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "client_sdk" / "web"


def require_node() -> None:
    """Skip (or fail under CI) when node and npm are not installed."""
    if shutil.which("node") and shutil.which("npm"):
        return
    if os.environ.get("CI") == "true":
        pytest.fail("node and npm are needed for the tablet app's tests and CI=true")
    pytest.skip("node/npm not installed")


def _installed_matches_lock() -> bool:
    lock = json.loads((WEB / "package-lock.json").read_text())
    for path, meta in lock.get("packages", {}).items():
        if not path or meta.get("optional"):
            continue
        manifest = WEB / path / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text()).get("version") != meta.get("version"):
            return False
    return True


def ensure_node_modules() -> None:
    """``npm ci`` in ``client_sdk/web`` unless node_modules already holds exactly the locked packages."""
    require_node()
    if (WEB / "node_modules").is_dir() and _installed_matches_lock():
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True, timeout=600)


def write_rules(path: Path) -> Path:
    """The rules document the server serves, as a file for the Node tests (``FIELDSYNC_RULES``)."""
    from server.tablet import rules_document

    path.write_text(json.dumps(rules_document()))
    return path


def run_node(args: list[str], env: dict[str, str] | None = None,
             timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run ``node`` in the app folder; output captured as text."""
    ensure_node_modules()
    return subprocess.run(["node", *args], cwd=WEB, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)
