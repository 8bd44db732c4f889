"""A small in-process token bucket for enrollment and authentication attempts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from server.errors import RateLimited


class RateLimiter:
    """``rate`` attempts per second per key, bursting to ``burst``."""

    def __init__(self, rate: float = 1.0, burst: int = 20, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Spend one token for ``key`` or raise ``rate_limited``."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                raise RateLimited("rate_limited", "too many attempts; slow down", retry_after_s=1)
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:
                self._buckets.clear()
