"""``FieldClient.batch()`` queues row writes and writes them in bulk: the SDK must not notice.

Inserts go in as multi-row statements (:mod:`sync.storage.sqlite_rows`), updates with ``executemany``.

Reads inside a batch see the batch's writes, a refused or failed write takes
back only its own rows, a direct write (the pull path) drops what the batch
had memoised, and nothing of a batch is on disk unless the batch commits --
even after a read has handed its rows to SQLite.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client_sdk import FieldClient, outbox
from client_sdk.errors import InvalidPart, InvalidTransition, UnknownJob
from client_sdk.testing import FakeSyncServer, publish_demo_job
from schemas.wire import AnswerItem, SetField
from tests.support import TickingClock


def open_client(path: Path) -> FieldClient:
    server = FakeSyncServer()
    publish_demo_job(server)
    publish_demo_job(server, "job-2")
    client = FieldClient.open(path, transport=server, clock=TickingClock())
    client.enroll(server.issue_token())
    assert client.sync().ok
    return client


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[FieldClient]:
    c = open_client(tmp_path / "tablet.db")
    yield c
    c.close()


def day(client: FieldClient, job_id: str) -> None:
    client.set_status(job_id, "en_route")
    client.set_status(job_id, "on_site")
    client.answer(job_id, "gas_tight", True)
    client.answer(job_id, "pressure", 1.5)
    client.answer(job_id, "pressure", 1.7, note="re-measured")
    client.set_field(job_id, "diagnosis", "worn electrode")
    client.set_field(job_id, "diagnosis", "worn electrode, replaced")
    client.set_field(job_id, "remote", True)
    client.use_part(job_id, "P-100", qty=2)
    client.use_part(job_id, "P-200", serial="SN-1")
    client.attach(job_id, b"\xff\xd8\xff" + b"photo" * 50)
    client.set_status(job_id, "completed")


def snapshot(path: Path) -> dict[str, Any]:
    """What the tablet holds, without the values that differ between runs (op ids, clocks)."""
    conn = sqlite3.connect(path)
    try:
        return {
            "jobs": conn.execute(
                "SELECT id, status, hold_reason, notes, diagnosis, resolution, remote, rating, signed_off "
                "FROM jobs ORDER BY id").fetchall(),
            "answers": conn.execute(
                "SELECT job_id, item_key, value, note, na_reason, device_id, template_version, deleted "
                "FROM answers ORDER BY job_id, item_key").fetchall(),
            "movements": conn.execute(
                "SELECT kind, part_no, qty, serial, job_id, local FROM movements ORDER BY job_id, part_no").fetchall(),
            "attachments": conn.execute("SELECT job_id, sha256, kind, size FROM attachments").fetchall(),
            "outbox": [(job, type_, key.split(":")[0] if type_ == "part.move" else key)
                       for job, type_, key in conn.execute("SELECT job_id, type, key FROM outbox ORDER BY seq")],
        }
    finally:
        conn.close()


def test_a_batch_leaves_the_same_rows_as_single_writes(tmp_path: Path) -> None:
    single, batched = open_client(tmp_path / "single.db"), open_client(tmp_path / "batched.db")
    day(single, "job-1")
    with batched.batch():
        day(batched, "job-1")
    single.close()
    batched.close()
    assert snapshot(tmp_path / "batched.db") == snapshot(tmp_path / "single.db")


def test_a_big_batch_goes_in_as_multi_row_inserts_and_leaves_the_same_rows(tmp_path: Path) -> None:
    """Past 32 rows a statement, the outbox, answers and movements are written 32 rows at a time, in order."""
    def many(client: FieldClient) -> None:
        for i in range(40):  # the same answer rewritten: the last write must win, as one by one
            client.answer("job-1", "pressure", 1.0 + i / 100, note=f"reading {i}")
            client.answer("job-2", "gas_tight", i % 2 == 0)
            client.use_part("job-1", "P-100", qty=1 + i % 3)
        day(client, "job-2")

    single, batched = open_client(tmp_path / "single.db"), open_client(tmp_path / "batched.db")
    many(single)
    statements: list[str] = []
    batched._store.conn.set_trace_callback(statements.append)
    with batched.batch():
        many(batched)
    batched._store.conn.set_trace_callback(None)
    single.close()
    batched.close()
    assert snapshot(tmp_path / "batched.db") == snapshot(tmp_path / "single.db")
    outbox_inserts = [s for s in statements if s.startswith("INSERT INTO outbox ")]
    # 132 ops: 4 statements of 32 rows, then 4 rows one by one
    assert [s.count("), (") + 1 for s in outbox_inserts] == [32] * 4 + [1] * 4


def test_reads_inside_a_batch_see_its_writes(client: FieldClient) -> None:
    with client.batch():
        client.set_status("job-1", "en_route")
        client.answer("job-1", "gas_tight", True)
        client.set_field("job-1", "notes", "gate code 1234")
        client.use_part("job-1", "P-100")
        detail = client.job("job-1")
        assert detail.job.status == "en_route" and detail.job.notes == "gate code 1234"
        assert [(a.item_key, a.value, a.pending) for a in detail.answers] == [("gas_tight", True, True)]
        assert [(p.part_no, p.pending) for p in detail.parts] == [("P-100", True)]
        assert [p.type for p in client.pending()] == ["job.status", "checklist.answer", "job.field", "part.move"]
        assert {s.part_no: s.qty for s in client.stock()}["P-100"] == 4
        client.set_status("job-1", "on_site")  # writes go on after a read
        assert client.jobs()[0].status == "on_site"


def test_hlc_and_base_hlc_chain_through_a_batch(client: FieldClient) -> None:
    with client.batch():
        client.answer("job-1", "pressure", 1.5)
        client.answer("job-1", "pressure", 1.6)
        client.set_field("job-1", "notes", "a")
        client.set_field("job-1", "notes", "b")
    ops = [p.op for p in client.pending()]
    hlcs = [op.hlc for op in ops]
    assert hlcs == sorted(hlcs) and len(set(hlcs)) == 4
    first, second, third, fourth = ops
    assert isinstance(second, AnswerItem) and second.base_hlc == first.hlc
    assert isinstance(fourth, SetField) and fourth.base_hlc == third.hlc
    assert client.job("job-1").answers[0].hlc == second.hlc
    stored = client._store.read.scalar("SELECT hlc_last FROM device WHERE id = 1")
    assert stored == fourth.hlc
    client.set_field("job-1", "notes", "c")  # the next single write continues the clock
    assert client.pending()[-1].op.hlc > fourth.hlc


def test_a_refused_write_takes_back_nothing_of_the_others(client: FieldClient) -> None:
    with client.batch():
        client.set_status("job-1", "en_route")
        with pytest.raises(InvalidTransition):
            client.set_status("job-1", "completed")  # checklist incomplete
        with pytest.raises(InvalidPart):
            client.use_part("job-1", "P-200")  # serialized part without a serial
        with pytest.raises(UnknownJob):
            client.answer("job-9", "gas_tight", True)
        client.set_status("job-1", "on_site")
    assert [p.type for p in client.pending()] == ["job.status", "job.status"]
    assert client.job("job-1").job.status == "on_site"


def test_a_write_failing_half_way_in_a_batch_leaves_no_trace(
    client: FieldClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with client.batch():
        client.set_field("job-1", "notes", "kept")
        monkeypatch.setattr(outbox, "append", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("bug")))
        with pytest.raises(RuntimeError):
            client.set_field("job-1", "notes", "lost")
        with pytest.raises(RuntimeError):
            client.answer("job-1", "gas_tight", True)
        monkeypatch.undo()
        assert client.job("job-1").job.notes == "kept"
        client.set_field("job-1", "diagnosis", "after")
    detail = client.job("job-1")
    assert (detail.job.notes, detail.job.diagnosis, detail.answers) == ("kept", "after", [])
    assert [p.op.value for p in client.pending() if isinstance(p.op, SetField)] == ["kept", "after"]


def test_an_error_escaping_a_batch_writes_nothing_even_after_a_read(tmp_path: Path) -> None:
    path = tmp_path / "tablet.db"
    client = open_client(path)
    before = snapshot(path)
    with pytest.raises(RuntimeError), client.batch():
        client.set_status("job-1", "en_route")
        client.answer("job-1", "gas_tight", True)
        assert client.job("job-1").job.status == "en_route"  # the rows went to SQLite, uncommitted
        client.use_part("job-1", "P-100")
        raise RuntimeError("the app crashed")
    assert client.pending() == []
    assert client.job("job-1").job.status == "assigned"
    client.set_status("job-1", "en_route")  # no stale memo: assigned -> en_route is allowed again
    client.close()
    after = snapshot(path)
    assert after["answers"] == before["answers"] and after["movements"] == before["movements"]
    assert after["outbox"] == [("job-1", "job.status", "status")]


def test_a_direct_write_inside_a_batch_drops_what_the_batch_memoised(client: FieldClient) -> None:
    with client.batch():
        client.set_status("job-1", "en_route")
        with client._store.write() as tx:  # e.g. a pulled change landing between two writes
            tx.execute("UPDATE jobs SET status = 'on_site' WHERE id = 'job-1'")
        with pytest.raises(InvalidTransition):
            client.set_status("job-1", "on_site")  # on_site -> on_site: the write saw the new row
        client.set_status("job-1", "in_progress")
    assert client.job("job-1").job.status == "in_progress"


def test_a_staged_write_reads_before_it_defers(client: FieldClient) -> None:
    with client.batch():
        client.set_field("job-1", "notes", "x")
        with pytest.raises(RuntimeError, match="read first"), client._store.stage() as tx:
            tx.defer("UPDATE jobs SET notes = ? WHERE id = ?", ("y", "job-1"))
            tx.one("SELECT notes FROM jobs WHERE id = 'job-1'")
    assert client.job("job-1").job.notes == "x"


KILLED_MID_BATCH = textwrap.dedent("""
    import sys, time
    from client_sdk import FieldClient
    client = FieldClient.open(sys.argv[1], "http://127.0.0.1:9")
    with client.batch():
        client.set_status("job-1", "en_route")
        client.answer("job-1", "gas_tight", True)
        client.use_part("job-1", "P-100")
        client.pending()  # hands the rows to SQLite inside the open transaction
        print("WRITTEN", flush=True)
        time.sleep(60)
""")


def test_kill_9_inside_a_batch_loses_the_whole_batch_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "tablet.db"
    client = open_client(path)
    client.set_field("job-1", "notes", "acknowledged before the batch")
    client.close()
    child = subprocess.Popen([sys.executable, "-c", KILLED_MID_BATCH, str(path)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "WRITTEN"
    child.send_signal(signal.SIGKILL)
    child.wait()
    after = snapshot(path)
    assert after["outbox"] == [("job-1", "job.field", "field:notes")]
    assert after["answers"] == [] and after["movements"] == []
    assert after["jobs"][0][1] == "assigned"


def test_writes_see_what_another_connection_committed_in_between(tmp_path: Path) -> None:
    path = tmp_path / "tablet.db"
    client = open_client(path)
    client.set_status("job-1", "en_route")  # the job row and the device clock are memoised now
    other = sqlite3.connect(path)
    with other:
        other.execute("UPDATE jobs SET status = 'on_site' WHERE id = 'job-1'")
        other.execute("UPDATE device SET hlc_last = hlc_last + (1 << 40)")
    high = other.execute("SELECT hlc_last FROM device").fetchone()[0]
    other.close()
    client.set_status("job-1", "in_progress")  # allowed from on_site only
    assert client.pending()[-1].op.hlc > high
    with client.batch():
        client.answer("job-1", "gas_tight", True)
    client.close()
