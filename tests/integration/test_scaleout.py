"""Scale-out: two ``fieldsync serve`` processes on one PostgreSQL schema, no session affinity.

The fleet simulation runs unchanged except for its network: every request a
tablet makes goes to the other server than its previous one, and the
simulation's "server restart" fault kills one of the two processes with
SIGKILL and starts it again.  The simulation's checks (every acknowledged op
has exactly one result, devices agree with the server, chain heads match, no
movement or sign-off lost or doubled) must still hold.
"""

from __future__ import annotations

import itertools
import subprocess
import time
from pathlib import Path

import httpx

from server.ratelimit import RateLimiter
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tools.fleet_sim import SimClock, SimConfig, run_simulation
from tools.loadtest import free_port, start_server


class WallClock(SimClock):
    """Live servers keep real time; the simulation's clock follows it (advancing is a no-op)."""

    def __call__(self) -> int:
        return time.time_ns() // 1_000_000

    def advance(self, ms: int) -> None:
        return None


class TwoServers:
    """A :class:`tools.fleet_sim.Network` over two live server processes, alternating per request."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.ports = [free_port(), free_port()]
        self.procs: list[subprocess.Popen[bytes]] = [start_server(db_url, p) for p in self.ports]
        self.clients = [httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=30) for p in self.ports]
        self.turn = itertools.cycle([0, 1])
        self.restarts = 0
        self.hits = [0, 0]
        self._services = Services(db=open_database(db_url),
                                  settings=get_settings(db_url=db_url, run_scheduler=False),
                                  limiter=RateLimiter(rate=1e6, burst=1_000_000))

    def client(self, device_index: int) -> httpx.Client:
        k = next(self.turn)
        self.hits[k] += 1
        return self.clients[k]

    @property
    def services(self) -> Services:
        return self._services

    def restart(self) -> None:
        k = self.restarts % 2
        self.procs[k].kill()
        self.procs[k].wait()
        self.procs[k] = start_server(self.db_url, self.ports[k])
        self.restarts += 1

    def close(self) -> None:
        for c in self.clients:
            c.close()
        for p in self.procs:
            p.kill()
            p.wait()
        self._services.db.close()


def test_two_servers_one_postgresql_simulation_checks_hold(pg_url: str, tmp_path: Path) -> None:
    network = TwoServers(pg_url)
    report = run_simulation(SimConfig(devices=5, seed=11, faults=True, rounds=8, db_url=pg_url, workdir=tmp_path),
                            network=network, clock=WallClock())
    assert report.violations == []
    assert report.counts["ops_written"] > 20
    assert min(network.hits) > 20, network.hits  # both servers really served
    assert report.faults.get("server_restarts", 0) == network.restarts


def test_servers_starting_together_on_a_fresh_database_share_one_signing_key(db_url: str) -> None:
    """Three processes' first use of the server key at the same moment: one key, not one each.

    Before the fix a fresh PostgreSQL schema got a key per process about half the time, and a
    device enrolled through one server then refused the other's signed pages.
    """
    import threading

    from server.keys import load_or_create_server_key

    databases = [open_database(db_url) for _ in range(3)]
    barrier = threading.Barrier(3)
    ids: list[str] = []

    def first_use(db: object) -> None:
        barrier.wait()
        ids.append(load_or_create_server_key(db, 1).key_id)  # type: ignore[arg-type]

    try:
        threads = [threading.Thread(target=first_use, args=(db,)) for db in databases]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with databases[0].read() as tx:
            stored = tx.rows("SELECT id FROM server_keys")
    finally:
        for db in databases:
            db.close()
    assert len(ids) == 3 and len(set(ids)) == 1
    assert [r[0] for r in stored] == [ids[0]]
