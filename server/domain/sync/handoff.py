"""Change-sets this process accepted, kept decoded until its merger takes them.

An accepted change-set is verified and decoded by the request that takes it in
(:mod:`server.domain.sync.intake`); without this the merger would read its envelope back from the
database and decode it again.  :class:`Handoff` keeps the decoded ops, keyed by device, seq and
change-set hash, for the merge of the same process to take: a hash names the exact bytes that were
verified, so what is taken is what was stored.  Anything not kept (another process accepted it, this
process restarted, the handoff was full) is read and decoded from the database as before: the
handoff only saves work, it is never where a change-set lives.

It holds at most :data:`MAX_BYTES` of envelopes.  When full it keeps what it holds and refuses the
newest: the merger takes the change-sets that waited longest first, so those are the ones worth
keeping.  Entries older than :data:`STALE_S` (merged by another process on the same PostgreSQL) are
dropped when room is wanted.  Held by :class:`server.services.Services`.
"""

from __future__ import annotations

import threading
import time
from typing import Final

from schemas.wire import ReceivedChangeSet

#: envelope bytes the handoff holds at most (decoded, they take about twice as much: ~16 MB of the server's memory)
MAX_BYTES: Final = 8 * 1024 * 1024
#: an entry nobody took for this long was merged elsewhere (or failed and is retried from the database)
STALE_S: Final = 60.0


class Handoff:
    """Decoded accepted change-sets by (device, seq), with their hash and envelope size (thread-safe)."""

    def __init__(self, max_bytes: int = MAX_BYTES, stale_s: float = STALE_S) -> None:
        self.max_bytes = max_bytes
        self.stale_s = stale_s
        self._lock = threading.Lock()
        self._items: dict[tuple[str, int], tuple[str, ReceivedChangeSet, int, float]] = {}
        self._bytes = 0

    def keep(self, device_id: str, seq: int, changeset_hash: str, cs: ReceivedChangeSet, size: int) -> bool:
        """Keep an accepted change-set for the merger (after its acceptance committed); False when full."""
        now = time.monotonic()
        with self._lock:
            if self._bytes + size > self.max_bytes:
                self._drop_stale(now)
                if self._bytes + size > self.max_bytes:
                    return False
            old = self._items.pop((device_id, seq), None)
            if old is not None:
                self._bytes -= old[2]
            self._items[(device_id, seq)] = (changeset_hash, cs, size, now)
            self._bytes += size
            return True

    def take(self, device_id: str, seq: int, changeset_hash: str) -> ReceivedChangeSet | None:
        """The decoded change-set kept for (device, seq) if it has this hash (and forget it); else None."""
        with self._lock:
            item = self._items.pop((device_id, seq), None)
            if item is None:
                return None
            self._bytes -= item[2]
        return item[1] if item[0] == changeset_hash else None

    def held(self) -> tuple[int, int]:
        """(change-sets, envelope bytes) held now (for tests and metrics)."""
        with self._lock:
            return len(self._items), self._bytes

    def _drop_stale(self, now: float) -> None:
        for key in [k for k, v in self._items.items() if now - v[3] > self.stale_s]:
            self._bytes -= self._items.pop(key)[2]
