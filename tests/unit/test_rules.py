"""The device-write rules as data (schemas/rules.py), their checks (sync/core/rules.py) and event times."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal, get_args, get_origin

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from schemas import rules
from schemas.domain import ChecklistItem
from schemas.export import JSON_DIR, RULES_FILE, render_rules
from schemas.status import JOB_STATUSES, REMOTE_TRANSITIONS, TRANSITIONS, can_transition
from schemas.wire import (
    AnswerItem,
    Attach,
    Delete,
    JobField,
    MovePart,
    ReceivedSignOff,
    SetField,
    SetStatus,
    SignOff,
)
from server.ratelimit import RateLimiter
from sync.core import eventtime
from sync.core.rules import (
    check_answer,
    check_attach,
    check_delete,
    check_field,
    check_move,
    check_signoff,
    check_status,
    check_strokes,
    check_strokes_size,
    stroke_shape,
    time_ok,
)
from sync.core.signatures import is_usable_public_key
from sync.timetext import INVALID_TIME, utc_text
from tests.support import SMALL_ORDER_KEYS

NOW = 1_790_000_000_000
OPENED = NOW - 3_600_000


def test_rules_json_is_current() -> None:
    """Run `fieldsync admin export-schemas` when this fails."""
    assert (JSON_DIR / RULES_FILE).read_text(encoding="utf-8") == render_rules()
    doc = json.loads(render_rules())
    assert doc["qty"] == {"min": 1, "max": 10_000} and doc["hold_reasons"] == list(rules.HOLD_REASONS)
    assert doc["transitions"]["on_site"] == sorted(TRANSITIONS["on_site"])


STAMP: dict[str, Any] = {"op_id": "o", "hlc": 1, "job_id": "J", "at": NOW}
ITEMS = {"remarks": ChecklistItem(key="remarks", label="Remarks", type="text", required=False)}
#: a valid op of every type, and its check with the facts it needs
VALID: list[tuple[Any, Callable[[Any], str | None]]] = [
    (SetStatus(**STAMP, status="on_site", note="n"), check_status),
    (SetField(**STAMP, field="notes", value="v"), check_field),
    (AnswerItem(**STAMP, item_key="remarks", value="ok", note="n"), lambda op: check_answer(op, ITEMS)),
    (MovePart(**STAMP, kind="consume", part_no="P-1", serial="s", returned_serial="r", from_location="a",
              to_location="b"), lambda op: check_move(op, lambda part_no: False)),
    (SignOff(**STAMP, signer_name="Ada", signer_role="customer", signed_at=NOW, report_digest="ab" * 32,
             strokes=[[1, 2]], device_signature=b"", rating=5, comment="c"), check_signoff),
    (ReceivedSignOff(**STAMP, signer_name="Ada", signer_role="customer", signed_at=NOW, report_digest="ab" * 32,
                     strokes=msgspec.Raw(msgspec.msgpack.encode([[1, 2]])), device_signature=b"", rating=5,
                     comment="c"), check_signoff),
    (Attach(**STAMP, sha256="a" * 64, size=1, content_type="image/jpeg"), check_attach),
    (Delete(**STAMP, entity="answer", key="remarks"), check_delete),
]


@pytest.mark.parametrize(("op", "check"), VALID, ids=lambda v: type(v).__name__ if not callable(v) else "")
def test_no_op_passes_with_a_text_or_integer_it_cannot_store(op: Any, check: Callable[[Any], str | None]) -> None:
    """Each check covers every field its op type declares: a new field without a check fails here."""
    assert check(op) is None
    for f in msgspec.structs.fields(type(op)):
        kinds = {f.type} if get_origin(f.type) is not Literal else {str}
        kinds |= set(get_args(f.type)) if get_origin(f.type) is not Literal else set()
        if str in kinds:
            assert check(msgspec.structs.replace(op, **{f.name: "a\x00b"})) is not None, f.name
        if int in kinds:
            for bad in (2**63, -(2**63) - 1, 2**64 - 1):
                assert check(msgspec.structs.replace(op, **{f.name: bad})) is not None, (f.name, bad)


def test_every_wire_job_field_has_a_type_and_text_fields_a_limit() -> None:
    assert set(rules.JOB_FIELD_TYPES) == set(get_args(JobField)) == set(rules.JOB_FIELDS)
    text = {f for f, kind in rules.JOB_FIELD_TYPES.items() if kind == "text"}
    assert text == set(rules.TEXT_LIMITS["job.field"])


def test_every_status_a_device_sets_is_reachable_and_none_is_the_office_s() -> None:
    reachable = set().union(*TRANSITIONS.values())
    assert set(rules.DEVICE_STATUSES) <= reachable
    assert not set(rules.DEVICE_STATUSES) & {"assigned", "signed_off", "closed", "cancelled", "reopened"}


@given(st.integers(-(2**63), 2**63 - 1))
def test_event_time_bounds(ms: int) -> None:
    assert time_ok(ms) == (rules.EVENT_TIME_MIN_MS <= ms < rules.EVENT_TIME_MAX_MS)
    op = SetStatus(op_id="o", hlc=1, job_id="J", at=ms, status="accepted")
    assert (check_status(op) == "bad_time") != time_ok(ms)


def test_a_status_note_and_hold_reasons() -> None:
    base = {"op_id": "o", "hlc": 1, "job_id": "J", "at": NOW}
    limit = rules.TEXT_LIMITS["job.status"]["note"]
    assert check_status(SetStatus(**base, status="on_site", note="n" * limit)) is None
    assert check_status(SetStatus(**base, status="on_site", note="n" * (limit + 1))) == "text_too_long"
    assert check_status(SetStatus(**base, status="on_hold")) == "hold_reason_required"
    assert check_status(SetStatus(**base, status="on_site", hold_reason="awaiting_parts")) == "hold_reason_not_allowed"
    assert check_status(SetStatus(**base, status="closed")) == "status_not_settable_by_device"


def _signoff(**kw: object) -> SignOff:
    fields: dict[str, object] = {"op_id": "o", "hlc": 1, "job_id": "J", "at": NOW, "signer_name": "Ada",
                                 "signer_role": "customer", "signed_at": NOW, "report_digest": "ab" * 32,
                                 "strokes": [], "device_signature": b""}
    return SignOff(**{**fields, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(("change", "reason"), [
    ({}, None),
    ({"signed_at": 1}, "bad_time"),
    ({"signer_name": "  "}, "signoff_incomplete"),
    ({"signer_name": "n" * 201}, "text_too_long"),
    ({"signer_role": "r" * 101}, "text_too_long"),
    ({"comment": "c" * 2_001}, "text_too_long"),
    ({"rating": 6}, "invalid_rating"),
    ({"rating": True}, "invalid_rating"),
    ({"report_digest": "ab" * 32 + "\n"}, "bad_report_digest"),
])
def test_signoff_fields(change: dict[str, object], reason: str | None) -> None:
    assert check_signoff(_signoff(**change)) == reason


def test_strokes_limits() -> None:
    points = rules.MAX_STROKE_POINTS
    assert check_strokes([[1, 2]]) is None
    assert check_strokes([]) == "signoff_incomplete"
    assert check_strokes([[0, 0]] * rules.MAX_STROKES) is None
    assert check_strokes([[0, 0]] * (rules.MAX_STROKES + 1)) == "strokes_too_large"
    assert check_strokes([[0] * points, [0] * points]) is None
    assert check_strokes([[0] * points, [0] * (points + 2)]) == "strokes_too_large"
    assert stroke_shape([[1, 2.5]]) == "malformed_strokes"
    assert stroke_shape([[True, 1]]) == "malformed_strokes"
    assert stroke_shape([[2**64]]) == "malformed_strokes"
    assert stroke_shape([[2**64 - 1, -(2**63)]]) is None


def test_within_the_count_limits_the_bytes_limit_never_binds() -> None:
    """The widest msgpack integers at the most strokes and points still fit, so tablet and server agree."""
    ints = 2 * rules.MAX_STROKE_POINTS
    per = ints // rules.MAX_STROKES
    widest = [[-(2**63)] * per for _ in range(rules.MAX_STROKES)]
    encoded = msgspec.msgpack.encode(widest)
    assert check_strokes(widest) is None and check_strokes_size(len(encoded)) is None
    assert check_strokes_size(rules.MAX_STROKE_BYTES + 1) == "strokes_too_large"


@given(st.integers(-(2**63), 2**63 - 1))
def test_a_session_clock_outside_the_bounds_gives_an_unknown_offset(device_clock: int) -> None:
    offset = eventtime.measure_offset(device_clock, NOW)
    assert (offset is None) == (not time_ok(device_clock))
    if offset is not None:
        assert offset == device_clock - NOW


@given(device=st.integers(rules.EVENT_TIME_MIN_MS, rules.EVENT_TIME_MAX_MS - 1),
       offset=st.one_of(st.none(), st.integers(-100 * 365 * 86_400_000, 100 * 365 * 86_400_000)))
def test_sla_never_uses_an_event_time_before_the_ticket_or_after_the_receipt(device: int, offset: int | None) -> None:
    at, corrected, flag = eventtime.place_event(device, offset, OPENED, NOW)
    tolerance = rules.EVENT_TIME_TOLERANCE_MS
    assert OPENED - tolerance <= at <= NOW
    if flag is None:
        assert offset is not None and at == min(device - offset, NOW) == corrected
    else:
        assert at == NOW and flag in eventtime.TIME_FLAGS
        if offset is None:
            assert flag == "device_clock_unknown" and corrected is None
        else:
            assert corrected == device - offset
            assert not OPENED - tolerance <= corrected <= NOW + tolerance


def test_a_clock_ten_years_ahead_at_the_session_flags_what_was_recorded_before() -> None:
    ten_years = 10 * 365 * 86_400_000
    offset = eventtime.measure_offset(NOW + ten_years, NOW)
    placed = eventtime.place_event(NOW - 60_000, offset, OPENED, NOW)
    assert placed == (NOW, NOW - 60_000 - ten_years, "before_ticket_opened")


@given(st.one_of(st.integers(), st.floats(allow_nan=True)))
def test_time_text_never_raises(ms: int) -> None:
    assert isinstance(utc_text(ms), str)


def test_time_text_of_stored_extremes() -> None:
    assert utc_text(0) == "1970-01-01 00:00:00"
    assert [utc_text(ms) for ms in (-(2**63), 10**15, 2**63 - 1)] == [INVALID_TIME] * 3


def test_small_order_keys_are_not_usable_and_real_ones_are() -> None:
    assert not any(is_usable_public_key(k) for k in SMALL_ORDER_KEYS)
    real = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert is_usable_public_key(real) and not is_usable_public_key(real[:31])


def test_a_refunded_attempt_does_not_count_and_many_keys_do_not_reset_the_others() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1.0, burst=2, clock=lambda: now[0])
    for _ in range(5):
        limiter.check("ok")
        limiter.refund("ok")
    limiter.check("spent")
    limiter.check("spent")
    with pytest.raises(Exception, match="too many"):
        limiter.check("spent")
    for n in range(100_001):  # fresh keys, each full again at once: dropped, not everyone's state
        limiter.check(f"k{n}", rate_scale=1e9)
        now[0] += 1e-9
    with pytest.raises(Exception, match="too many"):
        limiter.check("spent")


@given(st.sampled_from(JOB_STATUSES), st.sampled_from([*JOB_STATUSES, "teleported"]))
def test_a_remote_job_may_take_every_step_of_a_visit_and_only_the_remote_steps_besides(current: str,
                                                                                       target: str) -> None:
    remote_step = target in REMOTE_TRANSITIONS.get(current, frozenset())
    assert can_transition(current, target, remote=True) == (can_transition(current, target) or remote_step)


def test_the_remote_path_skips_the_visit_only_for_a_remote_job() -> None:
    path = [("accepted", "in_progress"), ("in_progress", "completed")]
    assert all(can_transition(a, b, remote=True) for a, b in path)
    assert not can_transition("accepted", "in_progress")
    document = rules.rules_document()
    assert document["remote_transitions"] == {"accepted": ["in_progress"]}
