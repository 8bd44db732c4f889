"""The ``fieldsync`` commands speak the operator's language: ``FIELDSYNC_LOCALE``, else ``LANG``, else English.

Each test runs ``fieldsync`` as a subprocess.  What a script reads (tokens, ids, ``--json``, exit codes,
``VALID``) is the same in every language; what a person reads follows the locale.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.cli_text import cli_locale

ROOT = Path(__file__).resolve().parents[2]


def fieldsync(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``fieldsync ARGS`` with no locale variables but ``env``."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("FIELDSYNC_") and k not in ("LANG", "LC_ALL", "LC_MESSAGES")}
    return subprocess.run([sys.executable, "-m", "fieldsync", *args], cwd=cwd,
                          env={**base, "PYTHONPATH": str(ROOT), **env}, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("env", "locale"), [
    ({}, "en"), ({"LANG": "C.UTF-8"}, "en"), ({"LANG": "POSIX"}, "en"), ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "de_DE.UTF-8"}, "en"), ({"LANG": "en_US.UTF-8", "LC_ALL": "zh_CN.utf8"}, "zh_CN"),
    ({"LANG": "zh_CN.UTF-8", "FIELDSYNC_LOCALE": "en"}, "en"), ({"FIELDSYNC_LOCALE": "zh-CN", "LANG": "C"}, "zh_CN"),
    ({"LC_MESSAGES": "zh_CN.GB18030@euro"}, "zh_CN"), ({"FIELDSYNC_LOCALE": "xx"}, "en"),
])
def test_the_locale_of_the_messages(env: dict[str, str], locale: str) -> None:
    assert cli_locale(env) == locale


def test_an_error_reads_chinese_under_a_chinese_lang_and_english_otherwise(tmp_path: Path) -> None:
    zh = fieldsync("admin", "engineers", "--db", "sqlite:///typo.db", cwd=tmp_path, LANG="zh_CN.UTF-8")
    en = fieldsync("admin", "engineers", "--db", "sqlite:///typo.db", cwd=tmp_path, LANG="C.UTF-8")
    assert zh.returncode == en.returncode == 2
    assert zh.stderr.startswith("错误：") and "只有 serve、demo 和 admin seed-demo 会新建数据库" in zh.stderr
    assert en.stderr.startswith("error: ") and "only serve, demo and admin seed-demo create a database" in en.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_bad_fieldsync_locale_is_refused_by_name(tmp_path: Path) -> None:
    result = fieldsync("serve", "--db", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path, FIELDSYNC_LOCALE="klingon")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: FIELDSYNC_LOCALE must be one of zh_CN, en, not 'klingon'"
    assert not (tmp_path / "x.db").exists()


def test_seed_demo_in_chinese_then_sla_due_in_chinese_with_the_same_json(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'zh.db'}"
    seeded = fieldsync("admin", "seed-demo", "--locale", "zh-CN", "--db", db, cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    names = fieldsync("admin", "engineers", "--db", db, cwd=tmp_path).stdout
    assert "王建国" in names and "Ana" not in names
    calendar = {"FIELDSYNC_TZ": "Asia/Shanghai", "FIELDSYNC_HOLIDAYS": "CN"}
    args = ("sla", "due", "--priority", "P3", "--opened", "2026-10-09T20:00+08:00", "--db", db)
    zh = fieldsync(*args, cwd=tmp_path, FIELDSYNC_LOCALE="zh_CN", **calendar)
    en = fieldsync(*args, cwd=tmp_path, LANG="C.UTF-8", **calendar)
    assert zh.returncode == en.returncode == 0, zh.stderr + en.stderr
    assert "报修于 周五 2026-10-09 20:00 Asia/Shanghai" in zh.stdout
    assert "到期 周六 2026-10-10" in zh.stdout  # the make-up working day (调休)
    assert "opened Fri 2026-10-09 20:00 Asia/Shanghai" in en.stdout and "due Sat 2026-10-10" in en.stdout
    as_json = [json.loads(fieldsync(*args, "--json", cwd=tmp_path, **loc, **calendar).stdout)
               for loc in ({"LANG": "zh_CN.UTF-8"}, {"LANG": "C"})]
    assert as_json[0] == as_json[1]


def test_seed_demo_with_an_unknown_locale_is_a_usage_error(tmp_path: Path) -> None:
    result = fieldsync("admin", "seed-demo", "--locale", "fr", "--db", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path)
    assert result.returncode == 2 and "unknown locale 'fr'" in result.stderr
    assert not (tmp_path / "x.db").exists()
