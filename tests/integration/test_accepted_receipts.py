"""Accepted receipts (protocol §4.7): 202 + signed Accepted, merged behind the answer, outcome by GET.

The app runs in-process on both backends with its merger off, so each test decides when a merge
happens (:func:`server.domain.sync.merger.merge_batch`); one test runs the merger thread and long-polls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from client_sdk import FieldClient
from schemas.codec import accepted_decoder, receipt_decoder, signed_decoder
from schemas.wire import AnswerItem, SetField, SetStatus
from server.app import create_app
from server.domain.devices.service import issue_enroll_token
from server.domain.sync import intake
from server.domain.sync.merger import merge_batch, merge_due
from server.services import Services
from server.settings import get_settings
from sync.core.signoff import verify_signature
from sync.storage import Database
from sync.transport.http import HttpTransport
from tests.conftest import Clock
from tests.support import RawDevice
from tools.demo_data import seed_demo

ASYNC = {"prefer": "respond-async"}


@pytest.fixture
def quiet(db: Database, db_url: str, clock: Clock) -> Services:
    """Services whose app merges nothing by itself."""
    svc = Services(db=db, settings=get_settings(db_url=db_url, run_scheduler=False, run_merger=False), clock=clock)
    seed_demo(svc)
    return svc


@pytest.fixture
def client(quiet: Services) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(services=quiet, scheduler=False)) as c:
        yield c


@pytest.fixture
def ana(client: TestClient[Any], quiet: Services) -> RawDevice:
    return RawDevice(client, quiet, "e-ana")


def job_of(dev: RawDevice) -> str:
    return next(iter(dev.jobs()))


def count(svc: Services, sql: str, params: tuple[Any, ...] = ()) -> int:
    with svc.db.read() as tx:
        row = tx.one(f"SELECT COUNT(*) AS n FROM {sql}", params)
    assert row is not None
    return int(row["n"])


def push_async(dev: RawDevice, envelope: bytes) -> Any:
    return dev.client.post("/v1/sync/push", content=envelope, headers={**dev.headers, **ASYNC})


def outcome(dev: RawDevice, seq: int, wait: str | None = None) -> Any:
    params = {} if wait is None else {"wait": wait}
    return dev.client.get(f"/v1/sync/receipts/{seq}", params=params, headers=dev.headers)


def test_accepted_then_merged_the_outcome_is_the_receipt_a_push_would_have_answered(
        ana: RawDevice, quiet: Services) -> None:
    job = job_of(ana)
    envelope = ana.seal([SetStatus(**ana.stamp(), job_id=job, status="accepted"),
                         AnswerItem(**ana.stamp(), job_id=job, item_key="gas_tight", value=True)])
    r = push_async(ana, envelope)
    assert r.status_code == 202 and r.headers["preference-applied"] == "respond-async"
    signed = signed_decoder.decode(r.content)
    assert verify_signature(ana.enrollment.server_public_key, signed.signature, signed.body)
    accepted = accepted_decoder.decode(signed.body)
    assert (accepted.device_id, accepted.seq, accepted.changeset_hash, accepted.op_count) == (
        ana.device_id, 1, ana.head.hash, 2)
    assert count(quiet, "changesets") == 0 and count(quiet, "answers WHERE item_key = 'gas_tight'") == 0
    waiting = outcome(ana, 1)
    assert waiting.status_code == 202 and waiting.content == r.content  # the same stored Accepted bytes

    assert merge_batch(quiet, 16).merged == [(ana.device_id, 1)]
    done = outcome(ana, 1, "0")
    assert done.status_code == 200
    receipt = receipt_decoder.decode(signed_decoder.decode(done.content).body)
    assert [x.result for x in receipt.results] == ["applied", "applied"] and receipt.seq == 1
    with quiet.db.read() as tx:
        stored = tx.one("SELECT receipt FROM changesets WHERE device_id = ? AND seq = 1", (ana.device_id,))
    assert stored is not None and bytes(stored["receipt"]) == done.content
    assert count(quiet, "accepted_changesets") == 0 and merge_batch(quiet, 16).merged == []  # merged once


def test_the_same_bytes_again_are_answered_from_what_is_stored(ana: RawDevice, quiet: Services) -> None:
    job = job_of(ana)
    envelope = ana.seal([SetField(**ana.stamp(), job_id=job, field="notes", value="gate code 4711")])
    first = push_async(ana, envelope)
    again = push_async(ana, envelope)
    assert first.status_code == again.status_code == 202 and again.content == first.content
    merge_due(quiet, 16)
    after = push_async(ana, envelope)
    assert after.status_code == 200 and after.content == outcome(ana, 1).content
    assert ana.send(envelope).content == after.content  # a synchronous repeat: the same receipt
    assert count(quiet, "changesets") == 1


def test_a_synchronous_repeat_of_an_unmerged_change_set_merges_it_then(ana: RawDevice, quiet: Services) -> None:
    envelope = ana.seal([SetField(**ana.stamp(), job_id=job_of(ana), field="notes", value="x")])
    assert push_async(ana, envelope).status_code == 202
    r = ana.send(envelope)  # an old tablet (or one that switched) sends it without the header
    assert r.status_code == 200 and outcome(ana, 1).content == r.content
    assert count(quiet, "accepted_changesets") == 0 and count(quiet, "changesets") == 1


def test_the_chain_moves_at_acceptance_and_a_synchronous_push_merges_after_the_earlier_ones(
        ana: RawDevice, quiet: Services) -> None:
    job = job_of(ana)
    first = ana.seal([SetField(**ana.stamp(), job_id=job, field="notes", value="one")])
    second = ana.seal([SetField(**ana.stamp(), job_id=job, field="notes", value="two")])
    assert push_async(ana, first).status_code == 202
    assert push_async(ana, second).status_code == 202  # before the first is merged
    saved = ana.head
    gap = ana.seal([SetField(**ana.stamp(), job_id=job, field="notes", value="gap")])
    gap = ana.seal([SetField(**ana.stamp(), job_id=job, field="notes", value="gap")])  # seq 4: 3 is missing
    r = push_async(ana, gap)
    assert r.status_code == 409 and r.json()["code"] == "chain_gap" and r.json()["expected_seq"] == 3
    ana.head = saved
    third = ana.seal([SetField(**ana.stamp(), job_id=job, field="notes", value="three")])
    r = ana.send(third)  # synchronous: answered after its device's accepted change-sets were merged, in order
    assert r.status_code == 200
    assert [outcome(ana, s).status_code for s in (1, 2, 3)] == [200, 200, 200]
    with quiet.db.read() as tx:
        row = tx.one("SELECT notes FROM jobs WHERE id = ?", (job,))
        seqs = [x["seq"] for x in tx.query("SELECT seq FROM changesets WHERE device_id = ? ORDER BY seq",
                                           (ana.device_id,))]
    assert row is not None and row["notes"] == "three" and seqs == [1, 2, 3]
    from sync.core.changeset import ChainHead

    ana.head = ChainHead(1, saved.hash)  # other bytes at seq 2: a fork, refused and nothing stored
    fork = ana.seal([SetField(**ana.stamp(), job_id=job, field="notes", value="fork")])
    r = push_async(ana, fork)
    assert r.status_code == 409 and r.json()["code"] == "chain_fork"


def test_unknown_change_sets_and_bad_waits_are_problems(ana: RawDevice, client: TestClient[Any],
                                                        quiet: Services) -> None:
    r = outcome(ana, 7)
    assert r.status_code == 404 and r.json()["code"] == "unknown_changeset"
    assert push_async(ana, ana.seal([SetField(**ana.stamp(), job_id=job_of(ana), field="notes",
                                              value="x")])).status_code == 202
    ben = RawDevice(client, quiet, "e-ben")
    assert outcome(ben, 1).status_code == 404  # another device's seq 1 is not ben's
    for bad in ("31", "-1", "abc", "1.5", "٣"):
        r = outcome(ana, 1, bad)
        assert r.status_code == 400 and r.json()["code"] == "bad_wait", bad
    assert outcome(ana, 1, "0").status_code == 202


def test_a_merge_that_raises_stays_queued_counted_and_never_a_500(ana: RawDevice, client: TestClient[Any],
                                                                 quiet: Services, clock: Clock,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    job = job_of(ana)
    assert push_async(ana, ana.seal([SetField(**ana.stamp(), job_id=job, field="notes", value="a")])).status_code == 202
    assert push_async(ana, ana.seal([SetField(**ana.stamp(), job_id=job, field="notes", value="b")])).status_code == 202
    real = intake.apply_changeset

    def broken(*args: Any) -> bytes:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(intake, "apply_changeset", broken)
    result = merge_batch(quiet, 16)
    assert result.merged == [] and result.failed == [(ana.device_id, 1)]  # seq 2 waits behind seq 1
    with quiet.db.read() as tx:
        row = tx.one("SELECT attempts, last_error FROM accepted_changesets WHERE device_id = ? AND seq = 1",
                     (ana.device_id,))
    assert row is not None and row["attempts"] == 1 and "disk on fire" in row["last_error"]
    assert count(quiet, "accepted_changesets") == 2
    assert outcome(ana, 1).status_code == 202 and outcome(ana, 2).status_code == 202
    metrics = client.get("/metrics").text
    assert "fieldsync_merge_failures_total" in metrics and "fieldsync_merge_failing 1.0" in metrics
    # a synchronous push behind it: 503 merge_pending (retry later), not a 500, nothing stored
    third = ana.seal([SetField(**ana.stamp(), job_id=job, field="notes", value="c")])
    r = ana.send(third)
    assert r.status_code == 503 and r.json()["code"] == "merge_pending"
    monkeypatch.setattr(intake, "apply_changeset", real)
    assert merge_batch(quiet, 16).merged == []  # not due again yet
    clock.advance(60_000)
    assert merge_due(quiet, 16) == 2
    assert ana.send(third).status_code == 200
    assert [outcome(ana, s).status_code for s in (1, 2, 3)] == [200, 200, 200]


def test_the_merger_thread_merges_and_wakes_a_long_poll(db: Database, db_url: str, clock: Clock) -> None:
    svc = Services(db=db, settings=get_settings(db_url=db_url, run_scheduler=False), clock=clock)
    seed_demo(svc)
    with TestClient(create_app(services=svc, scheduler=False)) as c:
        dev = RawDevice(c, svc, "e-ana")
        assert push_async(dev, dev.seal([SetField(**dev.stamp(), job_id=job_of(dev), field="notes",
                                                  value="y")])).status_code == 202
        r = outcome(dev, 1, "20")
        assert r.status_code == 200
        assert receipt_decoder.decode(signed_decoder.decode(r.content).body).results[0].result == "applied"


def test_the_sdk_keeps_accepted_ops_safe_and_records_their_receipts_later(
        client: TestClient[Any], quiet: Services, tmp_path: Any) -> None:
    tablet = FieldClient.open(tmp_path / "tablet.db", server_url="http://testserver",
                              transport=HttpTransport("http://testserver", client=client))
    token, _ = issue_enroll_token(quiet, "e-ana")
    tablet.enroll(token)
    assert tablet.sync().ok
    job = tablet.jobs()[0].id
    tablet.set_field(job, "notes", "first")
    tablet.answer(job, "gas_tight", True)
    from client_sdk import syncer

    report = syncer.SyncLoop(tablet._store, tablet._transport, tablet._key, quiet.clock,  # type: ignore[arg-type]
                             outcome_wait_s=0).run()
    assert report.ok and report.pushed_ops == 0 and report.accepted_pending == 2
    assert count(quiet, "accepted_changesets") == 1
    again = syncer.SyncLoop(tablet._store, tablet._transport, tablet._key, quiet.clock,  # type: ignore[arg-type]
                            outcome_wait_s=0).run()
    assert again.ok and again.accepted_pending == 2 and count(quiet, "accepted_changesets") == 1  # never re-sent
    merge_due(quiet, 16)
    done = tablet.sync()
    assert done.ok and done.pushed_ops == 2 and done.applied == 2 and done.accepted_pending == 0
    assert tablet.pending() == [] and {r.result for r in tablet.op_results()} == {"applied"}
    tablet.close()


def test_the_sdk_without_respond_async_pushes_as_before(client: TestClient[Any], quiet: Services,
                                                        tmp_path: Any) -> None:
    tablet = FieldClient.open(tmp_path / "old.db", server_url="http://testserver",
                              transport=HttpTransport("http://testserver", client=client, respond_async=False))
    token, _ = issue_enroll_token(quiet, "e-ben")
    tablet.enroll(token)
    tablet.sync()
    tablet.set_field(tablet.jobs()[0].id, "notes", "old tablet")
    report = tablet.sync()
    assert report.ok and report.pushed_ops == 1 and report.applied == 1
    assert count(quiet, "accepted_changesets") == 0
    tablet.close()


def test_a_batch_merges_one_change_set_at_least_whatever_its_size(ana: RawDevice, quiet: Services) -> None:
    """A change-set whose bytes alone take longer to read than the batch's time budget is still merged."""
    job = job_of(ana)
    for n in range(2):
        assert push_async(ana, ana.seal([SetField(**ana.stamp(), job_id=job, field="notes",
                                                  value=f"{n}")])).status_code == 202
    assert merge_batch(quiet, 16, budget_s=0.0).merged == [(ana.device_id, 1)]
    assert merge_batch(quiet, 16, budget_s=0.0).merged == [(ana.device_id, 2)]


def test_the_accepting_process_merges_what_it_decoded_another_reads_the_stored_bytes(
        ana: RawDevice, quiet: Services, db_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handoff saves reading and decoding again in the process that accepted; the result is the same."""
    from server.domain.sync import accepted_store

    read: list[tuple[str, int]] = []
    real = accepted_store.envelope

    def counted(tx: Any, device_id: str, seq: int) -> bytes:
        read.append((device_id, seq))
        return real(tx, device_id, seq)

    monkeypatch.setattr(accepted_store, "envelope", counted)
    job = job_of(ana)
    first = ana.seal([SetField(**ana.stamp(), job_id=job, field="notes", value="from the handoff")])
    assert push_async(ana, first).status_code == 202
    assert quiet.handoff.held()[0] == 1
    assert merge_batch(quiet, 16).merged == [(ana.device_id, 1)] and read == []  # nothing read back
    assert quiet.handoff.held() == (0, 0)

    second = ana.seal([SetField(**ana.stamp(), job_id=job, field="notes", value="from the database")])
    assert push_async(ana, second).status_code == 202
    other = Services(db=quiet.db, settings=quiet.settings, clock=clock)  # another server process, same database
    assert merge_batch(other, 16).merged == [(ana.device_id, 2)] and read == [(ana.device_id, 2)]
    with quiet.db.read() as tx:
        notes = tx.one("SELECT notes FROM jobs WHERE id = ?", (job,))
    assert notes is not None and notes["notes"] == "from the database"
    assert quiet.handoff.take(ana.device_id, 2, ana.head.hash) is not None  # left behind: never merged from it
