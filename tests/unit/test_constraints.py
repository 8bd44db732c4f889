"""The minimum-versions constraints file pins exactly pyproject's lower bounds, so the bounds stay tested."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints" / "minimum.txt"
MINIMUM_COMMAND = ("python3 -m venv .venv-min && .venv-min/bin/pip install -q -c constraints/minimum.txt "
                   "-e '.[test]' && .venv-min/bin/python -m pytest && .venv-min/bin/ruff check . && .venv-min/bin/mypy")


def _direct_dependencies() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]


def _lower_bound(req: Requirement) -> Version:
    bounds = [Version(s.version) for s in req.specifier if s.operator == ">="]
    assert len(bounds) == 1, f"{req}: every direct dependency needs exactly one >= lower bound"
    return bounds[0]


def _pins() -> dict[str, tuple[Version, bool]]:
    """Name -> (pinned version, whether a comment explains it) for every line of the constraints file."""
    pins: dict[str, tuple[Version, bool]] = {}
    commented = False
    for line in CONSTRAINTS.read_text().splitlines():
        text, _, comment = line.partition("#")
        if not text.strip():
            commented = bool(comment.strip())  # a comment line explains the pin below it, a blank line ends that
            continue
        req = Requirement(text)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{line}: the constraints file pins exact versions"
        name = canonicalize_name(req.name)
        assert name not in pins, f"{name} pinned twice"
        pins[name] = (Version(spec.version), commented or bool(comment.strip()))
        commented = False
    return pins


def test_every_direct_dependency_is_pinned_to_its_lower_bound() -> None:
    pins = _pins()
    for req in _direct_dependencies():
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints/minimum.txt lacks {name}"
        assert pins[name][0] == _lower_bound(req), f"{name}: constraints/minimum.txt and pyproject.toml differ"


def test_transitive_pins_say_why_they_are_there() -> None:
    direct = {canonicalize_name(r.name) for r in _direct_dependencies()}
    unexplained = [name for name, (_, commented) in _pins().items() if name not in direct and not commented]
    assert not unexplained, f"say in a comment why these transitive dependencies are pinned: {unexplained}"


def test_the_readme_says_how_to_run_the_suite_on_the_minimum_versions() -> None:
    assert MINIMUM_COMMAND in (ROOT / "README.md").read_text()
