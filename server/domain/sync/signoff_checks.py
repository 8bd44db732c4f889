"""The sign-off signatures of a change-set, checked on worker threads while the push merges.

Checking an Ed25519 signature is pure C that releases the interpreter lock, so
a push hands its sign-offs to :data:`CHECKERS` in batches as soon as the
change-set is decoded (before it waits for the database's write lock) and only
waits for a batch when the merge reaches one of its sign-offs.  The verdicts
are the same as checking each in line (:func:`sync.core.signoff.signoffs_valid`).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

from schemas.wire import Op, SignOff
from sync.core.signoff import signoffs_valid

#: sign-offs per batch: the merge waits at most for one batch ahead of it
BATCH: Final = 32
CHECKERS: Final = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fieldsync-signoff-check")


class SignoffChecks:
    """Verdicts on the device signatures of the sign-offs among ``ops``, computed in the background."""

    def __init__(self, public_key: bytes, ops: list[Op]) -> None:
        signoffs = [op for op in ops if isinstance(op, SignOff)]
        self._where: dict[int, tuple[Future[list[bool]], int]] = {}
        for start in range(0, len(signoffs), BATCH):
            batch = signoffs[start:start + BATCH]
            future = CHECKERS.submit(signoffs_valid, public_key, batch)
            for i, op in enumerate(batch):
                self._where[id(op)] = (future, i)

    def valid(self, op: SignOff) -> bool:
        """Whether ``op`` (one of the ops given) carries a valid device signature; waits for its batch."""
        future, i = self._where[id(op)]
        return future.result()[i]
