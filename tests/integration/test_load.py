"""The load test, tiny: device sessions pushing and pulling against a real ``fieldsync serve`` on loopback.

The full run (500 sessions, 60 s) is a documented command, not a CI test:
``fieldsync loadtest --sessions 500 --seconds 60``.  Here it runs small and
must finish with zero errors, every session having pushed through its chain.
"""

from __future__ import annotations

import json

import pytest

from fieldsync.cli import main
from tools.loadtest import percentile, run_load


def test_small_load_has_zero_errors_and_reports_memory() -> None:
    report = run_load(sessions=20, seconds=4)
    assert report["error_count"] == 0, report["errors"]
    assert report["ops_pushed"] > 0 and report["requests"] > report["sessions"] * 3
    assert set(report["latency"]) >= {"challenge", "session", "push", "pull"}
    assert report["latency"]["push"]["p50_ms"] <= report["latency"]["push"]["p99_ms"]
    assert report["rss_kib"]["samples"], "server memory was not sampled"


def test_cli_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loadtest", "--sessions", "5", "--seconds", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sessions"] == 5 and out["error_count"] == 0


def test_cli_refuses_url_without_db(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loadtest", "--url", "http://127.0.0.1:9", "--seconds", "1"]) == 2
    assert "--db" in capsys.readouterr().err


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) in (50.0, 51.0) and percentile(values, 99) == 99.0 and percentile([], 50) == 0.0
