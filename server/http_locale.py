"""The locale a request asks for: ``Accept-Language`` against the catalogs' locales, English by default.

API clients and scripts that send no ``Accept-Language`` (or only languages the
product does not speak) get English, so problem texts and CSV headers they
already parse do not change under them; a client asking for ``zh-CN`` gets
Chinese.  The console keeps its own choice per user (see ``server/console``).
"""

from __future__ import annotations

from schemas import i18n


def content_language(locale: str) -> str:
    """The BCP 47 tag of a catalog locale, for ``Content-Language``."""
    return locale.replace("_", "-")


def request_locale(accept_language: str | None) -> str:
    """The supported locale ``accept_language`` prefers; English when it names none we speak."""
    if not accept_language or not accept_language.strip():
        return i18n.FALLBACK
    # negotiate() answers the product's first locale when nothing matches; an API client that asked for
    # no language we speak gets English instead, so the fallback joins the header with the lowest weight
    return i18n.negotiate(f"{accept_language},{i18n.FALLBACK};q=0.001")
