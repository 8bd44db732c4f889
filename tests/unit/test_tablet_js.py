"""The tablet app's JavaScript: its Node test suite and its type check (``tsc --noEmit``, strict, checkJs).

The Node tests hold the engine to the shared protocol vectors (``schemas/vectors``: keys, HLCs, canonical
JSON, report digests, signatures, change-set, receipt and pull-page bytes), to the rules and to its
IndexedDB transactions, and hold the vendored modules to the locked npm packages byte for byte.
"""

from __future__ import annotations

from pathlib import Path

from tests.tablet_node import ROOT, WEB, ensure_node_modules, run_node, write_rules


def test_node_test_suite_passes(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules.json")
    result = run_node(["--test", "test/"], env={"FIELDSYNC_RULES": str(rules)})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "# fail 0" in result.stdout
    if (ROOT / "schemas" / "vectors").is_dir():
        # the shared protocol vectors run (only the live-server tests, run by the integration suite, skip:
        # live.test.js and rotation_live.test.js)
        assert "# skipped 2\n" in result.stdout, result.stdout[-3000:]


def test_typescript_check_passes() -> None:
    ensure_node_modules()
    for config in ("tsconfig.json", "tsconfig.sw.json"):
        result = run_node([str(WEB / "node_modules" / "typescript" / "bin" / "tsc"), "--noEmit", "-p", config])
        assert result.returncode == 0, f"{config}:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"
