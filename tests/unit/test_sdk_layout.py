"""The SDK's layout holds: the facade and the modules that check and map hold no SQL, imports sit on top.

A reader asking "which SQL does ``set_status`` run?" finds it in
``client_sdk/write_sql.py``; "how does a row become a ``LocalJob``?" in
``client_sdk/reads.py``; "which rule refused my write?" in ``sync/core/rules.py``.
These tests keep it so as the SDK grows.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[2] / "client_sdk"
PROJECT_PACKAGES = ("schemas", "sync", "server", "client_sdk", "tools")
SQL = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|ALTER|DROP|PRAGMA|BEGIN|COMMIT|SAVEPOINT)\b", re.I)

#: modules that validate, map, sign or route: their SQL is in read_sql.py, write_sql.py and sync_sql.py
NO_SQL = ["client.py", "reads.py", "writes.py", "identity.py", "service_report.py", "syncer.py", "errors.py",
          "models.py", "keys.py", "clock.py", "__init__.py"]


def sdk_modules() -> list[Path]:
    return sorted(SDK.glob("*.py"))


def sql_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.lineno, node.value[:60]) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value)]


@pytest.mark.parametrize("name", NO_SQL)
def test_facade_reads_and_writes_hold_no_sql(name: str) -> None:
    assert sql_literals(SDK / name) == []


def test_the_sql_finder_finds_sql() -> None:
    found = sql_literals(SDK / "write_sql.py")
    assert any("UPDATE jobs" in text for _, text in found)
    assert any("INSERT INTO signoffs" in text for _, text in found)


def function_local_project_imports(path: Path) -> list[int]:
    """Line numbers of imports of project modules inside a function with no comment saying why."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    bare = []
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            if not any(n.split(".")[0] in PROJECT_PACKAGES for n in names):
                continue
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            if "#" not in lines[node.lineno - 1] and not above.startswith("#"):
                bare.append(node.lineno)
    return bare


@pytest.mark.parametrize("path", sdk_modules(), ids=lambda p: p.name)
def test_no_function_local_imports_of_project_modules_without_a_reason(path: Path) -> None:
    assert function_local_project_imports(path) == []


def test_the_import_finder_finds_a_bare_function_local_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from client_sdk import store\n\n\ndef g():\n"
                      "    # reportlab is slow to import\n    from sync import report_pdf\n")
    assert function_local_project_imports(module) == [2]
