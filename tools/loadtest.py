"""``fieldsync loadtest``: many device sessions pushing and pulling against a running server.

Each session is a real protocol device (its own Ed25519 key, a hash-chained
change-set log, a pull cursor) driven by one asyncio task over one shared
``httpx.AsyncClient``: open a session by signing a nonce, then loop ``push``
(a signed change-set of 1-3 ops on one of its engineer's jobs) and ``pull``
(its scope after its cursor) until the time is up.  Devices are provisioned
through the enrollment service on the server's database (bypassing the
per-host enrollment rate limit, which exists to stop exactly this kind of
burst from one address).

Without ``--url`` the command starts ``fieldsync serve`` itself on a fresh
SQLite file (or ``--db``) on a free loopback port, and samples the server's
resident memory every second, so the report shows whether it stays flat.
Reported: requests and ops per second, p50/p95/p99 latency per request kind,
errors by kind, and the RSS samples.  Exit 1 on any error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas.codec import challenge_decoder, encode, pull_page_decoder, session_decoder, signed_decoder
from schemas.records import JobRecord, JobRemovedRecord
from schemas.wire import EnrollRequest, Op, PullRequest, SessionRequest, SetField
from server.domain.devices.service import enroll, issue_enroll_token
from server.services import Services
from server.settings import get_settings
from sync.core import hlc
from sync.core.changeset import ChainHead, seal
from sync.storage import open_database
from tools.demo_data import seed_demo

MSGPACK = "application/msgpack"


@dataclass
class LoadDevice:
    """One simulated tablet session."""

    device_id: str
    engineer_id: str
    key: Ed25519PrivateKey
    head: ChainHead = field(default_factory=lambda: ChainHead(0, ""))
    cursor: str = ""
    token: str = ""
    last_hlc: int = 0
    jobs: list[str] = field(default_factory=list)


@dataclass
class Stats:
    """Latencies (seconds) per request kind, errors by kind, op count."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    ops: int = 0
    retries: int = 0

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def rss_kib(pid: int) -> int | None:
    """Resident set size of a process and its children (KiB), from /proc; None when unavailable."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total or None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db_url: str, port: int, workers: int = 1, *, merger: bool = True) -> subprocess.Popen[bytes]:
    """Start ``fieldsync serve`` (scheduler off; ``merger=False``: it accepts change-sets but merges none)."""
    env = {**os.environ, "FIELDSYNC_SCHEDULER": "0", "FIELDSYNC_MERGER": "1" if merger else "0"}
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--db", db_url, "--port", str(port),
                             "--workers", str(workers), "--log-level", "warning"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"fieldsync serve exited with {proc.returncode}: {err[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("fieldsync serve did not come up within 60 s")


def provision(db_url: str, sessions: int, create: bool = True) -> list[LoadDevice]:
    """Enroll ``sessions`` devices spread over the engineers (seeding demo data into an empty database).

    ``create=False`` (a server of the caller's, ``--url``): its database must exist already.
    """
    svc = Services(db=open_database(db_url, create=create),
                   settings=get_settings(db_url=db_url, run_scheduler=False))
    try:
        with svc.db.read() as tx:
            engineers = [r["id"] for r in tx.query("SELECT id FROM engineers WHERE active = 1 ORDER BY id")]
        if not engineers:
            seed_demo(svc)
            with svc.db.read() as tx:
                engineers = [r["id"] for r in tx.query("SELECT id FROM engineers ORDER BY id")]
        devices = []
        for i in range(sessions):
            eid = engineers[i % len(engineers)]
            key = Ed25519PrivateKey.generate()
            token, _ = issue_enroll_token(svc, eid)
            public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            e = enroll(svc, EnrollRequest(token=token, public_key=public, name=f"load-{i}"))
            devices.append(LoadDevice(device_id=e.device_id, engineer_id=eid, key=key))
        return devices
    finally:
        svc.db.close()


async def _post(client: httpx.AsyncClient, stats: Stats, kind: str, path: str, body: bytes,
                token: str | None = None) -> httpx.Response | None:
    headers = {"content-type": MSGPACK, "accept": f"{MSGPACK}, application/problem+json"}
    if token:
        headers["authorization"] = f"Device {token}"
    started = time.perf_counter()
    try:
        try:
            r = await client.post(path, content=body, headers=headers)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # the server closed an idle keep-alive connection as we reused it: send again once, as a tablet
            # would on its next sync (safe: pushes are exactly-once, pulls and challenges are reads)
            stats.retries += 1
            started = time.perf_counter()
            r = await client.post(path, content=body, headers=headers)
    except httpx.HTTPError as exc:
        stats.errors[f"{kind}:{type(exc).__name__}"] += 1
        return None
    stats.add(kind, time.perf_counter() - started)
    if r.status_code != 200:
        try:
            code = r.json().get("code", r.status_code)
        except ValueError:
            code = r.status_code
        stats.errors[f"{kind}:{code}"] += 1
        return None
    return r


async def _open_session(client: httpx.AsyncClient, dev: LoadDevice, stats: Stats) -> bool:
    r = await _post(client, stats, "challenge", "/v1/devices/challenge", encode({"device_id": dev.device_id}))
    if r is None:
        return False
    nonce = challenge_decoder.decode(r.content).nonce
    req = SessionRequest(device_id=dev.device_id, nonce=nonce, signature=dev.key.sign(nonce.encode()),
                         device_clock=int(time.time() * 1000))
    r = await _post(client, stats, "session", "/v1/devices/session", encode(req))
    if r is None:
        return False
    dev.token = session_decoder.decode(r.content).token
    return True


async def _pull(client: httpx.AsyncClient, dev: LoadDevice, stats: Stats) -> None:
    while True:
        body = encode(PullRequest(cursor=dev.cursor, limit=500, device_clock=int(time.time() * 1000)))
        r = await _post(client, stats, "pull", "/v1/sync/pull", body, dev.token)
        if r is None:
            return
        page = pull_page_decoder.decode(signed_decoder.decode(r.content).body)
        for ch in page.changes:
            if isinstance(ch, JobRecord) and ch.id not in dev.jobs:
                dev.jobs.append(ch.id)
            elif isinstance(ch, JobRemovedRecord) and ch.id in dev.jobs:
                dev.jobs.remove(ch.id)
        dev.cursor = page.cursor
        if not page.more:
            return


async def _push(client: httpx.AsyncClient, dev: LoadDevice, stats: Stats, rng: random.Random) -> None:
    if not dev.jobs:
        return
    now = int(time.time() * 1000)
    ops: list[Op] = []
    for _ in range(rng.randint(1, 3)):
        dev.last_hlc = hlc.tick(dev.last_hlc, now)
        ops.append(SetField(op_id=uuid.uuid4().hex, hlc=dev.last_hlc, job_id=rng.choice(dev.jobs), at=now,
                            field="notes", value=f"load {dev.device_id} {dev.last_hlc}"))
    envelope, head = seal(dev.key, dev.device_id, dev.head, ops, now)
    r = await _post(client, stats, "push", "/v1/sync/push", envelope, dev.token)
    if r is not None:
        dev.head = head
        stats.ops += len(ops)


async def _session(client: httpx.AsyncClient, dev: LoadDevice, stats: Stats, until: float, seed: int) -> None:
    rng = random.Random(seed)
    await asyncio.sleep(rng.random())  # spread the start over a second
    if not await _open_session(client, dev, stats):
        return
    await _pull(client, dev, stats)
    while time.monotonic() < until:
        await _push(client, dev, stats, rng)
        await _pull(client, dev, stats)


async def _sample_rss(pid: int | None, until: float, samples: list[tuple[float, int]]) -> None:
    start = time.monotonic()
    while pid is not None and time.monotonic() < until:
        kib = rss_kib(pid)
        if kib is not None:
            samples.append((round(time.monotonic() - start, 1), kib))
        await asyncio.sleep(1.0)


async def drive(url: str, devices: list[LoadDevice], seconds: float, server_pid: int | None) -> dict[str, Any]:
    """Run every session for ``seconds``; return the report."""
    stats = Stats()
    samples: list[tuple[float, int]] = []
    limits = httpx.Limits(max_connections=min(len(devices), 256), max_keepalive_connections=min(len(devices), 256))
    started = time.monotonic()
    until = started + seconds
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(120.0)) as client:
        await asyncio.gather(_sample_rss(server_pid, until, samples),
                             *(_session(client, d, stats, until, i) for i, d in enumerate(devices)))
    elapsed = time.monotonic() - started
    requests = sum(len(v) for v in stats.latencies.values())
    latency = {kind: {"n": len(v), "p50_ms": round(percentile(v, 50) * 1000, 1),
                      "p95_ms": round(percentile(v, 95) * 1000, 1), "p99_ms": round(percentile(v, 99) * 1000, 1)}
               for kind, v in sorted(stats.latencies.items())}
    rss = [kib for _, kib in samples]
    return {"sessions": len(devices), "seconds": round(elapsed, 1), "requests": requests,
            "requests_per_s": round(requests / elapsed, 1), "ops_pushed": stats.ops,
            "ops_per_s": round(stats.ops / elapsed, 1), "latency": latency,
            "errors": dict(sorted(stats.errors.items())), "error_count": sum(stats.errors.values()),
            "keepalive_retries": stats.retries,
            "rss_kib": {"first": rss[0] if rss else None, "max": max(rss) if rss else None,
                        "last": rss[-1] if rss else None, "samples": samples}}


def run_load(sessions: int, seconds: float, url: str | None = None, db_url: str | None = None,
             server_pid: int | None = None, workers: int = 1) -> dict[str, Any]:
    """Provision, (start a server,) drive, stop; return the report."""
    tmp: tempfile.TemporaryDirectory[str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    if db_url is None:
        if url is not None:
            raise ValueError("--url needs --db: the devices are enrolled on the server's database")
        tmp = tempfile.TemporaryDirectory(prefix="fieldsync-load-")
        db_url = f"sqlite:///{Path(tmp.name) / 'load.db'}"
    try:
        devices = provision(db_url, sessions, create=url is None)
        if url is None:
            port = free_port()
            proc = start_server(db_url, port, workers)
            url, server_pid = f"http://127.0.0.1:{port}", proc.pid
        report = asyncio.run(drive(url, devices, seconds, server_pid))
        report["url"] = url
        report["workers"] = workers if proc is not None else None
        report["db"] = db_url.split("?")[0] if db_url.startswith("sqlite") else "postgresql"
        return report
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if tmp is not None:
            tmp.cleanup()


def format_report(r: dict[str, Any]) -> str:
    """Human-readable summary."""
    lines = [f"loadtest: {r['sessions']} sessions for {r['seconds']} s against {r['url']} ({r['db']}, "
             f"workers {r['workers'] or '?'})",
             f"throughput: {r['requests_per_s']} requests/s, {r['ops_per_s']} ops/s "
             f"({r['requests']} requests, {r['ops_pushed']} ops)"]
    for kind, s in r["latency"].items():
        lines.append(f"  {kind:<9} n={s['n']:<7} p50={s['p50_ms']} ms  p95={s['p95_ms']} ms  p99={s['p99_ms']} ms")
    rss = r["rss_kib"]
    if rss["first"] is not None:
        mib = [round(k / 1024, 1) for _, k in rss["samples"]]
        lines.append(f"server RSS MiB: first {mib[0]}, max {max(mib)}, last {mib[-1]}; "
                     f"samples {mib[:: max(1, len(mib) // 12)]}")
    lines.append(f"errors: {r['error_count']} {r['errors'] or ''}".rstrip()
                 + f" (keep-alive resends: {r['keepalive_retries']})")
    return "\n".join(lines)


def run_cli(args: argparse.Namespace) -> int:
    """Entry point wired by ``tools.cli`` (``fieldsync loadtest``)."""
    if args.sessions < 1 or args.seconds <= 0:
        print("error: --sessions and --seconds must be positive", file=sys.stderr)
        return 2
    try:
        report = run_load(args.sessions, args.seconds, url=args.url, db_url=args.db, server_pid=args.server_pid,
                          workers=args.workers)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report) if args.json else format_report(report))
    return 0 if report["error_count"] == 0 else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.loadtest``: the same options as ``fieldsync loadtest``."""
    return run_cli(build_parser().parse_args(argv))


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The loadtest options (shared by the CLI subcommand and ``python -m``)."""
    p.add_argument("--sessions", type=int, default=500)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--url", default=None, help="a running server (default: start one on a temporary SQLite file)")
    p.add_argument("--db", default=None, help="the server's database URL (required with --url)")
    p.add_argument("--server-pid", type=int, default=None, help="sample this process's RSS (with --url)")
    p.add_argument("--workers", type=int, default=1, help="server worker processes when the command starts it")
    p.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.loadtest", description=__doc__.splitlines()[0])
    add_arguments(p)
    return p


if __name__ == "__main__":
    sys.exit(main())
