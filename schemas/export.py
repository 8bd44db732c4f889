"""JSON Schema export of the wire types, for tablet apps written in Kotlin or Swift.

``python -m schemas.export`` (or ``fieldsync admin export-schemas``) writes one
file per message into ``schemas/json/``, and ``rules.json``: the device-write
rules of :mod:`schemas.rules` with the status machine, which the tablet apps
check writes against; a test checks the files are current.

The files must be the same bytes whatever msgspec version pyproject allows, so
nothing msgspec formats by its own choice reaches them unnormalised: class
docstrings become ``description`` with ``inspect.cleandoc`` (msgspec 0.23 strips
their indentation, older releases kept it).
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any, Final

import msgspec

from schemas import wire
from schemas.rules import rules_document

JSON_DIR: Final = Path(__file__).parent / "json"
RULES_FILE: Final = "rules.json"

EXPORTED: Final[dict[str, object]] = {
    "changeset": wire.ChangeSet,
    "signed_changeset": wire.SignedChangeSet,
    "receipt": wire.Receipt,
    "accepted": wire.Accepted,
    "signed": wire.Signed,
    "pull_request": wire.PullRequest,
    "pull_page": wire.PullPage,
    "challenge": wire.Challenge,
    "session_request": wire.SessionRequest,
    "session": wire.Session,
    "enroll_request": wire.EnrollRequest,
    "enrollment": wire.Enrollment,
}

# Keywords whose values are maps of name -> subschema, and keywords whose values are data, not schemas.
_NAMED_SUBSCHEMAS: Final = frozenset({"$defs", "properties", "patternProperties", "dependentSchemas"})
_DATA_KEYWORDS: Final = frozenset({"default", "const", "enum", "examples"})


def _normalised(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every ``description`` in ``inspect.cleandoc`` form; data values untouched."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "description" and isinstance(value, str):
            value = inspect.cleandoc(value)
        elif key in _NAMED_SUBSCHEMAS and isinstance(value, dict):
            value = {name: _normalised(sub) for name, sub in value.items()}
        elif key in _DATA_KEYWORDS:
            pass
        elif isinstance(value, dict):
            value = _normalised(value)
        elif isinstance(value, list):
            value = [_normalised(v) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out


def wire_schema(tp: object) -> dict[str, Any]:
    """The JSON Schema of one wire type, independent of the installed msgspec's formatting."""
    schema = _normalised(msgspec.json.schema(tp))
    schema["$comment"] = f"fieldsync protocol_version {wire.PROTOCOL_VERSION}"
    return schema


def json_text(value: object) -> str:
    """The one layout of every exported file: sorted keys, two-space indent, final newline."""
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def render_schemas() -> dict[str, str]:
    """File name -> text of every file in ``schemas/json/`` (the wire types' schemas and ``rules.json``)."""
    out = {f"{name}.schema.json": json_text(wire_schema(tp)) for name, tp in EXPORTED.items()}
    out[RULES_FILE] = render_rules()
    return out


def write_schemas(directory: Path = JSON_DIR) -> list[Path]:
    """Write the schema files; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


def render_rules() -> str:
    """The JSON text of ``rules.json`` (keys sorted, so the file changes only when a rule does)."""
    return json_text(rules_document())


if __name__ == "__main__":  # pragma: no cover - thin command
    for p in write_schemas():
        sys.stdout.write(f"{p}\n")
