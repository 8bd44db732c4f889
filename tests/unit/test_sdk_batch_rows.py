"""How a batch keeps its queued rows and stamps its writes, where the write path's CPU went.

- Queued rows are kept flat (one list of values per SQL text), so a big batch
  holds no object per row that the cyclic GC tracks; a failed write still
  takes back exactly its own values.
- An answer reads its job's checklist (template items, answer HLCs) from one
  memo entry; a pull that re-pins the template drops it.
- ``outbox.next_hlc`` ticks the clock inline: the same values as ``hlc.tick``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk import FieldClient, outbox
from client_sdk.errors import InvalidAnswer
from client_sdk.testing import FakeSyncServer, publish_demo_job
from schemas.wire import AnswerItem
from sync.core.hlc import tick
from tests.support import TickingClock


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[FieldClient]:
    server = FakeSyncServer()
    publish_demo_job(server)
    c = FieldClient.open(tmp_path / "tablet.db", transport=server, clock=TickingClock())
    c.enroll(server.issue_token())
    assert c.sync().ok
    yield c
    c.close()


def test_a_big_batch_keeps_no_gc_tracked_object_per_queued_row(client: FieldClient) -> None:
    client.answer("job-1", "pressure", 1.0)  # job row, checklist and device clock are memoised now
    writes = 3_000
    gc.collect()
    gc.disable()
    try:
        with client.batch():
            before = len(gc.get_objects(generation=0))
            for i in range(writes):
                client.answer("job-1", "pressure", 1.0 + i / writes)
                client.use_part("job-1", "P-100")
            grown = len(gc.get_objects(generation=0)) - before
            assert client._store.deferred
    finally:
        gc.enable()
    # one tuple per queued row (the old layout) would be ~4 objects per loop; a few per batch remain
    assert grown < writes // 10, grown
    assert len(client.pending()) == 1 + 2 * writes


def test_a_failed_write_takes_back_only_its_own_values_of_a_shared_statement(
    client: FieldClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with client.batch():
        client.answer("job-1", "pressure", 1.5)
        client.use_part("job-1", "P-100", qty=2)
        # the answer's row is queued, then its outbox append fails: only that row goes
        monkeypatch.setattr(outbox, "append", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("bug")))
        with pytest.raises(RuntimeError):
            client.answer("job-1", "gas_tight", True)
        monkeypatch.undo()
        client.answer("job-1", "pressure", 1.7)
        client.use_part("job-1", "P-100")
    detail = client.job("job-1")
    assert [(a.item_key, a.value) for a in detail.answers] == [("pressure", 1.7)]
    assert sorted(p.qty for p in detail.parts) == [1, 2]
    ops = [p.op for p in client.pending()]
    assert [type(op).__name__ for op in ops] == ["AnswerItem", "MovePart", "AnswerItem", "MovePart"]
    assert isinstance(ops[2], AnswerItem) and ops[2].base_hlc == ops[0].hlc


def test_a_deferred_statement_needs_parameters(client: FieldClient) -> None:
    with pytest.raises(ValueError, match="without parameters"), client._store.stage() as tx:
        tx.defer("UPDATE jobs SET notes = 'x'", ())
    assert not client._store.deferred


def test_an_answer_follows_a_template_re_pinned_by_a_pull(client: FieldClient) -> None:
    with client.batch():
        client.answer("job-1", "gas_tight", True)
        with client._store.write() as tx:  # e.g. a pulled change pinning the job to no checklist
            tx.execute("UPDATE jobs SET template_id = NULL WHERE id = 'job-1'")
        with pytest.raises(InvalidAnswer, match="job_has_no_checklist"):
            client.answer("job-1", "gas_tight", False)
    assert [p.type for p in client.pending()] == ["checklist.answer"]


class _QueuedClock:
    """Just what ``next_hlc`` asks of a staged write: where the clock's row is queued."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, tuple[object, ...]]] = []

    def defer_state(self, sql: str, params: tuple[object, ...]) -> None:
        self.queued.append((sql, params))


@settings(max_examples=300, deadline=None)
@given(last=st.integers(0, 1 << 62), now_ms=st.integers(0, 1 << 45))
def test_next_hlc_ticks_like_hlc_tick(last: int, now_ms: int) -> None:
    tx = _QueuedClock()
    state: list[object] = ["device-1", last]
    hlc = outbox.next_hlc(tx, now_ms, state)  # type: ignore[arg-type]
    assert hlc == tick(last, now_ms) == state[1]
    assert tx.queued == [(outbox.HLC_SQL, (hlc,))]
