"""kill -9 the server (``fieldsync serve``) while several tablets push; restart it; nothing lost, nothing twice.

Each tablet is a ``FieldClient`` in its own thread writing ops and syncing
against the live URL; the main thread kills the server process with SIGKILL
at random moments (so some pushes die mid-transaction, some receipts never
reach the tablet) and starts it again on the same database.  When the dust
settles every outbox op has exactly one result, on the tablet and in the
server's stored receipts, the parts ledger holds each consume op once, the
tablets' chain heads equal the server's ``last_seq``, and the database is
consistent.  A fourth tablet writes long notes that do not compress much, so its change-sets go up as
resumable uploads (``/v1/sync/uploads``): a kill between a commit's apply and its answer, or mid-upload,
must not lose or double them either.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path

import pytest

from client_sdk import FieldClient
from client_sdk.errors import WriteRefused
from server.domain.devices.service import issue_enroll_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tools.demo_data import seed_demo
from tools.fleet_sim import server_results
from tools.loadtest import free_port, start_server

ENGINEERS = ("e-ana", "e-ben", "e-chen")


class Tablet(threading.Thread):
    """One tablet (enrolled up front): write and sync in a loop until told to stop."""

    def __init__(self, path: Path, url: str, token: str, seed: int, big_notes: bool = False) -> None:
        super().__init__(daemon=True)
        self.big_notes = big_notes
        self.path, self.url = path, url
        with FieldClient.open(path, server_url=url) as client:  # enrolled while the server is surely up
            client.enroll(token)
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.written: dict[str, str] = {}  # op_id -> kind, recorded when the SDK call returned
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with FieldClient.open(self.path, server_url=self.url) as client:
                while not self.stop.is_set():
                    self.work(client)
                    client.sync()  # offline while the server is down: reported, not raised
        except BaseException as exc:  # noqa: BLE001 - surfaced by the test
            self.error = exc

    def work(self, client: FieldClient) -> None:
        jobs = [j for j in client.jobs() if j.status not in ("cancelled", "closed")]
        if not jobs:
            return
        if self.big_notes:  # ~100 KB of gzip per change-set: above the resumable upload's threshold
            job = self.rng.choice(jobs).id
            with client.batch():
                for _ in range(25):
                    self.written[client.set_field(job, "notes", self.rng.randbytes(4000).hex())] = "field"
            return
        for _ in range(self.rng.randint(1, 4)):
            job = self.rng.choice(jobs).id
            kind = self.rng.choice(["field", "answer", "part"])
            try:
                if kind == "field":
                    op = client.set_field(job, "notes", f"note {self.rng.random()}")
                elif kind == "answer":
                    op = client.answer(job, "flue_co2", round(self.rng.uniform(1, 14), 1))
                else:
                    op = client.use_part(job, "P-SEAL", qty=1)
            except WriteRefused:
                continue
            self.written[op] = kind


def settle(path: Path, url: str) -> FieldClient:
    client = FieldClient.open(path, server_url=url)
    for _ in range(6):
        report = client.sync()
        if report.ok and not client.pending() and report.pushed_ops == 0:
            break
    return client


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_server_during_pushes_loses_and_doubles_nothing(backend: str, tmp_path: Path,
                                                                request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    svc = Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False))
    seed_demo(svc)
    tokens = [issue_enroll_token(svc, e)[0] for e in (*ENGINEERS, ENGINEERS[0])]
    rng = random.Random(backend)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(url, port)
    tablets = [Tablet(tmp_path / f"tablet-{i}.db", base, tokens[i], i, big_notes=i == len(ENGINEERS))
               for i in range(len(ENGINEERS) + 1)]
    kills = 0
    try:
        for t in tablets:
            t.start()
        for _ in range(3):
            threading.Event().wait(rng.uniform(0.3, 0.9))
            proc.kill()  # SIGKILL: no shutdown, no flush, transactions cut wherever they are
            proc.wait()
            kills += 1
            threading.Event().wait(rng.uniform(0.0, 0.3))
            proc = start_server(url, port)
        threading.Event().wait(0.5)
        for t in tablets:
            t.stop.set()
        for t in tablets:
            t.join(timeout=120)
            assert not t.is_alive() and t.error is None, t.error
        clients = [settle(t.path, base) for t in tablets]
        try:
            check(svc, tablets, clients)
            with svc.db.read() as tx:
                uploads = tx.query("SELECT changeset_hash FROM changeset_uploads WHERE device_id = ?",
                                   (clients[-1].device_id,))
            assert uploads and all(u["changeset_hash"] for u in uploads)  # they went up as uploads, all committed
        finally:
            for c in clients:
                c.close()
    finally:
        proc.kill()
        proc.wait()
    assert kills == 3
    if backend == "sqlite":
        conn = sqlite3.connect(tmp_path / "server.db")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    svc.db.close()


def check(svc: Services, tablets: list[Tablet], clients: list[FieldClient]) -> None:
    with svc.db.read() as tx:
        by_op, heads = server_results(tx)
        consumes = {r["id"] for r in tx.query("SELECT id FROM movements WHERE kind = 'consume'")}
        seqs = tx.query("SELECT device_id, seq FROM changesets ORDER BY device_id, seq")
    written_total = 0
    for tablet, client in zip(tablets, clients, strict=True):
        assert tablet.written, "the tablet wrote nothing: the test did not exercise anything"
        written_total += len(tablet.written)
        assert client.pending() == []
        local = {o.op_id: o.result for o in client.op_results()}
        for op_id, kind in tablet.written.items():
            assert len(by_op.get(op_id, [])) == 1, f"{kind} op {op_id} has {len(by_op.get(op_id, []))} results"
            assert local.get(op_id) == by_op[op_id][0][1].result
            if kind == "part":
                assert (op_id in consumes) == (local[op_id] == "applied")
        device_id = client.device_id or ""
        head = int(client._store.read.scalar("SELECT head_seq FROM device WHERE id = 1") or 0)
        assert head == heads[device_id]
        mine = [r["seq"] for r in seqs if r["device_id"] == device_id]
        assert mine == list(range(1, head + 1)), "the stored chain has a hole or a double"
    device_consumes = {op for t in tablets for op, k in t.written.items() if k == "part"}
    assert consumes >= {op for op in device_consumes if by_op[op][0][1].result == "applied"}
    assert written_total > 10


def _count(svc: Services, sql: str) -> int:
    with svc.db.read() as tx:
        row = tx.one(f"SELECT COUNT(*) AS n FROM {sql}")
    assert row is not None
    return int(row["n"])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_between_accepted_and_merged_loses_and_doubles_nothing(backend: str, tmp_path: Path,
                                                                      request: pytest.FixtureRequest) -> None:
    """Accepted (202) by a server that merges nothing, killed with SIGKILL, restarted merging: each op once."""
    url = f"sqlite:///{tmp_path / 'server.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    svc = Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False))
    seed_demo(svc)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(url, port, merger=False)
    clients: list[FieldClient] = []
    written: dict[str, dict[str, str]] = {}
    try:
        for i, engineer in enumerate(ENGINEERS):
            client = FieldClient.open(tmp_path / f"accepted-{i}.db", server_url=base)
            client.enroll(issue_enroll_token(svc, engineer)[0])
            assert client.sync().ok
            clients.append(client)
            mine = written.setdefault(client.device_id or "", {})
            job = client.jobs()[0].id
            for n in range(5):  # several change-sets per tablet, all accepted before any merge
                mine[client.set_field(job, "notes", f"note {n}")] = "field"
                mine[client.use_part(job, "P-SEAL", qty=1)] = "part"
                report = client.sync(outcome_wait_s=0)
                assert report.ok and report.accepted_pending > 0, report
        assert _count(svc, "accepted_changesets") == 5 * len(ENGINEERS) and _count(svc, "changesets") == 0
        proc.kill()  # SIGKILL between "accepted" and "merged"
        proc.wait()
        proc = start_server(url, port)  # merging now
        for client in clients:
            report = client.sync(outcome_wait_s=30)
            assert report.ok and report.accepted_pending == 0 and report.pushed_ops == 10, report
            assert client.pending() == []
        assert _count(svc, "accepted_changesets") == 0
        with svc.db.read() as tx:
            by_op, heads = server_results(tx)
            consumes = {r["id"] for r in tx.query("SELECT id FROM movements WHERE kind = 'consume'")}
        for client in clients:
            device_id = client.device_id or ""
            local = {o.op_id: o.result for o in client.op_results()}
            for op_id, kind in written[device_id].items():
                assert len(by_op.get(op_id, [])) == 1, f"{kind} op {op_id}: {by_op.get(op_id)}"
                assert local[op_id] == by_op[op_id][0][1].result == "applied"
                if kind == "part":
                    assert op_id in consumes
            assert heads[device_id] == 5
    finally:
        for client in clients:
            client.close()
        proc.kill()
        proc.wait()
        svc.db.close()


def test_two_processes_merging_one_postgresql_merge_each_change_set_once(tmp_path: Path,
                                                                        pg_url: str) -> None:
    """Two ``fieldsync serve`` mergers on one database, fed by a third that only accepts: nothing merged twice."""
    import httpx

    from schemas.wire import SetField
    from tests.support import RawDevice

    svc = Services(db=open_database(pg_url), settings=get_settings(db_url=pg_url, run_scheduler=False))
    seed_demo(svc)
    ports = [free_port() for _ in range(3)]
    procs = [start_server(pg_url, ports[0], merger=False), start_server(pg_url, ports[1]),
             start_server(pg_url, ports[2])]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30) as http:
            devices = [RawDevice(http, svc, e) for e in ENGINEERS]  # type: ignore[arg-type]
            jobs = [next(iter(d.jobs())) for d in devices]
            for n in range(15):
                for dev, job in zip(devices, jobs, strict=True):
                    r = http.post("/v1/sync/push", headers={**dev.headers, "prefer": "respond-async"},
                                  content=dev.seal([SetField(**dev.stamp(), job_id=job, field="notes",
                                                             value=f"{n}")]))
                    assert r.status_code == 202, r.text
        deadline = threading.Event()
        for _ in range(120):
            if _count(svc, "accepted_changesets") == 0:
                break
            deadline.wait(0.5)
        assert _count(svc, "accepted_changesets") == 0
        merged = failures = 0.0
        for port in ports[1:]:
            for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines():
                if line.startswith("fieldsync_merged_changesets_total "):
                    merged += float(line.split()[1])
                if line.startswith("fieldsync_merge_failures_total "):
                    failures += float(line.split()[1])
        assert merged == 15 * len(ENGINEERS) and failures == 0
        with svc.db.read() as tx:
            by_op, heads = server_results(tx)
            seqs = tx.query("SELECT device_id, seq FROM changesets ORDER BY device_id, seq")
        assert all(len(v) == 1 for v in by_op.values()) and len(by_op) == 15 * len(ENGINEERS)
        for dev in devices:
            assert [r["seq"] for r in seqs if r["device_id"] == dev.device_id] == list(range(1, 16))
            assert heads[dev.device_id] == 15
    finally:
        for p in procs:
            p.kill()
            p.wait()
        svc.db.close()
