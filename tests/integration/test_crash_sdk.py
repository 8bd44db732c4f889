"""kill -9 the tablet process during local writes and during ``sync()``; every acknowledged write survives.

A small script (run in a subprocess) opens the tablet database, writes ops in
a loop and prints ``ACK <op_id>`` after each SDK write returns, syncing every
few writes against a live ``fieldsync serve``.  The test kills it with
SIGKILL at random moments, several times, reopening the same file each time.
Afterwards every op the script had printed as acknowledged is in the local
outbox or already has its server result; one sync later each has exactly one
result on the server, the chain heads agree and both SQLite files are intact.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from client_sdk import FieldClient
from server.domain.devices.service import issue_enroll_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tools.demo_data import seed_demo
from tools.fleet_sim import server_results
from tools.loadtest import free_port, start_server

SCRIPT = textwrap.dedent("""
    import random, sys
    from client_sdk import FieldClient
    from client_sdk.errors import WriteRefused

    path, url, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    client = FieldClient.open(path, server_url=url)
    print("OPEN", flush=True)
    i = 0
    while True:
        jobs = [j.id for j in client.jobs() if j.status not in ("cancelled", "closed")]
        job = rng.choice(jobs)
        kind = rng.choice(["field", "answer", "part", "photo"])
        try:
            if kind == "field":
                op = client.set_field(job, "diagnosis", f"d{i}")
            elif kind == "answer":
                op = client.answer(job, "pressure_bar", round(rng.uniform(0.5, 3.5), 2))
            elif kind == "part":
                op = client.use_part(job, "P-IGN", qty=1)
            else:
                client.attach(job, b"\\xff\\xd8\\xff" + rng.randbytes(rng.randint(100, 600_000)))
                op = client.pending()[-1].op_id
        except WriteRefused:
            continue
        print("ACK", kind, op, flush=True)
        i += 1
        if i % 3 == 0:
            report = client.sync()
            print("SYNCED", report.pushed_ops, flush=True)
""")


def test_kill_9_tablet_during_writes_and_sync_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    svc = Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False))
    seed_demo(svc)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(url, port)
    tablet = tmp_path / "tablet.db"
    script = tmp_path / "tablet_loop.py"
    script.write_text(SCRIPT)
    rng = random.Random(42)
    acked: dict[str, str] = {}
    kills = 0
    try:
        with FieldClient.open(tablet, server_url=base) as client:
            client.enroll(issue_enroll_token(svc, "e-ana")[0])
            assert client.sync().ok
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), *sys.path])}
        for round_ in range(5):
            child = subprocess.Popen([sys.executable, str(script), str(tablet), base, str(round_)],
                                     stdout=subprocess.PIPE, text=True, env=env)
            assert child.stdout is not None
            target = rng.randint(2, 30)
            seen = 0
            timer = None
            for line in child.stdout:
                parts = line.split()
                if parts and parts[0] == "ACK":
                    acked[parts[2]] = parts[1]
                    seen += 1
                if seen >= target and timer is None:
                    # kill a little later, wherever the script is by then: a write, a seal, a push, a pull
                    timer = threading.Timer(rng.uniform(0.0, 0.08), child.send_signal, [signal.SIGKILL])
                    timer.start()
            child.wait()
            assert child.returncode == -signal.SIGKILL
            kills += 1
        with FieldClient.open(tablet, server_url=base) as client:
            pending = {p.op_id for p in client.pending()}
            done = {o.op_id for o in client.op_results()}
            lost = [op for op in acked if op not in pending | done]
            assert lost == [], f"{len(lost)} acknowledged writes lost after kill -9"
            for _ in range(5):
                report = client.sync()
                if report.ok and not client.pending():
                    break
            assert client.pending() == []
            local = {o.op_id: o.result for o in client.op_results()}
            head = int(client._store.read.scalar("SELECT head_seq FROM device WHERE id = 1") or 0)
            device_id = client.device_id
        with svc.db.read() as tx:
            by_op, heads = server_results(tx)
            consumes = {r["id"] for r in tx.query("SELECT id FROM movements WHERE kind = 'consume'")}
        for op, kind in acked.items():
            assert len(by_op.get(op, [])) == 1, f"{kind} op {op}: {len(by_op.get(op, []))} results on the server"
            assert local[op] == by_op[op][0][1].result
            if kind == "part":
                assert (op in consumes) == (local[op] == "applied")
        assert head == heads[device_id]
    finally:
        proc.kill()
        proc.wait()
        svc.db.close()
    assert kills == 5 and len(acked) >= 10
    for db in (tablet, tmp_path / "server.db"):
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
