"""The merger: merges accepted change-sets in batches behind their 202, in every server process.

One thread per process (:class:`Merger`, started by ``create_app`` unless ``FIELDSYNC_MERGER=0``)
sleeps until a request accepts a change-set (:class:`~server.domain.sync.merge_signal.MergeSignal`)
or :data:`POLL_S` passes (work accepted by another process, or left by a process that was killed),
then runs :func:`merge_batch` until nothing is due.

A batch is one write transaction: it takes the row locks of the devices whose change-sets waited
longest (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two processes' mergers never take the same device,
and a synchronous push of that device waits its turn; SQLite has one writer), then merges each
device's change-sets in seq order through :func:`server.domain.sync.intake.merge_queued` (the one
merge path, every rule in one place), each in a savepoint, up to ``FIELDSYNC_MERGE_BATCH`` change-sets
or :data:`BATCH_BUDGET_S` of work, so an accepting request waits for the write lock no longer than
that; a batch also ends as soon as a push is being taken in, and the next waits for the pushes in
flight (up to :data:`DEFER_S`): acknowledging comes first, merging behind, and a burst of pushes
delays the merge but never starves it.  Each merge removes its accepted row in the transaction
that writes its receipt: a kill -9 anywhere leaves each change-set accepted or merged, never both, never neither.

A merge that raises rolls back to its savepoint and stays queued with its error and a later retry
time (its device's later change-sets wait behind it); it is logged and counted
(``fieldsync_merge_failures_total``, ``fieldsync_merge_failing``); the device sees a 202 until it is
merged, never a 500.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Final

from server.domain.sync import accepted_store
from server.domain.sync.intake import ALL, DEVICE_COLUMNS, merge_queued, retry_at
from server.observability import MERGE_FAILURES, MERGED_CHANGESETS
from server.services import Services
from sync.storage import Row, Tx, among

log = logging.getLogger("fieldsync.merge")

#: seconds between looks for work nobody announced in this process
POLL_S: Final = 0.5
#: a batch stops taking change-sets after this much work, so an accepting request never waits long
BATCH_BUDGET_S: Final = 0.15
#: while pushes are being taken in, the merger waits up to this long before each batch (then merges one anyway)
DEFER_S: Final = 0.25
#: after an unexpected failure of a whole batch (a lost connection), the merger waits this long
BACKOFF_S: Final = 1.0


@dataclass(slots=True)
class BatchResult:
    """What one batch did: the (device, seq) merged and those whose merge failed (kept queued)."""

    merged: list[tuple[str, int]] = field(default_factory=list)
    failed: list[tuple[str, int]] = field(default_factory=list)


def merge_batch(services: Services, limit: int, budget_s: float = BATCH_BUDGET_S) -> BatchResult:
    """Merge up to ``limit`` due change-sets in one transaction (see the module docstring)."""
    out = BatchResult()
    now = services.clock()
    with services.db.read() as tx:
        candidates = accepted_store.due_devices(tx, now, limit)
    if not candidates:
        return out
    key = services.key
    started = time.monotonic()
    with services.db.write() as tx:
        for dev in _lock_devices(tx, candidates):
            for row in accepted_store.waiting_through(tx, dev["id"], ALL):
                if out.merged and (len(out.merged) >= limit or time.monotonic() - started > budget_s
                                   or services.merge_signal.busy()):
                    # one change-set at least (a large one alone may take longer than the budget); pushes first
                    break
                if int(row["next_attempt_at"]) > now:
                    break  # failed before and not due again: the device's later change-sets wait behind it
                seq = int(row["seq"])
                tx.execute("SAVEPOINT merge_one")
                try:
                    merge_queued(tx, key, dev, row, services.handoff)
                except Exception as exc:  # noqa: BLE001 - kept queued, logged and counted: never dropped
                    tx.execute("ROLLBACK TO SAVEPOINT merge_one")
                    tx.execute("RELEASE SAVEPOINT merge_one")
                    detail = f"{type(exc).__name__}: {exc}"
                    accepted_store.failed(tx, dev["id"], seq, detail, retry_at(now, int(row["attempts"])))
                    log.error("merge of %s seq %s failed (attempt %s); it stays queued: %s", dev["id"], seq,
                              int(row["attempts"]) + 1, detail, exc_info=exc)
                    out.failed.append((dev["id"], seq))
                    break
                tx.execute("RELEASE SAVEPOINT merge_one")
                out.merged.append((dev["id"], seq))
            if out.merged and (len(out.merged) >= limit or time.monotonic() - started > budget_s
                               or services.merge_signal.busy()):
                break
    MERGED_CHANGESETS.inc(len(out.merged))
    MERGE_FAILURES.inc(len(out.failed))
    services.merge_signal.merged(out.merged)
    return out


def _lock_devices(tx: Tx, device_ids: list[str]) -> list[Row]:
    """Lock the rows of those of ``device_ids`` no other transaction holds (PostgreSQL); all of them on SQLite."""
    where, params = among(tx, "id", sorted(device_ids))
    sql = f"SELECT {DEVICE_COLUMNS} FROM devices WHERE {where} ORDER BY id"
    if tx.dialect == "postgresql":
        return tx.query(sql + " FOR UPDATE SKIP LOCKED", params)
    return tx.query(sql, params)


def merge_due(services: Services, limit: int, defer_s: float = 0.0) -> int:
    """Run batches until nothing is due (or only failures are); the number of change-sets merged.

    Before each batch it waits up to ``defer_s`` for the pushes being taken in (the merger's way of
    letting acknowledgements go first without starving the merge).
    """
    total = 0
    while True:
        if defer_s > 0:
            services.merge_signal.wait_quiet(defer_s)
        result = merge_batch(services, limit)
        total += len(result.merged)
        if not result.merged:
            return total


class Merger:
    """The merger thread of one server process."""

    def __init__(self, services: Services, batch: int) -> None:
        self.services = services
        self.batch = batch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fieldsync-merger", daemon=True)

    def start(self) -> Merger:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.services.merge_signal.accepted()  # wake it to see the stop
        self._thread.join(timeout)

    def _run(self) -> None:
        signal = self.services.merge_signal
        while not self._stop.is_set():
            try:
                merge_due(self.services, self.batch, DEFER_S)
            except Exception:  # noqa: BLE001 - the database went away mid-batch: nothing merged, all still queued
                log.exception("merge batch failed; the change-sets stay queued")
                MERGE_FAILURES.inc()
                self._stop.wait(BACKOFF_S)
            signal.wait_for_work(POLL_S)
