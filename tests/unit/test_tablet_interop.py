"""Two implementations, one protocol: the tablet app's engine (JavaScript, in Node) against the Python code.

Generated ops are encoded by both and must be the same bytes, and each reads the other's bytes back to the
same values.  Generated writes (checklist answers, status changes, job fields, parts) are judged by the
app's rules (from the rules document) and by the server's push code: whatever the app lets an engineer
store offline, the server accepts; a refusal carries the same reason code on both sides.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any, cast

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import encode
from schemas.domain import ChecklistItem
from schemas.status import JOB_STATUSES
from schemas.wire import AnswerItem, Attach, Delete, MovePart, SetField, SetStatus, SignOff
from server.tablet import rules_document
from sync.core.checklist import validate_answer
from sync.core.merge import JobView, merge_status
from sync.core.rules import check_field, check_move, check_status
from tests.tablet_node import WEB, ensure_node_modules

SAFE = 2**53 - 1
NOW = 1_767_225_600_000  # an event time within the rules' bounds
EXAMPLES = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large])


def _to_json(value: Any) -> Any:
    """Python values as the Node side reads them: big integers and bytes marked (see tools/interop.js)."""
    if isinstance(value, bool) or value is None or isinstance(value, float | str):
        return value
    if isinstance(value, int):
        return value if -SAFE <= value <= SAFE else {"$int": str(value)}
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    raise TypeError(type(value))


def ask(kind: str, cases: list[Any], rules: bool = False) -> list[Any]:
    """Ask the engine (``client_sdk/web/tools/interop.js``) about ``cases``."""
    ensure_node_modules()
    request = {"kind": kind, "cases": _to_json(cases), **({"rules": rules_document()} if rules else {})}
    done = subprocess.run(["node", "tools/interop.js"], cwd=WEB, input=json.dumps(request), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return cast(list[Any], json.loads(done.stdout))


# -- ops ---------------------------------------------------------------------------------------------

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
maybe_text = st.none() | text
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
uint64 = st.integers(min_value=0, max_value=2**64 - 1)
# a float64 holding an integer is a Number like any integer in JavaScript (written as an int): not generated
floats = st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
scalar = st.none() | st.booleans() | int64 | floats | text
base = {"op_id": text, "hlc": uint64, "job_id": text, "at": int64}

ops = st.one_of(
    st.builds(SetStatus, status=text, hold_reason=maybe_text, note=maybe_text, **base),
    st.builds(SetField, field=st.sampled_from(["notes", "diagnosis", "resolution", "remote", "rating",
                                               "customer_comment"]),
              value=st.none() | st.booleans() | int64 | text, base_hlc=uint64, **base),
    st.builds(AnswerItem, item_key=text, value=scalar, note=maybe_text, na_reason=maybe_text,
              template_version=int64, base_hlc=uint64, **base),
    st.builds(MovePart, kind=st.sampled_from(["issue", "consume", "return_old", "transfer", "adjust"]),
              part_no=text, qty=int64, serial=maybe_text, returned_serial=maybe_text, from_location=maybe_text,
              to_location=maybe_text, **base),
    st.builds(SignOff, signer_name=text, signer_role=text, signed_at=int64, report_digest=text,
              strokes=st.lists(st.lists(int64, max_size=8), max_size=3), device_signature=st.binary(max_size=64),
              rating=st.none() | int64, comment=maybe_text, **base),
    st.builds(Attach, sha256=text, kind=st.sampled_from(["photo", "signature", "document"]), size=int64,
              content_type=text, **base),
    st.builds(Delete, entity=st.sampled_from(["answer", "attachment"]), key=text, **base),
)


@EXAMPLES
@given(st.lists(ops, min_size=1, max_size=40))
def test_the_engine_encodes_and_reads_every_op_as_python_does(batch: list[Any]) -> None:
    tagged = [{"type": type(op).__struct_config__.tag, **msgspec.to_builtins(op, builtin_types=(bytes,))}
              for op in batch]
    assert ask("encode_op", tagged) == [encode(op).hex() for op in batch]
    assert ask("decode_op", [encode(op).hex() for op in batch]) == _to_json(tagged)


# -- rules -------------------------------------------------------------------------------------------

bounds = st.none() | st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
items = st.builds(ChecklistItem, key=st.just("k"), label=st.just("item"),
                  type=st.sampled_from(["pass_fail", "number", "text", "choice", "photo"]),
                  required=st.booleans(), min=bounds, max=bounds,
                  choices=st.lists(st.sampled_from(["good", "fair", "poor", ""]), max_size=3))
answer_values = (st.none() | st.booleans() | int64 | st.floats(allow_nan=False, allow_infinity=False) | text
                 | st.sampled_from(["good", "fair", "0" * 64, "a" * 64, "A" * 64, "x" * 10_001])
                 | st.text(alphabet="0123456789abcdef", min_size=63, max_size=65))
reasons = st.none() | st.sampled_from(["", " ", "\u3000", "\x85", "\x1c", "\ufeff", "gauge broken"]) | text


@EXAMPLES
@given(st.lists(st.tuples(items, answer_values, reasons), min_size=1, max_size=60))
def test_the_engine_and_the_server_judge_every_answer_alike(cases: list[tuple[ChecklistItem, Any, Any]]) -> None:
    got = ask("check_answer", [{"item": msgspec.to_builtins(item), "value": value, "na_reason": na}
                               for item, value, na in cases], rules=True)
    assert got == [validate_answer(item, value, na) for item, value, na in cases]


def test_what_the_engine_lets_a_tablet_set_the_server_applies() -> None:
    statuses = [*JOB_STATUSES, "teleported"]
    holds = [None, "awaiting_parts", "awaiting_customer", "lunch"]
    cases = [{"current": c, "target": t, "hold_reason": h, "remote": r}
             for c in JOB_STATUSES for t in statuses for h in holds for r in (False, True)]
    verdicts = ask("check_status", cases, rules=True)
    for case, verdict in zip(cases, verdicts, strict=True):
        op = SetStatus(op_id="o", hlc=1, job_id="j", at=NOW, status=case["target"], hold_reason=case["hold_reason"])
        refused = check_status(op)  # the push checks the op, then replays it through the status machine
        job = JobView(id="j", engineer_id="e", status=case["current"], remote=case["remote"])
        server = (merge_status(job, op, "d", 1)
                  if refused is None else type("Refused", (), {"result": "rejected", "reason": refused})())
        if verdict is None:
            assert server.result == "applied", case
        elif server.result in ("rejected", "needs_review"):
            assert server.reason == verdict, (case, verdict, server)
        else:  # a step to the status the job is already in: the tablet does not offer it
            assert (server.result, server.reason) == ("merged", "already_in_status"), (case, verdict, server)


def _server_field(field: str, value: Any) -> str | None:
    return check_field(SetField(op_id="o", hlc=1, job_id="j", at=NOW, field=cast(Any, field), value=value))


@EXAMPLES
@given(st.lists(st.tuples(st.sampled_from(["notes", "diagnosis", "resolution", "customer_comment", "remote",
                                           "rating", "title"]),
                          st.none() | st.booleans() | int64 | text | st.just("x" * 10_001) | st.just("😀" * 6000)),
                min_size=1, max_size=60))
def test_the_engine_and_the_server_judge_every_job_field_alike(cases: list[tuple[str, Any]]) -> None:
    got = ask("check_field", [{"field": f, "value": v} for f, v in cases], rules=True)
    assert got == [_server_field(f, v) for f, v in cases]


def _server_part(serialized: bool | None, qty: int, serial: str | None) -> str | None:
    op = MovePart(op_id="o", hlc=1, job_id="j", at=NOW, kind="consume", part_no="P", qty=qty, serial=serial)
    return check_move(op, lambda part_no: serialized)


@EXAMPLES
@given(st.lists(st.tuples(st.none() | st.booleans(), st.integers(min_value=-5, max_value=20_000),
                          st.none() | st.sampled_from(["", "SN-1"])), min_size=1, max_size=60))
def test_the_engine_and_the_server_judge_every_part_used_alike(cases: list[tuple[bool | None, int, Any]]) -> None:
    got = ask("check_part", [{"part": None if s is None else {"serialized": s}, "qty": q, "serial": serial or None}
                             for s, q, serial in cases], rules=True)
    assert got == [_server_part(s, q, serial or None) for s, q, serial in cases]
