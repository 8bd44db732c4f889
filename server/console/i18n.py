"""The console's language: which locale a request is shown in, its texts, and dates, numbers and money per locale.

Every string a person reads on a console page comes from the ``console``
message catalog (``schemas/i18n/<locale>/console.json``) through
:meth:`Lang.t`; names of things the services store as codes (priorities,
categories, job statuses, conflict and reconciliation kinds ...) through
:meth:`Lang.name`, so the page shows ``重大故障`` where the data says ``P1``.
Priority and category names may be overridden per locale in the SLA policy
file (``names``), the catalog holding the defaults.

Dates and times are shown in the configured zone (``FIELDSYNC_TZ``) with
Babel, the patterns coming from the catalog (``fmt.*``) so a translator
controls them; numbers, percentages and money use Babel's locale data.

The locale of a request (:func:`choose_locale`): the user's stored choice
(the switch on every page), else the one remembered in the ``fs_locale``
cookie (staff-token sessions and the sign-in page), else ``Accept-Language``,
else ``FIELDSYNC_LOCALE``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

from schemas import i18n

DOMAIN: Final = "console"
_SPAN: Final = re.compile(r"(\d+)(wd|ms|s|m|h|d)")
LOCALE_COOKIE: Final = "fs_locale"
#: the locales the switch offers, each named in its own language (catalog key ``lang.<locale>``)
CHOICES: Final = i18n.LOCALES


@functools.cache
def _babel(locale: str) -> Locale:
    return Locale.parse(locale)


@functools.cache
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def known(locale: str, key: str) -> bool:
    """True when the console catalog has ``key`` (in ``locale`` or the fallback)."""
    return key in i18n.catalog(locale, DOMAIN) or key in i18n.catalog(i18n.FALLBACK, DOMAIN)


@dataclass(frozen=True, slots=True)
class Lang:
    """One request's locale and zone: texts, display names and formatting for the templates and views."""

    locale: str = i18n.FALLBACK
    tz: str = "UTC"
    #: names from the SLA policy file that win over the catalog: {"priority.P1": {"zh_CN": "...", ...}}
    overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """The BCP 47 tag for ``<html lang>`` (``zh-CN``, ``en``)."""
        return self.locale.replace("_", "-")

    def t(self, key: str, /, **params: object) -> str:
        """The text of ``key`` in this locale with its placeholders filled in."""
        return i18n.text(self.locale, DOMAIN, key, **params)

    def name(self, kind: str, code: object) -> str:
        """The display name of a stored code (``name('status', 'on_hold')``); unknown codes show as they are."""
        if code is None or code == "":
            return "—"
        key = f"{kind}.{code}"
        chosen = self.overrides.get(key, {})
        if chosen.get(self.locale):
            return chosen[self.locale]
        if known(self.locale, key):
            return self.t(key)
        return str(code).replace("_", " ")

    def priority(self, code: object) -> str:
        return self.name("priority", code)

    def category(self, code: object) -> str:
        return self.name("category", code)

    # -- dates and durations -------------------------------------------------------------------------------

    def _fmt(self, ms: int | None, pattern_key: str) -> str:
        if ms is None:
            return "—"
        try:
            moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
            return format_datetime(moment, self.t(pattern_key), tzinfo=_zone(self.tz), locale=_babel(self.locale))
        except (OverflowError, OSError, ValueError, TypeError):  # stored before times were bounded: never a 500
            return self.t("time.invalid")

    def when(self, ms: int | None) -> str:
        """Epoch ms as a date and time in the configured zone (``2026-09-21 14:03``, ``2026年9月21日 14:03``)."""
        return self._fmt(ms, "fmt.datetime")

    def day(self, ms: int | None) -> str:
        """Epoch ms as the day it falls on, with its weekday (the schedule board's day)."""
        return self._fmt(ms, "fmt.day")

    def short(self, ms: int | None) -> str:
        """Epoch ms without the year, for dense cells."""
        return self._fmt(ms, "fmt.short")

    def local(self, moment: datetime) -> str:
        """An aware datetime with its weekday, in its own zone (the New ticket form's due times)."""
        return format_datetime(moment, self.t("fmt.weekday_datetime"), tzinfo=moment.tzinfo,
                               locale=_babel(self.locale))

    def dur(self, ms: int | None) -> str:
        """A duration like ``2d 3h`` / ``2天3小时`` (two units at most); the sign is the caller's."""
        if ms is None:
            return "—"
        s = abs(int(ms)) // 1000
        d, rem = divmod(s, 86400)
        h, rem = divmod(rem, 3600)
        m, sec = divmod(rem, 60)
        if d:
            return self.t("dur.dh", d=d, h=h)
        if h:
            return self.t("dur.hm", h=h, m=f"{m:02d}")
        if m:
            return self.t("dur.ms", m=m, s=f"{sec:02d}")
        return self.t("dur.s", s=sec)

    def span(self, text: str) -> str:
        """A configured duration (``3wd``, ``1h30m``) in words of this locale (``3个工作日``, ``1小时30分钟``)."""
        parts = _SPAN.findall(text.replace(" ", ""))
        if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
            return text
        return "".join(self.t(f"unit.{unit}", n=number) for number, unit in parts)

    def left(self, ms: int | None) -> str:
        """Time left on a clock (``3h 12m left``) or past its due time (``12m over``)."""
        if ms is None:
            return ""
        return self.t("clock.left" if ms >= 0 else "clock.over", d=self.dur(ms))

    # -- numbers and money ---------------------------------------------------------------------------------

    def number(self, value: int | float | Decimal) -> str:
        """A number with the locale's grouping and decimal signs."""
        return format_decimal(value, locale=_babel(self.locale))

    def percent(self, fraction: float | None) -> str:
        """A fraction as a whole percentage (``87%``), or an em dash."""
        if fraction is None:
            return "—"
        return format_percent(fraction, locale=_babel(self.locale))

    def money(self, amount: int | float | Decimal, currency: str = "CNY") -> str:
        """An amount in a currency the locale's way (``¥1,234.50``, ``CN¥1,234.50``)."""
        return format_currency(amount, currency, locale=_babel(self.locale))


def choose_locale(stored: str | None, cookie: str | None, accept_language: str | None, default: str) -> str:
    """The locale a request is shown in: the user's choice, the cookie, Accept-Language, then the server's."""
    for chosen in (stored, cookie):
        found = i18n.normalise(chosen)
        if found:
            return found
    if accept_language:
        # the server's default weighs least, so a header naming no supported language falls through to it
        return i18n.negotiate(f"{accept_language}, {default.replace('_', '-')};q=0.001")
    return i18n.normalise(default) or i18n.FALLBACK
