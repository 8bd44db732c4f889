"""Every rule a device write must pass, as data: limits, event-time bounds, statuses, reason codes.

The tablet SDK refuses a write that breaks one of these before it stores
anything, and the server refuses the same op with the same reason in its
receipt (``rejected(reason)``), so a tablet never acknowledges offline what the
server will refuse.  The checks that read this data live in one place,
:mod:`sync.core.rules`; the status machine itself is :mod:`schemas.status`.

Non-Python clients read the same data from ``schemas/json/rules.json``
(written by ``fieldsync admin export-schemas``; a test checks it is current).

Text lengths count Unicode code points (Python's ``len``; in JavaScript
``[...s].length``, not ``s.length``).  Times are epoch milliseconds.
"""

from __future__ import annotations

from typing import Final, get_args

from schemas.domain import ItemType
from schemas.status import JOB_STATUSES, OFFICE_ONLY, REMOTE_TRANSITIONS, TERMINAL, TRANSITIONS
from schemas.wire import PROTOCOL_VERSION, AmendTarget, AttachmentKind, DeleteEntity, JobField

# -- text ------------------------------------------------------------------------------------------------

#: op type tag -> text field -> the most characters it may hold
TEXT_LIMITS: Final[dict[str, dict[str, int]]] = {
    "job.status": {"note": 2_000},
    "job.field": {"notes": 10_000, "diagnosis": 10_000, "resolution": 10_000, "customer_comment": 10_000},
    "checklist.answer": {"value": 10_000, "note": 10_000, "na_reason": 1_000},
    "part.move": {"serial": 100, "returned_serial": 100},
    "signoff": {"signer_name": 200, "signer_role": 100, "comment": 2_000},
    "attachment": {"content_type": 100},
    "signoff.amend": {"key": 200, "value": 10_000, "reason": 1_000},
}

#: how each plain job field a device sets is typed: free text, true/false, or a 1..5 rating (or null)
JOB_FIELD_TYPES: Final[dict[str, str]] = {
    "notes": "text", "diagnosis": "text", "resolution": "text", "customer_comment": "text",
    "remote": "bool", "rating": "rating",
}
#: the wire's JobField names, in its order (a test checks JOB_FIELD_TYPES covers exactly these)
JOB_FIELDS: Final[tuple[str, ...]] = get_args(JobField)

# -- numbers ---------------------------------------------------------------------------------------------

#: parts consumed by one op
QTY_MIN: Final = 1
QTY_MAX: Final = 10_000
#: the customer's rating (job field ``rating`` and a sign-off's ``rating``)
RATING_MIN: Final = 1
RATING_MAX: Final = 5
#: every integer of an op is stored in a signed 64-bit column
INT_MIN: Final = -(2**63)
INT_MAX: Final = 2**63 - 1

# -- signatures ------------------------------------------------------------------------------------------

#: pen strokes of a sign-off: a real signature is a few dozen strokes and a few thousand points
#: (a point is two integers, x and y)
MAX_STROKES: Final = 500
MAX_STROKE_POINTS: Final = 10_000
#: the msgpack bytes of the ``strokes`` array as sent; within the two limits above a msgpack encoder
#: that writes each integer in its shortest form stays below this, so the counts are what binds
MAX_STROKE_BYTES: Final = 256 * 1024

# -- times -----------------------------------------------------------------------------------------------

#: an op's ``at`` and a sign-off's ``signed_at`` lie in [EVENT_TIME_MIN_MS, EVENT_TIME_MAX_MS):
#: 2000-01-01T00:00Z inclusive to 2100-01-01T00:00Z exclusive (checkable on a tablet without a network)
EVENT_TIME_MIN_MS: Final = 946_684_800_000
EVENT_TIME_MAX_MS: Final = 4_102_444_800_000
#: the server corrects an event's device time by the clock offset it measured when the session opened;
#: a corrected time more than this before the ticket opened or after the server received it is not used
#: for SLA (the receipt time is, and the event is flagged for review)
EVENT_TIME_TOLERANCE_MS: Final = 5 * 60_000

# -- statuses and kinds ----------------------------------------------------------------------------------

#: statuses a tablet may set with a ``job.status`` op: not ``assigned`` (dispatch sets it), not
#: ``signed_off`` (a ``signoff`` op does), not the back office's own (:data:`schemas.status.OFFICE_ONLY`)
DEVICE_STATUSES: Final[tuple[str, ...]] = tuple(
    s for s in JOB_STATUSES if s not in OFFICE_ONLY | {"assigned", "signed_off"})
#: why a job is on hold (``hold_reason`` of ``on_hold``, and only of ``on_hold``)
HOLD_REASONS: Final[tuple[str, ...]] = ("awaiting_parts", "awaiting_customer")
#: statuses in which the customer may sign off a job
SIGNABLE_STATUSES: Final[tuple[str, ...]] = ("on_site", "in_progress", "completed")
#: checklist item types (see ``sync.core.checklist.validate_answer`` for what each accepts)
CHECKLIST_ITEM_TYPES: Final[tuple[str, ...]] = get_args(ItemType)
#: attachment kinds and the only parts movement a device records
ATTACHMENT_KINDS: Final[tuple[str, ...]] = get_args(AttachmentKind)
DEVICE_MOVE_KINDS: Final[tuple[str, ...]] = ("consume",)
#: what a ``delete`` op may tombstone
DELETE_ENTITIES: Final[tuple[str, ...]] = get_args(DeleteEntity)
#: what a ``signoff.amend`` op may name as the edit it declares
AMEND_TARGETS: Final[tuple[str, ...]] = get_args(AmendTarget)
#: the job fields that are part of the signed report content: after the customer signed, a tablet changes them
#: (like a checklist answer) only with an amendment (``signoff.amend``), never with a plain edit
SIGNED_FIELDS: Final[tuple[str, ...]] = ("diagnosis", "resolution", "notes")
#: a blob address and a report digest: lowercase hex SHA-256
SHA256_PATTERN: Final = "^[0-9a-f]{64}$"

# -- reason codes ----------------------------------------------------------------------------------------

#: every reason a device op is refused for, by the tablet (the error's ``reason``) and by the server
#: (``rejected(reason)`` in the receipt).  ``checklist_incomplete`` is followed by ``:`` and the keys.
#: Developer-facing explanations, not text for the engineer (the app maps codes to its own messages).
REASONS: Final[dict[str, str]] = {
    "nul_in_text": "a text contains the NUL character",
    "number_out_of_range": "an integer is outside the signed 64-bit range",
    "bad_time": "at or signed_at is outside [event_time.min_ms, event_time.max_ms)",
    "text_too_long": "a text is longer than its text_limits entry",
    "unknown_status": "status is not a job status",
    "status_not_settable_by_device": "status is not one of device_statuses",
    "hold_reason_required": "on_hold needs a hold_reason from hold_reasons",
    "hold_reason_not_allowed": "hold_reason goes only with on_hold",
    "checklist_incomplete": "completed while required checklist items are unanswered",
    "unknown_field": "field is not one of job_fields",
    "invalid_value": "the value does not fit the field's type (job_fields)",
    "job_has_no_checklist": "the job has no checklist",
    "unknown_item": "no item with this key in the job's pinned checklist",
    "value_with_na_reason": "an answer marked not applicable (na_reason) carries no value",
    "not_applicable_needs_reason": "na_reason is blank",
    "value_required": "the answer has no value and no na_reason",
    "expected_pass_fail": "a pass_fail item takes true or false",
    "expected_number": "a number item takes a number",
    "expected_finite_number": "a number item takes a finite number",
    "below_range": "the number is below the item's min",
    "above_range": "the number is above the item's max",
    "not_a_choice": "the value is not one of the item's choices",
    "expected_photo_sha256": "a photo item takes the SHA-256 of an attachment",
    "expected_text": "a text item takes a text of at most text_limits.checklist.answer.value characters",
    "device_may_only_consume": "a device records only consume movements",
    "bad_quantity": "qty is outside [qty.min, qty.max]",
    "unknown_part": "part_no is not in the catalog",
    "serial_required": "a serialized part needs its serial and qty 1",
    "malformed_strokes": "strokes are not lists of integers",
    "strokes_too_large": "more strokes, points or bytes than the strokes limits",
    "signoff_incomplete": "a sign-off needs a signer name and at least one stroke",
    "invalid_rating": "rating is not null or an integer in [rating.min, rating.max]",
    "bad_report_digest": "report_digest is not a lowercase hex SHA-256",
    "bad_signoff_signature": "the device signature over the sign-off does not verify (server only)",
    "invalid_attachment": "sha256 is not a lowercase hex SHA-256, size is negative, or kind is unknown",
    "unknown_entity": "a delete names an entity not in delete_entities",
    "unknown_job": "no such job (on the tablet: not pulled, or reassigned away)",
    "not_your_job": "the job was never the device's engineer's (server only)",
    "template_not_on_tablet": "the job's checklist version has not been pulled yet (tablet only)",
    "transition_not_allowed": "the status machine has no such step from the job's status (tablet; the server "
                              "keeps such a step for review)",
    "not_signable_in_status": "the job's status is not one of signable_statuses (tablet; the server keeps such "
                              "a sign-off for review)",
    "already_signed_off": "a sign-off is write-once (tablet; the server keeps a second one for review)",
    "unknown_amend_target": "an amendment names a target not in amend_targets",
    "amend_reason_required": "an amendment of signed content needs a reason (not blank)",
    "signed_content_needs_amend": "the customer signed this job: a checklist answer or one of signed_fields "
                                  "changes only with an amendment and its reason (tablet; the server keeps a "
                                  "plain edit and flags the job changed_after_signoff)",
}


def rules_document() -> dict[str, object]:
    """All of the above (and the status machine) as one JSON-ready document, for non-Python clients."""
    return {
        "protocol_version": PROTOCOL_VERSION,
        "text_length_unit": "unicode_code_points",
        "text_limits": TEXT_LIMITS,
        "job_fields": JOB_FIELD_TYPES,
        "qty": {"min": QTY_MIN, "max": QTY_MAX},
        "rating": {"min": RATING_MIN, "max": RATING_MAX},
        "integers": {"min": INT_MIN, "max": INT_MAX},
        "strokes": {"max_strokes": MAX_STROKES, "max_points": MAX_STROKE_POINTS, "max_bytes": MAX_STROKE_BYTES},
        "event_time": {"min_ms": EVENT_TIME_MIN_MS, "max_ms": EVENT_TIME_MAX_MS,
                       "tolerance_ms": EVENT_TIME_TOLERANCE_MS},
        "job_statuses": list(JOB_STATUSES),
        "transitions": {status: sorted(targets) for status, targets in TRANSITIONS.items()},
        "remote_transitions": {status: sorted(targets) for status, targets in REMOTE_TRANSITIONS.items()},
        "terminal_statuses": sorted(TERMINAL),
        "office_only_statuses": sorted(OFFICE_ONLY),
        "device_statuses": list(DEVICE_STATUSES),
        "hold_reasons": list(HOLD_REASONS),
        "signable_statuses": list(SIGNABLE_STATUSES),
        "checklist_item_types": list(CHECKLIST_ITEM_TYPES),
        "attachment_kinds": list(ATTACHMENT_KINDS),
        "device_move_kinds": list(DEVICE_MOVE_KINDS),
        "delete_entities": list(DELETE_ENTITIES),
        "amend_targets": list(AMEND_TARGETS),
        "signed_fields": list(SIGNED_FIELDS),
        "sha256_pattern": SHA256_PATTERN,
        "reasons": REASONS,
    }
