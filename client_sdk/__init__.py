"""fieldsync's tablet library: offline jobs, an outbox of signed ops, and sync.

    from client_sdk import FieldClient
    c = FieldClient.open("tablet.db", server_url="http://127.0.0.1:8000")
    c.enroll(token)
    c.sync()

Everything public is listed in ``__all__`` (guarded by a test); the
exceptions live in :mod:`client_sdk.errors`.
"""

from __future__ import annotations

from client_sdk import errors
from client_sdk.client import FieldClient
from client_sdk.models import (
    JobDetail,
    LocalAnswer,
    LocalAttachment,
    LocalJob,
    LocalMovement,
    LocalSignOff,
    OpOutcome,
    PendingOp,
    SyncReport,
)

__all__ = [
    "FieldClient",
    "JobDetail",
    "LocalAnswer",
    "LocalAttachment",
    "LocalJob",
    "LocalMovement",
    "LocalSignOff",
    "OpOutcome",
    "PendingOp",
    "SyncReport",
    "errors",
]
