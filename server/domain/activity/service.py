"""A fingerprint of the data the back office watches: it changes when any of it does (or every 30 s)."""

from __future__ import annotations

import hashlib
from typing import Any

from server.domain.activity import store
from server.services import Services


def data_version(services: Services) -> dict[str, Any]:
    """``v``: the fingerprint, ``now``: the server time it was taken at."""
    now = services.clock()
    with services.db.read() as tx:
        row = store.marks(tx)
    raw = repr((sorted((row or {}).items()), now // 30_000))
    return {"v": hashlib.sha256(raw.encode()).hexdigest()[:16], "now": now}
