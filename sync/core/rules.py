"""The checks a device op must pass before it is stored: one function per op kind, tablet and server alike.

``check_<kind>(op, facts) -> reason | None``: ``facts`` is what the check
needs to know about the world (the job's checklist items, whether a part is
serialized); None means the op may be stored.  The tablet SDK raises with the
reason before it writes anything, the server answers ``rejected(reason)`` for
the op, so both give the same verdict on the same op.  Each check looks at every
field of its op in a fixed order (first whether each text and integer can be
stored at all, ``nul_in_text`` then ``number_out_of_range``, then the event
time, then the op's own rules), so an op with two faults gets the same reason
on both sides.  ``tests/unit/test_rules.py`` holds each check to
every field its op type declares.

What is decided against the server's state *over time* (the status machine's
transitions, a second sign-off, concurrent writes) is not here: that is a
merge, :mod:`sync.core.merge`, and ends in review, not rejection.

The limits are data in :mod:`schemas.rules`; reason codes are listed there.
These run once per op on the server's push path, so they are plain comparisons
on the op's fields and allocate nothing when the op is fine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final

from schemas import rules
from schemas.domain import ChecklistItem
from schemas.status import JOB_STATUSES
from schemas.wire import (
    Amend,
    AnswerItem,
    Attach,
    Delete,
    MovePart,
    ReceivedSignOff,
    SetField,
    SetStatus,
    SignOff,
)
from sync.core.checklist import validate_answer

Reason = str

NUL_IN_TEXT: Final = "nul_in_text"
NUMBER_OUT_OF_RANGE: Final = "number_out_of_range"
BAD_TIME: Final = "bad_time"
TEXT_TOO_LONG: Final = "text_too_long"
STROKES_TOO_LARGE: Final = "strokes_too_large"
MALFORMED_STROKES: Final = "malformed_strokes"
SIGNOFF_INCOMPLETE: Final = "signoff_incomplete"

# the data bound to module constants once: a push reads them for every op
_INT_MIN: Final = rules.INT_MIN
_INT_MAX: Final = rules.INT_MAX
_T_MIN: Final = rules.EVENT_TIME_MIN_MS
_T_MAX: Final = rules.EVENT_TIME_MAX_MS
_STATUSES: Final = frozenset(JOB_STATUSES)
_DEVICE_STATUSES: Final = frozenset(rules.DEVICE_STATUSES)
_HOLD_REASONS: Final = frozenset(rules.HOLD_REASONS)
_FIELD_TYPES: Final = rules.JOB_FIELD_TYPES
_FIELD_TEXT: Final = rules.TEXT_LIMITS["job.field"]
_STATUS_NOTE: Final = rules.TEXT_LIMITS["job.status"]["note"]
_ANSWER_NOTE: Final = rules.TEXT_LIMITS["checklist.answer"]["note"]
_NA_REASON: Final = rules.TEXT_LIMITS["checklist.answer"]["na_reason"]
_SERIAL: Final = rules.TEXT_LIMITS["part.move"]["serial"]
_RETURNED_SERIAL: Final = rules.TEXT_LIMITS["part.move"]["returned_serial"]
_SIGNER_NAME: Final = rules.TEXT_LIMITS["signoff"]["signer_name"]
_SIGNER_ROLE: Final = rules.TEXT_LIMITS["signoff"]["signer_role"]
_SIGNOFF_COMMENT: Final = rules.TEXT_LIMITS["signoff"]["comment"]
_CONTENT_TYPE: Final = rules.TEXT_LIMITS["attachment"]["content_type"]
_ATTACHMENT_KINDS: Final = frozenset(rules.ATTACHMENT_KINDS)
_DELETE_ENTITIES: Final = frozenset(rules.DELETE_ENTITIES)
_MAX_STROKE_INTS: Final = 2 * rules.MAX_STROKE_POINTS
#: integers msgpack carries (and a tablet can put in a stroke): int64 and uint64
_MSGPACK_INT_MIN: Final = -(2**63)
_MSGPACK_INT_END: Final = 2**64

is_sha256 = re.compile(rules.SHA256_PATTERN).fullmatch


def time_ok(ms: int) -> bool:
    """An event time within the bounds of :mod:`schemas.rules` (checkable offline)."""
    return _T_MIN <= ms < _T_MAX


# Every check begins the same way, written out (a push runs one per op, a tablet one per write): the texts of
# the op hold no NUL, its integers fit 64 bits, its event time is within the bounds.  Then its own rules.


def _time_reason(ms: int) -> Reason:
    return BAD_TIME if _INT_MIN <= ms <= _INT_MAX else NUMBER_OUT_OF_RANGE


def check_status(op: SetStatus) -> Reason | None:
    """A status change a device may record (whether the job can make the step is the merge's call)."""
    note = op.note
    if "\x00" in op.op_id or "\x00" in op.job_id or (note is not None and "\x00" in note):
        return NUL_IN_TEXT  # status and hold reason come from closed sets: checked against them below
    if not _INT_MIN <= op.hlc <= _INT_MAX:
        return NUMBER_OUT_OF_RANGE
    if not _T_MIN <= op.at < _T_MAX:
        return _time_reason(op.at)
    status = op.status
    if status not in _STATUSES:
        return "unknown_status"
    if status not in _DEVICE_STATUSES:
        return "status_not_settable_by_device"
    if status == "on_hold":
        if op.hold_reason not in _HOLD_REASONS:
            return "hold_reason_required"
    elif op.hold_reason is not None:
        return "hold_reason_not_allowed"
    if note is not None and len(note) > _STATUS_NOTE:
        return TEXT_TOO_LONG
    return None


def check_field(op: SetField) -> Reason | None:
    """A plain job field of the type :data:`schemas.rules.JOB_FIELD_TYPES` gives it."""
    if "\x00" in op.op_id or "\x00" in op.job_id:
        return NUL_IN_TEXT
    value = op.value
    if type(value) is str:
        if "\x00" in value:
            return NUL_IN_TEXT
    elif type(value) is int and not _INT_MIN <= value <= _INT_MAX:
        return NUMBER_OUT_OF_RANGE
    if not (_INT_MIN <= op.hlc <= _INT_MAX and _INT_MIN <= op.base_hlc <= _INT_MAX):
        return NUMBER_OUT_OF_RANGE
    if not _T_MIN <= op.at < _T_MAX:
        return _time_reason(op.at)
    kind = _FIELD_TYPES.get(op.field)
    if kind == "text":
        if not isinstance(value, str):
            return "invalid_value"
        if len(value) > _FIELD_TEXT[op.field]:
            return TEXT_TOO_LONG
    elif kind == "bool":
        if not isinstance(value, bool):
            return "invalid_value"
    elif kind == "rating":
        if value is not None and not _rating_ok(value):
            return "invalid_value"
    else:
        return "unknown_field"
    return None


def check_answer(op: AnswerItem, items: Mapping[str, ChecklistItem] | None) -> Reason | None:
    """An answer that fits its item of the job's pinned checklist (``items``: by key; None: no checklist)."""
    note, na_reason, value = op.note, op.na_reason, op.value
    if ("\x00" in op.op_id or "\x00" in op.job_id or "\x00" in op.item_key
            or (note is not None and "\x00" in note) or (na_reason is not None and "\x00" in na_reason)):
        return NUL_IN_TEXT
    if type(value) is str:
        if "\x00" in value:
            return NUL_IN_TEXT
    elif type(value) is int and not _INT_MIN <= value <= _INT_MAX:
        return NUMBER_OUT_OF_RANGE
    if not (_INT_MIN <= op.hlc <= _INT_MAX and _INT_MIN <= op.template_version <= _INT_MAX
            and _INT_MIN <= op.base_hlc <= _INT_MAX):
        return NUMBER_OUT_OF_RANGE
    if not _T_MIN <= op.at < _T_MAX:
        return _time_reason(op.at)
    if (note is not None and len(note) > _ANSWER_NOTE) or (na_reason is not None and len(na_reason) > _NA_REASON):
        return TEXT_TOO_LONG
    if items is None:
        return "job_has_no_checklist"
    item = items.get(op.item_key)
    if item is None:
        return "unknown_item"
    return validate_answer(item, value, na_reason)


def check_move(op: MovePart, serialized_of: Callable[[str], bool | None]) -> Reason | None:
    """A consumption from the van.

    ``serialized_of(part_no)`` is the catalog's flag for the part (None: not in the catalog); it is
    asked only once the part number is known to be storable text.
    """
    serial, returned = op.serial, op.returned_serial
    if ("\x00" in op.op_id or "\x00" in op.job_id or "\x00" in op.part_no
            or (serial is not None and "\x00" in serial) or (returned is not None and "\x00" in returned)
            or (op.from_location is not None and "\x00" in op.from_location)
            or (op.to_location is not None and "\x00" in op.to_location)):
        return NUL_IN_TEXT
    qty = op.qty
    if not _INT_MIN <= op.hlc <= _INT_MAX or (qty.__class__ is int and not _INT_MIN <= qty <= _INT_MAX):
        return NUMBER_OUT_OF_RANGE
    if not _T_MIN <= op.at < _T_MAX:
        return _time_reason(op.at)
    if op.kind != "consume":
        return "device_may_only_consume"
    if qty.__class__ is not int or not rules.QTY_MIN <= qty <= rules.QTY_MAX:
        return "bad_quantity"
    if (serial is not None and len(serial) > _SERIAL) or (returned is not None and len(returned) > _RETURNED_SERIAL):
        return TEXT_TOO_LONG
    serialized = serialized_of(op.part_no)
    if serialized is None:
        return "unknown_part"
    if serialized and (not serial or qty != 1):
        return "serial_required"
    return None


def check_signoff(op: SignOff | ReceivedSignOff) -> Reason | None:
    """A sign-off's own fields; its strokes are checked by :func:`check_strokes` (the server decodes them later)."""
    name, role, comment = op.signer_name, op.signer_role, op.comment
    if ("\x00" in op.op_id or "\x00" in op.job_id or "\x00" in name or "\x00" in role
            or (comment is not None and "\x00" in comment)):
        return NUL_IN_TEXT
    if not _INT_MIN <= op.hlc <= _INT_MAX:
        return NUMBER_OUT_OF_RANGE
    if not (_T_MIN <= op.at < _T_MAX and _T_MIN <= op.signed_at < _T_MAX):
        return _time_reason(op.at if not _T_MIN <= op.at < _T_MAX else op.signed_at)
    if not name.strip():
        return SIGNOFF_INCOMPLETE
    if (len(name) > _SIGNER_NAME or len(role) > _SIGNER_ROLE
            or (comment is not None and len(comment) > _SIGNOFF_COMMENT)):
        return TEXT_TOO_LONG
    if op.rating is not None and not _rating_ok(op.rating):
        return "invalid_rating"
    if not is_sha256(op.report_digest):
        return "bad_report_digest"
    return None


def check_strokes_size(encoded_bytes: int) -> Reason | None:
    """The strokes' msgpack bytes as sent, checked before they are decoded."""
    return STROKES_TOO_LARGE if encoded_bytes > rules.MAX_STROKE_BYTES else None


def stroke_shape(strokes: object) -> Reason | None:
    """Strokes as a caller hands them to the tablet: lists of integers msgpack can carry.

    The server gets this from decoding (:data:`schemas.codec.strokes_decoder`); the tablet checks
    Python values, which could be anything.
    """
    if not isinstance(strokes, list):
        return MALFORMED_STROKES
    for stroke in strokes:
        if not isinstance(stroke, list):
            return MALFORMED_STROKES
        for v in stroke:
            if v.__class__ is not int or not _MSGPACK_INT_MIN <= v < _MSGPACK_INT_END:
                return MALFORMED_STROKES
    return None


def check_strokes(strokes: list[list[int]]) -> Reason | None:
    """At least one stroke, and no more strokes or points than a real signature has."""
    if not strokes:
        return SIGNOFF_INCOMPLETE
    if len(strokes) > rules.MAX_STROKES or sum(map(len, strokes)) > _MAX_STROKE_INTS:
        return STROKES_TOO_LARGE
    return None


def check_attach(op: Attach) -> Reason | None:
    """A reference to a content-addressed blob."""
    if "\x00" in op.op_id or "\x00" in op.job_id or "\x00" in op.content_type:
        return NUL_IN_TEXT
    if not (_INT_MIN <= op.hlc <= _INT_MAX and _INT_MIN <= op.size <= _INT_MAX):
        return NUMBER_OUT_OF_RANGE
    if not _T_MIN <= op.at < _T_MAX:
        return _time_reason(op.at)
    if not is_sha256(op.sha256) or op.size < 0 or op.kind not in _ATTACHMENT_KINDS:
        return "invalid_attachment"
    if len(op.content_type) > _CONTENT_TYPE:
        return TEXT_TOO_LONG
    return None


def check_delete(op: Delete) -> Reason | None:
    """A tombstone (what it deletes is looked up by the merge, by ``key``)."""
    if "\x00" in op.op_id or "\x00" in op.job_id or "\x00" in op.key:
        return NUL_IN_TEXT
    if not _INT_MIN <= op.hlc <= _INT_MAX:
        return NUMBER_OUT_OF_RANGE
    if not _T_MIN <= op.at < _T_MAX:
        return _time_reason(op.at)
    if op.entity not in _DELETE_ENTITIES:
        return "unknown_entity"
    return None


_AMEND: Final = rules.TEXT_LIMITS["signoff.amend"]
_AMEND_TARGETS: Final = frozenset(rules.AMEND_TARGETS)


def check_amend(op: Amend) -> Reason | None:
    """An amendment of signed content: whose edit, what it names, and a reason that is not blank."""
    value = op.value
    texts = (op.op_id, op.job_id, op.edit_op_id, op.key, op.reason, value if isinstance(value, str) else "")
    if any("\x00" in t for t in texts):
        return NUL_IN_TEXT
    if not _INT_MIN <= op.hlc <= _INT_MAX or (type(value) is int and not _INT_MIN <= value <= _INT_MAX):
        return NUMBER_OUT_OF_RANGE
    if not _T_MIN <= op.at < _T_MAX:
        return _time_reason(op.at)
    if op.target not in _AMEND_TARGETS:
        return "unknown_amend_target"
    if not op.reason.strip():
        return "amend_reason_required"
    if (len(op.key) > _AMEND["key"] or len(op.reason) > _AMEND["reason"]
            or isinstance(value, str) and len(value) > _AMEND["value"]):
        return TEXT_TOO_LONG
    return None


def _rating_ok(value: object) -> bool:
    return type(value) is int and rules.RATING_MIN <= value <= rules.RATING_MAX

