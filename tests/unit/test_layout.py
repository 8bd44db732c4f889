"""The layout's promises, read from the source: dependencies point one way, no import cycle, no hidden imports.

The import graph is built from the AST of every module of the project's packages: top-level imports,
imports inside functions and ``if TYPE_CHECKING:`` imports alike, since each is an edge a reader
follows.  ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "sync", "service_report", "server", "client_sdk", "tools", "fieldsync")

#: what each package may import (besides itself): schemas <- sync <- service_report <- server, client_sdk <- tools
MAY_IMPORT: dict[str, set[str]] = {
    "schemas": set(),
    "sync": {"schemas"},
    "service_report": {"schemas", "sync"},
    "server": {"schemas", "sync", "service_report"},
    "client_sdk": {"schemas", "sync", "service_report"},
    "tools": {"schemas", "sync", "service_report", "server", "client_sdk"},
    "fieldsync": {"server", "tools"},
}

@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    local: bool  # inside a function


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "node_modules" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _edges(module: str, path: Path) -> Iterator[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def in_function(node: ast.AST) -> bool:
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return True
        return False

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                yield Edge(module, target, node.lineno, in_function(node))


EDGES = [edge for module, path in MODULES.items() for edge in _edges(module, path)]


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for e in EDGES:
        graph[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_every_package_and_the_known_edges() -> None:
    assert {m.split(".")[0] for m in MODULES} == set(PACKAGES)
    assert Edge("fieldsync.cli", "tools.cli", 15, False) in EDGES  # a top-level import
    assert any(e.source == "tools.cli" and e.target == "tools.bench" and e.local for e in EDGES)  # in a function


def test_no_import_cycle_among_project_modules() -> None:
    assert _cycles() == []


@pytest.mark.parametrize("package", PACKAGES)
def test_dependencies_point_one_way(package: str) -> None:
    allowed = MAY_IMPORT[package] | {package}
    wrong = [f"{e.source}:{e.line} imports {e.target}" for e in EDGES
             if e.source.split(".")[0] == package and e.target.split(".")[0] not in allowed]
    assert wrong == []


def test_production_code_never_imports_the_sdk_or_the_tools() -> None:
    wrong = [f"{e.source}:{e.line} imports {e.target}" for e in EDGES
             if e.source.split(".")[0] == "server" and e.target.split(".")[0] in ("client_sdk", "tools")]
    assert wrong == []


def test_a_function_local_import_of_a_project_module_says_why() -> None:
    """An import inside a function hides a dependency; where one is needed, a comment on it (or just above
    its group of imports) says why."""
    unexplained = []
    for e in EDGES:
        if not e.local:
            continue
        lines = MODULES[e.source].read_text(encoding="utf-8").splitlines()
        n = e.line - 1
        if "#" in lines[n]:
            continue
        n -= 1
        while n >= 0 and lines[n].lstrip().startswith(("from ", "import ")) and "#" not in lines[n]:
            n -= 1
        if n < 0 or not lines[n].lstrip().startswith("#") and "#" not in lines[n].partition("import")[2]:
            unexplained.append(f"{e.source}:{e.line} imports {e.target}")
    assert sorted(set(unexplained)) == []


#: folders (and modules) whose SQL lives in a ``store.py`` beside the service: nothing else there writes SQL
SQL_ONLY_IN_STORES = ("server/console", "server/domain/activity", "server/domain/archive", "server/domain/blobs",
                      "server/domain/catalog", "server/domain/certifications", "server/domain/complaints",
                      "server/domain/conflicts", "server/domain/devices", "server/domain/followups",
                      "server/domain/kb", "server/domain/kpis", "server/domain/parts", "server/domain/plans",
                      "server/domain/reconciliation", "server/domain/signed_reports", "server/domain/staff",
                      "server/domain/tickets")
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.S)


def _sql_outside_stores() -> Iterator[str]:
    for place in SQL_ONLY_IN_STORES:
        path = ROOT / place
        for file in [path] if path.suffix == ".py" else sorted(path.rglob("*.py")):
            if file.name == "store.py":
                continue
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                    yield f"{file.relative_to(ROOT)}:{node.lineno}"


def test_sql_lives_in_the_stores() -> None:
    assert list(_sql_outside_stores()) == []


def test_the_sql_check_sees_sql() -> None:
    assert SQL.search("SELECT id FROM tickets WHERE id = ?") and SQL.search("DELETE FROM blobs")
    assert not SQL.search("select the engineer from the list")
