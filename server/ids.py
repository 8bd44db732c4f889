"""Random unique ids of server records (tickets ``T-``, jobs ``J-``, events ``E-`` ...)."""

from __future__ import annotations

import uuid


def new_id(prefix: str = "") -> str:
    """A random unique id, optionally prefixed (``T-``, ``J-`` ...)."""
    return prefix + uuid.uuid4().hex[:16] if prefix else uuid.uuid4().hex
