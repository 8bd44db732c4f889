"""Server settings: environment variables, overridden by CLI flags.

Nothing is read at import time; :func:`get_settings` builds a value on demand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

DEFAULT_DB = "sqlite:///fieldsync.db"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an operator can configure."""

    db_url: str = DEFAULT_DB
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_body_bytes: int = 16 * 1024 * 1024
    max_blob_bytes: int = 64 * 1024 * 1024
    enroll_token_ttl_s: int = 7 * 24 * 3600
    session_ttl_s: int = 3600
    pull_page_limit: int = 5000  # records per pull page at most ...
    pull_page_bytes: int = 1024 * 1024  # ... and no more record data than this (one record at least)
    run_scheduler: bool = True
    sla_policy_file: str | None = None
    sla_timezone: str = "UTC"
    webhook_url: str | None = None
    late_sync_threshold_s: int = 24 * 3600
    #: requests doing database work at once (the rest wait their turn without taking CPU)
    worker_threads: int = 8


def get_settings(**overrides: Any) -> Settings:
    """Settings from ``FIELDSYNC_*`` environment variables, then ``overrides`` (None = keep)."""
    env = os.environ
    s = Settings(
        db_url=env.get("FIELDSYNC_DB", DEFAULT_DB),
        host=env.get("FIELDSYNC_HOST", "127.0.0.1"),
        port=int(env.get("FIELDSYNC_PORT", "8000")),
        workers=int(env.get("FIELDSYNC_WORKERS", "1")),
        max_body_bytes=int(env.get("FIELDSYNC_MAX_BODY", str(16 * 1024 * 1024))),
        run_scheduler=env.get("FIELDSYNC_SCHEDULER", "1") not in ("0", "false", "no"),
        sla_policy_file=env.get("FIELDSYNC_SLA_POLICIES") or None,
        sla_timezone=env.get("FIELDSYNC_TZ", "UTC"),
        webhook_url=env.get("FIELDSYNC_WEBHOOK") or None,
        worker_threads=int(env.get("FIELDSYNC_WORKER_THREADS", "8")),
    )
    return replace(s, **{k: v for k, v in overrides.items() if v is not None})
