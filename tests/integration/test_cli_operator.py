"""What an operator meets at the command line: settings from the environment, and clean one-line errors.

Every test runs ``fieldsync`` as a subprocess, as an operator or a service manager
would: ``serve`` configured by ``FIELDSYNC_*`` variables alone, a mistyped SQLite
path, an unreachable PostgreSQL, a port that is already taken.  An error is one
line on stderr and exit code 2, and leaves nothing behind.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.livesrv import free_port

ROOT = Path(__file__).resolve().parents[2]


def fieldsync(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = "",
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``fieldsync ARGS`` in ``cwd`` with a clean ``FIELDSYNC_*`` environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "fieldsync", *args], cwd=cwd, env={**base, **(env or {})},
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The run failed with exit 2, printed nothing on stdout and exactly one ``error: ...`` line on stderr."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def listening() -> Iterator[int]:
    """A port another program is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


class Served:
    """A ``fieldsync serve`` subprocess started by a test, stopped at the end."""

    def __init__(self, cwd: Path, args: list[str], env: dict[str, str]) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
        self.log = cwd / "serve.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "fieldsync", "serve", "--log-level", "warning", *args],
                                         cwd=cwd, env={**base, "PYTHONPATH": str(ROOT), "FIELDSYNC_SCHEDULER": "0",
                                                       **env}, stdout=log, stderr=subprocess.STDOUT)

    def wait_healthy(self, port: int) -> dict[str, str]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                if r.status_code == 200:
                    return dict(r.json())
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"nothing answered on port {port}: {self.log.read_text()[-2000:]}")

    def workers(self) -> int:
        """Worker processes uvicorn spawned (children running multiprocessing's spawn_main)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        cmdlines = [Path(f"/proc/{c}/cmdline").read_bytes() for c in children if Path(f"/proc/{c}").exists()]
        return sum(b"spawn_main" in c for c in cmdlines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for s in started:
        s.stop()


# -- FIELDSYNC_HOST / FIELDSYNC_PORT / FIELDSYNC_WORKERS ---------------------------------------------------------


def test_serve_listens_where_the_environment_says_with_its_worker_count(tmp_path: Path,
                                                                        served: list[Served]) -> None:
    port = free_port()
    db = tmp_path / "env.db"
    s = Served(tmp_path, [], {"FIELDSYNC_DB": f"sqlite:///{db}", "FIELDSYNC_HOST": "127.0.0.1",
                              "FIELDSYNC_PORT": str(port), "FIELDSYNC_WORKERS": "2"})
    served.append(s)
    assert s.wait_healthy(port) == {"status": "ok", "db": "sqlite"}
    assert db.is_file(), "FIELDSYNC_DB names the database serve created"
    deadline = time.monotonic() + 30
    while s.workers() < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert s.workers() == 2


def test_serve_flags_win_over_the_environment(tmp_path: Path, served: list[Served]) -> None:
    env_port, flag_port = free_port(), free_port()
    s = Served(tmp_path, ["--db", f"sqlite:///{tmp_path / 'flags.db'}", "--port", str(flag_port), "--workers", "1"],
               {"FIELDSYNC_PORT": str(env_port), "FIELDSYNC_WORKERS": "3"})
    served.append(s)
    s.wait_healthy(flag_port)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{env_port}/health", timeout=2)
    assert s.workers() == 0, "--workers 1 runs in the main process, whatever FIELDSYNC_WORKERS says"


@pytest.mark.parametrize(("name", "value"), [("FIELDSYNC_PORT", "eighty"), ("FIELDSYNC_PORT", "70000"),
                                             ("FIELDSYNC_WORKERS", "0"), ("FIELDSYNC_WORKERS", "two"),
                                             ("FIELDSYNC_TZ", "Mars/Olympus"), ("FIELDSYNC_TZ", "../etc"),
                                             ("FIELDSYNC_TRUSTED_PROXIES", "127.0.0.1,nginx"),
                                             ("FIELDSYNC_TRUSTED_PROXIES", "10.0.0.0/33"),
                                             ("FIELDSYNC_KEY_FILE", "/nonexistent/kek")])
def test_serve_refuses_a_malformed_setting_by_name(tmp_path: Path, name: str, value: str) -> None:
    result = fieldsync("serve", "--db", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path, env={name: value})
    assert name in one_line_error(result)
    assert not (tmp_path / "x.db").exists()


def test_serve_on_a_taken_port_is_one_line_and_exit_2(tmp_path: Path, listening: int) -> None:
    line = one_line_error(fieldsync("serve", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--port", str(listening),
                                    cwd=tmp_path))
    assert f"127.0.0.1:{listening}" in line and "in use" in line


# -- a mistyped SQLite path ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["admin", "engineers"], ["admin", "engineers", "--json"], ["admin", "enroll-token", "--engineer", "e-ana"],
    ["admin", "token", "--role", "admin"], ["admin", "user", "--name", "dora", "--role", "dispatcher"],
    ["admin", "tokens"], ["admin", "revoke-token", "0123456789ab"], ["admin", "users"],
    ["admin", "disable-user", "dora"], ["admin", "status"], ["admin", "migrate"],
    ["admin", "backup", "--out", "backup.db"],
    ["loadtest", "--url", "http://127.0.0.1:9", "--sessions", "1", "--seconds", "1"],
], ids=lambda c: " ".join(c[:2]))
def test_a_command_that_reads_never_creates_a_database(tmp_path: Path, command: list[str]) -> None:
    result = fieldsync(*command, "--db", "sqlite:///typo.db", cwd=tmp_path, stdin="a long password\n")
    assert "typo.db" in one_line_error(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "no database file, WAL or backup was created"


def test_the_default_database_is_not_created_by_a_read_either(tmp_path: Path) -> None:
    assert "fieldsync.db" in one_line_error(fieldsync("admin", "engineers", cwd=tmp_path))
    env_db = one_line_error(fieldsync("admin", "engineers", cwd=tmp_path, env={"FIELDSYNC_DB": "sqlite:///env.db"}))
    assert "env.db" in env_db
    assert list(tmp_path.iterdir()) == []


def test_seed_demo_creates_the_database_and_reads_then_find_it(tmp_path: Path) -> None:
    seeded = fieldsync("admin", "seed-demo", "--db", "sqlite:///new.db", cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    listed = fieldsync("admin", "engineers", "--db", "sqlite:///new.db", cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.splitlines()[0].startswith("e-ana\tAna Alves")


# -- an unreachable PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["admin", "engineers"], ["admin", "seed-demo"], ["serve", "--port", "0"]],
                         ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("query", ["", "?schema=ops"])
def test_an_unreachable_postgresql_is_one_clear_line(tmp_path: Path, command: list[str], query: str) -> None:
    closed = free_port()  # nothing listens there
    url = f"postgresql://postgres@127.0.0.1:{closed}/fieldsync{query}"
    if command[0] == "serve":
        command = ["serve", "--port", str(free_port())]
    line = one_line_error(fieldsync(*command, "--db", url, cwd=tmp_path))
    assert line.startswith(f"error: cannot reach PostgreSQL at 127.0.0.1:{closed}/fieldsync: ")
    assert "refused" in line, line
    assert "pool" not in line


# -- fieldsync demo on a taken port ----------------------------------------------------------------------------


def test_demo_on_a_taken_port_promises_nothing(tmp_path: Path, listening: int) -> None:
    result = fieldsync("demo", "--port", str(listening), "--path", "demo.db", cwd=tmp_path)
    line = one_line_error(result)  # no console URL, no token on stdout
    assert f"127.0.0.1:{listening}" in line and "--port" in line
    assert list(tmp_path.iterdir()) == [], "the demo database is not prepared for a server that cannot start"


def test_demo_serves_the_console_on_the_port_it_printed(tmp_path: Path) -> None:
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
    proc = subprocess.Popen([sys.executable, "-m", "fieldsync", "demo", "--port", str(port), "--path", "demo.db"],
                            cwd=tmp_path, env={**base, "PYTHONPATH": str(ROOT), "FIELDSYNC_SCHEDULER": "0"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        assert lines[2].strip() == f"console: http://127.0.0.1:{port}/", lines
        token = lines[3].split(": ", 1)[1].strip()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    r = http.get("/v1/engineers", headers={"authorization": f"Bearer {token}"})
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline and proc.poll() is None, "the demo server never answered"
                    time.sleep(0.1)
            assert r.status_code == 200 and len(r.json()) == 3
    finally:
        proc.terminate()
        proc.wait(20)
