"""The services one server process shares: database, settings, clock, rate limiter, server key, SLA policies.

Built once by ``create_app`` and handed to controllers through Litestar's
dependency injection; tests build one with a fixed clock.  What is built once
and reused (the server key, the SLA policies in force) is held here, not in
module globals, so two apps in one process never share it by accident.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from server.clock import wall_ms
from server.domain.sla.policy import PolicySet
from server.domain.sync.handoff import Handoff
from server.domain.sync.merge_signal import MergeSignal
from server.keys import ServerKey, load_or_create_server_key, newest_key_id, read_key_file
from server.ratelimit import RateLimiter
from server.settings import Settings
from sync.storage import Database

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """One value for the current key, built once under a lock and shared by the threads of a process.

    A new key (a policy file edited, another time zone) builds and replaces the old value.
    """

    def __init__(self) -> None:
        self._entry: tuple[K, V] | None = None  # one attribute, so a reader never pairs one key with another value
        self._lock = threading.Lock()

    def get(self, key: K, build: Callable[[], V]) -> V:
        entry = self._entry
        if entry is not None and entry[0] == key:
            return entry[1]
        with self._lock:
            entry = self._entry
            if entry is None or entry[0] != key:
                entry = (key, build())
                self._entry = entry
            return entry[1]


@dataclass(slots=True)
class Services:
    """What every request handler may use."""

    db: Database
    settings: Settings
    clock: Callable[[], int] = wall_ms
    limiter: RateLimiter = field(default_factory=RateLimiter)
    #: the SLA policies in force, keyed by their configuration: see ``sla.service.policy_set``
    sla_policies: Memo[Hashable, PolicySet] = field(default_factory=Memo)
    #: wakes the merger when a change-set is accepted, and long polls when one is merged
    merge_signal: MergeSignal = field(default_factory=MergeSignal)
    #: change-sets this process accepted, kept decoded for its merger
    handoff: Handoff = field(default_factory=Handoff)
    _key: ServerKey | None = field(default=None, repr=False)
    _key_checked: float = field(default=0.0, repr=False)

    @property
    def key(self) -> ServerKey:
        """The server's signing key, loaded (or created on first start) when first used.

        Every ``FIELDSYNC_KEY_REFRESH_S`` seconds (30) a process looks whether another one rotated the key
        (``fieldsync admin rotate-key``) and loads the new one.  ``ServerKeyLocked`` when the stored key is
        sealed and ``FIELDSYNC_KEY_FILE`` does not open it.
        """
        now = time.monotonic()
        if self._key is not None and now - self._key_checked >= self.settings.key_refresh_s:
            self._key_checked = now
            if newest_key_id(self.db) != self._key.key_id:
                self._key = None
        if self._key is None:
            self._key = load_or_create_server_key(self.db, self.clock(), read_key_file(self.settings.key_file))
            self._key_checked = now
        return self._key
