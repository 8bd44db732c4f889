"""When is it due, asked of a real ``fieldsync serve`` and of the ``fieldsync sla due`` command.

The server runs with ``FIELDSYNC_TZ=Asia/Shanghai`` and ``FIELDSYNC_HOLIDAYS=CN``;
the command is a subprocess with the same environment on the same database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.livesrv import LiveServer, free_port

ROOT = Path(__file__).resolve().parents[2]
CN_ENV = {"FIELDSYNC_TZ": "Asia/Shanghai", "FIELDSYNC_HOLIDAYS": "CN"}


class Live:
    def __init__(self, server: LiveServer, http: httpx.Client, token: str, url: str) -> None:
        self.server, self.http, self.url = server, http, url
        self.auth = {"authorization": f"Bearer {token}"}

    def due(self, **params: str) -> httpx.Response:
        return self.http.get("/v1/sla/due", params=params, headers=self.auth)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("due")
    url = f"sqlite:///{tmp / 'server.db'}"
    services = Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False))
    token = issue_staff_token(services, "dispatcher", "due-test")
    services.db.close()
    server = LiveServer(url, tmp, env=CN_ENV).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            yield Live(server, http, token, url)
    finally:
        server.stop()


def fieldsync(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fieldsync", *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**os.environ, **CN_ENV, **(env or {})})


def targets(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["target"]: t for t in answer["targets"]}


def test_p3_opened_before_national_day_is_first_due_on_october_8(live: Live) -> None:
    r = live.due(priority="P3", opened_at="2026-09-30T20:00+08:00")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["policy"], answer["opened_utc"], answer["tz"]) == ("P3", "2026-09-30T12:00:00Z", "Asia/Shanghai")
    due = targets(answer)
    assert due["respond"]["due_local"] == "2026-10-08T10:00:00+08:00"
    assert due["respond"]["due_utc"] == "2026-10-08T02:00:00Z"
    assert (due["respond"]["calendar"], due["respond"]["region"]) == ("business", "CN")
    assert due["on_site"]["due_local"] == "2026-10-08T16:00:00+08:00"
    assert due["resolve"]["due_local"] == "2026-10-10T17:00:00+08:00"  # 3 working days end on the make-up Saturday
    assert due["follow_up"]["due_at"] is None and due["follow_up"]["starts_on"] == ["completed"]


def test_p3_opened_on_the_friday_evening_is_due_on_the_make_up_saturday(live: Live) -> None:
    # the same instant written in UTC gives the same answer
    for opened in ("2026-10-09T20:00+08:00", "2026-10-09T12:00:00Z"):
        due = targets(live.due(priority="P3", opened_at=opened).json())
        assert due["respond"]["due_local"] == "2026-10-10T10:00:00+08:00"
        assert due["resolve"]["due_local"] == "2026-10-13T17:00:00+08:00"
    # a P1 runs on 24x7: the holiday does not matter, its local time is shown in FIELDSYNC_TZ
    p1 = targets(live.due(priority="P1", opened_at="2026-09-30T20:00+08:00").json())
    assert p1["respond"]["due_local"] == "2026-09-30T21:00:00+08:00" and p1["respond"]["calendar"] == "24x7"


@pytest.mark.parametrize(("params", "code"), [
    ({"priority": "P3", "opened_at": "2026-10-09T20:00+08:00", "tz": "UTC"}, "unknown_parameter"),
    ({"priority": "P3", "opened_at": "2026-10-09T20:00+08:00", "opened": "x"}, "unknown_parameter"),
    ({"priority": "P3", "opened_at": "2026-10-09T20:00"}, "bad_time"),  # no offset
    ({"priority": "P3", "opened_at": "2026-02-30T20:00+08:00"}, "bad_time"),
    ({"priority": "P3", "opened_at": "2126-10-09T20:00+08:00"}, "bad_time"),
    ({"priority": "P3", "opened_at": "1790000000000"}, "bad_time"),
    ({"priority": "P3", "opened_at": "x" * 5000}, "bad_time"),
    ({"priority": "P3"}, "bad_time"),
    ({"priority": "P9", "opened_at": "2026-10-09T20:00+08:00"}, "bad_priority"),
    ({"opened_at": "2026-10-09T20:00+08:00"}, "bad_priority"),
    ({"priority": "P3", "opened_at": "2026-10-09T20:00+08:00", "category": "warranty"}, "bad_category"),
])
def test_a_bad_due_query_is_a_400_problem(live: Live, params: dict[str, str], code: str) -> None:
    r = live.due(**params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


def test_due_times_need_a_staff_token(live: Live) -> None:
    r = live.http.get("/v1/sla/due", params={"priority": "P3", "opened_at": "2026-10-09T20:00+08:00"})
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


def test_the_command_answers_what_the_server_answers(live: Live) -> None:
    api = live.due(priority="P3", opened_at="2026-10-09T20:00+08:00").json()
    out = fieldsync("sla", "due", "--priority", "P3", "--opened", "2026-10-09T20:00+08:00", "--db", live.url, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == api

    out = fieldsync("sla", "due", "--priority", "P3", "--opened", "2026-09-30T20:00+08:00", "--db", live.url)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "P3 (P3 policy) opened Wed 2026-09-30 20:00 Asia/Shanghai = 2026-09-30T12:00:00Z"
    respond = next(line for line in lines if line.split()[0] == "respond")
    assert "due Thu 2026-10-08 10:00 Asia/Shanghai = 2026-10-08T02:00:00Z" in respond
    assert "[business, Asia/Shanghai, CN]" in respond


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--priority", "P3", "--opened", "2026-10-09 evening"], {}, "error: --opened: "),
    (["--priority", "P3", "--opened", "2026-10-09T20:00"], {}, "with an offset"),
    (["--priority", "P7", "--opened", "2026-10-09T20:00+08:00"], {}, "invalid choice: 'P7'"),
    (["--priority", "P3", "--opened", "2026-10-09T20:00+08:00"], {"FIELDSYNC_HOLIDAYS": "Atlantis"},
     "error: FIELDSYNC_HOLIDAYS: bad region 'Atlantis'"),
])
def test_the_command_refuses_bad_input_with_one_line_and_exit_2(live: Live, args: list[str], env: dict[str, str],
                                                                message: str) -> None:
    out = fieldsync("sla", "due", *args, "--db", live.url, env=env)
    assert out.returncode == 2 and out.stdout == ""
    assert message in out.stderr


def test_the_command_names_a_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    out = fieldsync("sla", "due", "--priority", "P3", "--opened", "2026-10-09T20:00+08:00", "--db",
                    f"sqlite:///{missing}")
    assert out.returncode == 2 and "typo.db" in out.stderr and not missing.exists()


def test_serve_refuses_an_unknown_region_before_starting(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    out = fieldsync("serve", "--db", f"sqlite:///{db}", "--port", str(free_port()), env={"FIELDSYNC_HOLIDAYS": "XX"})
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("error: FIELDSYNC_HOLIDAYS: unknown region 'XX'")
    assert not db.exists()
