"""Op ids made ahead from one random read, and the device clock queued without a journal entry.

- ``outbox.new_op_id`` hands out uuid4 hex values it made 64 at a time; a
  forked child must never hand out the ids its parent still holds.
- The device HLC is queued with ``WriteTx.defer_state``: a write that fails
  inside a batch keeps the tick it took, so no later op reuses that value, and
  the stored ``hlc_last`` is the last tick.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk import FieldClient, outbox
from client_sdk.testing import FakeSyncServer, publish_demo_job
from schemas.wire import Op


def test_op_ids_are_uuid4_hex_and_distinct() -> None:
    ids = [outbox.new_op_id() for _ in range(5_000)]
    assert len(set(ids)) == len(ids)
    for op_id in ids[:300]:
        parsed = uuid.UUID(op_id)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and parsed.hex == op_id


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_reuse_the_ids_its_parent_holds() -> None:
    outbox.new_op_id()  # the parent now holds ids made ahead
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, "".join(outbox.new_op_id() for _ in range(8)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    child = {text[i : i + 32] for i in range(0, len(text), 32)}
    parent = {outbox.new_op_id() for _ in range(200)}
    assert len(child) == 8 and not child & parent


class FrozenClock:
    """A device clock that does not move: every tick comes from the HLC counter."""

    def __call__(self) -> int:
        return 1_700_000_100_000


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[FieldClient]:
    server = FakeSyncServer()
    publish_demo_job(server)
    c = FieldClient.open(tmp_path / "tablet.db", transport=server, clock=FrozenClock())
    c.enroll(server.issue_token())
    assert c.sync().ok
    yield c
    c.close()


def stored_hlc(client: FieldClient) -> int:
    return int(client._store.read.scalar("SELECT hlc_last FROM device WHERE id = 1"))


@settings(max_examples=15, deadline=None)
@given(plan=st.lists(st.booleans(), min_size=1, max_size=12))
def test_failed_writes_in_a_batch_keep_the_clock_moving(tmp_path_factory: pytest.TempPathFactory,
                                                        plan: list[bool]) -> None:
    """``plan``: True = a write that commits, False = one that fails after ticking the clock."""
    server = FakeSyncServer()
    publish_demo_job(server)
    client = FieldClient.open(tmp_path_factory.mktemp("t") / "tablet.db", transport=server, clock=FrozenClock())
    try:
        client.enroll(server.issue_token())
        assert client.sync().ok
        start = stored_hlc(client)
        real_append = outbox.append
        ticks: list[int] = []

        def failing_append(tx: object, op: Op, now: int, key: str | None = None) -> None:
            ticks.append(op.hlc)
            raise RuntimeError("bug after the tick")

        with client.batch():
            for i, ok in enumerate(plan):
                if ok:
                    client.set_field("job-1", "notes", f"n{i}")
                    ticks.append(client.pending()[-1].op.hlc)
                else:
                    outbox.append = failing_append  # type: ignore[assignment]
                    try:
                        with pytest.raises(RuntimeError):
                            client.answer("job-1", "pressure", 1.5)
                    finally:
                        outbox.append = real_append
        assert ticks == sorted(ticks) and len(set(ticks)) == len(ticks) and ticks[0] > start
        assert stored_hlc(client) == ticks[-1]  # the failed writes' ticks stay taken
        client.set_field("job-1", "notes", "after")
        assert client.pending()[-1].op.hlc > ticks[-1]
        written = [f"n{i}" for i, ok in enumerate(plan) if ok] + ["after"]
        assert [getattr(p.op, "value", None) for p in client.pending()] == written
    finally:
        client.close()


def test_a_failed_single_write_leaves_the_stored_clock_alone(client: FieldClient) -> None:
    before = stored_hlc(client)
    real_append = outbox.append
    outbox.append = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("bug"))
    try:
        with pytest.raises(RuntimeError):
            client.set_field("job-1", "notes", "lost")
    finally:
        outbox.append = real_append
    assert stored_hlc(client) == before and client.pending() == []  # the whole transaction rolled back
    client.set_field("job-1", "notes", "kept")
    assert client.pending()[-1].op.hlc > before and stored_hlc(client) == client.pending()[-1].op.hlc
