"""Server settings: environment variables, overridden by CLI flags.

A flag given on the command line wins over its ``FIELDSYNC_*`` variable, which
wins over the default.  Nothing is read at import time; :func:`get_settings`
builds a value on demand and refuses a malformed variable with a
:class:`SettingsError` that names it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schemas.i18n import LOCALES, normalise
from server.domain.sla.regions import UnknownRegion, region_days

DEFAULT_DB = "sqlite:///fieldsync.db"


class SettingsError(ValueError):
    """A ``FIELDSYNC_*`` variable or flag that cannot be used (the message names it)."""


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
    #: merge accepted change-sets in this process (``FIELDSYNC_MERGER=0``: accept only; another process merges)
    run_merger: bool = True
    #: accepted change-sets one merge transaction takes at most (``FIELDSYNC_MERGE_BATCH``)
    merge_batch: int = 16
    sla_policy_file: str | None = None
    sla_timezone: str = "UTC"
    #: region of the default business calendar's public holidays and make-up working days (``CN``, ``DE-BY``)
    sla_region: str | None = None
    webhook_url: str | None = None
    #: the HMAC-SHA256 key webhooks are signed with (``X-Fieldsync-Signature``); None: sent unsigned
    webhook_secret: str | None = None
    #: first retry delay of a failed webhook delivery (doubled per attempt, with jitter, up to an hour)
    webhook_backoff_ms: int = 5000
    #: delivery attempts of one event before it is given up (kept in the outbox and the log)
    webhook_attempts: int = 15
    late_sync_threshold_s: int = 24 * 3600
    #: requests doing database work at once (the rest wait their turn without taking CPU)
    worker_threads: int = 8
    #: addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    #: IPs or CIDR networks, or ``*``); empty: none, the client address is the connection's, whatever headers say
    trusted_proxies: str = ""
    #: the service company printed at the head of the back office's service reports
    company_name: str = ""
    company_address: str = ""
    company_phone: str = ""
    #: a PNG or JPEG file printed beside the company's name (checked to be readable at start)
    company_logo: str | None = None
    #: printed before every price on a report (``¥``, ``EUR ``); empty: amounts alone
    currency: str = ""
    #: the ISO 4217 code of every amount in the money reconciliation (amounts in its minor unit, fen for CNY)
    currency_code: str = "CNY"
    #: labour billed per hour on site or at work, in minor units (fen); see reconciliation/money.py
    labour_rate: int = 12_000
    #: travel billed per visit (a job someone travelled or went on site for), in minor units (fen)
    travel_fee: int = 8_000
    #: the console's language before a user chose one and when Accept-Language names none it speaks
    locale: str = "en"
    #: the file holding the key-encryption key of the server signing key (``server/keys.py``); None: stored raw
    key_file: str | None = None
    #: seconds a process signs with the key it loaded before it looks for a newer one (``admin rotate-key``)
    key_refresh_s: int = 30
    #: how `fieldsync serve` writes its log: ``text`` lines for a person, ``json`` objects for a log collector
    log_format: str = "text"


def get_settings(**overrides: Any) -> Settings:
    """Settings from ``FIELDSYNC_*`` environment variables, then ``overrides`` (None = keep)."""
    env = os.environ
    d = Settings()
    s = Settings(
        db_url=env.get("FIELDSYNC_DB") or DEFAULT_DB,
        host=env.get("FIELDSYNC_HOST") or d.host,
        port=_int(env, "FIELDSYNC_PORT", d.port, 1, 65535),
        workers=_int(env, "FIELDSYNC_WORKERS", d.workers, 1, 256),
        max_body_bytes=_int(env, "FIELDSYNC_MAX_BODY", d.max_body_bytes, 1024, 2**40),
        run_scheduler=env.get("FIELDSYNC_SCHEDULER", "1") not in ("0", "false", "no"),
        run_merger=env.get("FIELDSYNC_MERGER", "1") not in ("0", "false", "no"),
        merge_batch=_int(env, "FIELDSYNC_MERGE_BATCH", d.merge_batch, 1, 10_000),
        sla_policy_file=env.get("FIELDSYNC_SLA_POLICIES") or None,
        sla_timezone=_zone(env, "FIELDSYNC_TZ"),
        sla_region=_region(env, "FIELDSYNC_HOLIDAYS"),
        webhook_url=env.get("FIELDSYNC_WEBHOOK") or None,
        webhook_secret=env.get("FIELDSYNC_WEBHOOK_SECRET") or None,
        webhook_backoff_ms=_int(env, "FIELDSYNC_WEBHOOK_BACKOFF_MS", d.webhook_backoff_ms, 1, 3_600_000),
        webhook_attempts=_int(env, "FIELDSYNC_WEBHOOK_ATTEMPTS", d.webhook_attempts, 1, 1000),
        worker_threads=_int(env, "FIELDSYNC_WORKER_THREADS", d.worker_threads, 1, 1024),
        trusted_proxies=_proxies(env, "FIELDSYNC_TRUSTED_PROXIES"),
        company_name=env.get("FIELDSYNC_COMPANY_NAME", "").strip(),
        company_address=env.get("FIELDSYNC_COMPANY_ADDRESS", "").strip(),
        company_phone=env.get("FIELDSYNC_COMPANY_PHONE", "").strip(),
        company_logo=_file(env, "FIELDSYNC_COMPANY_LOGO"),
        currency=env.get("FIELDSYNC_CURRENCY", ""),
        currency_code=_currency_code(env, "FIELDSYNC_CURRENCY_CODE", d.currency_code),
        labour_rate=_int(env, "FIELDSYNC_LABOUR_RATE", d.labour_rate, 0, 10**9),
        travel_fee=_int(env, "FIELDSYNC_TRAVEL_FEE", d.travel_fee, 0, 10**9),
        locale=_locale(env, "FIELDSYNC_LOCALE", d.locale),
        log_format=_choice(env, "FIELDSYNC_LOG_FORMAT", ("text", "json")),
        key_file=_file(env, "FIELDSYNC_KEY_FILE"),
        key_refresh_s=_int(env, "FIELDSYNC_KEY_REFRESH_S", d.key_refresh_s, 0, 86400),
    )
    return replace(s, **{k: v for k, v in overrides.items() if v is not None})


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole-number variable within [low, high]; unset or empty means the default."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw[:40]!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _currency_code(env: Mapping[str, str], name: str, default: str) -> str:
    """An ISO 4217 currency code: three letters (``CNY``, ``EUR``)."""
    raw = env.get(name, "").strip().upper()
    if not raw:
        return default
    if len(raw) != 3 or not raw.isascii() or not raw.isalpha():
        raise SettingsError(f"{name} must be an ISO 4217 code of three letters such as CNY, not {raw[:40]!r}")
    return raw


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed`` (the first when unset or empty)."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return allowed[0]
    if raw not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {raw[:40]!r}")
    return raw


def _zone(env: Mapping[str, str], name: str) -> str:
    """An IANA time zone (``Asia/Shanghai``); unset or empty means UTC."""
    raw = env.get(name, "").strip()
    if not raw:
        return "UTC"
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{name}: {raw[:40]!r} is not a time zone (an IANA name like Asia/Shanghai)") from None
    return raw


def _region(env: Mapping[str, str], name: str) -> str | None:
    """A region the ``holidays`` package knows (``CN``, ``DE-BY``); unset or empty means none."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return region_days(raw[:40]).code
    except UnknownRegion as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _file(env: Mapping[str, str], name: str) -> str | None:
    """A path to a readable file; unset or empty means none."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not os.path.isfile(raw) or not os.access(raw, os.R_OK):
        raise SettingsError(f"{name}: no readable file {raw[:200]!r}")
    return raw


def _proxies(env: Mapping[str, str], name: str) -> str:
    """Comma-separated IP addresses and CIDR networks (``10.0.0.5,172.28.0.0/24``), or ``*``; empty: none."""
    raw = env.get(name, "").strip()
    if raw in ("", "*"):
        return raw
    entries = [e.strip() for e in raw.split(",") if e.strip()]
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SettingsError(f"{name}: {entry[:60]!r} is not an IP address or CIDR network "
                                "(e.g. 127.0.0.1,10.0.0.0/8)") from None
    return ",".join(entries)


def _locale(env: Mapping[str, str], name: str, default: str) -> str:
    """A locale the catalogs hold (``zh-CN``, ``zh_CN``, ``en``); unset or empty means the default."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    found = normalise(raw[:40])
    if found is None:
        raise SettingsError(f"{name} must be one of {', '.join(LOCALES)}, not {raw[:40]!r}")
    return found


def uvicorn_proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy options: forwarded headers count only from :attr:`Settings.trusted_proxies`.

    uvicorn on its own believes ``X-Forwarded-For`` from loopback, so anyone on the server's host (or a
    proxy nobody configured) could give every request a new client address and so a fresh rate limit.
    """
    trusted = settings.trusted_proxies
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}
