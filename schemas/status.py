"""The job status machine, as data shared by the tablet and the server.

The allowed transitions live in one table so that the tablet validates a
status change exactly as the server will replay it.  ``on_hold`` carries a
reason (``awaiting_parts`` or ``awaiting_customer``) in the op, not in the
status name.

A job with ``remote=true`` (fixed by phone or remote diagnosis, 远程诊断) may
also take the steps of :data:`REMOTE_TRANSITIONS`: from ``accepted`` straight
to ``in_progress``, without going on site; ``in_progress -> completed`` is then
the remote resolution.
"""

from __future__ import annotations

from typing import Final, Literal

JobStatus = Literal[
    "assigned",
    "accepted",
    "en_route",
    "on_site",
    "in_progress",
    "on_hold",
    "completed",
    "signed_off",
    "closed",
    "cannot_complete",
    "cancelled",
    "reopened",
]

HoldReason = Literal["awaiting_parts", "awaiting_customer"]

JOB_STATUSES: Final[tuple[str, ...]] = (
    "assigned",
    "accepted",
    "en_route",
    "on_site",
    "in_progress",
    "on_hold",
    "completed",
    "signed_off",
    "closed",
    "cannot_complete",
    "cancelled",
    "reopened",
)

#: status -> statuses reachable in one step.
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "assigned": frozenset({"accepted", "cancelled", "en_route", "on_site"}),
    "accepted": frozenset({"en_route", "on_site", "cancelled", "on_hold"}),
    "en_route": frozenset({"on_site", "on_hold", "cannot_complete", "cancelled"}),
    "on_site": frozenset({"in_progress", "on_hold", "cannot_complete", "completed"}),
    "in_progress": frozenset({"on_hold", "completed", "cannot_complete"}),
    "on_hold": frozenset({"in_progress", "en_route", "on_site", "cannot_complete", "cancelled"}),
    "completed": frozenset({"signed_off", "reopened", "closed"}),
    "signed_off": frozenset({"closed", "reopened"}),
    "closed": frozenset({"reopened"}),
    "cannot_complete": frozenset({"reopened", "closed", "cancelled"}),
    "cancelled": frozenset({"reopened"}),
    "reopened": frozenset({"accepted", "en_route", "on_site", "in_progress", "cancelled"}),
}

#: extra steps only a remote job (``remote=true``) may take: work starts without travelling
REMOTE_TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "accepted": frozenset({"in_progress"}),
}

#: statuses where the engineer's work on the job is finished.
TERMINAL: Final[frozenset[str]] = frozenset({"closed", "cancelled"})

#: statuses only the back office sets (a tablet op asking for them is refused).
OFFICE_ONLY: Final[frozenset[str]] = frozenset({"closed", "cancelled", "reopened"})


def can_transition(current: str, target: str, remote: bool = False) -> bool:
    """True when ``current -> target`` is one allowed step of the machine (for a remote job if ``remote``)."""
    if target in TRANSITIONS.get(current, frozenset()):
        return True
    return remote and target in REMOTE_TRANSITIONS.get(current, frozenset())
