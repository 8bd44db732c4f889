"""The sync loop against an in-memory server: chain, exactly-once, offline, pull rules, blobs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from client_sdk import FieldClient
from client_sdk.store import LocalStore
from client_sdk.syncer import BLOB_CHUNK, SyncLoop
from client_sdk.testing import FakeSyncServer, publish_demo_job, record
from schemas.codec import changeset_decoder
from schemas.wire import OpResult
from sync.core.changeset import digest, open_envelope, verify_signature
from tests.support import TickingClock


@pytest.fixture()
def server() -> FakeSyncServer:
    s = FakeSyncServer()
    publish_demo_job(s)
    return s


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "tablet.db"


@pytest.fixture()
def client(db: Path, server: FakeSyncServer) -> Iterator[FieldClient]:
    c = FieldClient.open(db, transport=server, clock=TickingClock(step=10))
    c.enroll(server.issue_token())
    assert c.sync().ok
    yield c
    c.close()


def reopen(db: Path, server: FakeSyncServer) -> FieldClient:
    return FieldClient.open(db, transport=server, clock=TickingClock(step=10))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_push_seals_a_valid_hash_chain(client: FieldClient, server: FakeSyncServer) -> None:
    public_key = server.devices[client.device_id or ""]
    for note in ("one", "two", "three"):
        client.set_field("job-1", "notes", note)
        report = client.sync()
        assert report.ok and report.pushed_ops == report.applied == 1
    prev = ""
    for expected_seq, envelope in enumerate(server.envelopes, start=1):
        signed = open_envelope(envelope)
        verify_signature(signed, public_key)
        cs = changeset_decoder.decode(signed.changeset)
        assert (cs.seq, cs.prev_hash, cs.device_id) == (expected_seq, prev, client.device_id)
        prev = digest(signed.changeset)
    assert client.pending() == []
    assert [o.result for o in client.op_results()] == ["applied"] * 3


def test_progress_reports_each_phase(client: FieldClient) -> None:
    client.set_field("job-1", "notes", "x")
    seen: list[tuple[str, int, int]] = []
    client.sync(progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert ("push", 1, 1) in seen and {p for p, _, _ in seen} == {"push", "blobs", "pull"}


def test_lost_receipt_is_resent_byte_identical_and_applied_once(
    db: Path, client: FieldClient, server: FakeSyncServer
) -> None:
    client.set_status("job-1", "en_route")
    client.answer("job-1", "gas_tight", True)
    server.lose_next_receipt = True
    report = client.sync()
    assert report.offline and len(client.pending()) == 2
    client.close()  # the tablet restarts
    again = reopen(db, server)
    report = again.sync()
    assert report.ok and report.pushed_ops == 2
    assert server.envelopes[-1] == server.envelopes[-2]
    assert len(server.applied_ops) == 2  # the server applied the change-set once
    assert again.pending() == []
    again.close()


def test_crash_after_sealing_resends_the_stored_envelope(db: Path, client: FieldClient, server: FakeSyncServer) -> None:
    client.set_field("job-1", "diagnosis", "worn")
    key = client._key
    assert key is not None
    store = LocalStore(db)
    sealed = SyncLoop(store, server, key, TickingClock(step=10)).seal_next()  # sealed, then the process dies
    store.close()
    assert sealed is not None and sealed["seq"] == 1
    assert [p.sealed_seq for p in client.pending()] == [1]
    client.set_field("job-1", "notes", "written after the seal")
    report = client.sync()
    assert report.ok and report.pushed_ops == 2
    assert server.envelopes[0] == sealed["envelope"]
    assert len(server.envelopes) == 2 and client.pending() == []


def test_offline_against_unused_port_keeps_everything(db: Path, client: FieldClient) -> None:
    client.set_field("job-1", "notes", "offline note")
    client.close()
    tablet = FieldClient.open(db, server_url=f"http://127.0.0.1:{free_port()}", clock=TickingClock(step=10))
    report = tablet.sync()
    assert report.offline and report.pushed_ops == 0 and report.errors == []
    [pending] = tablet.pending()
    assert pending.sealed_seq is None  # the session failed before anything was sealed
    assert tablet.job("job-1").job.notes == "offline note"
    tablet.close()


def test_offline_after_sealing_keeps_sealed_envelope(client: FieldClient, server: FakeSyncServer) -> None:
    client.set_field("job-1", "notes", "n")
    client.sync()  # opens a session
    client.set_field("job-1", "notes", "m")
    server.offline = True
    assert client.sync().offline
    [pending] = client.pending()
    assert pending.sealed_seq == 2
    server.offline = False
    assert client.sync().ok and client.pending() == []


def test_expired_session_is_renewed_once(client: FieldClient, server: FakeSyncServer) -> None:
    server.expire_session()
    client.set_field("job-1", "notes", "x")
    assert client.sync().ok and client.pending() == []


def test_rejected_and_review_results_stay_queryable(client: FieldClient, server: FakeSyncServer) -> None:
    client.set_field("job-1", "notes", "keep")
    bad = client.use_part("job-1", "P-100")
    server.results = lambda op: (
        OpResult(op_id=op.op_id, result="rejected", reason="not_your_job") if op.op_id == bad else None
    )
    report = client.sync()
    assert (report.applied, report.rejected) == (1, 1)
    [rejected] = client.op_results("rejected")
    assert (rejected.op_id, rejected.reason, rejected.type) == (bad, "not_your_job", "part.move")
    assert client.job("job-1").parts == []  # the provisional movement is gone
    assert client.pending() == []


def test_pull_does_not_overwrite_unsynced_local_values(client: FieldClient, server: FakeSyncServer) -> None:
    client.set_field("job-1", "diagnosis", "mine")
    client.answer("job-1", "pressure", 1.2)
    server.offline = True
    client.sync()
    server.offline = False
    # a page arrives while those ops are still in the outbox
    from client_sdk.apply import apply_changes
    from client_sdk.testing import Change

    job = dict(server.feed[-1].data, diagnosis="theirs", notes="office note")
    with client._store.write() as tx:
        apply_changes(
            tx,
            [
                Change(kind="job", id="job-1", data=job),
                record("answer", "job-1/pressure", value=2.9, hlc=5, device_id="other"),
                Change(kind="hologram", id="x", data={"anything": 1}),
            ],
        )
    detail = client.job("job-1")
    assert detail.job.diagnosis == "mine" and detail.job.notes == "office note"
    assert [a.value for a in detail.answers] == [1.2]


def test_pull_pages_until_done_and_stores_cursor(client: FieldClient, server: FakeSyncServer, db: Path) -> None:
    server.page_size = 2
    for i in range(5):
        server.publish("part", f"X-{i}", record("part", f"X-{i}", name=f"part {i}").data)
    server.publish("future_kind", "z", {"whatever": True})
    report = client.sync()
    assert report.ok and report.pulled_changes == 6
    assert {p.part_no for p in client.parts()} >= {f"X-{i}" for i in range(5)}
    assert client.sync().pulled_changes == 0  # the cursor was kept


def test_job_removed_drops_records_but_keeps_outbox(client: FieldClient, server: FakeSyncServer) -> None:
    client.set_status("job-1", "on_site")
    sha = client.attach("job-1", b"evidence" * 10)
    server.offline = True
    client.sync()
    server.offline = False
    from client_sdk.apply import apply_changes


    with client._store.write() as tx:
        apply_changes(tx, [record("job_removed", "job-1")])
    assert client.jobs() == []
    assert len(client.pending()) == 2  # still pushed; the server keeps them for review
    assert client.blob(sha) is not None
    report = client.sync()
    assert report.pushed_ops == 2 and report.uploaded_blobs == 1
    assert bytes(server.blobs[sha]) == b"evidence" * 10


def test_blob_upload_resumes_from_what_the_server_has(client: FieldClient, server: FakeSyncServer) -> None:
    data = bytes(range(256)) * (BLOB_CHUNK // 256 * 2 + 10)  # a bit over two chunks
    sha = client.attach("job-1", data)
    server.blobs[sha] = bytearray(data[:BLOB_CHUNK])  # an earlier sync got one chunk through
    server.blob_sizes[sha] = len(data)
    report = client.sync()
    assert report.ok and report.uploaded_blobs == 1
    assert bytes(server.blobs[sha]) == data
    assert client.job("job-1").attachments[0].uploaded
    assert client.sync().uploaded_blobs == 0


def test_wrong_server_signature_is_refused(client: FieldClient, server: FakeSyncServer) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    server.key = Ed25519PrivateKey.generate()  # an impostor
    client.set_field("job-1", "notes", "x")
    report = client.sync()
    assert any(e.startswith("bad_server_signature") for e in report.errors)
    assert len(client.pending()) == 1  # nothing trusted, nothing dropped


def test_chain_fork_is_reported_not_raised(client: FieldClient, server: FakeSyncServer) -> None:
    client.set_field("job-1", "notes", "x")
    assert client.sync().ok
    with client._store.write() as tx:  # e.g. the tablet db restored from an old backup
        tx.execute("UPDATE device SET head_seq = 0, head_hash = ''")
    client.set_field("job-1", "notes", "y")
    report = client.sync()
    assert report.errors and report.errors[0].startswith("chain_fork")
    assert len(client.pending()) == 1


def test_clock_offset_is_reported(db: Path, server: FakeSyncServer) -> None:
    wrong = TickingClock(step=10)
    wrong.now = server.server_time() + 3 * 24 * 3600 * 1000  # tablet three days ahead
    with FieldClient.open(db, transport=server, clock=wrong) as c:
        c.enroll(server.issue_token())
        report = c.sync()
        assert report.clock_offset_ms is not None and report.clock_offset_ms > 2 * 24 * 3600 * 1000
