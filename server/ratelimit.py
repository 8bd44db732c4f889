"""A small in-process token bucket for enrollment, authentication and sign-in attempts.

One limiter serves every purpose: each caller names its bucket by something the
requester cannot forge (the client address, an account, a device whose key
signed) and may scale the limiter's base rate and burst for it, so a test or an
operator that loosens the limiter loosens every policy together.  Which
policies exist is said where they are used (device auth, console sign-in).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

from server.errors import RateLimited

#: buckets kept at most; past it, those that have refilled (and so hold nothing worth keeping) are dropped
MAX_BUCKETS: Final = 100_000


class RateLimiter:
    """``rate`` attempts per second per key, bursting to ``burst`` (each scaled per call when asked)."""

    def __init__(self, rate: float = 1.0, burst: int = 20, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float, float, float]] = {}  # key -> tokens, last, rate, burst
        self._lock = threading.Lock()

    def check(self, key: str, *, rate_scale: float = 1.0, burst_scale: float = 1.0) -> None:
        """Spend one token for ``key`` or raise ``rate_limited`` (nothing spent then)."""
        now = self.clock()
        rate, burst = self.rate * rate_scale, float(self.burst) * burst_scale
        with self._lock:
            tokens = self._tokens(key, now, rate, burst)
            if tokens < 1.0:
                raise RateLimited("rate_limited", "too many attempts; slow down", retry_after_s=1)
            self._buckets[key] = (tokens - 1.0, now, rate, burst)
            if len(self._buckets) > MAX_BUCKETS:
                self._forget_full(now)

    def refund(self, key: str) -> None:
        """Give back the token of an attempt that turned out not to count (a successful sign-in)."""
        now = self.clock()
        with self._lock:
            found = self._buckets.get(key)
            if found is not None:
                _, _, rate, burst = found
                self._buckets[key] = (min(burst, self._tokens(key, now, rate, burst) + 1.0), now, rate, burst)

    def _tokens(self, key: str, now: float, rate: float, burst: float) -> float:
        tokens, last, _, _ = self._buckets.get(key, (burst, now, rate, burst))
        return min(burst, tokens + (now - last) * rate)

    def _forget_full(self, now: float) -> None:
        # clearing every bucket would let a caller reset everyone's limits by naming many keys
        full = [k for k, (tokens, last, rate, burst) in self._buckets.items()
                if tokens + (now - last) * rate >= burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) > 2 * MAX_BUCKETS:  # memory stays bounded even then
            self._buckets.clear()
