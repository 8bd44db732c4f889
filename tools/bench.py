"""``fieldsync bench``: the speed of the real push, pull, SDK and SLA paths, measured end to end.

Every scenario runs through the code a fleet runs: a real server process
(``fieldsync serve`` under uvicorn, started as a subprocess on a free loopback
port so its memory can be read from ``/proc/<pid>/status``), the real client
SDK (:class:`client_sdk.FieldClient` with a real ``server_url``) and real
storage (a SQLite file, or a fresh schema in PostgreSQL).  Setup (engineers,
vans, parts, stock, a 10-item checklist template, tickets and jobs) goes
through the server's services; only enrollment is done in-process, because the
HTTP enrollment endpoint is rate-limited per client address by design.

A "job" is the day's work on one visit: 1 status change, 10 checklist answers,
3 parts movements and 1 customer sign-off with about 4 KB of strokes, i.e. 15
ops.  Scenarios:

- ``push_day``: one tablet pushes a day offline (500 jobs, 7,500 ops) until the
  signed receipts are back (with accepted receipts, the SDK's default: from the first push's start to
  the last receipt in hand); latency is per push request (the SDK seals at most
  2,000 ops per change-set).
- ``pull_bootstrap``: a new tablet of the same engineer pulls the 500-job scope
  into its local store (records/s, latency per pull page).
- ``fleet``: 1,000 tablets with 25 jobs each (375 ops) sync (threads in 4 processes, so the harness's own
  interpreter lock does not queue the responses; each from its own loopback address): push with accepted
  receipts, wait for the outcomes, pull.  Three passes from the same prepared fleet (server database and
  tablet files restored between them): ``fleet``, all released at once; ``fleet_spread``, each tablet
  starting at a random moment of 60 s; ``fleet_sync``, the burst through the synchronous push (today's
  path, the floor).  p50/p99 are time-to-accepted (the push itself on ``fleet_sync``); ``p99_outcome_ms``
  is from the push's start to the signed receipt in hand.  ``server_cpu_s`` is the CPU time the server
  used meanwhile: when it is close to ``seconds``, the server is the limit.
- ``sdk_write`` / ``sdk_write_batch``: 10,000 SDK writes, one transaction each,
  then the same writes grouped by ``FieldClient.batch()``.  The batch
  and its floor are timed 5 times, alternately, each batch on its own fresh
  jobs and each run from an empty WAL; the line gives the median of each (and
  its ratio), with every repetition's figures beside it, so one noisy moment on
  a shared machine does not decide it.
- ``sla_recompute``: SLA state of 100,000 tickets from their event logs,
  loaded from the database, with the default policies.
- ``big_scope``: a new tablet (the SDK in a process of its own, so its peak memory is its own)
  bootstraps a scope of 1,000,000 records at ``--scale 1`` (10 % parts catalog, 2 % knowledge-base
  cases, the rest one engineer's jobs with 10 answers, 3 part movements and a sign-off each), then
  pulls 10 new changes; the feed is written in bulk through ``publish()`` (the rows the server's writers
  publish), not through the domain services, which would take hours to set up.  Reports the
  bootstrap's seconds and records/s, the tablet's peak RSS, the server's peak and current RSS before
  and after, and the incremental pull's milliseconds.  Then ``big_scope_browser``: the tablet web app
  bootstraps the same scope from the same server in headless Chromium (Playwright; the line says
  ``"measured": false`` and why when Playwright or Chromium is missing), with its seconds, the page's JS
  heap, the Chromium processes' memory and CPU seconds (``FIELDSYNC_BENCH_PROFILE=1`` adds a CPU profile).
- ``weak_link``: the 500-job day pushed, then the scope pulled by a new tablet, by the SDK through
  :class:`tools.linkproxy.LinkProxy` (256 kbit/s each way, 300 ms round trip, connections cut after an
  exponentially distributed number of bytes of mean 512 KiB, seeded): ``weak_link`` is the time until
  every op has its signed receipt, ``weak_link_pull`` the time until the new tablet holds the scope, each
  with the bytes that crossed the link both ways.  Their floor, in the same run: the raw transfer time at
  that rate of the bytes the same day costs uncompressed and in one piece (the sealed change-sets, the
  pull pages as signed; HTTP headers, round trips and cuts not counted), which is what today's protocol
  sends.  Each sign-off carries its own strokes here (``push_day`` reuses one, which gzip would shrink
  far more than real signatures).

Write scenarios also report ``floor_ops_per_s``: a plain ``executemany`` of the
same number of rows of the same width into a scratch table of the same
database, measured in the same run, so the ratio to the floor means something
on a noisy machine.  ``--scale`` shrinks or grows every scenario (the smoke
test runs ``--scale 0.01``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx
import msgspec

from client_sdk import FieldClient
from client_sdk.apply import apply_changes
from client_sdk.testing import record
from schemas.codec import decode_push_answer, encode
from schemas.domain import (
    ChecklistItem,
    ChecklistTemplateIn,
    EngineerIn,
    JobIn,
    MovementIn,
    PartIn,
    StockLocationIn,
    TicketIn,
)
from schemas.records import (
    AnswerData,
    AnswerRecord,
    JobData,
    JobRecord,
    KbData,
    KbRecord,
    MovementData,
    MovementRecord,
    PartData,
    PartRecord,
    SignoffData,
    SignoffRecord,
    TicketSummary,
)
from schemas.wire import Accepted
from server.domain.catalog import service as catalog
from server.domain.devices import service as devices
from server.domain.devices.service import issue_enroll_token
from server.domain.sla.service import policy_set, sla_events
from server.domain.sla.state import compute_sla
from server.domain.tickets import service as tickets
from server.feed import publish
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from sync.transport.http import HttpTransport
from tools.linkproxy import LinkProxy

if TYPE_CHECKING:
    from schemas.domain import Priority

SCENARIOS: Final = ("push_day", "pull_bootstrap", "fleet", "sdk_write", "sla_recompute", "weak_link", "big_scope")
#: the weak link of ``weak_link``: bits per second each way, round trip, mean bytes between cuts, seed
WEAK_RATE_BPS: Final = 256_000
WEAK_RTT_MS: Final = 300
WEAK_CUT_MEAN: Final = 512 * 1024
WEAK_SEED: Final = 24
#: syncs a weak-link tablet attempts before the scenario counts an error
WEAK_MAX_SYNCS: Final = 200
DEFAULT_PG: Final = "postgresql://postgres@127.0.0.1:5432/test"
SERVER_START_TIMEOUT_S: Final = 60.0
PARTS: Final = (("P-VALVE", "Gas valve"), ("P-IGN", "Ignition electrode"), ("P-SEAL", "Seal kit"))
#: 10 checklist items: key, type, bounds/choices, and the answer a tablet gives
ITEMS: Final[list[tuple[str, str, dict[str, Any], Any]]] = [
    ("gas_tight", "pass_fail", {}, True),
    ("flue_co2", "number", {"min": 0, "max": 15}, 9.2),
    ("flue_co", "number", {"min": 0, "max": 400}, 35),
    ("pressure_bar", "number", {"min": 0, "max": 4}, 1.4),
    ("condition", "choice", {"choices": ["good", "fair", "poor"]}, "good"),
    ("vent_clear", "pass_fail", {}, True),
    ("safety_valve", "pass_fail", {}, True),
    ("expansion_vessel", "pass_fail", {}, True),
    ("flame_picture", "choice", {"choices": ["blue", "yellow", "lifting"]}, "blue"),
    ("remarks", "text", {}, "Serviced, cleaned burner, replaced seals."),
]
TEMPLATE_ID: Final = "bench-service"


# -- results -------------------------------------------------------------------------------------


@dataclass
class Result:
    """One line of output: one scenario on one backend."""

    scenario: str
    backend: str
    ops: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    peak_rss_mb: float | None = None
    floor_ops_per_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        ops_per_s = self.ops / self.seconds if self.seconds > 0 else 0.0
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "backend": self.backend,
            "ops": self.ops,
            "seconds": round(self.seconds, 4),
            "ops_per_s": round(ops_per_s, 1),
            "p50_ms": round(percentile(self.latencies_ms, 50), 3),
            "p99_ms": round(percentile(self.latencies_ms, 99), 3),
            "peak_rss_mb": None if self.peak_rss_mb is None else round(self.peak_rss_mb, 1),
        }
        if self.floor_ops_per_s is not None:
            out["floor_ops_per_s"] = round(self.floor_ops_per_s, 1)
            out["floor_ratio"] = round(self.floor_ops_per_s / ops_per_s, 2) if ops_per_s else None
        out.update(self.extra)
        return out


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def own_peak_rss_mb() -> float:
    """Peak resident memory of this (the bench) process."""
    return proc_memory_mb(os.getpid())[0]


def proc_memory_mb(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of a process in MB, from ``/proc/<pid>/status``."""
    hwm = rss = 0.0
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return (0.0, 0.0)
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
        elif line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return (hwm, rss)


# -- databases and the server process ------------------------------------------------------------


@dataclass
class Backend:
    """Where one scenario's fresh server database lives."""

    name: str
    workdir: Path
    pg_base: str

    @contextlib.contextmanager
    def fresh_url(self) -> Iterator[str]:
        """A new empty database URL, removed afterwards."""
        if self.name == "sqlite":
            folder = Path(tempfile.mkdtemp(prefix="db-", dir=self.workdir))
            try:
                yield f"sqlite:///{folder / 'server.db'}"
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            return
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        sep = "&" if "?" in self.pg_base else "?"
        try:
            yield f"{self.pg_base}{sep}schema={schema}"
        finally:
            with contextlib.suppress(psycopg.Error), psycopg.connect(self.pg_base, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """``fieldsync serve`` in a subprocess on a free loopback port (SLA scheduler off)."""

    def __init__(self, db_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"server-{self.port}.log"
        # the server runs the same code as this process (an exported older tree run as `python -m
        # fieldsync bench` would otherwise start the installed tree's server: its cwd is the workdir)
        code_root = str(Path(__file__).resolve().parents[1])
        path = os.pathsep.join(p for p in (code_root, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "FIELDSYNC_SCHEDULER": "0", "FIELDSYNC_DB": db_url, "PYTHONPATH": path}
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--db", db_url, "--port", str(self.port),
             "--log-level", "warning"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=workdir,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(self.url + "/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start within {SERVER_START_TIMEOUT_S}s: {self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-2000:]
        return ""

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self) -> tuple[float, float]:
        """(peak, current) resident memory of the server process."""
        return proc_memory_mb(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- setup through the services ------------------------------------------------------------------


def open_services(url: str) -> Any:
    return Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False))


def setup_fleet(services: Any, engineers: list[str], jobs_per_engineer: int) -> dict[str, list[str]]:
    """Engineers with vans and stock, the parts catalog, the 10-item template, tickets with one job each."""
    catalog.create_location(services, StockLocationIn(id="wh-main", kind="warehouse", name="Main warehouse"))
    for part_no, name in PARTS:
        catalog.upsert_part(services, PartIn(part_no=part_no, name=name, serialized=False, unit_price_cents=900))
        catalog.record_movement(services, MovementIn(kind="adjust", part_no=part_no, qty=10_000_000,
                                                     to_location="wh-main"))
    catalog.publish_template(services, ChecklistTemplateIn(id=TEMPLATE_ID, name="Boiler service (bench)", items=[
        ChecklistItem(key=key, label=key.replace("_", " "), type=kind, **bounds)  # type: ignore[arg-type]
        for key, kind, bounds, _ in ITEMS
    ]))
    jobs: dict[str, list[str]] = {}
    priorities: tuple[Priority, ...] = ("P1", "P2", "P3", "P3")
    for n, eid in enumerate(engineers):
        catalog.create_engineer(services, EngineerIn(id=eid, name=f"Engineer {n}", email=f"{eid}@example.com",
                                                     skills=["boiler"]))
        for part_no, _ in PARTS:
            catalog.record_movement(services, MovementIn(kind="issue", part_no=part_no, qty=10 * jobs_per_engineer,
                                                         from_location="wh-main", to_location=f"van-{eid}"))
        jobs[eid] = []
        for j in range(jobs_per_engineer):
            t = tickets.create_ticket(services, TicketIn(customer=f"Customer {n}-{j}", site=f"Site {j}",
                                                         priority=priorities[j % 4], title="Boiler service",
                                                         asset_serial=f"SN-{n}-{j}"), "bench")
            ticket = tickets.create_job(services, t.id, JobIn(engineer_id=eid, checklist_template=TEMPLATE_ID))
            jobs[eid].append(ticket.jobs[-1].id)
    return jobs


def strokes_of(seed: int, target_bytes: int = 4096) -> list[list[int]]:
    """Signature strokes of about ``target_bytes`` in msgpack."""
    rng = random.Random(seed)
    strokes: list[list[int]] = []
    size = 0
    while size < target_bytes:
        stroke = []
        x, y = rng.randrange(100, 900), rng.randrange(50, 250)
        for _ in range(60):
            x, y = max(0, min(999, x + rng.randrange(-9, 10))), max(0, min(299, y + rng.randrange(-5, 6)))
            stroke += [x, y]
            size += (1 if x < 128 else 3) + (1 if y < 128 else 3)
        strokes.append(stroke)
    return strokes


class BenchTransport:
    """Builds the SDK's HTTP transport with timed push/pull and in-process enrollment."""

    @staticmethod
    def make(server_url: str, services: Any, respond_async: bool = True, local_address: str | None = None) -> Any:
        """``local_address``: the loopback address the tablet's connections come from (a fleet's own)."""
        http = httpx.HTTPTransport(local_address=local_address) if local_address else None

        class _Timed(HttpTransport):
            def __init__(self) -> None:
                super().__init__(server_url, transport=http, timeout=httpx.Timeout(120.0, connect=10.0),
                                 respond_async=respond_async)
                self.push_ms: list[float] = []
                #: push request times answered 202 (time-to-accepted), and push start -> receipt in hand
                self.accepted_ms: list[float] = []
                self.outcome_ms: list[float] = []
                self._pushed_at: dict[int, float] = {}
                #: when the first push started and the last receipt came (perf_counter; 0 before)
                self.first_push_at = 0.0
                self.last_outcome_at = 0.0
                self.pull_ms: list[float] = []
                self.push_bytes = 0
                self.pull_bytes = 0

            def enroll(self, req: Any) -> Any:
                # HTTP enrollment is rate-limited per address; a fleet enrolls through the service.
                return devices.enroll(services, req)

            def push(self, envelope: bytes) -> Any:
                t0 = time.perf_counter()
                self.first_push_at = self.first_push_at or t0
                out = super().push(envelope)
                t1 = time.perf_counter()
                self.push_ms.append((t1 - t0) * 1000)
                self.push_bytes += len(envelope)
                answer = decode_push_answer(out.body)
                if isinstance(answer, Accepted):
                    self.accepted_ms.append((t1 - t0) * 1000)
                    self._pushed_at[answer.seq] = t0
                else:
                    self.outcome_ms.append((t1 - t0) * 1000)
                    self.last_outcome_at = t1
                return out

            def receipt(self, seq: int, wait_s: int = 0) -> Any:
                out = super().receipt(seq, wait_s)
                if seq in self._pushed_at and not isinstance(decode_push_answer(out.body), Accepted):
                    self.last_outcome_at = time.perf_counter()
                    self.outcome_ms.append((self.last_outcome_at - self._pushed_at.pop(seq)) * 1000)
                return out

            def pull(self, req: Any) -> Any:
                t0 = time.perf_counter()
                out = super().pull(req)
                self.pull_ms.append((time.perf_counter() - t0) * 1000)
                self.pull_bytes += len(encode(out))  # the page as signed, before any content coding
                return out

        return _Timed()


def open_tablet(path: Path, server_url: str, services: Any, engineer_id: str,
                transport: Any = None) -> tuple[Any, Any]:
    """A FieldClient enrolled for ``engineer_id`` with the bench transport: (client, transport)."""
    transport = transport or BenchTransport.make(server_url, services)
    client = FieldClient.open(path, server_url, transport=transport)
    if not client.enrolled:
        token, _ = issue_enroll_token(services, engineer_id)
        client.enroll(token)
    return client, transport


def sync_until_jobs(client: Any, expected: int, tries: int = 20) -> None:
    """Initial sync; again while the tablet lacks jobs (a PostgreSQL pull holds back rows of writers in flight)."""
    for _ in range(tries):
        report = client.sync()
        if report.errors:
            raise RuntimeError(f"initial sync failed: {report.errors}")
        if len(client.jobs()) >= expected:
            return
        time.sleep(0.2)
    raise RuntimeError(f"tablet has {len(client.jobs())} of {expected} jobs after {tries} syncs")


def work_day(client: Any, job_ids: list[str], seed: int) -> int:
    """The day's work offline on each job (15 ops per job); returns the number of ops written."""
    strokes = strokes_of(seed)
    n = 0
    for job_id in job_ids:
        client.set_status(job_id, "on_site")
        for key, _, _, value in ITEMS:
            client.answer(job_id, key, value)
        for part_no, _ in PARTS:
            client.use_part(job_id, part_no)
        client.sign_off(job_id, "Pat Customer", strokes)
        n += 15
    return n


def executemany_floor(db: Any, rows: list[tuple[Any, ...]]) -> float:
    """Rows/s of one plain ``executemany`` of ``rows`` (id, job_id, type, body) into a scratch table."""
    table = f"bench_floor_{uuid.uuid4().hex[:8]}"
    blob = "BYTEA" if db.dialect == "postgresql" else "BLOB"
    with db.write() as tx:
        tx.execute(f"CREATE TABLE {table} (id TEXT PRIMARY KEY, job_id TEXT NOT NULL, kind TEXT NOT NULL, "
                   f"hlc BIGINT NOT NULL, body {blob} NOT NULL)")
    try:
        t0 = time.perf_counter()
        with db.write() as tx:
            tx.executemany(f"INSERT INTO {table} (id, job_id, kind, hlc, body) VALUES (?, ?, ?, ?, ?)", rows)
        elapsed = time.perf_counter() - t0
    finally:
        with db.write() as tx:
            tx.execute(f"DROP TABLE {table}")
    return len(rows) / elapsed if elapsed > 0 else 0.0


def outbox_rows(client: Any) -> list[tuple[Any, ...]]:
    """The tablet's unsynced ops as floor rows (same count, same bytes)."""
    rows = client._store.read.query("SELECT op_id, job_id, type, body, seq FROM outbox ORDER BY seq")
    return [(r["op_id"], r["job_id"], r["type"], r["seq"], bytes(r["body"])) for r in rows]


# -- scenarios -----------------------------------------------------------------------------------


@dataclass
class Config:
    backend: Backend
    scale: float
    workdir: Path


def scaled(n: int, scale: float, minimum: int = 1) -> int:
    return max(minimum, round(n * scale))


def run_day(cfg: Config, want_push: bool, want_pull: bool) -> list[Result]:
    """``push_day`` and ``pull_bootstrap`` share one set-up: 500 jobs of one engineer."""
    n_jobs = scaled(500, cfg.scale)
    results: list[Result] = []
    with cfg.backend.fresh_url() as url:
        services = open_services(url)
        try:
            jobs = setup_fleet(services, ["e-day"], n_jobs)["e-day"]
            with ServerProcess(url, cfg.workdir) as server:
                tablet_dir = Path(tempfile.mkdtemp(prefix="tablet-", dir=cfg.workdir))
                client, transport = open_tablet(tablet_dir / "a.db", server.url, services, "e-day")
                try:
                    sync_until_jobs(client, len(jobs))
                    work_day(client, jobs, seed=1)
                    floor_rows = outbox_rows(client)
                    transport.push_ms.clear()
                    t0 = time.perf_counter()
                    report = client.sync()
                    sync_s = time.perf_counter() - t0
                    # until every op's receipt is in hand: the pushes (accepted at once) and the wait for
                    # the merges behind them; on the synchronous path the pushes' own time
                    push_s = (transport.last_outcome_at - transport.first_push_at if transport.accepted_ms
                              else sum(transport.push_ms) / 1000)
                    errors = len(report.errors) + report.rejected
                    if want_push:
                        floor = executemany_floor(services.db, floor_rows)
                        results.append(Result(
                            "push_day", cfg.backend.name, report.pushed_ops, push_s, list(transport.push_ms),
                            server.memory_mb()[0], floor,
                            {"requests": len(transport.push_ms), "errors": errors,
                             "push_mb": round(transport.push_bytes / 1e6, 2), "sync_seconds": round(sync_s, 3),
                             "accepted_answers": len(transport.accepted_ms),
                             "push_requests_s": round(sum(transport.push_ms) / 1000, 3)}))
                finally:
                    client.close()
                if want_pull:
                    fresh, t2 = open_tablet(tablet_dir / "b.db", server.url, services, "e-day")
                    try:
                        t0 = time.perf_counter()
                        report = fresh.sync()
                        pull_s = time.perf_counter() - t0
                        local = fresh._store.read.scalar("SELECT COUNT(*) FROM answers")
                    finally:
                        fresh.close()
                    results.append(Result(
                        "pull_bootstrap", cfg.backend.name, report.pulled_changes, pull_s, list(t2.pull_ms),
                        server.memory_mb()[0], None,
                        {"requests": len(t2.pull_ms), "errors": len(report.errors), "jobs": n_jobs,
                         "local_answers": int(local or 0)}))
                shutil.rmtree(tablet_dir, ignore_errors=True)
        finally:
            services.db.close()
    return results


class _PushDone(Exception):  # noqa: N818 -- a signal to stop a sync, not an error
    """Raised from the progress callback once every op has its receipt: the push phase is what is timed."""


def _push_until_safe(client: Any, transport: Any) -> tuple[float, int, int]:
    """Sync the push phase until the outbox is empty: (seconds to the last receipt, syncs, ops pushed)."""
    t0 = time.perf_counter()
    pushed = 0
    done_at = 0.0

    def progress(phase: str, done: int, total: int) -> None:
        nonlocal done_at
        if phase == "blobs":  # the push phase of this run is over: every sealed change-set has its receipt
            done_at = time.perf_counter()
            raise _PushDone

    for attempt in range(1, WEAK_MAX_SYNCS + 1):
        try:
            report = client.sync(progress)
            pushed += report.pushed_ops
        except _PushDone:
            pass
        if not client.pending():
            return done_at - t0, attempt, pushed
    raise RuntimeError(f"{len(client.pending())} ops still unacknowledged after {WEAK_MAX_SYNCS} syncs")


def _pull_until_done(client: Any) -> tuple[float, int, int, int]:
    """Sync a new tablet until a run ends online and clean: (seconds, syncs, changes pulled, errors)."""
    t0 = time.perf_counter()
    pulled = 0
    for attempt in range(1, WEAK_MAX_SYNCS + 1):
        report = client.sync()
        pulled += report.pulled_changes
        if not report.offline and not report.errors:
            return time.perf_counter() - t0, attempt, pulled, 0
    return time.perf_counter() - t0, WEAK_MAX_SYNCS, pulled, 1


def work_day_distinct(client: Any, job_ids: list[str], seed: int) -> int:
    """:func:`work_day` with each customer's own signature strokes (as real sign-offs differ)."""
    n = 0
    with client.batch():
        for j, job_id in enumerate(job_ids):
            client.set_status(job_id, "on_site")
            for key, _, _, value in ITEMS:
                client.answer(job_id, key, value)
            for part_no, _ in PARTS:
                client.use_part(job_id, part_no)
            client.sign_off(job_id, "Pat Customer", strokes_of(seed * 100_003 + j))
            n += 15
    return n


PEER_DIR: Final = Path(__file__).resolve().parent / "peer"


def pouchdb_day_docs(client: Any) -> dict[str, list[dict[str, Any]]]:
    """The tablet's jobs and its unsent day as PouchDB documents: one per op, a status change on the job's.

    The same values as the ops (ids, clocks, times, strokes, signatures as base64 by JSON's rule), so the
    PouchDB peer replicates the same day, not a smaller one.
    """
    from client_sdk import outbox  # the bench reads the tablet's own outbox to give the peer the same day

    jobs = [{"_id": f"job:{j.id}", **msgspec.to_builtins(j)} for j in client.jobs()]
    day: list[dict[str, Any]] = []
    for r in client._store.read.query("SELECT body FROM outbox ORDER BY seq"):
        op = msgspec.to_builtins(outbox.decode(bytes(r["body"])))
        kind = type(outbox.decode(bytes(r["body"]))).__name__
        if kind == "SetStatus":
            day.append({"_id": f"job:{op['job_id']}", "status": op["status"], "status_hlc": op["hlc"],
                        "status_at": op["at"]})
        elif kind == "AnswerItem":
            day.append({"_id": f"answer:{op['job_id']}:{op['item_key']}", **op})
        elif kind == "SignOff":
            day.append({"_id": f"signoff:{op['job_id']}", **op})
        else:
            day.append({"_id": f"op:{op['op_id']}", **op})
    return {"jobs": jobs, "day": day}


def run_pouchdb_peer(docs_file: Path) -> dict[str, Any]:
    """Bytes PouchDB moves for the same day (``tools/peer/pouch_day.mjs``), or why it was not measured.

    Runs only when ``tools/peer/node_modules`` is installed (``npm ci`` in ``tools/peer``): the bench never
    installs it, so a machine without the peer reports ``pouchdb: not measured``.
    """
    node = shutil.which("node")
    if node is None or not (PEER_DIR / "node_modules").is_dir():
        return {"pouchdb": "not measured (npm ci in tools/peer)"}
    done = subprocess.run([node, str(PEER_DIR / "pouch_day.mjs"), str(docs_file)], capture_output=True, text=True,
                          timeout=1800, cwd=PEER_DIR)
    if done.returncode != 0:
        return {"pouchdb": f"failed: {done.stderr[-300:]}"}
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def run_weak_link(cfg: Config) -> list[Result]:
    """``weak_link``: the day pushed and a new tablet's scope pulled through a shaped, cut link."""
    n_jobs = scaled(500, cfg.scale)
    results: list[Result] = []
    rate = WEAK_RATE_BPS / 8  # bytes per second
    with cfg.backend.fresh_url() as url:
        services = open_services(url)
        try:
            jobs = setup_fleet(services, ["e-weak"], n_jobs)["e-weak"]
            with ServerProcess(url, cfg.workdir) as server:
                tablet_dir = Path(tempfile.mkdtemp(prefix="tablet-", dir=cfg.workdir))
                # the tablet gets its jobs on a good link (not timed), then works the day offline
                client, _ = open_tablet(tablet_dir / "a.db", server.url, services, "e-weak")
                try:
                    sync_until_jobs(client, len(jobs))
                    ops = work_day_distinct(client, jobs, seed=1)
                    docs_file = tablet_dir / "pouchdb_day.json"
                    docs_file.write_bytes(msgspec.json.encode(pouchdb_day_docs(client)))
                finally:
                    client.close()
                with LinkProxy("127.0.0.1", server.port, rate_bps=WEAK_RATE_BPS, rtt_ms=WEAK_RTT_MS,
                               cut_mean_bytes=WEAK_CUT_MEAN, seed=WEAK_SEED) as proxy:
                    transport = BenchTransport.make(proxy.url, services)
                    client = FieldClient.open(tablet_dir / "a.db", proxy.url, transport=transport)
                    try:
                        safe_s, syncs, _ = _push_until_safe(client, transport)
                        # every op has a result now: count them and those the server did not take
                        results_by_kind: dict[str, int] = {
                            str(r["result"]): int(r["n"]) for r in client._store.read.query(
                                "SELECT result, COUNT(*) AS n FROM op_results GROUP BY result")}
                    finally:
                        client.close()
                    pushed = sum(results_by_kind.values())
                    refused = pushed - results_by_kind.get("applied", 0) - results_by_kind.get("merged", 0)
                    up, down, cuts = proxy.stats.up_bytes, proxy.stats.down_bytes, proxy.stats.cuts
                    today = transport.push_bytes  # the sealed change-sets, as today's push sends them
                    floor_s = today / rate
                    results.append(Result(
                        "weak_link", cfg.backend.name, pushed or ops, safe_s, list(transport.push_ms),
                        server.memory_mb()[0], None,
                        {"errors": refused + (0 if pushed == ops else 1), "syncs": syncs, "cuts": cuts,
                         "link_up_bytes": up, "link_down_bytes": down, "today_bytes": today,
                         "today_raw_s": round(floor_s, 2), "time_ratio": round(safe_s / floor_s, 3),
                         "bytes_ratio": round((up + down) / today, 3), "jobs": n_jobs}))
                    fresh, t2 = open_tablet(tablet_dir / "b.db", proxy.url, services, "e-weak",
                                            BenchTransport.make(proxy.url, services))
                    up0, down0, cuts0 = proxy.stats.up_bytes, proxy.stats.down_bytes, proxy.stats.cuts
                    try:
                        pull_s, syncs, pulled, errors = _pull_until_done(fresh)
                    finally:
                        fresh.close()
                    up, down = proxy.stats.up_bytes - up0, proxy.stats.down_bytes - down0
                    today = t2.pull_bytes  # the pages as signed, as today's pull sends them
                    floor_s = today / rate
                    peer = run_pouchdb_peer(docs_file)
                    if "push_up_bytes" in peer:  # bytes of the same day, PouchDB against express-pouchdb
                        pouch = peer["push_up_bytes"] + peer["push_down_bytes"]
                        results[-1].extra.update({"pouchdb_bytes": pouch, "bytes_vs_pouchdb": round(
                            (results[-1].extra["link_up_bytes"] + results[-1].extra["link_down_bytes"]) / pouch, 3)})
                    else:
                        results[-1].extra.update(peer)
                    results.append(Result(
                        "weak_link_pull", cfg.backend.name, pulled, pull_s, list(t2.pull_ms),
                        server.memory_mb()[0], None,
                        {"errors": errors, "syncs": syncs, "cuts": proxy.stats.cuts - cuts0,
                         "link_up_bytes": up, "link_down_bytes": down, "today_bytes": today,
                         "today_raw_s": round(floor_s, 2), "time_ratio": round(pull_s / floor_s, 3),
                         "bytes_ratio": round((up + down) / today, 3), "jobs": n_jobs}))
                    if "pull_up_bytes" in peer:
                        pouch = peer["pull_up_bytes"] + peer["pull_down_bytes"]
                        results[-1].extra.update({"pouchdb_bytes": pouch,
                                                  "bytes_vs_pouchdb": round((up + down) / pouch, 3)})
                shutil.rmtree(tablet_dir, ignore_errors=True)
        finally:
            services.db.close()
    return results


BIG_TABLET: Final = """
import json, sys, time
from client_sdk import FieldClient

def rss():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024

path, url, token = sys.argv[1], sys.argv[2], sys.argv[3]
client = FieldClient.open(path, server_url=url)
client.enroll(token)
t0 = time.perf_counter(); report = client.sync(); boot = time.perf_counter() - t0
print(json.dumps({"seconds": boot, "pulled": report.pulled_changes, "errors": report.errors,
                  "offline": report.offline, "peak_rss_mb": rss()}), flush=True)
sys.stdin.readline()
t0 = time.perf_counter(); report = client.sync(); inc = time.perf_counter() - t0
print(json.dumps({"seconds": inc, "pulled": report.pulled_changes, "errors": report.errors,
                  "peak_rss_mb": rss()}), flush=True)
client.close()
"""


def _big_feed(services: Any, engineer: str, n: int, batch: int = 20_000) -> int:
    """Publish a scope of about ``n`` records for ``engineer`` into the feed in bulk; the number published."""
    parts, kb = n // 10, n // 50
    jobs = max(1, (n - parts - kb) // 15)
    day0 = 1_730_000_000_000
    published = 0
    pending: list[Any] = []

    def flush(force: bool = False) -> None:
        nonlocal published
        if pending and (force or len(pending) >= batch):
            with services.db.write() as tx:
                publish(tx, pending, engineer)
            published += len(pending)
            pending.clear()

    for i in range(parts):
        pending.append(PartRecord(id=f"BP-{i:06d}", data=PartData(
            part_no=f"BP-{i:06d}", name=f"Part {i} gasket set", serialized=i % 7 == 0,
            unit_price_cents=100 + i % 9000)))
        flush()
    for i in range(kb):
        pending.append(KbRecord(id=f"KB-{i}", data=KbData(
            id=f"KB-{i}", model=f"M-{i % 300}", equipment_type="boiler", symptom=f"Burner {i} trips on ignition",
            cause="Worn ignition electrode", fix="Replaced the electrode and tested", parts=[f"BP-{i % 1000:06d}"],
            ticket_id=None, created_at=day0, created_by="bench")))
        flush()
    for j in range(jobs):
        at = day0 + j * 1_080_000  # two years of jobs, about 80 a day
        job_id = f"BJ-{j}"
        pending.append(JobRecord(id=job_id, data=JobData(
            id=job_id, ticket_id=f"BT-{j}", engineer_id=engineer, status="signed_off", hold_reason=None,
            notes="", diagnosis="Igniter worn", resolution="Replaced igniter", remote=False, rating=5,
            customer_comment=None, template_id=TEMPLATE_ID, template_version=1, scheduled_start=at,
            scheduled_end=at + 3_600_000, signed_off=True, field_hlc={},
            ticket=TicketSummary(customer=f"Customer {j % 5000}", site=f"Site {j % 800}", priority="P3",
                                 category="inspection", title="Boiler service", asset_serial=f"SN-{j}"))))
        for key, _, _, value in ITEMS:
            pending.append(AnswerRecord(id=f"{job_id}:{key}", data=AnswerData(
                job_id=job_id, item_key=key, value=value, note=None, na_reason=None, hlc=at << 16, device_id="D-old",
                deleted=False)))
        for k, (part_no, _) in enumerate(PARTS):
            pending.append(MovementRecord(id=f"{job_id}:m{k}", data=MovementData(
                id=f"{job_id}:m{k}", kind="consume", part_no=part_no, qty=1, serial=None, from_location=None,
                to_location=None, job_id=job_id, at=at, billable=False)))
        pending.append(SignoffRecord(id=job_id, data=SignoffData(job_id=job_id, signer_name="Pat Customer",
                                                                 signer_role="customer", signed_at=at,
                                                                 report_digest="0" * 64)))
        flush()
    flush(force=True)
    return published


def run_big_scope(cfg: Config) -> list[Result]:
    """``big_scope``: a new tablet bootstraps a scope of a million records (at scale 1), then pulls 10 changes."""
    n = scaled(1_000_000, cfg.scale, minimum=1_000)
    with cfg.backend.fresh_url() as url:
        services = open_services(url)
        try:
            catalog.create_engineer(services, EngineerIn(id="e-big", name="Engineer Big", email="big@example.com",
                                                         skills=["boiler"]))
            t0 = time.perf_counter()
            published = _big_feed(services, "e-big", n)
            setup_s = time.perf_counter() - t0
            token, _ = issue_enroll_token(services, "e-big")
            with ServerProcess(url, cfg.workdir) as server:
                server_before = server.memory_mb()
                tablet_dir = Path(tempfile.mkdtemp(prefix="tablet-", dir=cfg.workdir))
                code_root = str(Path(__file__).resolve().parents[1])
                env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                    p for p in (code_root, os.environ.get("PYTHONPATH", "")) if p)}
                proc = subprocess.Popen([sys.executable, "-c", BIG_TABLET, str(tablet_dir / "big.db"), server.url,
                                         token], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                        cwd=cfg.workdir)
                try:
                    assert proc.stdin is not None and proc.stdout is not None
                    boot = json.loads(proc.stdout.readline())
                    server_after = server.memory_mb()
                    with services.db.write() as tx:
                        publish(tx, [AnswerRecord(id=f"BJ-0:{ITEMS[k][0]}", data=AnswerData(
                            job_id="BJ-0", item_key=ITEMS[k][0], value=ITEMS[k][3], note="checked again",
                            na_reason=None, hlc=(1_800_000_000_000 << 16) + k, device_id="D-other", deleted=False))
                            for k in range(10)], "e-big")
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
                    inc = json.loads(proc.stdout.readline())
                    proc.wait(timeout=120)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                shutil.rmtree(tablet_dir, ignore_errors=True)
                # the same scope (and its 10 new changes) into the tablet web app, in the browser
                browser_token, _ = issue_enroll_token(services, "e-big")
                browser = big_scope_browser_result(cfg.backend.name, published + 10, server.url, browser_token,
                                                   cfg.workdir)
        finally:
            services.db.close()
    errors = len(boot["errors"]) + len(inc["errors"]) + (1 if boot["offline"] else 0) \
        + (0 if boot["pulled"] >= published else 1) + (0 if inc["pulled"] == 10 else 1)
    return [Result("big_scope", cfg.backend.name, int(boot["pulled"]), float(boot["seconds"]), [],
                   server_before[0], None,
                   {"errors": errors, "records": published, "tablet_peak_rss_mb": round(boot["peak_rss_mb"], 1),
                    "server_rss_before_mb": round(server_before[1], 1),
                    "server_rss_after_mb": round(server_after[1], 1),
                    "server_peak_rss_mb": round(server_after[0], 1),
                    "incremental_10_ms": round(float(inc["seconds"]) * 1000, 1),
                    "incremental_pulled": inc["pulled"], "setup_s": round(setup_s, 1)}), browser]


# -- big_scope in the browser: the tablet web app bootstraps the same scope in headless Chromium ----------

#: where the system Chromium lives (the browser tests use the same)
BROWSER_CHROMIUM: Final = os.environ.get("FIELDSYNC_CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS: Final = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                       "--disable-component-update", "--disable-sync"]
#: how often the harness reads the browser's memory while the web app pulls
BROWSER_POLL_S: Final = 0.5
#: the most a browser bootstrap may take before the line counts an error (a million records, two cores)
BROWSER_TIMEOUT_S: Final = 3600.0

#: enroll with the token, then time one sync run of the engine (the UI's own sync would also render the
#: job list after it: that is the app's business, not the bootstrap's)
BROWSER_START_JS: Final = """async (token) => {
    const client = window.fieldsync.client;
    await client.enroll(token, 'bench tablet');
    window.__bench = {done: false};
    const t0 = performance.now();
    client.sync().then(
        (r) => { window.__bench = {done: true, seconds: (performance.now() - t0) / 1000, pulled: r.pulled_changes,
                                   errors: r.errors, offline: r.offline}; },
        (e) => { window.__bench = {done: true, seconds: (performance.now() - t0) / 1000, pulled: 0,
                                   errors: [String(e && e.stack || e)], offline: false}; });
}"""


def browser_unavailable() -> str | None:
    """Why the browser line cannot be measured here, or None when Playwright and Chromium are both present."""
    if not Path(BROWSER_CHROMIUM).exists():
        return f"not measured: no Chromium at {BROWSER_CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "not measured: playwright is not installed"
    return None


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from ``/proc/<pid>/task/*/children``)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                kids = [int(k) for k in (task / "children").read_text().split()]
                out.extend(kids)
                todo.extend(kids)
    return out


def pss_mb(pid: int) -> float:
    """Proportional set size of a process in MB (shared pages split among their users), 0 when gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def chromium_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) each kind of Chromium process of this bench has used so far: ``renderer``
    (the app's JavaScript), ``browser`` (which runs IndexedDB's backend) and ``other`` (network, GPU ...)."""
    out = {"renderer": 0.0, "browser": 0.0, "other": 0.0}
    for pid in _descendants(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        words = cmdline.split()
        if not words or not ("chrom" in Path(words[0]).name or "--type=" in cmdline):
            continue
        kind = "renderer" if "--type=renderer" in words else "other" if "--type=" in cmdline else "browser"
        out[kind] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def chromium_memory_mb() -> tuple[float, float]:
    """(every Chromium process of this bench, its renderers alone): memory now in MB, as PSS so that pages
    the processes share count once. Chromium rewrites its command lines, flags included, as one string."""
    total = renderers = 0.0
    for pid in _descendants(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        words = cmdline.split()
        if not words or not ("chrom" in Path(words[0]).name or "--type=" in cmdline):
            continue
        pss = pss_mb(pid)
        total += pss
        if "--type=renderer" in words:
            renderers += pss
    return total, renderers


def browser_bootstrap(server_url: str, token: str, workdir: Path, profile: bool = False) -> dict[str, Any]:
    """The tablet web app, served by the server at ``/tablet/``, enrolls with ``token`` in headless Chromium and
    pulls its scope until done; its seconds and what the browser's memory peaked at while it did.

    A persistent profile (not an incognito context, whose IndexedDB lives in memory) so the records go to
    disk as on a tablet. Memory is polled every :data:`BROWSER_POLL_S`: the page's JS heap (CDP
    ``Performance.getMetrics``) and the resident memory of the Chromium processes (``/proc``; IndexedDB's
    backend runs in the browser process, the app in the renderer), and the CPU time of each kind of Chromium
    process is read before and after. ``profile`` records a CPU profile of the
    page (CDP ``Profiler``) and returns the functions with the most self time.
    """
    from playwright.sync_api import sync_playwright

    user_dir = Path(tempfile.mkdtemp(prefix="chromium-", dir=workdir))
    out: dict[str, Any] = {}
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(user_dir), executable_path=BROWSER_CHROMIUM, args=BROWSER_ARGS, headless=True,
                service_workers="allow")
            try:
                page = context.new_page()
                page.goto(f"{server_url}/tablet/")
                page.wait_for_function("() => window.fieldsync !== undefined", timeout=60_000)
                cdp = context.new_cdp_session(page)
                cdp.send("Performance.enable")
                if profile:
                    cdp.send("Profiler.enable")
                    cdp.send("Profiler.setSamplingInterval", {"interval": 1000})
                    cdp.send("Profiler.start")
                heap_peak = rss_peak = renderer_peak = 0.0
                cpu0 = chromium_cpu_s()
                page.evaluate(BROWSER_START_JS, token)
                deadline = time.monotonic() + BROWSER_TIMEOUT_S
                state: dict[str, Any] = {"done": False}
                while time.monotonic() < deadline:
                    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                    heap_peak = max(heap_peak, metrics.get("JSHeapUsedSize", 0.0) / 2**20)
                    total, renderers = chromium_memory_mb()
                    rss_peak, renderer_peak = max(rss_peak, total), max(renderer_peak, renderers)
                    state = page.evaluate("() => window.__bench")
                    if state.get("done"):
                        break
                    time.sleep(BROWSER_POLL_S)
                cpu1 = chromium_cpu_s()
                out["cpu_s"] = {k: round(cpu1[k] - cpu0[k], 1) for k in cpu0}
                if profile:
                    out["profile_top"] = _profile_top(cdp.send("Profiler.stop")["profile"])
                out.update(state)
                if not state.get("done"):
                    out.update({"seconds": BROWSER_TIMEOUT_S, "pulled": 0, "errors": ["timeout"], "offline": False})
                out.update({"js_heap_peak_mb": round(heap_peak, 1), "chromium_pss_peak_mb": round(rss_peak, 1),
                            "renderer_pss_peak_mb": round(renderer_peak, 1)})
            finally:
                context.close()
    finally:
        shutil.rmtree(user_dir, ignore_errors=True)
    return out


def _profile_top(profile: dict[str, Any], n: int = 25) -> list[tuple[str, float]]:
    """The ``n`` functions of a CDP CPU profile with the most self time: ("name file:line", ms)."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    self_ms: dict[str, float] = defaultdict(float)
    deltas = profile.get("timeDeltas", [])
    for sample, delta in zip(profile.get("samples", []), deltas[1:] + [0], strict=True):
        frame = nodes[sample]["callFrame"]
        where = frame["url"].rsplit("/", 1)[-1]
        self_ms[f"{frame['functionName'] or '(anon)'} {where}:{frame['lineNumber'] + 1}"] += delta / 1000
    return sorted(((k, round(v, 1)) for k, v in self_ms.items()), key=lambda kv: -kv[1])[:n]


def big_scope_browser_result(backend: str, published: int, server_url: str, token: str,
                             workdir: Path) -> Result:
    """The ``big_scope_browser`` line: the web app's bootstrap of the scope ``big_scope`` published."""
    why = browser_unavailable()
    if why is not None:
        return Result("big_scope_browser", backend, 0, 0.0, [], None, None, {"measured": False, "note": why})
    try:
        boot = browser_bootstrap(server_url, token, workdir, profile=os.environ.get("FIELDSYNC_BENCH_PROFILE") == "1")
    except Exception as exc:  # noqa: BLE001 - the browser failing is this line's error, not the whole run's
        return Result("big_scope_browser", backend, 0, 0.0, [], None, None,
                      {"measured": True, "errors": 1, "records": published, "error_detail": [repr(exc)[:500]]})
    errors = len(boot["errors"]) + (1 if boot["offline"] else 0) + (0 if boot["pulled"] >= published else 1)
    extra: dict[str, Any] = {"measured": True, "errors": errors, "records": published,
                             "js_heap_peak_mb": boot["js_heap_peak_mb"],
                             "chromium_pss_peak_mb": boot["chromium_pss_peak_mb"],
                             "renderer_pss_peak_mb": boot["renderer_pss_peak_mb"],
                             "renderer_cpu_s": boot["cpu_s"]["renderer"], "browser_cpu_s": boot["cpu_s"]["browser"],
                             "other_cpu_s": boot["cpu_s"]["other"]}
    if boot["errors"]:
        extra["error_detail"] = boot["errors"][:3]
    if "profile_top" in boot:
        extra["profile_top"] = boot["profile_top"]
    return Result("big_scope_browser", backend, int(boot["pulled"]), float(boot["seconds"]), [],
                  boot["chromium_pss_peak_mb"], None, extra)


FLEET_PROCESSES: Final = 4
#: tablets of the fleet at ``--scale 1``, each with :data:`FLEET_JOBS` jobs (15 ops each)
FLEET_DEVICES: Final = 1000
FLEET_JOBS: Final = 25
#: the realistic arrival: each tablet starts its sync at a random moment of this many seconds (scaled down)
FLEET_SPREAD_S: Final = 60.0
#: how long a fleet tablet's sync waits for its outcomes (the whole burst's merge fits in it)
FLEET_OUTCOME_WAIT_S: Final = 300.0
#: the passes over one prepared fleet, each from the same starting state: (line, accepted answer?, spread?)
FLEET_PASSES: Final = (("fleet", True, False), ("fleet_spread", True, True), ("fleet_sync", False, False))


@dataclass
class FleetOutcome:
    """What the devices of one fleet sync measured, merged over the worker processes."""

    elapsed: float = 0.0
    push_ms: list[float] = field(default_factory=list)
    accepted_ms: list[float] = field(default_factory=list)
    outcome_ms: list[float] = field(default_factory=list)
    device_s: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failures: list[str] = field(default_factory=list)


def sync_fleet(server_url: str, tablets: list[tuple[str, str]], respond_async: bool = True,
               spread_s: float = 0.0) -> FleetOutcome:
    """Every tablet syncs: threads in :data:`FLEET_PROCESSES` processes, released together.

    Each tablet starts at once (``spread_s`` 0: the five o'clock burst) or at a random moment of
    ``spread_s`` seconds (seeded per tablet).  Devices are separate machines; hundreds of them as
    threads of one Python process would queue every response behind that process's own lock (the
    GIL), and the harness, not the server, would set the latencies.  The processes still share this
    machine's cores with the server.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    rng = random.Random(7)
    delays = {eid: rng.uniform(0, spread_s) if spread_s > 0 else 0.0 for eid, _ in tablets}
    groups = [tablets[i::FLEET_PROCESSES] for i in range(FLEET_PROCESSES) if tablets[i::FLEET_PROCESSES]]
    ready, go, results = ctx.Queue(), ctx.Event(), ctx.Queue()
    address = {eid: fleet_address(n) for n, (eid, _) in enumerate(tablets)}
    procs = [ctx.Process(target=_fleet_worker, args=(server_url, [(e, p, delays[e], address[e]) for e, p in group],
                                                     respond_async, ready, go, results)) for group in groups]
    for p in procs:
        p.start()
    finished = False
    try:
        for _ in procs:
            ready.get(timeout=600)  # every tablet of every process is open and waiting
        t0 = time.perf_counter()
        go.set()
        parts = [results.get(timeout=1800) for _ in procs]
        out = FleetOutcome(elapsed=time.perf_counter() - t0)
        finished = True
    finally:
        for p in procs:
            p.join(timeout=60 if finished else 0)  # stopped or failed: the devices are not waited for
            if p.is_alive():
                p.kill()
                p.join()
    for part in parts:
        for name in ("push_ms", "accepted_ms", "outcome_ms", "device_s", "failures"):
            getattr(out, name).extend(part[name])
        for k, v in part["counts"].items():
            out.counts[k] += v
    return out


def fleet_address(n: int) -> str:
    """Tablet ``n``'s own loopback address (127.0.1.1, 127.0.1.2, ...).

    Tablets are separate machines with addresses of their own: from one address, a fleet of 1,000
    would spend the server's per-address allowance of device authentication (50 a second, bursts of
    1,000; challenge and session are two) and the burst would measure the rate limiter.
    """
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


def _fleet_worker(server_url: str, tablets: list[tuple[str, str, float, str]], respond_async: bool, ready: Any,
                  go: Any, results: Any) -> None:
    """One process of the fleet: a thread per tablet, started ``delay`` seconds after ``go`` is set.

    Per tablet: time-to-accepted is its push request's time when answered 202; time-to-outcome is from
    the push's start until its signed receipt is in hand (the push's own answer on the synchronous path).
    """
    lock = threading.Lock()
    out: dict[str, Any] = {"push_ms": [], "accepted_ms": [], "outcome_ms": [], "device_s": [], "failures": []}
    counts: dict[str, int] = defaultdict(int)
    opened = threading.Barrier(len(tablets) + 1)  # a tablet is used by the thread that opened it

    def device(eid: str, path: str, delay: float, address: str) -> None:
        try:
            transport = BenchTransport.make(server_url, None, respond_async=respond_async, local_address=address)
            client = FieldClient.open(Path(path), server_url, transport=transport)
        except Exception as exc:  # noqa: BLE001 - the bench counts every failure
            opened.wait()
            with lock:
                out["failures"].append(f"{eid}: open: {exc}")
            return
        try:
            opened.wait()
            go.wait()
            time.sleep(delay)
            t0 = time.perf_counter()
            report = client.sync(outcome_wait_s=FLEET_OUTCOME_WAIT_S)
            took = time.perf_counter() - t0
            with lock:
                out["push_ms"].extend(transport.push_ms)
                out["accepted_ms"].extend(transport.accepted_ms)
                out["outcome_ms"].extend(transport.outcome_ms)
                out["device_s"].append(took)
                counts["pushed"] += report.pushed_ops
                counts["pulled"] += report.pulled_changes
                counts["rejected"] += report.rejected
                counts["pending"] += report.accepted_pending
                counts["done"] += int(not report.errors and not report.offline and not report.accepted_pending)
                out["failures"].extend(f"{eid}: {e}" for e in report.errors)
                if report.offline:
                    out["failures"].append(f"{eid}: offline")
        except Exception as exc:  # noqa: BLE001
            with lock:
                out["failures"].append(f"{eid}: {type(exc).__name__}: {exc}")
        finally:
            client.close()

    threads = [threading.Thread(target=device, args=t) for t in tablets]
    for t in threads:
        t.start()
    opened.wait()
    ready.put(len(threads))
    for t in threads:
        t.join()
    results.put({**out, "counts": dict(counts)})


class FleetSnapshot:
    """The prepared fleet (server database and tablet files) kept aside, so every pass starts from it."""

    def __init__(self, cfg: Config, url: str, tablet_dir: Path) -> None:
        self.cfg, self.url, self.tablet_dir = cfg, url, tablet_dir
        self.dir = Path(tempfile.mkdtemp(prefix="fleet-snap-", dir=cfg.workdir))
        shutil.copytree(tablet_dir, self.dir / "tablets")
        if cfg.backend.name == "sqlite":
            shutil.copytree(self._db_folder(), self.dir / "db")
        else:
            subprocess.run(["pg_dump", "-Fc", "-n", self._schema(), "-f", str(self.dir / "db.dump"),
                            cfg.backend.pg_base], check=True, capture_output=True)

    def _db_folder(self) -> Path:
        return Path(self.url.removeprefix("sqlite:///")).parent

    def _schema(self) -> str:
        return self.url.rsplit("schema=", 1)[1]

    def restore(self) -> None:
        """Put the server database and the tablets back as they were when prepared (no server running)."""
        shutil.rmtree(self.tablet_dir)
        shutil.copytree(self.dir / "tablets", self.tablet_dir)
        if self.cfg.backend.name == "sqlite":
            shutil.rmtree(self._db_folder())
            shutil.copytree(self.dir / "db", self._db_folder())
            return
        import psycopg

        with psycopg.connect(self.cfg.backend.pg_base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self._schema()}" CASCADE')
        subprocess.run(["pg_restore", "-d", self.cfg.backend.pg_base, str(self.dir / "db.dump")], check=True,
                       capture_output=True)

    def drop(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def run_fleet(cfg: Config) -> list[Result]:
    """1,000 tablets with 25 jobs each sync: the burst and a 60 s spread with accepted receipts, and the
    burst through the synchronous push (the floor: today's path), each pass from the same prepared fleet."""
    from concurrent.futures import ThreadPoolExecutor

    n_dev = scaled(FLEET_DEVICES, cfg.scale, minimum=2)
    spread = FLEET_SPREAD_S * min(1.0, cfg.scale)
    engineers = [f"e-fleet-{i:04d}" for i in range(n_dev)]
    out: list[Result] = []
    with cfg.backend.fresh_url() as url:
        services = open_services(url)
        tablet_dir = Path(tempfile.mkdtemp(prefix="fleet-", dir=cfg.workdir))
        try:
            t_setup = time.perf_counter()
            jobs = setup_fleet(services, engineers, FLEET_JOBS)
            with ServerProcess(url, cfg.workdir) as server:

                def prepare(i: int) -> int:
                    eid = engineers[i]
                    client, _ = open_tablet(tablet_dir / f"{eid}.db", server.url, services, eid)
                    try:
                        sync_until_jobs(client, len(jobs[eid]))
                        with client.batch():
                            return work_day(client, jobs[eid], seed=i)
                    finally:
                        client.close()

                with ThreadPoolExecutor(max_workers=4) as pool:
                    written = sum(pool.map(prepare, range(n_dev)))
        finally:
            services.db.close()
        setup_s = time.perf_counter() - t_setup
        snapshot = FleetSnapshot(cfg, url, tablet_dir)
        try:
            for n, (line, accepted, spread_on) in enumerate(FLEET_PASSES):
                if n:
                    snapshot.restore()
                with ServerProcess(url, cfg.workdir) as server:
                    cpu0 = server.cpu_seconds()
                    outcome = sync_fleet(server.url, [(e, str(tablet_dir / f"{e}.db")) for e in engineers],
                                         respond_async=accepted, spread_s=spread if spread_on else 0.0)
                    server_cpu = server.cpu_seconds() - cpu0
                    peak, _ = server.memory_mb()
                out.append(_fleet_result(line, cfg, outcome, n_dev, written, spread if spread_on else 0.0,
                                         accepted, peak, server_cpu, setup_s))
        finally:
            snapshot.drop()
            shutil.rmtree(tablet_dir, ignore_errors=True)
    return out


def _fleet_result(line: str, cfg: Config, outcome: FleetOutcome, n_dev: int, written: int, spread_s: float,
                  accepted: bool, peak: float, server_cpu: float, setup_s: float) -> Result:
    """One fleet pass as a line: latencies are time-to-accepted (the push itself on the synchronous path)."""
    counts, failures = outcome.counts, outcome.failures
    latencies = outcome.accepted_ms if accepted else outcome.push_ms
    return Result(line, cfg.backend.name, counts["pushed"], outcome.elapsed, latencies, peak, None, {
        "devices": n_dev, "devices_done": counts["done"], "ops_written": written, "pulled": counts["pulled"],
        "path": "accepted" if accepted else "synchronous", "arrival_spread_s": round(spread_s, 1),
        "accepted_answers": len(outcome.accepted_ms),
        "p50_outcome_ms": round(percentile(outcome.outcome_ms, 50), 1),
        "p99_outcome_ms": round(percentile(outcome.outcome_ms, 99), 1),
        "outcomes": len(outcome.outcome_ms), "outcomes_pending_ops": counts["pending"],
        "errors": len(failures) + counts["rejected"], "first_errors": failures[:3],
        "p99_device_sync_ms": round(percentile([s * 1000 for s in outcome.device_s], 99), 1),
        "server_cpu_s": round(server_cpu, 2), "setup_s": round(setup_s, 1)})


def _seed_tablet(client: Any, n_jobs: int, prefix: str) -> list[str]:
    """Put jobs, the template and the parts on a tablet through the SDK's pull path."""
    changes = [record("template", f"{TEMPLATE_ID}@1", name="Boiler service (bench)",
                      items=[{"key": k, "label": k, "type": t, "required": True, **b} for k, t, b, _ in ITEMS])]
    changes += [record("part", p, name=name, unit_price_cents=900) for p, name in PARTS]
    ids = [f"{prefix}-{i:05d}" for i in range(n_jobs)]
    changes += [record("job", j, ticket_id=f"T-{j}", engineer_id="e-tab", template_id=TEMPLATE_ID,
                       template_version=1, ticket={"customer": "C", "site": "S", "priority": "P3", "category": "fault",
                                                   "title": "", "asset_serial": None}) for j in ids]
    with client._store.write() as tx:
        apply_changes(tx, changes)
    return ids


def _answer_call(client: Any, key: str, value: Any) -> Callable[[str], object]:
    return lambda job_id: client.answer(job_id, key, value)


def _part_call(client: Any, part_no: str) -> Callable[[str], object]:
    return lambda job_id: client.use_part(job_id, part_no)


def _sdk_writes(client: Any, job_ids: list[str], n: int, timed: list[float] | None) -> int:
    """``n`` SDK writes cycling through each job's day (status, 10 answers, 3 parts, diagnosis)."""
    calls: list[Callable[[str], object]] = [lambda j: client.set_status(j, "on_site")]
    calls += [_answer_call(client, k, v) for k, _, _, v in ITEMS]
    calls += [_part_call(client, p) for p, _ in PARTS]
    calls.append(lambda j: client.set_field(j, "diagnosis", "Worn ignition electrode, replaced."))
    done = 0
    perf = time.perf_counter
    for job_id in job_ids:
        for call in calls:
            if done == n:
                return done
            if timed is None:
                call(job_id)
            else:
                t0 = perf()
                call(job_id)
                timed.append((perf() - t0) * 1000)
            done += 1
    return done


def _tablet_floor(client: Any, n: int) -> float:
    """Writes/s of a plain executemany of a row + an outbox row per write into the tablet's file.

    The outbox rows are the last ``n`` the SDK wrote (the same bytes), into a copy of the real
    outbox's table and indexes, made from the tablet's own schema (so the floor follows the SDK's
    migrations); the other row is an answer-sized row.  It starts from an empty WAL, like the batch.
    """
    conn = client._store.conn
    outs = conn.execute("SELECT op_id, job_id, type, key, body, created_at FROM outbox ORDER BY seq DESC LIMIT ?",
                        (n,)).fetchall()[::-1]
    conn.execute("CREATE TABLE bench_rows (job_id TEXT, item_key TEXT, value TEXT, hlc INTEGER, device_id TEXT, "
                 "template_version INTEGER, PRIMARY KEY (job_id, item_key))")
    outbox_ddl = [row[0] for row in conn.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'outbox' AND sql IS NOT NULL ORDER BY type DESC")]
    for sql in outbox_ddl:  # the table first, then its indexes
        conn.execute(re.sub(r"\boutbox", "bench_outbox", sql.replace('"outbox"', "outbox")))
    rows = [(f"J-{i // 15}", f"item{i % 15}", '"good"', i, "D-x", 1) for i in range(len(outs))]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO bench_rows VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.executemany("INSERT INTO bench_outbox (op_id, job_id, type, key, body, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?)", outs)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.execute("DROP TABLE bench_rows")
    conn.execute("DROP TABLE bench_outbox")
    return len(outs) / elapsed if elapsed > 0 else 0.0


#: timed repetitions of the batch and of its floor (alternating); the sdk_write_batch line gives medians
SDK_BATCH_REPS: Final = 5


def run_sdk_write(cfg: Config) -> list[Result]:
    """10,000 SDK writes one transaction each, then batched (:data:`SDK_BATCH_REPS` times); the tablet's floor.

    Each repetition writes a fresh set of jobs in one ``client.batch()`` and then
    measures the floor on the outbox rows that batch wrote; both start from an
    empty WAL.  The batch line reports the median batch time and the median
    floor, and each repetition's figures (``batch_s_reps``, ``floor_ops_per_s_reps``,
    ``floor_ratio_reps``), so the spread is visible.
    """
    n = scaled(10_000, cfg.scale, minimum=30)
    folder = Path(tempfile.mkdtemp(prefix="sdk-", dir=cfg.workdir))
    batch_s: list[float] = []
    floors: list[float] = []
    batch_timed: list[float] = []
    try:
        client = FieldClient.open(folder / "tablet.db", "http://127.0.0.1:9")
        try:
            n_jobs = -(-n // 15)
            single_jobs = _seed_tablet(client, n_jobs, "J-single")
            batch_jobs = [_seed_tablet(client, n_jobs, f"J-batch{rep}") for rep in range(SDK_BATCH_REPS)]
            timed: list[float] = []
            t0 = time.perf_counter()
            done = _sdk_writes(client, single_jobs, n, timed)
            single_s = time.perf_counter() - t0
            for jobs in batch_jobs:
                client._store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # neither pays for the other's pages
                t0 = time.perf_counter()
                with client.batch():
                    batched = _sdk_writes(client, jobs, n, batch_timed)
                batch_s.append(time.perf_counter() - t0)
                floors.append(_tablet_floor(client, n))  # the outbox rows this batch just wrote
            pending = len(client._store.read.query("SELECT seq FROM outbox"))
        finally:
            client.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rss = own_peak_rss_mb()
    floor = statistics.median(floors)
    reps = {
        "repetitions": len(batch_s),
        "batch_s_reps": [round(s, 4) for s in batch_s],
        "floor_ops_per_s_reps": [round(f, 1) for f in floors],
        "floor_ratio_reps": [round(f * s / batched, 2) for f, s in zip(floors, batch_s, strict=True)],
    }
    return [
        Result("sdk_write", "tablet", done, single_s, timed, rss, floor, {"durable": "synchronous=FULL"}),
        Result("sdk_write_batch", "tablet", batched, statistics.median(batch_s), batch_timed, rss, floor,
               {"outbox_after": pending, **reps}),
    ]


def _sla_rows(n: int, now: int, seed: int = 7) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Tickets of every priority with realistic timelines at every stage of their life."""
    rng = random.Random(seed)
    hour = 3_600_000
    tickets: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    kinds = [("P1", "fault"), ("P2", "fault"), ("P3", "fault"), ("P3", "inspection"), ("complaint", "complaint")]
    for i in range(n):
        tid = f"T-{i:07d}"
        priority, category = kinds[i % len(kinds)]
        opened = now - rng.randrange(1, 30 * 24) * hour - rng.randrange(hour)
        stage = rng.randrange(8)
        status = "open" if stage < 6 else "resolved"
        tickets.append((tid, f"Customer {i % 997}", "Site", priority, category, status, opened, opened, opened))
        at = opened
        timeline = ["opened", "job_assigned", "acknowledged", "en_route", "on_site", "on_hold", "resumed",
                    "work_started", "completed", "follow_up_done"][: 2 + stage + (2 if stage >= 6 else 0)]
        for k, kind in enumerate(timeline):
            at += rng.randrange(5, 240) * 60_000
            events.append((f"E-{i}-{k}", tid, kind, min(at, now), at, "device:bench", "{}"))
    return tickets, events


def run_sla(cfg: Config) -> list[Result]:
    """SLA state of 100,000 tickets from their event logs (loaded from the database)."""
    n = scaled(100_000, cfg.scale, minimum=50)
    with cfg.backend.fresh_url() as url:
        services = open_services(url)
        try:
            now = services.clock()
            tickets, events = _sla_rows(n, now)
            with services.db.write() as tx:
                for i in range(0, len(tickets), 20_000):
                    tx.executemany("INSERT INTO tickets (id, customer, site, priority, category, status, opened_at, "
                                   "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   tickets[i:i + 20_000])
                for i in range(0, len(events), 20_000):
                    tx.executemany("INSERT INTO ticket_events (id, ticket_id, kind, at, received_at, source, data) "
                                   "VALUES (?, ?, ?, ?, ?, ?, ?)", events[i:i + 20_000])
            policies = policy_set(services)
            lat: list[float] = []
            perf = time.perf_counter
            t0 = perf()
            with services.db.read() as tx:
                rows = tx.query("SELECT id, priority, category, status FROM tickets")
                evs = tx.rows("SELECT ticket_id, kind, at FROM ticket_events")
            load_s = perf() - t0
            by_ticket: dict[str, list[tuple[str, int]]] = defaultdict(list)
            for ticket_id, kind, at in evs:
                by_ticket[ticket_id].append((kind, int(at)))
            breached = 0
            for t in rows:
                t1 = perf()
                policy = policies.for_ticket(t["priority"], t["category"])
                states = compute_sla(policy, sla_events(t["status"], by_ticket.get(t["id"], [])), now)
                breached += any(s.breached for s in states.values())
                lat.append((perf() - t1) * 1000)
            total = perf() - t0
        finally:
            services.db.close()
    return [Result("sla_recompute", cfg.backend.name, len(rows), total, lat, own_peak_rss_mb(), None,
                   {"events": len(evs), "load_seconds": round(load_s, 3), "breached": breached})]


# -- CLI -----------------------------------------------------------------------------------------


def run(backends: list[str], scenarios: list[str], scale: float, pg: str,
        emit: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    """Run ``scenarios`` on ``backends``; call ``emit`` with each result as it is measured."""
    out: list[dict[str, Any]] = []
    workdir = Path(tempfile.mkdtemp(prefix="fieldsync-bench-"))

    def put(results: list[Result]) -> None:
        for r in results:
            d = r.as_dict()
            out.append(d)
            emit(d)

    try:
        if "sdk_write" in scenarios:
            put(run_sdk_write(Config(Backend("sqlite", workdir, pg), scale, workdir)))
        for name in backends:
            cfg = Config(Backend(name, workdir, pg), scale, workdir)
            if "push_day" in scenarios or "pull_bootstrap" in scenarios:
                put(run_day(cfg, "push_day" in scenarios, "pull_bootstrap" in scenarios))
            if "fleet" in scenarios:
                put(run_fleet(cfg))
            if "sla_recompute" in scenarios:
                put(run_sla(cfg))
            if "weak_link" in scenarios:
                put(run_weak_link(cfg))
            if "big_scope" in scenarios:
                put(run_big_scope(cfg))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


TABLE_COLS: Final = ("scenario", "backend", "ops", "seconds", "ops_per_s", "p50_ms", "p99_ms", "peak_rss_mb",
                     "floor_ops_per_s", "floor_ratio")


def print_row(d: dict[str, Any], header: bool) -> None:
    widths = (15, 10, 8, 9, 11, 9, 9, 11, 15, 11)
    if header:
        names = enumerate(zip(TABLE_COLS, widths, strict=True))
        print("  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in names))
    cells = []
    for i, (c, w) in enumerate(zip(TABLE_COLS, widths, strict=True)):
        v = d.get(c)
        text = "-" if v is None else (f"{v:,.1f}" if isinstance(v, float) and c.endswith("_s") else str(v))
        cells.append(text.rjust(w) if i > 1 else text.ljust(w))
    print("  ".join(cells), flush=True)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def run_cli(args: argparse.Namespace) -> int:
    """``fieldsync bench``: 0 when every scenario ran without errors, 1 otherwise, 2 on bad usage."""
    scenarios = args.scenario or list(SCENARIOS)
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        print(f"error: unknown scenario {', '.join(unknown)}; one of {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    if not args.scale > 0:
        print("error: --scale must be positive", file=sys.stderr)
        return 2
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    pg = args.pg or os.environ.get("FIELDSYNC_TEST_PG") or DEFAULT_PG
    if "postgresql" in backends:
        import psycopg

        try:
            with psycopg.connect(pg, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            print(f"error: PostgreSQL unreachable at {pg}: {exc}", file=sys.stderr)
            return 2
    first = [True]

    def emit(d: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps(d), flush=True)
        else:
            print_row(d, first[0])
            first[0] = False

    t0 = time.perf_counter()
    # SIGTERM unwinds like Ctrl-C: the server subprocess, fleet processes and scratch databases go too
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        results = run(backends, scenarios, args.scale, pg, emit)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not args.json:
        print(f"\n{len(results)} results in {time.perf_counter() - t0:.1f}s "
              f"({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    return 1 if any(r.get("errors") for r in results) else 0


__all__ = ["SCENARIOS", "Result", "percentile", "run", "run_cli"]
