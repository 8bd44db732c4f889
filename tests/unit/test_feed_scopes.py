"""Which devices receive a pull record is decided in one place, ``server.feed.scopes_for``; writers publish
typed records and never name a feed scope."""

from __future__ import annotations

import ast
from pathlib import Path

import msgspec
import pytest

from client_sdk.testing import record
from schemas.records import RECORD_TYPES, Record
from server.feed import ALL, device_scopes, engineer_scope, publish, read_feed, scopes_for
from sync.storage import Database

ROOT = Path(__file__).resolve().parents[2]


def typed(kind: str, rid: str, **data: object) -> Record:
    return msgspec.convert(msgspec.to_builtins(record(kind, rid, **data)), Record)  # type: ignore[arg-type]


KINDS = {str(cls.__struct_config__.tag) for cls in RECORD_TYPES}
SAMPLE_IDS = {"answer": "J1/k", "stock": "van-e1/P", "attachment": "J1/" + "a" * 64, "template": "t@1"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_has_one_audience(kind: str) -> None:
    rec = typed(kind, SAMPLE_IDS.get(kind, "X1"), **({"engineer_id": "e-job"} if kind == "job" else {}))
    if kind in ("template", "part"):
        assert scopes_for(rec) == scopes_for(rec, "e-1") == [ALL]
    elif kind == "job":
        assert scopes_for(rec) == scopes_for(rec, "e-1") == [engineer_scope("e-job")]  # its own engineer
    else:
        assert scopes_for(rec, "e-1") == [engineer_scope("e-1")]
        with pytest.raises(ValueError, match=kind):
            scopes_for(rec)  # a record of one engineer's work without its engineer is a programming error


def test_a_device_reads_the_shared_scope_and_its_engineers(db: Database) -> None:
    with db.write() as tx:
        publish(tx, [typed("part", "P-1"), typed("job", "J1", engineer_id="e-1"),
                     typed("job", "J2", engineer_id="e-2")])
        publish(tx, [typed("stock", "van-e2/P-1", qty=3)], "e-2")
    seen = {e: [(c.kind, c.id) for c in read_feed(db, device_scopes(e), "", 100)[0]] for e in ("e-1", "e-2")}
    assert seen == {"e-1": [("part", "P-1"), ("job", "J1")],
                    "e-2": [("part", "P-1"), ("job", "J2"), ("stock", "van-e2/P-1")]}


def test_no_writer_outside_the_feed_names_a_scope_or_appends_raw_rows() -> None:
    raw = {"emit", "emit_many", "engineer_scope", "ALL"}
    offenders = []
    for path in sorted((ROOT / "server").rglob("*.py")):
        if path == ROOT / "server" / "feed.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "server.feed":
                offenders += [f"{path.relative_to(ROOT)}: {a.name}" for a in node.names if a.name in raw]
    assert offenders == []
