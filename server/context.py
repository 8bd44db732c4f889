"""The services one server process shares: database, clock, server key, settings.

Built once by ``create_app`` and handed to controllers through Litestar's
dependency injection; tests build one with a fixed clock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.ratelimit import RateLimiter
from server.settings import Settings
from sync.storage import Database


def wall_ms() -> int:
    """The server's wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def new_id(prefix: str = "") -> str:
    """A random unique id, optionally prefixed (``T-``, ``J-`` ...)."""
    return prefix + uuid.uuid4().hex[:16] if prefix else uuid.uuid4().hex


@dataclass(slots=True)
class ServerKey:
    """The server's Ed25519 key that signs receipts, pull pages and device certificates."""

    key_id: str
    private: Ed25519PrivateKey
    public: bytes

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


@dataclass(slots=True)
class Services:
    """What every request handler may use."""

    db: Database
    settings: Settings
    clock: Callable[[], int] = wall_ms
    limiter: RateLimiter = field(default_factory=RateLimiter)
    _key: ServerKey | None = field(default=None, repr=False)

    @property
    def key(self) -> ServerKey:
        if self._key is None:
            from server.keys import load_or_create_server_key

            self._key = load_or_create_server_key(self.db, self.clock())
        return self._key
