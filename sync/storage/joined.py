"""A Database whose transactions are all one transaction already open (work that must commit as one).

Service code opens ``db.write()`` and ``db.read()`` as it always does; handed a :class:`Joined`, every one
of those is the enclosing transaction: nothing commits or rolls back on its own, the owner of the
transaction decides for all of it, and reads see the writes before them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sync.storage.base import Database, Dialect, Tx


class Joined:
    """``db`` with every transaction being ``tx`` (one of ``db``'s write transactions, still open)."""

    def __init__(self, db: Database, tx: Tx) -> None:
        self._db = db
        self._tx = tx
        self.dialect: Dialect = db.dialect
        self.url: str = db.url

    @contextmanager
    def write(self) -> Iterator[Tx]:
        yield self._tx

    @contextmanager
    def read(self) -> Iterator[Tx]:
        yield self._tx

    def visible_xid_limit(self, tx: Tx) -> int | None:
        return self._db.visible_xid_limit(tx)

    def try_leader_lock(self, name: str) -> bool:
        return self._db.try_leader_lock(name)

    def close(self) -> None:
        """The enclosing database is closed by its owner, not by the work inside one transaction."""
