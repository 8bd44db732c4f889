"""The sign-off signatures of a change-set, checked on worker threads while the push merges.

Checking an Ed25519 signature is C that releases the interpreter lock, so a
push hands its sign-offs to :data:`CHECKERS` in batches as soon as the
change-set is decoded (before it waits for the database's write lock) and only
needs a batch's verdicts when the merge reaches one of its sign-offs.  A batch
still queued then (behind other pushes' batches) is taken back and checked in
line, so a push holding the write lock never waits for another push's work.
The verdicts are the same as checking each in line
(:func:`sync.core.signoff.signoffs_valid`).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

from schemas.wire import Op, ReceivedOp, ReceivedSignOff, SignOff
from sync.core.signoff import signoffs_valid

#: sign-offs per batch: the merge waits at most for one batch ahead of it
BATCH: Final = 32
CHECKERS: Final = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fieldsync-signoff-check")


class SignoffChecks:
    """Verdicts on the device signatures of the sign-offs among ``ops``, computed in the background."""

    def __init__(self, public_key: bytes, ops: Sequence[Op | ReceivedOp]) -> None:
        self.public_key = public_key
        signoffs = [op for op in ops if isinstance(op, SignOff | ReceivedSignOff)]
        self._batches = [signoffs[i:i + BATCH] for i in range(0, len(signoffs), BATCH)]
        self._futures: list[Future[list[bool]]] = [
            CHECKERS.submit(signoffs_valid, public_key, batch) for batch in self._batches]
        self._verdicts: dict[int, list[bool]] = {}
        #: id of a sign-off op -> (its batch, its place in the batch)
        self._where = {id(op): (b, i) for b, batch in enumerate(self._batches) for i, op in enumerate(batch)}

    def valid(self, op: SignOff | ReceivedSignOff) -> bool:
        """Whether ``op`` (one of the ops given) carries a valid device signature."""
        b, i = self._where[id(op)]
        if b not in self._verdicts:
            future = self._futures[b]
            self._verdicts[b] = (signoffs_valid(self.public_key, self._batches[b]) if future.cancel()
                                 else future.result())
        return self._verdicts[b][i]
