"""How the merger and the requests waiting on it find each other inside one server process.

The merger thread sleeps on :meth:`MergeSignal.wait_for_work` and an accepting request wakes it
(:meth:`MergeSignal.accepted`); while pushes are being taken in it gives way to them
(:meth:`MergeSignal.wait_quiet`: acknowledging comes first, merging behind); a
``GET /v1/sync/receipts/{seq}?wait=S`` long poll waits on the event
loop, holding no thread and no database connection, until the merger says that device's change-set
was merged (:meth:`MergeSignal.merged`) or a short poll interval passes: another server process on the
same PostgreSQL may have merged it, which only the database knows.  Held by :class:`server.services.Services`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable


class MergeSignal:
    """Wake-ups between accepting requests, the merger thread and long-polling requests (thread-safe)."""

    def __init__(self) -> None:
        self._intake = 0  # pushes being verified and stored right now
        self._quiet = threading.Condition()
        self._work = threading.Event()
        self._lock = threading.Lock()
        self._waiters: dict[tuple[str, int], list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}

    # -- the merger's work --------------------------------------------------
    def accepted(self) -> None:
        """A change-set was accepted: the merger should look now, not at its next poll."""
        self._work.set()

    def wait_for_work(self, timeout: float) -> bool:
        """Block the merger until work is announced or ``timeout`` seconds pass; True when announced."""
        announced = self._work.wait(timeout)
        self._work.clear()
        return announced

    # -- pushes first ----------------------------------------------------------
    def intake_started(self) -> None:
        """A push is being verified and stored: the merger gives way (it wants the same write lock)."""
        with self._quiet:
            self._intake += 1

    def intake_done(self) -> None:
        with self._quiet:
            self._intake -= 1
            if self._intake == 0:
                self._quiet.notify_all()

    def busy(self) -> bool:
        """Whether a push is being taken in now (a merge batch then ends early)."""
        return self._intake > 0

    def wait_quiet(self, timeout: float) -> bool:
        """Block the merger until no push is being taken in, or ``timeout`` seconds; True when quiet."""
        with self._quiet:
            return self._quiet.wait_for(lambda: self._intake == 0, timeout)

    # -- long polls ----------------------------------------------------------
    def merged(self, keys: Iterable[tuple[str, int]]) -> None:
        """These (device, seq) change-sets have their receipts: wake whoever waits on them."""
        with self._lock:
            woken = [w for key in keys for w in self._waiters.pop(key, [])]
        for loop, future in woken:
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits any more
                loop.call_soon_threadsafe(_resolve, future)

    async def wait_merged(self, device_id: str, seq: int, timeout: float) -> None:
        """Return when (device, seq) is announced merged in this process, or after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (loop, future)
        key = (device_id, seq)
        with self._lock:
            self._waiters.setdefault(key, []).append(entry)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                left = self._waiters.get(key)
                if left is not None and entry in left:
                    left.remove(entry)
                    if not left:
                        del self._waiters[key]

    def waiting(self) -> int:
        """How many long polls wait in this process (for tests and metrics)."""
        with self._lock:
            return sum(len(v) for v in self._waiters.values())


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
