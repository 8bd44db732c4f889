"""Every code block of the README, checked the way a reader would use it.

The blocks are found by a CommonMark parser (fenced and indented alike).  Each
one is claimed by exactly one entry of :data:`CHECKED` (the test that runs it)
or :data:`NOT_RUNNABLE` (why no test can), by a piece of text only that block
contains; a new block without an entry fails
``test_every_block_is_checked_or_says_why_not``.

What runs, runs for real: ``fieldsync demo --no-serve`` prepares the demo
database and a real ``fieldsync serve`` serves it on a free loopback port; the
Python example runs as a script beside it, shell commands and transcripts run in
bash with the virtualenv's ``bin`` on the ``PATH``.  What a reader would
fill in is filled in, and only that: the server's address for
``http://127.0.0.1:8000``, a staff token in ``$TOKEN``, the server key and the
ids the text elides (``…``) or gives as examples.  Transcript output is
compared line by line, with ids, digests, keys and times masked.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from markdown_it import MarkdownIt

from schemas.instant import rfc3339
from server.domain.webhooks.service import sign
from tests.conftest import PG_BASE, require_pg
from tests.livesrv import LiveServer

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
DEMO_URL = "http://127.0.0.1:8000"

#: a piece of text only that block contains -> the test of this module that runs it
CHECKED = {
    "FieldClient.open(": "test_the_sdk_example_runs_on_the_demo",
    "schemas/        wire": "test_the_layout_names_only_paths_that_exist",
    "POST /v1/tickets/{id}/jobs": "test_route_lists_name_only_served_routes",
    "GET /v1/sla/compliance": "test_route_lists_name_only_served_routes",
    '"office"': "test_the_sla_policy_file_loads_through_the_real_loader",
    '"working_calendar"': "test_the_working_calendar_example_loads_and_keeps_the_national_day",
    '"register"': "test_the_service_plan_policy_file_adds_register_and_depart",
    "$ fieldsync verify report.pdf": "test_the_verify_transcript_is_what_the_commands_print",
    "/v1/reconciliation?format=csv": "test_the_reconciliation_curl_examples_run",
    "--out fieldsync.dump": "test_the_postgresql_backup_example_round_trips",
    "fieldsync admin user --name dora": "test_the_console_user_example_creates_the_user",
    '"category_names"': "test_the_display_names_example_names_priorities_and_categories_per_locale",
    "def fieldsync_signature_ok(": "test_the_webhook_receivers_check_accepts_the_servers_signature_only",
    '"kpi_targets"': "test_the_kpi_targets_example_overrides_only_what_it_names",
    "/v1/reconciliation/money?": "test_the_money_export_example_runs",
    "fieldsync admin encrypt-key --db": "test_the_signing_key_example_seals_and_rotates",
}
#: a piece of text only that block contains -> why no test runs it
NOT_RUNNABLE = {
    "# 1. install and run the demo": (
        "installs from the network into a new virtualenv, then `fieldsync demo` serves until stopped, and "
        "line 2 is this very test suite; `fieldsync demo` is run by tests/integration/test_demo.py and "
        "`fieldsync demo --locale zh-CN` (served) by tests/integration/test_demo_zh.py and "
        "test_cli_operator.py, and tests/unit/test_docs.py checks that .ci/run runs line 2"),
    "tablet (SDK)": "a sequence diagram of the sync protocol: nothing to run",
    "openapi-python-client generate": ("needs a server on port 8000; tests/integration/test_generated_client.py runs "
                                       "the same generation, with that config, against a live server"),
    ".venv-min/bin/pip install": ("builds a second venv on the lowest allowed versions and runs the whole suite in it "
                                  "(twice CI's time); tests/unit/test_constraints.py checks the command is here and "
                                  "that its pins are pyproject's lower bounds"),
}


@dataclass(frozen=True)
class Block:
    """A code block of the README: first line number (1-based), info string or ``indented``, its text."""

    line: int
    lang: str
    text: str


def readme_blocks() -> list[Block]:
    tokens = MarkdownIt("commonmark").parse(README.read_text(encoding="utf-8"))
    return [Block(t.map[0] + 1 if t.map else 0, (t.info.split() or [""])[0] if t.type == "fence" else "indented",
                  t.content) for t in tokens if t.type in ("fence", "code_block")]


def block(marker: str) -> Block:
    found = [b for b in readme_blocks() if marker in b.text]
    assert len(found) == 1, f"{len(found)} README blocks contain {marker!r}"
    return found[0]


def test_every_block_is_checked_or_says_why_not() -> None:
    markers = {**CHECKED, **NOT_RUNNABLE}
    for b in readme_blocks():
        claims = [m for m in markers if m in b.text]
        assert len(claims) == 1, (f"README line {b.line} ({b.lang} block): claimed by {claims}; add it to "
                                  f"CHECKED with a test, or to NOT_RUNNABLE with the reason")
    for marker, test in CHECKED.items():
        block(marker)
        assert callable(globals().get(test)), f"{test} is not a test of this module"
    for marker in NOT_RUNNABLE:
        block(marker)


# -- the demo, served -------------------------------------------------------------------------------------------


@dataclass
class Demo:
    """The demo database in ``folder``, served by a real ``fieldsync serve``."""

    folder: Path
    server: LiveServer
    token: str
    server_key: str

    def env(self, **extra: str) -> dict[str, str]:
        """A reader's shell: the virtualenv on PATH, a staff token in $TOKEN, no FIELDSYNC_* of the test run."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
        return {**base, "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}", "TOKEN": self.token, **extra}

    def local(self, text: str) -> str:
        return text.replace(DEMO_URL, self.server.url)

    def bash(self, script: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", f"set -e\n{self.local(script)}"], cwd=self.folder, env=self.env(**env),
                              capture_output=True, text=True, timeout=120)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers={"authorization": f"Bearer {self.token}"}, timeout=30)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if not (BIN / "fieldsync").exists():
        pytest.fail(f"no fieldsync command beside {sys.executable}: install the package (pip install -e .)")
    folder = tmp_path_factory.mktemp("readme")
    prepared = subprocess.run([str(BIN / "fieldsync"), "demo", "--no-serve"], cwd=folder, capture_output=True,
                              text=True, timeout=300)
    assert prepared.returncode == 0, prepared.stderr
    token = next(line.split(": ", 1)[1] for line in prepared.stdout.splitlines()
                 if line.startswith("staff login token"))
    db_url = f"sqlite:///{folder / 'fieldsync-demo.db'}"
    from server.services import Services
    from server.settings import get_settings
    from sync.storage import open_database

    services = Services(db=open_database(db_url, create=False), settings=get_settings(db_url=db_url))
    key = services.key.public.hex()
    services.db.close()
    server = LiveServer(db_url, folder).start()
    try:
        yield Demo(folder, server, token, key)
    finally:
        server.stop()


# -- the blocks -------------------------------------------------------------------------------------------------


def test_the_sdk_example_runs_on_the_demo(demo: Demo) -> None:
    script = demo.folder / "sdk_example.py"
    script.write_text(demo.local(block("FieldClient.open(").text), encoding="utf-8")
    ran = subprocess.run([sys.executable, str(script)], cwd=demo.folder, env=demo.env(), capture_output=True,
                         text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("SyncReport(") and "offline=False" in ran.stdout, ran.stdout
    with demo.api() as api:
        (ticket,) = api.get("/v1/tickets", params={"engineer_id": "e-chen"}).json()
        job = api.get(f"/v1/jobs/{ticket['jobs'][0]['id']}").json()
    assert job["job"]["status"] == "signed_off"
    assert job["signoff"]["signer_name"] == "Maria Customer"
    assert {p["part_no"] for p in job["parts"]} == {"P-IGN"}
    assert len(job["attachments"]) == 1 and job["evidence_missing"] == 0, "the photo was uploaded"


def test_the_layout_names_only_paths_that_exist() -> None:
    top = ""
    named = []
    for line in block("schemas/        wire").text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        first = line.split()[0] if line.strip() else ""
        if indent == 0 and first:
            top = first
            named.append(first)
        elif indent == 2 and first:
            named.append(top + first)
    assert len(named) > 20
    missing = [p for p in named if not (ROOT / p).exists()]
    assert not missing, f"README layout names paths that do not exist: {missing}"


ROUTE = re.compile(r"\b((?:GET|POST|PUT|PATCH|DELETE)(?:\|(?:GET|POST|PUT|PATCH|DELETE))*)\s+(/v1/[^\s?\[]*)")


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path).rstrip("/")


@pytest.mark.parametrize("marker", ["POST /v1/tickets/{id}/jobs", "GET /v1/sla/compliance"])
def test_route_lists_name_only_served_routes(demo: Demo, marker: str) -> None:
    schema = httpx.get(f"{demo.server.url}/schema/openapi.json", timeout=30).json()
    served = {(method.upper(), _shape(path)) for path, ops in schema["paths"].items() for method in ops}
    named = [(method, _shape(path)) for methods, path in ROUTE.findall(block(marker).text)
             for method in methods.split("|")]
    assert len(named) >= 4
    assert not [r for r in named if r not in served], "routes in the README the server does not serve"


def test_the_sla_policy_file_loads_through_the_real_loader(tmp_path: Path) -> None:
    from server.domain.sla.service import check_policies, policy_set
    from server.services import Services
    from server.settings import get_settings
    from sync.storage import open_database

    text = block('"office"').text
    json.loads(text)
    path = tmp_path / "policies.json"
    path.write_text(text, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'sla.db'}"
    services = Services(db=open_database(url), settings=get_settings(db_url=url, sla_policy_file=str(path),
                                                                      run_scheduler=False))
    try:
        check_policies(services)  # what the server does at start-up with FIELDSYNC_SLA_POLICIES
        p3 = policy_set(services).for_ticket("P3")
    finally:
        services.db.close()
    assert (p3.calendar.name, p3.calendar.tz) == ("office", "Europe/Berlin")
    assert p3.target("resolve").duration_ms == 3 * 9 * 3_600_000  # "3wd" on 08:00-17:00


def test_the_service_plan_policy_file_adds_register_and_depart(tmp_path: Path) -> None:
    from server.domain.sla.due import parse_opened
    from server.domain.sla.service import check_policies, due, policy_set
    from server.services import Services
    from server.settings import get_settings
    from sync.storage import open_database

    path = tmp_path / "policies.json"
    path.write_text(block('"register"').text, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'sla.db'}"
    services = Services(db=open_database(url), settings=get_settings(db_url=url, sla_policy_file=str(path),
                                                                      run_scheduler=False))
    try:
        check_policies(services)
        policies = policy_set(services)
        p1 = {t.target: t.due_utc for t in due(services, "P1", "fault", parse_opened("2026-10-13T09:00+08:00")).targets}
        # Friday 16:00 in Shanghai: 1 working hour left that day, the other 3 on Monday
        friday = parse_opened("2026-10-16T16:00+08:00")
        p3 = {t.target: t.due_local for t in due(services, "P3", "fault", friday).targets}
    finally:
        services.db.close()
    assert [s.name for s in policies.for_ticket("P1").targets] == [
        "register", "respond", "depart", "on_site", "resolve", "follow_up"]
    assert [s.name for s in policies.for_ticket("P2", "complaint").targets] == ["respond", "resolve", "follow_up"]
    # 24x7: 09:15 and 11:00 in Shanghai
    assert p1["register"] == "2026-10-13T01:15:00Z" and p1["depart"] == p1["on_site"] == "2026-10-13T03:00:00Z"
    assert p3["register"] == "2026-10-16T16:15:00+08:00" and p3["depart"] == "2026-10-19T11:00:00+08:00"


def test_the_working_calendar_example_loads_and_keeps_the_national_day(tmp_path: Path) -> None:
    from datetime import date

    from server.domain.sla.calendar import is_working_day
    from server.domain.sla.due import parse_opened
    from server.domain.sla.service import check_policies, due, policy_set
    from server.services import Services
    from server.settings import get_settings
    from sync.storage import open_database

    path = tmp_path / "policies.json"
    path.write_text(block('"working_calendar"').text, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'sla.db'}"
    services = Services(db=open_database(url), settings=get_settings(db_url=url, sla_policy_file=str(path),
                                                                      run_scheduler=False))
    try:
        check_policies(services)
        policies = policy_set(services)
        answer = due(services, "P3", "fault", parse_opened("2026-09-30T20:00+08:00"))
    finally:
        services.db.close()
    shanghai = policies.working_calendar
    assert (shanghai.name, shanghai.tz, shanghai.region and shanghai.region.code) == ("shanghai", "Asia/Shanghai", "CN")
    assert not is_working_day(shanghai, date(2026, 10, 5)) and is_working_day(shanghai, date(2026, 10, 10))
    assert not is_working_day(shanghai, date(2026, 12, 31)) and is_working_day(shanghai, date(2026, 12, 26))
    # 3 working days of 8 h: Thursday 10-08, Friday 10-09 and the make-up Saturday 10-10, to its close
    (resolve,) = answer.targets
    assert resolve.due_local == "2026-10-10T17:30:00+08:00"


MASK = re.compile(r"\S*…\S*|\b[A-Z]-[0-9a-f]{16,20}\b|\b[0-9a-f]{16,}\b"
                  r"|\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d:\d\d\b")


def _masked(lines: list[str]) -> list[str]:
    return [MASK.sub("<x>", line.rstrip()) for line in lines]


def test_the_verify_transcript_is_what_the_commands_print(demo: Demo) -> None:
    with demo.api() as api:
        signed = [t["jobs"][0]["id"] for t in api.get("/v1/tickets", params={"engineer_id": "e-ben"}).json()
                  if t["jobs"][0]["signed_off"]]
    assert len(signed) == 1, "the demo's offline day signs one job of Ben's"
    commands: list[str] = []
    expected: dict[int, list[str]] = {}
    for line in block("$ fieldsync verify report.pdf").text.splitlines():
        if line.startswith("$ "):
            commands.append(line[2:])
            expected[len(commands) - 1] = []
        else:
            expected[len(commands) - 1].append(line)
    for i, command in enumerate(commands):
        command = re.sub(r"\bJ-[0-9a-f]{16}\b", signed[0], command)  # the example's job: the demo's signed one
        command = re.sub(r"--server-key \S*…\S*", f"--server-key {demo.server_key}", command)
        if "tampered.pdf" in command:  # "a copy with one byte changed"
            pdf = (demo.folder / "report.pdf").read_bytes()
            at = pdf.index(b"ReportLab Generated")  # a byte of a PDF comment: only the seal can notice
            (demo.folder / "tampered.pdf").write_bytes(pdf[:at] + b"r" + pdf[at + 1:])
        ran = subprocess.run(["bash", "-c", demo.local(command)], cwd=demo.folder, env=demo.env(),
                             capture_output=True, text=True, timeout=120)
        assert ran.returncode == (1 if "INVALID" in expected[i] else 0), (command, ran.stdout, ran.stderr)
        assert _masked(ran.stdout.splitlines()) == _masked(expected[i]), command
    assert (demo.folder / "report.pdf").read_bytes().startswith(b"%PDF-")


def test_the_reconciliation_curl_examples_run(demo: Demo, tmp_path: Path) -> None:
    from client_sdk import FieldClient
    from server.domain.reconciliation.service import item_id

    # what the example's comment describes: Ben's board PCB-e-ben-0 booked by two of his tablets
    with demo.api() as api:
        job = api.get("/v1/tickets", params={"engineer_id": "e-ben"}).json()[0]["jobs"][0]["id"]
        for name in ("ben-a", "ben-b"):
            token = api.post("/v1/engineers/e-ben/enroll-token").json()["token"]
            tablet = FieldClient.open(tmp_path / f"{name}.db", server_url=demo.server.url)
            try:
                tablet.enroll(token)
                assert tablet.sync().ok
                tablet.use_part(job, "P-PCB", serial="PCB-e-ben-0")
                assert tablet.sync().ok
            finally:
                tablet.close()
    item = item_id("serial_consumed_twice", "P-PCB/PCB-e-ben-0")
    ran = demo.bash(block("/v1/reconciliation?format=csv").text.replace("R-…", item))
    assert ran.returncode == 0, ran.stderr
    exported = (demo.folder / "reconciliation.csv").read_text().splitlines()
    assert exported[0].startswith("id,kind,status") and any(row.startswith(item + ",") for row in exported)
    resolved = json.loads(ran.stdout)
    assert resolved["id"] == item and resolved["status"] == "resolved"
    assert resolved["history"][-1]["comment"] == "board was PCB-e-ben-0, ledger corrected"


def test_the_kpi_targets_example_overrides_only_what_it_names() -> None:
    from server.domain.sla.policy import default_policies, policies_from_dict

    resolve = {"targets": [{"name": "resolve", "duration": "24h", "start": ["opened"], "stop": ["completed"]}]}
    example = json.loads(block('"kpi_targets"').text)
    targets = policies_from_dict({"policies": {p: resolve for p in ("P1", "P2", "P3", "complaint")},
                                  **example}).kpi_targets
    assert targets["remote_share"].min == 0.6 and targets["follow_up_on_time"].within_text == "24h"
    assert targets["follow_up_on_time"].min == 1.0 and targets["first_time_fix_rate"].min == 0.95
    defaults = default_policies().kpi_targets  # the table's defaults, on P3's 08:00-17:00 calendar
    assert {k: (t.min, t.within_text) for k, t in defaults.items()} == {
        "first_time_fix_rate": (0.95, ""), "remote_share": (0.8, ""), "follow_up_on_time": (1.0, "1wd"),
        "complaint_closed_on_time": (1.0, "15wd")}
    assert defaults["follow_up_on_time"].within_ms == 9 * 3_600_000


def test_the_money_export_example_runs(demo: Demo) -> None:
    now = int(time.time() * 1000)
    script = re.sub(r"from=[^&]+&to=[^&]+&", f"from={rfc3339(now - 30 * 86_400_000)}&to={rfc3339(now + 86_400_000)}&",
                    block("/v1/reconciliation/money?").text)
    ran = demo.bash(script)
    assert ran.returncode == 0, ran.stderr
    table = list(csv.reader(io.StringIO((demo.folder / "money-2026-11.csv").read_text(encoding="utf-8"))))
    assert table[0] == ["job_id", "ticket_id", "customer", "site", "engineer_id", "completed_at", "remote",
                        "under_warranty", "labour_minutes", "visits", "parts_billable", "parts_warranty", "labour",
                        "travel", "billable_total", "warranty_cost", "currency"]
    assert len(table) > 1 and all(len(row) == 17 and row[-1] == "CNY" for row in table[1:])  # the demo's day


@pytest.mark.postgres
def test_the_postgresql_backup_example_round_trips(tmp_path: Path) -> None:
    require_pg()
    name = f"readme_{uuid.uuid4().hex[:10]}"
    admin = PG_BASE
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
        env = {**base, "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}", "URL": url}

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(list(args), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

        assert run("fieldsync", "admin", "seed-demo", "--db", url).returncode == 0
        for line in block("--out fieldsync.dump").text.splitlines():  # dump, then restore over it
            ran = run("bash", "-c", f"set -e; {line}")
            assert ran.returncode == 0, (line, ran.stderr)
        listed = run("fieldsync", "admin", "engineers", "--db", url)
        assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 3, listed.stderr
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_console_user_example_creates_the_user(demo: Demo) -> None:
    ran = demo.bash(block("fieldsync admin user --name dora").text,
                    FIELDSYNC_DB=f"sqlite:///{demo.folder / 'fieldsync-demo.db'}")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() in ("created user dora (dispatcher)", "updated user dora (dispatcher)")
    with httpx.Client(base_url=demo.server.url, timeout=30) as browser:
        form = browser.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signed_in = browser.post("/login", data={"csrf": csrf.group(1), "name": "dora",
                                                 "password": "a long password", "next": "/tickets"})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/tickets"


def test_the_display_names_example_names_priorities_and_categories_per_locale(tmp_path: Path) -> None:
    from server.console.i18n import Lang
    from server.domain.sla.service import check_policies, policy_set
    from server.services import Services
    from server.settings import get_settings
    from sync.storage import open_database

    path = tmp_path / "policies.json"
    path.write_text(block('"category_names"').text, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'sla.db'}"
    services = Services(db=open_database(url), settings=get_settings(db_url=url, sla_policy_file=str(path),
                                                                      run_scheduler=False))
    try:
        check_policies(services)
        names = policy_set(services).display_names()
    finally:
        services.db.close()
    zh, en = Lang("zh_CN", overrides=names), Lang("en", overrides=names)
    assert [zh.priority(p) for p in ("P1", "P2", "P3", "complaint")] == ["一级故障", "紧急故障", "一般故障", "投诉"]
    assert [en.priority(p) for p in ("P1", "P2")] == ["Critical", "P2"]
    assert (zh.category("fault"), en.category("fault"), zh.category("inspection")) == ("故障报修", "Breakdown", "巡检")


def test_the_webhook_receivers_check_accepts_the_servers_signature_only() -> None:
    namespace: dict[str, object] = {}
    exec(compile(block("def fieldsync_signature_ok(").text, "README.md", "exec"), namespace)  # noqa: S102
    check = namespace["fieldsync_signature_ok"]
    assert callable(check)
    body = b'{"id":"E-1","event":"ticket_opened","created_at":1790000000000,"ticket_id":"T-1"}'
    now = int(time.time())
    assert check("whsec", sign("whsec", now, body), body) is True
    assert check("another secret", sign("whsec", now, body), body) is False
    assert check("whsec", sign("whsec", now, body), body.replace(b"T-1", b"T-2")) is False
    assert check("whsec", sign("whsec", now - 3600, body), body) is False  # replayed an hour later
    assert check("whsec", "v1=00", body) is False


def test_the_signing_key_example_seals_and_rotates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    base = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
    env = {**base, "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}", "URL": url}

    def run(script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", f"set -e\n{script}"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)

    assert run('fieldsync admin seed-demo --db "$URL" >/dev/null').returncode == 0
    script = block("fieldsync admin encrypt-key --db").text.replace("/etc/fieldsync/", f"{tmp_path}/")
    ran = run(script)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.strip().splitlines()
    listed = [ln.split() for ln in lines if re.fullmatch(r"[0-9a-f]{64}", ln.split()[-1])]
    assert [(k[3], k[4]) for k in listed] == [("sealed", "older"), ("sealed", "current")], ran.stdout
