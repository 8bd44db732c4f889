"""The fleet simulation in CI: a small seed set with and without faults, and same seed -> same run.

Each run drives real tablets (``FieldClient`` on SQLite files) against the real
app over a faulty transport and then checks that no acknowledged op was lost,
doubled or left unexplained, and that every device agrees with the server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fieldsync.cli import main
from tools.fleet_sim import SimConfig, run_simulation


@pytest.mark.parametrize("faults", [False, True], ids=["clean", "faults"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fleet_keeps_every_acknowledged_op(seed: int, faults: bool, tmp_path: Path) -> None:
    report = run_simulation(SimConfig(devices=6, seed=seed, faults=faults, rounds=12, workdir=tmp_path))
    assert report.violations == []
    assert report.counts["ops_written"] > 50
    # every written op is accounted for by exactly one result kind
    kinds = ("applied", "merged", "rejected", "needs_review")
    assert sum(report.results.get(k, 0) for k in kinds) == report.counts["ops_written"]
    assert report.results.get("needs_review", 0) > 0  # conflicting work really happened
    if faults:
        for fault in ("dropped_responses", "device_crashes", "partitions"):
            assert report.faults.get(fault, 0) > 0, fault


def test_same_seed_same_run(tmp_path: Path) -> None:
    first = run_simulation(SimConfig(devices=5, seed=7, faults=True, rounds=10, workdir=tmp_path / "a"))
    second = run_simulation(SimConfig(devices=5, seed=7, faults=True, rounds=10, workdir=tmp_path / "b"))
    other = run_simulation(SimConfig(devices=5, seed=8, faults=True, rounds=10, workdir=tmp_path / "c"))
    assert first.ok and second.ok and other.ok
    assert first.digest == second.digest
    assert first.counts == second.counts and first.faults == second.faults and first.results == second.results
    assert other.digest != first.digest


def test_fleet_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    report = run_simulation(SimConfig(devices=4, seed=5, faults=True, rounds=8, db_url=pg_url, workdir=tmp_path))
    assert report.violations == []


def test_cli_prints_json_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "--devices", "3", "--seed", "4", "--rounds", "4", "--faults", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["ok"] is True and out["violations"] == []
    assert out["config"] == {"devices": 3, "seed": 4, "faults": True, "rounds": 4, "engineers": 2}


def test_cli_refuses_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--devices", "0"]) == 2
