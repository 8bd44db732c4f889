"""The fleet simulation engine behind ``fieldsync simulate``: many tablets, one server, a bad network.

It drives the *real* sync code end to end: :class:`client_sdk.FieldClient`
instances on their own SQLite files talk to the real Litestar app (in-process
through Litestar's ``TestClient`` by default, or to live servers through any
``httpx.Client``) over a :class:`FaultyTransport` that drops requests and
responses, duplicates pushes, replays old envelopes, partitions devices and
crashes them in the middle of a sync.  Between rounds the back office
reassigns and cancels jobs, creates new ones and resolves conflicts, and the
server is restarted (database, services and app closed and reopened).

Every random choice comes from one seeded ``random.Random`` and all clocks are
one fake clock, so the same seed replays the same run (the report's ``digest``
is built from labels, never from the random ids the system assigns).

At the end every device syncs until quiet and :func:`check_run` proves what the
system promises: every op that entered an outbox has exactly one result on
the server (applied, merged, rejected with a reason, or a conflict record),
the device saw the same result, devices agree with the server on every job in
their scope, chain heads match, and no parts movement or sign-off is lost or
doubled.  Violations are listed; the CLI exits 1 when there is any.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, Protocol

import httpx
import msgspec

from client_sdk import FieldClient
from client_sdk.errors import WriteRefused
from schemas.codec import decode_push_answer, receipt_decoder, signed_decoder
from schemas.domain import AssignIn, EngineerIn, JobIn, MovementIn, ResolveIn, TicketIn
from schemas.instant import instant_of
from schemas.rules import DEVICE_STATUSES, HOLD_REASONS, SIGNABLE_STATUSES
from schemas.status import TRANSITIONS, can_transition
from schemas.wire import (
    Accepted,
    Challenge,
    Enrollment,
    EnrollRequest,
    OpResult,
    PullRequest,
    Session,
    SessionRequest,
    Signed,
)
from server.app import create_app
from server.domain.catalog import service as catalog
from server.domain.conflicts import service as conflicts
from server.domain.devices.service import issue_enroll_token
from server.domain.tickets import service as tickets
from server.errors import DomainError
from server.ratelimit import RateLimiter
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from sync.transport.base import BlobStatus, Offline, ProtocolError
from sync.transport.http import HttpTransport
from tools.demo_data import seed_demo

START_MS: Final = 1_790_000_000_000
ROUND_MS: Final = 15 * 60 * 1000
STEP_MS: Final = 1_000
STROKES: Final = [[10, 10, 40, 30, 80, 12], [20, 50, 60, 52]]
SQLISH: Final = ("'); DROP TABLE jobs;--", "1 OR 1=1", "\" OR \"\"=\"", "Robert'); DELETE FROM movements; --")
ITEM_VALUES: Final[dict[str, Callable[[random.Random], Any]]] = {
    "gas_tight": lambda r: r.random() < 0.8,
    "flue_co2": lambda r: round(r.uniform(4, 12), 1),
    "pressure_bar": lambda r: round(r.uniform(0.5, 3.0), 1),
    "condition": lambda r: r.choice(["good", "fair", "poor"]),
    "remarks": lambda r: r.choice(["ok", "flue needs cleaning", *SQLISH]),
}
REQUIRED_ITEMS: Final = ("gas_tight", "flue_co2", "pressure_bar", "condition")


class DeviceCrash(Exception):
    """The tablet process died here (raised from the transport or a progress callback)."""


# -- clock and network --------------------------------------------------------


class SimClock:
    """One fake wall clock (epoch ms) for the server and, with a skew each, every tablet."""

    def __init__(self, now: int = START_MS) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


class Network(Protocol):
    """Where the devices' requests go and how the back office reaches the server's data."""

    restarts: int

    def client(self, device_index: int) -> httpx.Client:
        """The HTTP client a device's next request goes through."""
        ...

    @property
    def services(self) -> Services:
        """Services on the server's database, for back-office actions and the final checks."""
        ...

    def restart(self) -> None:
        """Stop and start the server (same database)."""
        ...

    def close(self) -> None:
        """Stop everything."""
        ...


class InProcessNetwork:
    """The real app in-process on a database URL; a restart closes and reopens db, services and app."""

    def __init__(self, db_url: str, clock: Callable[[], int]) -> None:
        self.db_url = db_url
        self.clock = clock
        self.restarts = 0
        self._services: Services | None = None
        self._client: Any = None
        self._start()

    def _start(self) -> None:
        from litestar.testing import TestClient

        settings = get_settings(db_url=self.db_url, run_scheduler=False)
        # Every tablet enrolls from the same in-process "host": lift the per-host burst for the simulation.
        self._services = Services(db=open_database(self.db_url), settings=settings, clock=self.clock,
                                  limiter=RateLimiter(rate=1e6, burst=1_000_000))
        self._client = TestClient(create_app(services=self._services, scheduler=False))
        self._client.__enter__()

    def client(self, device_index: int) -> httpx.Client:
        client: httpx.Client = self._client
        return client

    @property
    def services(self) -> Services:
        assert self._services is not None
        return self._services

    def restart(self) -> None:
        self.close()
        self.restarts += 1
        self._start()

    def close(self) -> None:
        if self._client is not None:
            self._client.__exit__(None, None, None)
            self._client = None
        if self._services is not None:
            self._services.db.close()
            self._services = None


# -- faults -------------------------------------------------------------------


@dataclass
class Faults:
    """Probabilities of each fault per request (all zero without ``--faults``)."""

    drop_request: float = 0.0
    drop_response: float = 0.0
    duplicate: float = 0.0
    replay_old: float = 0.0
    crash_before_send: float = 0.0
    crash_after_send: float = 0.0
    crash_in_progress: float = 0.0
    partition: float = 0.0
    restart: float = 0.0

    @classmethod
    def on(cls) -> Faults:
        return cls(drop_request=0.04, drop_response=0.06, duplicate=0.08, replay_old=0.08, crash_before_send=0.02,
                   crash_after_send=0.03, crash_in_progress=0.02, partition=0.08, restart=0.12)


def is_accepted(body: bytes) -> bool:
    """Whether a signed push answer's body is an Accepted (not a receipt)."""
    return isinstance(decode_push_answer(body), Accepted)


class FaultyTransport:
    """A :class:`~sync.transport.base.SyncTransport` that delivers through the network, badly.

    Faults: the request is lost (``Offline`` before sending), the response is
    lost after the server acted (``Offline`` after), a push is delivered twice,
    an old envelope of this device is re-sent later (reordering), the tablet
    dies right before or right after a push (:class:`DeviceCrash`), and a
    partitioned device reaches nothing at all.
    """

    def __init__(self, device: SimDevice, network: Network, rng: random.Random, faults: Faults,
                 stats: Counter[str]) -> None:
        self.device = device
        self.network = network
        self.rng = rng
        self.faults = faults
        self.stats = stats
        self.token: str | None = None

    def _http(self) -> HttpTransport:
        http = HttpTransport("http://testserver", client=self.network.client(self.device.index))
        http.token = self.token
        return http

    def _roll(self, p: float, name: str) -> bool:
        if p > 0 and self.rng.random() < p:
            self.stats[name] += 1
            return True
        return False

    def _gate(self) -> None:
        if self.device.partitioned:
            raise Offline("partitioned")
        if self._roll(self.faults.drop_request, "dropped_requests"):
            raise Offline("request lost")

    def _after(self) -> None:
        if self._roll(self.faults.drop_response, "dropped_responses"):
            raise Offline("response lost")

    def enroll(self, req: EnrollRequest) -> Enrollment:
        return self._http().enroll(req)

    def challenge(self, device_id: str) -> Challenge:
        self._gate()
        out = self._http().challenge(device_id)
        self._after()
        return out

    def session(self, req: SessionRequest) -> Session:
        self._gate()
        out = self._http().session(req)
        self._after()
        return out

    def push(self, envelope: bytes) -> Signed:
        self._gate()
        history = self.device.sent_envelopes
        if history and self._roll(self.faults.replay_old, "replayed_envelopes"):
            old = history[self.rng.randrange(len(history))]
            try:
                self._http().push(old)  # answered from the stored receipt, or refused as a fork/gap
            except ProtocolError:
                pass
        if self._roll(self.faults.crash_before_send, "crashes_before_send"):
            raise DeviceCrash("crashed with a sealed change-set not yet sent")
        out = self._http().push(envelope)
        if envelope not in history:
            history.append(envelope)
        if self._roll(self.faults.duplicate, "duplicated_pushes"):
            again = self._http().push(envelope)
            # the same bytes every time: the receipt, or the Accepted until the merge (then the receipt)
            if again.body != out.body and not (is_accepted(out.body) and not is_accepted(again.body)):
                self.device.violations.append("a duplicated push got a different receipt")
        if self._roll(self.faults.crash_after_send, "crashes_after_send"):
            raise DeviceCrash("crashed after the server applied the push, before the receipt was stored")
        self._after()
        return out

    def pull(self, req: PullRequest) -> Signed:
        self._gate()
        out = self._http().pull(req)
        self._after()
        return out

    def receipt(self, seq: int, wait_s: int = 0) -> Signed:
        self._gate()
        out = self._http().receipt(seq, wait_s)
        self._after()
        return out

    def blob_status(self, sha256: str) -> BlobStatus | None:
        self._gate()
        return self._http().blob_status(sha256)

    def blob_put(self, sha256: str, offset: int, size: int, chunk: bytes) -> BlobStatus:
        self._gate()
        out = self._http().blob_put(sha256, offset, size, chunk)
        self._after()
        return out

    def close(self) -> None:
        return None


# -- devices ------------------------------------------------------------------


@dataclass
class SimDevice:
    """One tablet: its file, engineer, clock skew and what it has written (op ids at write time)."""

    index: int
    engineer_id: str
    path: Path
    skew_ms: int
    client: FieldClient | None = None
    offline_until: int = -1
    round: int = 0
    written: dict[str, tuple[str, str]] = field(default_factory=dict)  # op_id -> (op type, job id)
    sent_envelopes: list[bytes] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def partitioned(self) -> bool:
        return self.round <= self.offline_until

    @property
    def label(self) -> str:
        return f"dev{self.index:03d}"


@dataclass
class SimConfig:
    """What ``fieldsync simulate`` was asked for."""

    devices: int = 6
    seed: int = 1
    faults: bool = False
    rounds: int = 20
    db_url: str | None = None
    jobs_per_engineer: int = 2
    workdir: Path | None = None


@dataclass
class SimReport:
    """Counts, faults, violations and the run digest (same seed -> same digest)."""

    config: dict[str, Any]
    counts: dict[str, int]
    results: dict[str, int]
    faults: dict[str, int]
    office: dict[str, int]
    violations: list[str]
    digest: str
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "config": self.config, "counts": self.counts, "results": self.results,
                "faults": self.faults, "office": self.office, "violations": self.violations,
                "digest": self.digest, "seconds": round(self.seconds, 2)}


class Simulation:
    """One run: set up the fleet, play the rounds, settle, check."""

    def __init__(self, config: SimConfig, network: Network | None = None, clock: SimClock | None = None) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.clock = clock or SimClock()
        self._own_dir = config.workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="fieldsync-sim-")) if config.workdir is None else config.workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        db_url = config.db_url or f"sqlite:///{self.workdir / 'server.db'}"
        self.network: Network = network or InProcessNetwork(db_url, self.clock)
        self.faults = Faults.on() if config.faults else Faults()
        self.stats: Counter[str] = Counter()
        self.office: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.devices: list[SimDevice] = []
        self.engineers: list[str] = []
        self.labels: dict[str, str] = {}  # job id -> stable label
        self.serials: dict[str, list[str]] = {}
        self.tickets = 0

    # -- setup ------------------------------------------------------------
    def setup(self) -> None:
        svc = self.network.services
        seed_demo(svc)
        with svc.db.read() as tx:
            for r in tx.query("SELECT j.id, t.title FROM jobs j JOIN tickets t ON t.id = j.ticket_id"):
                self.labels[r["id"]] = "demo:" + r["title"]
        n = self.config.devices
        engineers = max(2, n - n // 3)
        self.engineers = ["e-ana", "e-ben", "e-chen"][:engineers]

        for k in range(len(self.engineers), engineers):
            eid = f"e-sim{k:03d}"
            catalog.create_engineer(svc, EngineerIn(id=eid, name=f"Sim Engineer {k}", skills=["boiler"]))
            for part_no in ("P-VALVE", "P-IGN", "P-SEAL"):
                catalog.record_movement(svc, MovementIn(kind="adjust", part_no=part_no, qty=5,
                                                        to_location=f"van-{eid}"))
            for m in range(2):
                catalog.record_movement(svc, MovementIn(kind="adjust", part_no="P-PCB", qty=1,
                                                        serial=f"PCB-{eid}-{m}", to_location=f"van-{eid}"))
            self.engineers.append(eid)
        for eid in self.engineers:
            self.serials[eid] = [f"PCB-{eid}-0", f"PCB-{eid}-1"]
            for _ in range(self.config.jobs_per_engineer):
                self.new_job(eid)
        for i in range(n):
            eid = self.engineers[i % len(self.engineers)]
            dev = SimDevice(index=i, engineer_id=eid, path=self.workdir / f"tablet-{i:03d}.db",
                            skew_ms=self.rng.choice([0, 0, 0, 90_000, -45_000, 3 * 3600_000]))
            self.open(dev)
            token, _ = issue_enroll_token(svc, eid)
            assert dev.client is not None
            dev.client.enroll(token, name=dev.label)
            self.devices.append(dev)

    def new_job(self, engineer_id: str) -> str:
        svc = self.network.services
        self.tickets += 1
        label = f"T{self.tickets:04d}"
        t = tickets.create_ticket(svc, TicketIn(customer=f"Customer {label}", site="Plant room",
                                                priority=self.rng.choice(["P1", "P2", "P3"]), title=label), "sim")
        t = tickets.create_job(svc, t.id, JobIn(engineer_id=engineer_id, checklist_template="boiler-service",
                                                scheduled_start=instant_of(START_MS + self.tickets)))
        job_id = t.jobs[-1].id
        self.labels[job_id] = label
        return job_id

    def open(self, dev: SimDevice) -> None:
        transport = FaultyTransport(dev, self.network, self.rng, self.faults, self.stats)
        dev.client = FieldClient.open(dev.path, transport=transport, clock=lambda: self.clock() + dev.skew_ms)

    def crash(self, dev: SimDevice) -> None:
        """The tablet died: close it and open the same file again, as after a power cut."""
        assert dev.client is not None
        dev.client.close()
        self.stats["device_crashes"] += 1
        self.open(dev)

    # -- rounds -----------------------------------------------------------
    def play(self) -> None:
        for rnd in range(self.config.rounds):
            for dev in self.devices:
                dev.round = rnd
                if self.faults.partition and dev.offline_until < rnd and self.rng.random() < self.faults.partition:
                    dev.offline_until = rnd + self.rng.randint(0, 3)
                    self.stats["partitions"] += 1
            for dev in self.devices:
                for _ in range(self.rng.randint(1, 4)):
                    self.work(dev)
                if self.rng.random() < 0.75:
                    self.sync(dev)
            self.back_office()
            if self.rng.random() < self.faults.restart:
                self.network.restart()
                self.stats["server_restarts"] += 1
            self.clock.advance(ROUND_MS)

    def sync(self, dev: SimDevice, faulty: bool = True) -> Any:
        assert dev.client is not None

        def progress(phase: str, done: int, total: int) -> None:
            if faulty and done and self.rng.random() < self.faults.crash_in_progress:
                self.stats["crashes_in_progress"] += 1
                raise DeviceCrash(f"crashed during {phase}")

        self.clock.advance(STEP_MS)
        try:
            report = dev.client.sync(progress)
        except DeviceCrash:
            self.crash(dev)
            return None
        self.counts["syncs"] += 1
        if report.offline:
            self.counts["syncs_offline"] += 1
        for e in report.errors:
            self.counts["sync_errors"] += 1
            if not faulty:
                dev.violations.append(f"{dev.label}: sync error while settling: {e}")
        return report

    def local_jobs(self, dev: SimDevice) -> list[Any]:
        assert dev.client is not None
        return sorted(dev.client.jobs(), key=lambda j: self.labels.get(j.id, j.id))

    def work(self, dev: SimDevice) -> None:
        """One realistic offline action on one of the device's jobs."""
        client = dev.client
        assert client is not None
        jobs = [j for j in self.local_jobs(dev) if j.status not in ("closed", "cancelled")]
        if not jobs:
            return
        job = self.rng.choice(jobs)
        self.clock.advance(STEP_MS)
        r = self.rng.random()
        try:
            if r < 0.35:
                self.walk_status(dev, job)
            elif r < 0.55:
                key = self.rng.choice(list(ITEM_VALUES))
                self.track(dev, client.answer(job.id, key, ITEM_VALUES[key](self.rng)), "checklist.answer", job.id)
            elif r < 0.68:
                name = self.rng.choice(["notes", "diagnosis", "resolution"])
                text = self.rng.choice(["Replaced igniter", "Flue blocked", "Pressure low", *SQLISH])
                self.track(dev, client.set_field(job.id, name, f"{text} #{self.rng.randint(1, 99)}"),
                           "job.field", job.id)
            elif r < 0.80:
                if self.rng.random() < 0.3:
                    serial = self.rng.choice(self.serials[dev.engineer_id])
                    op_id = client.use_part(job.id, "P-PCB", serial=serial,
                                            returned_serial=f"OLD-{self.rng.randint(1000, 9999)}")
                else:
                    op_id = client.use_part(job.id, self.rng.choice(["P-VALVE", "P-IGN", "P-SEAL"]),
                                            qty=self.rng.randint(1, 2))
                self.track(dev, op_id, "part.move", job.id)
            elif r < 0.88:
                photo = b"\xff\xd8\xff" + self.rng.randbytes(self.rng.randint(200, 4000))
                before = self.last_op(dev)
                client.attach(job.id, photo)
                after = self.last_op(dev)
                if after is not None and after != before:
                    self.track(dev, after, "attachment", job.id)
            else:
                if job.status in SIGNABLE_STATUSES and not job.signed_off:
                    before = self.last_op(dev)
                    client.sign_off(job.id, self.rng.choice(["Ada Customer", "O'Brien; --"]), STROKES)
                    after = self.last_op(dev)
                    assert after is not None and after != before
                    self.track(dev, after, "signoff", job.id)
                else:
                    self.walk_status(dev, job)
        except WriteRefused:
            self.counts["refused_locally"] += 1

    def walk_status(self, dev: SimDevice, job: Any) -> None:
        client = dev.client
        assert client is not None
        options = sorted(s for s in TRANSITIONS.get(job.status, frozenset()) if s in DEVICE_STATUSES)
        if not options:
            return
        target = self.rng.choice(options)
        if target == "completed":
            detail = client.job(job.id)
            for key in detail.missing_required:
                self.track(dev, client.answer(job.id, key, ITEM_VALUES[key](self.rng)), "checklist.answer", job.id)
        hold = self.rng.choice(HOLD_REASONS) if target == "on_hold" else None
        self.track(dev, client.set_status(job.id, target, hold_reason=hold), "job.status", job.id)

    def track(self, dev: SimDevice, op_id: str, kind: str, job_id: str) -> None:
        dev.written[op_id] = (kind, job_id)
        self.counts["ops_written"] += 1

    @staticmethod
    def last_op(dev: SimDevice) -> str | None:
        assert dev.client is not None
        pending = dev.client.pending()
        return pending[-1].op_id if pending else None

    def back_office(self) -> None:
        svc = self.network.services
        with svc.db.read() as tx:
            jobs = sorted(tx.query("SELECT id, engineer_id, status FROM jobs"), key=lambda j: self.labels[j["id"]])
            open_conflicts = tx.query("SELECT id, kind, job_id, key, vals FROM conflicts WHERE status = 'open'")
        try:
            if self.rng.random() < 0.25 and jobs:
                job = self.rng.choice(jobs)
                others = [e for e in self.engineers if e != job["engineer_id"]]
                tickets.assign_job(svc, job["id"], AssignIn(engineer_id=self.rng.choice(others)), "dispatcher")
                self.office["reassigned"] += 1
            if self.rng.random() < 0.15:
                cancellable = [j for j in jobs if can_transition(j["status"], "cancelled")]
                if cancellable:
                    job = self.rng.choice(cancellable)
                    tickets.set_job_status_office(svc, job["id"], "cancelled", "dispatcher")
                    self.office["cancelled"] += 1
            if self.rng.random() < 0.3:
                self.new_job(self.rng.choice(self.engineers))
                self.office["created"] += 1
            if open_conflicts and self.rng.random() < 0.5:
                ordered = sorted(open_conflicts, key=lambda c: (self.labels[c["job_id"]], c["kind"], c["key"],
                                                                c["vals"]))
                for c in ordered[: self.rng.randint(1, 3)]:
                    vals = json.loads(c["vals"])
                    conflicts.resolve(svc, c["id"], ResolveIn(choice=self.rng.randrange(len(vals)),
                                                              comment="sim"), "backoffice")
                    self.office["resolved"] += 1
        except DomainError as exc:
            self.office[f"refused:{exc.code}"] += 1

    # -- settle and check ---------------------------------------------------
    def settle(self, max_passes: int = 12) -> None:
        """Faults off, partitions healed: every device syncs until a whole pass moves nothing."""
        for f in fields(Faults):
            setattr(self.faults, f.name, 0.0)  # the transports share this object
        for dev in self.devices:
            dev.offline_until = -1
        for _ in range(max_passes):
            quiet = True
            for dev in self.devices:
                report = self.sync(dev, faulty=False)
                if report is None or report.pushed_ops or report.pulled_changes or report.errors or report.offline:
                    quiet = False
            self.counts["settle_passes"] += 1
            if quiet:
                return
        self.devices[0].violations.append(f"devices did not go quiet after {max_passes} passes")

    def run(self) -> SimReport:
        started = time.perf_counter()
        logging.getLogger("httpx").setLevel(logging.WARNING)
        try:
            self.setup()
            self.play()
            self.settle()
            violations, results, digest_src = check_run(self)
        finally:
            self.close()
        return SimReport(
            config={"devices": self.config.devices, "seed": self.config.seed, "faults": self.config.faults,
                    "rounds": self.config.rounds, "engineers": len(self.engineers)},
            counts=dict(sorted(self.counts.items())), results=results,
            faults=dict(sorted(self.stats.items())), office=dict(sorted(self.office.items())),
            violations=violations, digest=hashlib.sha256(digest_src.encode()).hexdigest()[:16],
            seconds=time.perf_counter() - started)

    def close(self) -> None:
        for dev in self.devices:
            if dev.client is not None:
                dev.client.close()
                dev.client = None
        self.network.close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)


# -- the checks ---------------------------------------------------------------


@contextmanager
def _read(sim: Simulation) -> Iterator[Any]:
    with sim.network.services.db.read() as tx:
        yield tx


def server_results(tx: Any) -> tuple[dict[str, list[tuple[str, OpResult]]], dict[str, int]]:
    """Every op result in every stored receipt: op_id -> [(device_id, result)], and each device's last seq."""
    out: dict[str, list[tuple[str, OpResult]]] = {}
    heads: dict[str, int] = {}
    for r in tx.query("SELECT device_id, seq, op_count, receipt FROM changesets"):
        receipt = receipt_decoder.decode(signed_decoder.decode(bytes(r["receipt"])).body)
        if len(receipt.results) != r["op_count"]:
            raise AssertionError(f"receipt {r['device_id']}/{r['seq']} has {len(receipt.results)} results "
                                 f"for {r['op_count']} ops")
        for res in receipt.results:
            out.setdefault(res.op_id, []).append((r["device_id"], res))
    for d in tx.query("SELECT id, last_seq FROM devices"):
        heads[d["id"]] = int(d["last_seq"])
    return out, heads


def check_run(sim: Simulation) -> tuple[list[str], dict[str, int], str]:
    """Check every promise; return (violations, result counts, the canonical text the digest hashes)."""
    v: list[str] = [x for d in sim.devices for x in d.violations]
    results: Counter[str] = Counter()
    canon: list[str] = []
    with _read(sim) as tx:
        by_op, heads = server_results(tx)
        conflict_ids = {r["id"]: r for r in tx.query("SELECT id, kind, job_id FROM conflicts")}
        movements = tx.query("SELECT id, kind, job_id FROM movements WHERE source = 'device'")
        signoffs = {r["job_id"]: r for r in tx.query("SELECT job_id, device_id, report_digest FROM signoffs")}
        jobs = {r["id"]: r for r in tx.query("SELECT * FROM jobs")}
        answers: dict[str, dict[str, Any]] = {}
        for a in tx.query("SELECT job_id, item_key, value FROM answers WHERE deleted = 0"):
            answers.setdefault(a["job_id"], {})[a["item_key"]] = json.loads(a["value"])
        job_moves: dict[str, set[str]] = {}
        for m in tx.query("SELECT id, job_id FROM movements WHERE job_id IS NOT NULL"):
            job_moves.setdefault(m["job_id"], set()).add(m["id"])
        attachments: dict[str, set[str]] = {}
        for at in tx.query("SELECT job_id, sha256 FROM attachments WHERE deleted = 0"):
            attachments.setdefault(at["job_id"], set()).add(at["sha256"])
    applied_consumes: set[str] = set()
    signoff_writes: Counter[str] = Counter()
    for dev in sim.devices:
        client = dev.client
        assert client is not None
        device_id = client.device_id or ""
        local = {o.op_id: o for o in client.op_results()}
        if client.pending():
            v.append(f"{dev.label}: {len(client.pending())} ops still in the outbox after settling")
        head = int(client._store.read.scalar("SELECT head_seq FROM device WHERE id = 1") or 0)
        if head != heads.get(device_id, -1):
            v.append(f"{dev.label}: chain head {head} != server last_seq {heads.get(device_id)}")
        for op_id, (kind, job_id) in dev.written.items():
            seen = by_op.get(op_id, [])
            if len(seen) != 1:
                v.append(f"{dev.label}: op {op_id} ({kind}) has {len(seen)} results on the server")
                continue
            owner, res = seen[0]
            if owner != device_id:
                v.append(f"{dev.label}: op {op_id} is recorded for device {owner}")
            results[res.result] += 1
            results[f"{kind}:{res.result}"] += 1
            mine = local.get(op_id)
            if mine is None or mine.result != res.result:
                v.append(f"{dev.label}: op {op_id} local result {mine and mine.result} != server {res.result}")
            if res.result == "rejected" and not res.reason:
                v.append(f"{dev.label}: op {op_id} rejected without a reason")
            if res.result == "needs_review" and res.conflict_id not in conflict_ids:
                v.append(f"{dev.label}: {kind} op {op_id} ({res.reason}) points at a missing conflict "
                         f"{res.conflict_id}")
            # a part used on a job reassigned away is in the ledger too (its visit goes to review, the part is gone)
            if kind == "part.move" and (res.result == "applied" or res.reason == "job_reassigned"):
                applied_consumes.add(op_id)
            if kind == "signoff" and (res.result == "applied" or (res.reason or "").startswith("signed_off_in_")):
                signoff_writes[job_id] += 1
        v += _check_agreement(sim, dev, jobs, answers, job_moves, attachments)
    consumes = {m["id"] for m in movements if m["kind"] == "consume"}
    if consumes != applied_consumes:
        v.append(f"ledger: {len(consumes - applied_consumes)} consume movements without an applied op, "
                 f"{len(applied_consumes - consumes)} applied consume ops without a movement")
    for job_id, n in signoff_writes.items():
        if n != 1:
            v.append(f"sign-off of {sim.labels.get(job_id)} written {n} times")
    if set(signoffs) != set(signoff_writes):
        v.append(f"sign-offs on the server {len(signoffs)} != sign-off writes acknowledged {len(signoff_writes)}")
    written_ids = {op for d in sim.devices for op in d.written}
    stray = set(by_op) - written_ids
    if stray:
        v.append(f"{len(stray)} op results on the server for ops no device wrote")
    counts = sim.counts
    counts["movements_consume"] = len(consumes)
    counts["signoffs"] = len(signoffs)
    counts["conflicts"] = len(conflict_ids)
    counts["jobs"] = len(jobs)
    for label, job_id in sorted((sim.labels[j], j) for j in jobs):
        row = jobs[job_id]
        canon.append(json.dumps([label, row["engineer_id"], row["status"], row["notes"], row["diagnosis"],
                                 row["resolution"], bool(row["signed_off"]), answers.get(job_id, {}),
                                 len(job_moves.get(job_id, ())), sorted(attachments.get(job_id, ()))],
                                sort_keys=True))
    canon.append(json.dumps([dict(sorted(results.items())), dict(sorted(sim.stats.items())),
                             dict(sorted(sim.office.items())), dict(sorted(counts.items()))], sort_keys=True))
    return v, dict(sorted(results.items())), "\n".join(canon)


def _check_agreement(sim: Simulation, dev: SimDevice, jobs: dict[str, Any], answers: dict[str, dict[str, Any]],
                     job_moves: dict[str, set[str]], attachments: dict[str, set[str]]) -> list[str]:
    """The device's jobs are exactly the server's jobs for its engineer, field by field."""
    client = dev.client
    assert client is not None
    v: list[str] = []
    mine = {j.id: j for j in client.jobs()}
    scope = {jid for jid, r in jobs.items() if r["engineer_id"] == dev.engineer_id}
    if set(mine) != scope:
        v.append(f"{dev.label}: holds {len(mine)} jobs, the server scopes {len(scope)} "
                 f"(extra {sorted(sim.labels.get(j, j) for j in set(mine) - scope)}, "
                 f"missing {sorted(sim.labels.get(j, j) for j in scope - set(mine))})")
    for job_id in sorted(set(mine) & scope, key=lambda j: sim.labels[j]):
        local, server = mine[job_id], jobs[job_id]
        label = sim.labels[job_id]
        for name in ("status", "hold_reason", "notes", "diagnosis", "resolution"):
            if getattr(local, name) != server[name]:
                v.append(f"{dev.label}: {label}.{name} local {getattr(local, name)!r} != server {server[name]!r}")
        if local.signed_off != bool(server["signed_off"]):
            v.append(f"{dev.label}: {label}.signed_off local {local.signed_off} != server")
        detail = client.job(job_id)
        local_answers = {a.item_key: a.value for a in detail.answers}
        if local_answers != answers.get(job_id, {}):
            v.append(f"{dev.label}: {label} answers local {local_answers} != server {answers.get(job_id, {})}")
        if {m.id for m in detail.parts} != job_moves.get(job_id, set()):
            v.append(f"{dev.label}: {label} parts lines differ from the server's ledger")
        if {a.sha256 for a in detail.attachments} != attachments.get(job_id, set()):
            v.append(f"{dev.label}: {label} attachments differ from the server's")
    return v


def run_simulation(config: SimConfig, network: Network | None = None, clock: SimClock | None = None) -> SimReport:
    """Set up, play, settle and check one simulated fleet."""
    return Simulation(config, network, clock).run()


def format_report(report: SimReport) -> str:
    """The human-readable summary printed by ``fieldsync simulate``."""
    lines = [f"fleet simulation: {report.config['devices']} devices / {report.config['engineers']} engineers, "
             f"seed {report.config['seed']}, {report.config['rounds']} rounds, "
             f"faults {'on' if report.config['faults'] else 'off'}"]
    for title, table in (("counts", report.counts), ("results", report.results), ("faults", report.faults),
                         ("back office", report.office)):
        if table:
            lines.append(f"{title}: " + ", ".join(f"{k}={n}" for k, n in table.items()))
    lines.append(f"digest {report.digest} in {report.seconds:.1f}s")
    if report.violations:
        lines.append(f"VIOLATIONS ({len(report.violations)}):")
        lines += [f"  - {x}" for x in report.violations[:200]]
    else:
        lines.append("OK: every acknowledged op has exactly one result; devices agree with the server")
    return "\n".join(lines)


def report_json(report: SimReport) -> str:
    """The report as one JSON object."""
    return msgspec.json.encode(report.to_dict()).decode()
