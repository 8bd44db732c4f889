"""``fieldsync demo --locale zh-CN``: the Chinese world served on Asia/Shanghai with China's calendar.

The demo runs as a real subprocess and serves on a free loopback port; the test reads what a
dispatcher would see through the API (customers, faults, engineers, parts), asks when a P3 ticket
opened before National Day is due (the CN calendar's answer), then stops the process it started.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schemas import i18n
from tests.livesrv import free_port
from tools.demo_data_zh import CHINESE

CJK = re.compile(r"[\u4e00-\u9fff]")
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8", "FIELDSYNC_LOCALE": "", "FIELDSYNC_TZ": "",
       "FIELDSYNC_HOLIDAYS": ""}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, list[str]]]:
    tmp = tmp_path_factory.mktemp("demo-zh")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "fieldsync", "demo", "--locale", "zh-CN", "--port", str(port),
                             "--path", str(tmp / "zh.db")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=ENV)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any("fs_staff_" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "demo exited early:\n" + "".join(lines)
            lines.append(line)
        token = re.search(r"fs_staff_\S+", lines[-1]).group(0)  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "the demo server did not come up"
            time.sleep(0.2)
        yield url, token, lines
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _get(demo: tuple[str, str, list[str]], path: str, **params: str) -> object:
    url, token, _ = demo
    r = httpx.get(url + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_demo_says_what_it_did_in_chinese(demo: tuple[str, str, list[str]]) -> None:
    url, _, lines = demo
    text = "".join(lines)
    assert "演示数据库" in text and "离线工作日已同步" in text and f"控制台：{url}/" in text


def test_customers_faults_and_people_are_chinese(demo: tuple[str, str, list[str]]) -> None:
    tickets = _get(demo, "/v1/tickets")
    items = tickets if isinstance(tickets, list) else tickets["items"]  # type: ignore[index]
    customers = {t["customer"] for t in items}
    assert "某某医院" in customers and all(CJK.search(c) for c in customers)
    assert any("风机异响" in t["title"] for t in items)
    assert all(CJK.search(t["site"]) and "上海市" in t["site"] for t in items)
    engineers = _get(demo, "/v1/engineers")
    assert {e["name"] for e in engineers} == {name for _, name, _ in CHINESE.engineers}  # type: ignore[attr-defined]
    parts = _get(demo, "/v1/parts")
    assert "点火电极" in {p["name"] for p in (parts if isinstance(parts, list) else parts["items"])}  # type: ignore[index]


def test_the_offline_day_wrote_chinese_and_was_signed_by_the_customer(demo: tuple[str, str, list[str]]) -> None:
    tickets = _get(demo, "/v1/tickets")
    items = tickets if isinstance(tickets, list) else tickets["items"]  # type: ignore[index]
    jobs = []
    for t in items:
        for job_id in set(re.findall(r"J-[0-9a-f]{16}", str(_get(demo, f"/v1/tickets/{t['id']}")))):
            jobs.append(_get(demo, f"/v1/jobs/{job_id}"))
    (signed,) = [j for j in jobs if j["job"]["status"] == "signed_off"]  # type: ignore[index]
    assert signed["job"]["resolution"] == CHINESE.offline_day.resolution  # type: ignore[index]
    assert signed["signoff"]["signer_name"] == "李经理"  # type: ignore[index]
    diagnoses = {j["job"]["diagnosis"] for j in jobs}  # type: ignore[index]
    assert diagnoses & {CHINESE.offline_day.diagnosis, CHINESE.offline_day.other_diagnosis}


def test_the_calendar_is_shanghai_with_chinas_holidays(demo: tuple[str, str, list[str]]) -> None:
    due = _get(demo, "/v1/sla/due", priority="P3", opened_at="2026-09-30T20:00+08:00")
    assert due["tz"] == "Asia/Shanghai"  # type: ignore[index]
    respond = next(t for t in due["targets"] if t["target"] == "respond")  # type: ignore[index]
    assert respond["region"] == "CN" and respond["due_local"].startswith("2026-10-08")  # after National Day


def test_the_console_is_served_in_chinese(demo: tuple[str, str, list[str]]) -> None:
    if not i18n.catalog("en", "console"):
        pytest.skip("the console's catalogs (h19-console) are not in this tree")
    url, token, _ = demo
    with httpx.Client(base_url=url, timeout=10) as browser:  # no Accept-Language: FIELDSYNC_LOCALE decides
        login = browser.get("/login")
        assert '<html lang="zh-CN">' in login.text and "登录" in login.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
        signed_in = browser.post("/login", data={"csrf": csrf, "token": token, "next": "/tickets"})
        assert signed_in.status_code == 303, signed_in.text
        board = browser.get("/tickets").text
    assert '<html lang="zh-CN">' in board
    assert "某某医院" in board and "风机异响" in board and "重大故障" in board


def test_an_unknown_locale_is_a_usage_error_and_nothing_is_created(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "fieldsync", "demo", "--locale", "xx", "--no-serve",
                        "--path", str(tmp_path / "x.db")], capture_output=True, text=True, timeout=60, env=ENV)
    assert r.returncode == 2
    assert "--locale: unknown locale 'xx'; choose one of zh-CN, en" in r.stderr
    assert not (tmp_path / "x.db").exists()
