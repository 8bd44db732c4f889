"""Conditional writes of the back office: the strong ETag of a stored row and ``If-Match`` against it."""

from __future__ import annotations

import hashlib

import msgspec

from sync.storage import Row


def etag(row: Row) -> str:
    """The strong ETag of a row (every column, so any write to the row changes it)."""
    digest = hashlib.sha256(msgspec.json.encode({k: row[k] for k in sorted(row)})).hexdigest()[:24]
    return f'"{digest}"'


def matches(if_match: str, current: str) -> bool:
    """``If-Match`` (RFC 9110 §13.1.1): ``*`` or a list of entity tags, compared strongly (a weak one never)."""
    if if_match.strip() == "*":
        return True
    return current in {tag.strip() for tag in if_match.split(",")}
