"""Message catalogs: every string a person reads, per locale and domain.

A catalog is a JSON file ``schemas/i18n/<locale>/<domain>.json`` of flat keys
(``nav.tickets``) to texts with ``{name}`` placeholders.  Domains keep the
surfaces apart (``tablet`` for the tablet web app, which loads its catalogs
over HTTP; ``console``, ``report``, ``problems`` ... for the server).  Every
locale holds every key of every domain, with the same placeholders
(``tests/unit/test_catalogs.py``), so a lookup never falls through in a
shipped build; a missing key still answers the English text, then the key
itself, never an error a person would see as a failed page.

Formatting of dates, numbers and money per locale is not here: it belongs to
the surface that renders them.
"""

from __future__ import annotations

import functools
import json
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).parent
#: the locales the product speaks, the first being the default for a Chinese service organisation
LOCALES: Final[tuple[str, ...]] = ("zh_CN", "en")
FALLBACK: Final = "en"
_TAG: Final = re.compile(r"^\s*([A-Za-z]{1,8})(?:[-_]([A-Za-z0-9]{1,8}))?")


def domains() -> list[str]:
    """The catalog domains the fallback locale holds."""
    return sorted(p.stem for p in (HERE / FALLBACK).glob("*.json"))


@functools.cache
def catalog(locale: str, domain: str) -> Mapping[str, str]:
    """The texts of one domain in one locale (empty when that file does not exist)."""
    if locale not in LOCALES:
        return {}
    path = HERE / locale / f"{domain}.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"{path}: a catalog maps keys to texts")
    return data


def text(locale: str, domain: str, key: str, /, **params: object) -> str:
    """The text of ``key`` in ``locale`` with its placeholders filled in."""
    found = catalog(locale, domain).get(key)
    if found is None:
        found = catalog(FALLBACK, domain).get(key, key)
    return found.format_map(_Params(params)) if params else found


class _Params(dict[str, object]):
    """Placeholders with a value missing stay as written instead of failing the page."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def placeholders(template: str) -> set[str]:
    """The ``{name}`` placeholders of a text."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def negotiate(accept_language: str | None) -> str:
    """The supported locale an ``Accept-Language`` header prefers (the default when none matches)."""
    if not accept_language:
        return LOCALES[0]
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, q = part.partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        m = _TAG.match(tag)
        if m:
            ranked.append((-weight, i, m.group(1).lower() + ("_" + m.group(2) if m.group(2) else "")))
    for _, _, tag in sorted(ranked):
        for locale in LOCALES:
            if tag.lower() == locale.lower() or tag.split("_")[0] == locale.split("_")[0].lower():
                return locale
    return LOCALES[0]


def normalise(locale: str | None) -> str | None:
    """``zh-CN``/``zh_cn``/``en-US`` -> a supported locale, or None."""
    if not locale:
        return None
    wanted = locale.replace("-", "_").lower()
    for supported in LOCALES:
        if wanted == supported.lower() or wanted.split("_")[0] == supported.split("_")[0].lower():
            return supported
    return None
