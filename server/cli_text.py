"""What the ``fieldsync`` commands say to a person, in the operator's language.

The locale is ``FIELDSYNC_LOCALE`` (the product's setting, also the console's
default), else the POSIX locale of the shell (``LC_ALL``, ``LC_MESSAGES``,
``LANG``: the first one set decides), else English; ``C``/``POSIX`` and
languages the catalogs do not hold mean English.  Texts come from the ``cli``
catalogs.  What scripts read stays as it is in every language: ``--json``
output, tokens, ids, exit codes, and ``VALID``/``INVALID`` of ``verify``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from schemas import i18n

DOMAIN = "cli"


def cli_locale(env: Mapping[str, str] | None = None) -> str:
    """The locale of the commands' messages (see the module docstring)."""
    env = os.environ if env is None else env
    for name in ("FIELDSYNC_LOCALE", "LC_ALL", "LC_MESSAGES", "LANG"):
        raw = env.get(name, "").strip()
        if raw:
            return i18n.normalise(raw.split(".")[0].split("@")[0]) or i18n.FALLBACK
    return i18n.FALLBACK


def say(key: str, /, **params: object) -> str:
    """The ``cli`` text ``key`` in the operator's language, placeholders filled in."""
    return i18n.text(cli_locale(), DOMAIN, key, **params)


def error(message: str) -> str:
    """One stderr line for an error (``error: ...`` / ``错误：...``)."""
    return say("error", message=message)
