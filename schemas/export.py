"""JSON Schema export of the wire types, for tablet apps written in Kotlin or Swift.

``python -m schemas.export`` (or ``fieldsync admin export-schemas``) writes one
file per message into ``schemas/json/``; a test checks the files are current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Final

import msgspec

from schemas import wire

JSON_DIR: Final = Path(__file__).parent / "json"

EXPORTED: Final[dict[str, object]] = {
    "changeset": wire.ChangeSet,
    "signed_changeset": wire.SignedChangeSet,
    "receipt": wire.Receipt,
    "signed": wire.Signed,
    "pull_request": wire.PullRequest,
    "pull_page": wire.PullPage,
    "challenge": wire.Challenge,
    "session_request": wire.SessionRequest,
    "session": wire.Session,
    "enroll_request": wire.EnrollRequest,
    "enrollment": wire.Enrollment,
}


def render_schemas() -> dict[str, str]:
    """File name -> JSON text of every exported wire type."""
    out: dict[str, str] = {}
    for name, tp in EXPORTED.items():
        schema = msgspec.json.schema(tp)
        schema["$comment"] = f"fieldsync protocol_version {wire.PROTOCOL_VERSION}"
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
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


if __name__ == "__main__":  # pragma: no cover - thin command
    for p in write_schemas():
        sys.stdout.write(f"{p}\n")
