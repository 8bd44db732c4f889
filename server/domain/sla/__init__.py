"""The SLA engine: business calendars, policies and SLA state computed from a ticket's event log.

Pure domain code (no I/O, no clock, no database): callers pass the events and
"now" in epoch ms UTC and persist or schedule whatever comes back.
"""

from __future__ import annotations

from server.domain.sla.calendar import (
    CALENDAR_24X7,
    Calendar,
    add_working_ms,
    business_day_ms,
    business_hours,
    working_ms_between,
)
from server.domain.sla.policy import (
    EVENT_KINDS,
    PRIORITIES,
    TARGET_NAMES,
    Policy,
    PolicyError,
    PolicySet,
    TargetSpec,
    default_policies,
    load_policies,
    parse_duration,
)
from server.domain.sla.state import (
    TARGET_STATES,
    SlaEvent,
    TargetState,
    compute_sla,
    next_threshold_at,
    thresholds_crossed,
)

__all__ = [
    "CALENDAR_24X7",
    "EVENT_KINDS",
    "PRIORITIES",
    "TARGET_NAMES",
    "TARGET_STATES",
    "Calendar",
    "Policy",
    "PolicyError",
    "PolicySet",
    "SlaEvent",
    "TargetSpec",
    "TargetState",
    "add_working_ms",
    "business_day_ms",
    "business_hours",
    "compute_sla",
    "default_policies",
    "load_policies",
    "next_threshold_at",
    "parse_duration",
    "thresholds_crossed",
    "working_ms_between",
]
