"""Checklist rules shared by tablet and server: answer validation and completion blocking."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Final

from schemas.domain import ChecklistItem, ChecklistTemplate
from schemas.rules import TEXT_LIMITS

Scalar = str | int | float | bool | None

_TEXT_ANSWER: Final = TEXT_LIMITS["checklist.answer"]["value"]


def validate_answer(item: ChecklistItem, value: Scalar, na_reason: str | None) -> str | None:
    """Return why ``value`` is not a valid answer for ``item``, or None when it is.

    An item marked not applicable (``na_reason``) carries no value: otherwise a number item could
    hold any text behind a reason.
    """
    if na_reason is not None:
        if value is not None:
            return "value_with_na_reason"
        return None if na_reason.strip() else "not_applicable_needs_reason"
    if value is None:
        return "value_required"
    if item.type == "pass_fail":
        return None if isinstance(value, bool) else "expected_pass_fail"
    if item.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "expected_number"
        if not math.isfinite(value):
            return "expected_finite_number"
        if item.min is not None and value < item.min:
            return "below_range"
        if item.max is not None and value > item.max:
            return "above_range"
        return None
    if item.type == "choice":
        return None if isinstance(value, str) and value in item.choices else "not_a_choice"
    if item.type == "photo":
        ok = isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
        return None if ok else "expected_photo_sha256"
    return None if isinstance(value, str) and len(value) <= _TEXT_ANSWER else "expected_text"


def missing_required(template: ChecklistTemplate, answered: Iterable[str] | Mapping[str, object]) -> list[str]:
    """Keys of required items with no answer (a required item blocks completion)."""
    done = set(answered)
    return [item.key for item in template.items if item.required and item.key not in done]
