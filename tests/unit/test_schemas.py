"""Wire types: JSON Schemas are current, golden bytes hold, codecs round-trip."""

from __future__ import annotations

import hashlib
import inspect
from typing import Literal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import domain, records, wire
from schemas.codec import changeset_decoder, encode, receipt_decoder
from schemas.export import EXPORTED, JSON_DIR, render_schemas, wire_schema
from schemas.signoff import ReportAnswer, ReportContent, ReportPart
from schemas.wire import AnswerItem, ChangeSet, MovePart, OpResult, Receipt, SetField, SetStatus, SignOff
from sync.core.signoff import report_digest


def test_json_schema_files_are_current() -> None:
    """Run `fieldsync admin export-schemas` when this fails."""
    rendered = render_schemas()
    on_disk = {p.name: p.read_text() for p in JSON_DIR.glob("*.json")}
    assert on_disk == rendered


def test_schema_descriptions_are_the_docstrings_without_indentation() -> None:
    """msgspec releases format docstrings differently; the exported text is ``inspect.cleandoc`` of each one."""
    for tp in EXPORTED.values():
        for title, definition in wire_schema(tp)["$defs"].items():
            doc = next(getattr(m, title) for m in (wire, records, domain) if hasattr(m, title)).__doc__
            assert definition.get("description") == (inspect.cleandoc(doc) if doc else None), title


class _Note(msgspec.Struct, frozen=True):
    description: str


class _Indented(msgspec.Struct):
    """First line.

    At the docstring's margin,
        and deeper.
    """

    note: _Note = _Note("  a default whose 'description'\n    keeps its spaces  ")
    kind: Literal["  an indented\n    literal  "] = "  an indented\n    literal  "


def test_only_schema_descriptions_are_normalised_never_default_values() -> None:
    schema = wire_schema(_Indented)
    definition = schema["$defs"]["_Indented"]
    assert definition["description"] == "First line.\n\nAt the docstring's margin,\n    and deeper."
    assert definition["properties"]["note"]["default"] == msgspec.to_builtins(_Indented().note)
    assert definition["properties"]["kind"] == {"enum": [_Indented().kind], "default": _Indented().kind}


GOLDEN = ChangeSet(protocol_version=1, device_id="D-1", seq=1, prev_hash="", device_clock=1_700_000_000_000,
                   ops=[SetStatus(op_id="o1", hlc=111_411_200_000_000_000, job_id="J-1", at=1_700_000_000_000,
                                  status="on_site"),
                        AnswerItem(op_id="o2", hlc=111_411_200_000_000_001, job_id="J-1", item_key="gas_tight",
                                   value=True)])
RECORDED_GOLDEN = "ff9822df3d0dca50711c40805ed8f9bd3b5f6256144cba159b731fc392157b25"


def test_golden_bytes_of_a_changeset_do_not_change() -> None:
    """Old tablets sign these exact bytes: an encoding change would break every signature in the field."""
    data = encode(GOLDEN)
    assert hashlib.sha256(data).hexdigest() == RECORDED_GOLDEN
    assert changeset_decoder.decode(data) == GOLDEN


def test_unknown_fields_from_a_newer_peer_are_ignored() -> None:
    newer = msgspec.msgpack.encode({"protocol_version": 1, "device_id": "D", "seq": 1, "prev_hash": "",
                                    "device_clock": 1, "ops": [], "future_field": {"x": 1}})
    assert changeset_decoder.decode(newer).seq == 1


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=50),
                    st.floats(allow_nan=False, allow_infinity=False))
ids = st.text(alphabet="abcdef0123456789", min_size=1, max_size=32)
ops = st.one_of(
    st.builds(SetStatus, op_id=ids, hlc=st.integers(0, 2**63 - 1), job_id=ids, at=st.integers(0, 2**62),
              status=st.sampled_from(["accepted", "on_site", "completed"]), hold_reason=st.none() | ids),
    st.builds(SetField, op_id=ids, hlc=st.integers(0, 2**63 - 1), job_id=ids,
              field=st.sampled_from(["notes", "diagnosis"]), value=st.text(max_size=200),
              base_hlc=st.integers(0, 2**63 - 1)),
    st.builds(AnswerItem, op_id=ids, hlc=st.integers(0, 2**63 - 1), job_id=ids, item_key=ids, value=scalars),
    st.builds(MovePart, op_id=ids, hlc=st.integers(0, 2**63 - 1), job_id=ids,
              kind=st.sampled_from(["consume", "return_old"]), part_no=ids, qty=st.integers(1, 1000),
              serial=st.none() | ids),
    st.builds(SignOff, op_id=ids, hlc=st.integers(0, 2**63 - 1), job_id=ids, signer_name=st.text(max_size=40),
              signer_role=st.just("customer"), signed_at=st.integers(0, 2**62), report_digest=ids,
              strokes=st.lists(st.lists(st.integers(0, 4000), max_size=20), max_size=5),
              device_signature=st.binary(min_size=64, max_size=64)),
)


@settings(max_examples=200, deadline=None)
@given(st.builds(ChangeSet, protocol_version=st.just(1), device_id=ids, seq=st.integers(1, 2**40),
                 prev_hash=st.text(alphabet="0123456789abcdef", max_size=64), device_clock=st.integers(0, 2**62),
                 ops=st.lists(ops, max_size=10)))
def test_changeset_round_trips_through_msgpack(cs: ChangeSet) -> None:
    assert changeset_decoder.decode(encode(cs)) == cs


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(OpResult, op_id=ids, result=st.sampled_from(["applied", "merged", "rejected",
                                                                        "needs_review"]),
                          reason=st.none() | st.text(max_size=30), conflict_id=st.none() | ids), max_size=20))
def test_receipt_round_trips(results: list[OpResult]) -> None:
    r = Receipt(protocol_version=1, device_id="D", seq=3, changeset_hash="h", server_time=5, clock_offset_ms=-7,
                results=results)
    assert receipt_decoder.decode(encode(r)) == r


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_the_decoder_with_anything_but_a_decode_error(data: bytes) -> None:
    try:
        changeset_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass


REPORT = ReportContent(job_id="J-1", ticket_id="T-1", engineer_id="e-1", diagnosis="Worn electrode", resolution="",
                       notes="Caf\u00e9 \"back\" door", template_id="svc", template_version=2,
                       answers=[ReportAnswer(key="flue_co", value=35), ReportAnswer(key="gas_tight", value=True),
                                ReportAnswer(key="remarks", value=None, na_reason="no access", note="n")],
                       parts=[ReportPart(op_id="o1", kind="consume", part_no="P-IGN", qty=1, serial="S/1")],
                       photos=["ab" * 32], times={"completed": 1_700_000_100_000, "on_site": 1_700_000_000_000})
RECORDED_REPORT_DIGEST = "f20ef8c0f37ec3c23bbe608b50340e83c7d93b60b541aa37fa3dc64f99388138"


def test_recorded_report_digest_does_not_change() -> None:
    """Customers signed digests of these exact bytes: a change would flag every signed job as changed."""
    assert report_digest(REPORT) == RECORDED_REPORT_DIGEST


def test_the_servers_received_types_mirror_the_wire_types() -> None:
    """``ReceivedSignOff`` / ``ReceivedChangeSet`` differ from the wire types only in how strokes decode."""
    from schemas.wire import ReceivedChangeSet, ReceivedSignOff

    for wire_type, received in ((SignOff, ReceivedSignOff), (ChangeSet, ReceivedChangeSet)):
        assert received.__struct_fields__ == wire_type.__struct_fields__
        assert received.__struct_defaults__ == wire_type.__struct_defaults__
        assert received.__struct_config__.tag == wire_type.__struct_config__.tag


@settings(max_examples=200, deadline=None)
@given(st.builds(ChangeSet, protocol_version=st.just(1), device_id=ids, seq=st.integers(1, 2**40),
                 prev_hash=st.text(alphabet="0123456789abcdef", max_size=64), device_clock=st.integers(0, 2**62),
                 ops=st.lists(ops, max_size=10)))
def test_a_received_changeset_holds_the_same_ops_with_strokes_undecoded(cs: ChangeSet) -> None:
    from schemas.codec import received_changeset_decoder, strokes_decoder

    received = received_changeset_decoder.decode(encode(cs))
    assert all(getattr(received, f) == getattr(cs, f) for f in ChangeSet.__struct_fields__ if f != "ops")
    assert len(received.ops) == len(cs.ops)
    for sent, got in zip(cs.ops, received.ops, strict=True):
        plain = msgspec.structs.asdict(got)
        if isinstance(sent, SignOff):
            assert bytes(got.strokes) == encode(sent.strokes)  # type: ignore[union-attr]
            plain["strokes"] = strokes_decoder.decode(got.strokes)  # type: ignore[union-attr]
        assert plain == msgspec.structs.asdict(sent)
