"""``fieldsync bench`` in a tiny configuration on both backends: the output shape, not the speed.

Operators and the README rely on one JSON object per scenario and backend with
the same keys every run; timing is the benchmark's business, not CI's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_BASE, require_pg

KEYS = {"scenario", "backend", "ops", "seconds", "ops_per_s", "p50_ms", "p99_ms", "peak_rss_mb"}


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIELDSYNC_TEST_PG": PG_BASE}
    return subprocess.run([sys.executable, "-m", "fieldsync", "bench", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def test_bench_json_lines_cover_every_scenario_on_both_backends() -> None:
    require_pg()
    done = run_bench("--json", "--scale", "0.01", "--backend", "all")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    seen = {(r["scenario"], r["backend"]) for r in rows}
    for backend in ("sqlite", "postgresql"):
        for scenario in ("push_day", "pull_bootstrap", "fleet", "fleet_spread", "fleet_sync", "sla_recompute",
                         "weak_link", "weak_link_pull", "big_scope"):
            assert (scenario, backend) in seen
    assert ("sdk_write", "tablet") in seen and ("sdk_write_batch", "tablet") in seen
    assert ("big_scope_browser", "sqlite") in seen  # measured, or saying why not (no Chromium or Playwright)
    rows = [r for r in rows if r.get("measured", True)]
    for r in rows:
        assert KEYS <= r.keys(), r
        assert r["ops"] > 0 and r["seconds"] > 0 and r["ops_per_s"] > 0
        assert r["p99_ms"] >= r["p50_ms"] >= 0
        assert r.get("errors", 0) == 0, r
    for r in rows:
        if r["scenario"] in ("push_day", "sdk_write", "sdk_write_batch"):
            assert r["floor_ops_per_s"] > 0
        if r["backend"] != "tablet":
            assert r["peak_rss_mb"] > 0
    fleet = [r for r in rows if r["scenario"].startswith("fleet")]
    assert all(r["devices_done"] == r["devices"] and r["outcomes"] == r["devices"] for r in fleet)
    for r in fleet:  # accepted answers on the accepted path, every op's outcome in hand, none pending
        assert r["accepted_answers"] == (r["devices"] if r["path"] == "accepted" else 0), r
        assert r["outcomes_pending_ops"] == 0 and r["p99_outcome_ms"] >= r["p50_outcome_ms"] > 0, r
    for r in rows:
        if r["scenario"].startswith("weak_link"):  # the link carried bytes both ways, and today's floor is there
            assert r["link_up_bytes"] > 0 and r["link_down_bytes"] > 0 and r["today_bytes"] > 0, r
            assert r["today_raw_s"] > 0 and r["time_ratio"] > 0 and r["bytes_ratio"] > 0, r
        if r["scenario"] == "big_scope":  # the whole scope arrived, then exactly the 10 new changes
            assert r["ops"] >= r["records"] > 0 and r["incremental_pulled"] == 10 and r["tablet_peak_rss_mb"] > 0, r
        if r["scenario"] == "big_scope_browser":  # the web app in Chromium holds the same scope, 10 changes on
            assert r["ops"] >= r["records"] > 0 and r["js_heap_peak_mb"] > 0 and r["chromium_pss_peak_mb"] > 0, r


def test_the_weak_link_proxy_is_deterministic_and_counts_bytes() -> None:
    """The same seed cuts at the same points; the bytes it forwards are counted each way."""
    import contextlib
    import socket
    import threading

    from tools.linkproxy import LinkProxy

    def echo_server() -> tuple[socket.socket, int]:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen()

        def serve() -> None:
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                with contextlib.suppress(OSError), conn:  # the proxy resets the connections it cuts
                    while data := conn.recv(65536):
                        conn.sendall(data)

        threading.Thread(target=serve, daemon=True).start()
        return srv, srv.getsockname()[1]

    def run(seed: int) -> list[int]:
        srv, port = echo_server()
        try:
            with LinkProxy("127.0.0.1", port, rate_bps=80_000_000, rtt_ms=0, cut_mean_bytes=20_000,
                           seed=seed) as proxy:
                for _ in range(5):
                    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
                        s.settimeout(5)
                        try:
                            s.sendall(b"x" * 100_000)
                            got = 0
                            while got < 100_000:
                                data = s.recv(65536)
                                if not data:
                                    break
                                got += len(data)
                        except OSError:
                            pass
                assert proxy.stats.connections == 5 and proxy.stats.up_bytes > 0
                return proxy.stats.cut_points
        finally:
            srv.close()

    first = run(3)
    assert len(first) == 5 and first == run(3)


def test_bench_readable_table_for_one_scenario() -> None:
    done = run_bench("--scale", "0.01", "--backend", "sqlite", "--scenario", "sla_recompute")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["scenario", "backend", "ops", "seconds"]
    assert lines[1].startswith("sla_recompute") and "sqlite" in lines[1]


@pytest.mark.parametrize("args", [["--scenario", "nope"], ["--scale", "0"]])
def test_bench_bad_usage_exits_2(args: list[str]) -> None:
    done = run_bench("--backend", "sqlite", *args)
    assert done.returncode == 2
    assert "error:" in done.stderr


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def test_sigterm_stops_the_bench_with_its_server_and_scratch_files(tmp_path: Path) -> None:
    """An operator's ``kill`` leaves no server subprocess or scratch database behind."""
    import signal
    import time

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    bench = subprocess.Popen([sys.executable, "-m", "fieldsync", "bench", "--json", "--backend", "sqlite",
                              "--scenario", "fleet", "--scale", "0.05"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not [p for p in processes_mentioning(str(tmp_path)) if p != bench.pid]:  # its server is up
            assert bench.poll() is None and time.monotonic() < deadline, bench.stderr.read() if bench.stderr else ""
            time.sleep(0.05)
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if bench.poll() is None:
            bench.kill()
    deadline = time.monotonic() + 20
    while processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_mentioning(str(tmp_path)) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("fieldsync-bench-")] == []
