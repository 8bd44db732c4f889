"""Report digests over RFC 8785 canonical JSON, held against the ``rfc8785`` library as the oracle."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import canonical_json, legacy_canonical_json, sorted_json_encoder
from schemas.signoff import ReportAnswer, ReportContent, ReportPart, SignOffBundle
from sync.core.changeset import digest
from sync.core.signoff import digest_matches, report_digest, verify_bundle

SAFE = 2**53 - 1
texts = st.text(max_size=30)  # any code point but lone surrogates: control characters, CJK, emoji
ids = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=16)
floats = st.floats(allow_nan=False, allow_infinity=False)
safe_ints = st.integers(-SAFE, SAFE)


def contents(values: st.SearchStrategy[Any], time_keys: st.SearchStrategy[str]) -> st.SearchStrategy[ReportContent]:
    return st.builds(
        ReportContent, job_id=ids, ticket_id=ids, engineer_id=ids, diagnosis=texts, resolution=texts, notes=texts,
        template_id=st.none() | ids, template_version=st.none() | st.integers(0, 2**31),
        answers=st.lists(st.builds(ReportAnswer, key=texts, value=values, note=st.none() | texts,
                                   na_reason=st.none() | texts), max_size=8),
        parts=st.lists(st.builds(ReportPart, op_id=ids, kind=st.just("consume"), part_no=texts,
                                 qty=st.integers(1, 10_000), serial=st.none() | texts,
                                 returned_serial=st.none() | texts), max_size=4),
        photos=st.lists(ids, max_size=3), times=st.dictionaries(time_keys, st.integers(0, SAFE), max_size=3))


any_values = st.none() | st.booleans() | safe_ints | floats | texts
no_floats = st.none() | st.booleans() | safe_ints | texts


@settings(max_examples=400, deadline=None)
@given(contents(any_values, st.sampled_from(["on_site", "completed"]) | texts))
def test_the_canonical_json_of_report_content_is_rfc8785(content: ReportContent) -> None:
    assert canonical_json(content) == rfc8785.dumps(msgspec.to_builtins(content))


@settings(max_examples=400, deadline=None)
@given(contents(no_floats, st.text(alphabet=st.characters(max_codepoint=127), max_size=12)))
def test_msgspec_sorted_json_is_rfc8785_for_content_without_floats(content: ReportContent) -> None:
    """The fast path: msgspec's sorted output already is RFC 8785 when no float and no non-ASCII key is in it."""
    assert sorted_json_encoder.encode(content) == rfc8785.dumps(msgspec.to_builtins(content))


json_values = st.recursive(
    st.none() | st.booleans() | safe_ints | floats | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_the_canonical_json_of_any_json_value_is_rfc8785(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(("value", "text"), [
    (9.0, b"9"), (-0.0, b"0"), (1e21, b"1e+21"), (1e20, b"100000000000000000000"), (1e-7, b"1e-7"),
    (0.000001, b"0.000001"), (0.1, b"0.1"), (1.4, b"1.4"), (5e-324, b"5e-324"),
    (1.7976931348623157e308, b"1.7976931348623157e+308"), (123456789012345680000.0, b"123456789012345680000"),
    (2**60, b"1152921504606846976"), (-(2**63), b"-9223372036854775808"),  # exact, where RFC 8785 has no form
    ("\u20ac\x00\x1f\x7f\"\\/\u2028\U0001f600", '"\u20ac\\u0000\\u001f\x7f\\"\\\\/\u2028\U0001f600"'.encode()),
])
def test_numbers_and_strings_are_written_as_documented(value: Any, text: bytes) -> None:
    assert canonical_json(value) == text


def test_keys_sort_by_utf16_code_units_as_in_rfc8785() -> None:
    """The example of RFC 8785 section 3.2.3: an emoji (a surrogate pair) sorts before U+FB33."""
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    encoded = canonical_json({k: 0 for k in keys})
    assert encoded == rfc8785.dumps({k: 0 for k in keys})
    order = [encoded.index(msgspec.json.encode(k)) for k in ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600",
                                                              "\ufb33"]]
    assert order == sorted(order)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_value_with_no_canonical_form_is_refused(bad: float) -> None:
    content = ReportContent(job_id="J", ticket_id="T", engineer_id="e", diagnosis="", resolution="", notes="",
                            template_id=None, template_version=None, answers=[ReportAnswer(key="k", value=bad)],
                            parts=[], photos=[], times={})
    with pytest.raises(ValueError):
        canonical_json(content)


@settings(max_examples=200, deadline=None)
@given(contents(any_values | st.integers(-(2**63), 2**63 - 1), st.sampled_from(["on_site", "completed"])))
def test_the_stored_content_column_reads_back_to_the_same_digest(content: ReportContent) -> None:
    """The server stores the canonical text; the report and ``fieldsync verify`` digest it again."""
    stored = canonical_json(content).decode()
    again = msgspec.convert(msgspec.json.decode(stored), ReportContent)
    assert report_digest(again) == report_digest(content)


FLOATY = ReportContent(job_id="J-1", ticket_id="T-1", engineer_id="e-1", diagnosis="", resolution="", notes="",
                       template_id="svc", template_version=1,
                       answers=[ReportAnswer(key="flue_co2", value=9.0), ReportAnswer(key="pressure", value=1.4)],
                       parts=[], photos=[], times={"on_site": 1_700_000_000_000})


def test_a_sign_off_made_before_rfc8785_still_matches_its_content() -> None:
    """Reports signed over msgspec's form (``9.0``) keep verifying; a changed content matches neither form."""
    legacy = digest(legacy_canonical_json(FLOATY))
    assert legacy != report_digest(FLOATY) and b'"value":9.0' in legacy_canonical_json(FLOATY)
    assert b'"value":9}' in canonical_json(FLOATY)
    assert digest_matches(FLOATY, legacy) and digest_matches(FLOATY, report_digest(FLOATY))
    changed = msgspec.structs.replace(FLOATY, diagnosis="edited")
    assert not digest_matches(changed, legacy) and not digest_matches(changed, report_digest(FLOATY))


def test_verify_bundle_reports_an_uncanonical_content_instead_of_failing() -> None:
    bad = msgspec.structs.replace(FLOATY, answers=[ReportAnswer(key="k", value=math.nan)])
    bundle = SignOffBundle(content=bad, report_digest="0" * 64, signer_name="A", signer_role="customer",
                           signed_at=1, strokes=[[1, 2]], device_id="D", device_public_key=b"\x00" * 32,
                           device_signature=b"\x00" * 64)
    assert "report content does not match the signed digest" in verify_bundle(bundle)
