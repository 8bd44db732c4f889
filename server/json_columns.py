"""How the server stores JSON in a text column: compact, keys sorted; NULL reads as the caller's default.

Its own module so that the modules building records and report content can
both use it without importing each other.
"""

from __future__ import annotations

from typing import Any

import msgspec


def loads(text: str | None, default: Any = None) -> Any:
    """Decode a JSON column (``default`` for NULL)."""
    return default if text is None else msgspec.json.decode(text)


def dumps(value: Any) -> str:
    """Encode a JSON column (compact, keys sorted)."""
    return msgspec.json.encode(value, order="sorted").decode()
