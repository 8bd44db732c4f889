"""Problem texts and CSV headers in the language the request asks for, over a real ``fieldsync serve``.

The machine-readable parts (status, ``code``, ``type``, the CSV's rows) are the same in every language;
only what a person reads changes.  A client that asks for no language we speak gets English.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import httpx
import pytest

from schemas import i18n
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.livesrv import LiveServer
from tools.demo_data import seed_demo

CJK = re.compile(r"[\u4e00-\u9fff]")
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("problems")
    url = f"sqlite:///{tmp / 'fs.db'}"
    services = Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False))
    seed_demo(services)
    token = issue_staff_token(services, "admin", "problems-test")
    services.db.close()
    server = LiveServer(url, tmp).start()
    yield server.url, token
    server.stop()


def _get(live: tuple[str, str], path: str, headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
    url, token = live
    return httpx.get(url + path, params=params, headers={"Authorization": f"Bearer {token}", **(headers or {})})


def test_a_bad_parameter_reads_chinese_for_zh_cn_with_the_same_code_as_in_english(live: tuple[str, str]) -> None:
    en = _get(live, "/v1/kpis", format="xml")
    zh = _get(live, "/v1/kpis", ZH, format="xml")
    assert en.status_code == zh.status_code == 400
    assert en.headers["content-type"] == zh.headers["content-type"] == "application/problem+json"
    e, z = en.json(), zh.json()
    assert (e["code"], e["type"]) == (z["code"], z["type"]) == ("invalid_parameter",
                                                                "https://fieldsync.dev/problems/invalid_parameter")
    assert (e["title"], e["detail"]) == ("Bad Request", "format is json or csv")
    assert (z["title"], z["detail"]) == ("请求无效", "format 参数只能是 json 或 csv")
    assert zh.headers["content-language"] == "zh-CN" and en.headers["content-language"] == "en"


@pytest.mark.parametrize("header", [None, "", "fr-FR", "de;q=0.9, fr"])
def test_no_language_we_speak_means_english(live: tuple[str, str], header: str | None) -> None:
    r = _get(live, "/v1/kpis", {} if header is None else {"Accept-Language": header}, format="xml")
    assert r.json()["detail"] == "format is json or csv" and r.json()["title"] == "Bad Request"


def test_domain_framework_and_auth_problems_all_read_chinese(live: tuple[str, str]) -> None:
    url, token = live
    missing = _get(live, "/v1/tickets/T-no-such-ticket", ZH)
    unknown_en = _get(live, "/v1/tickets/T-no-such-ticket")
    anonymous = httpx.get(url + "/v1/tickets", headers=ZH)
    bad_body = httpx.post(url + "/v1/tickets", content=b'{"customer": 5}',
                          headers={**ZH, "Authorization": f"Bearer {token}", "content-type": "application/json"})
    no_route = httpx.get(url + "/v1/no-such-thing", headers={**ZH, "Authorization": f"Bearer {token}"})
    for r, status in ((missing, 404), (anonymous, 401), (no_route, 404)):
        body = r.json()
        assert r.status_code == body["status"] == status, body
        assert CJK.search(body["title"]) and CJK.search(body["detail"]), body
        assert body["detail"] == i18n.text("zh_CN", "problems", f"code.{body['code']}"), body
    assert missing.json()["code"] == unknown_en.json()["code"] == "unknown_ticket"
    assert not CJK.search(unknown_en.text)
    assert bad_body.status_code == 400
    assert bad_body.json()["code"] == "invalid_body" and bad_body.json()["detail"] == "请求内容中 customer 处的值无效。"


def test_a_validation_problem_names_the_parameter_in_chinese_and_keeps_its_errors(live: tuple[str, str]) -> None:
    en = _get(live, "/v1/complaints", None, limit="many")
    zh = _get(live, "/v1/complaints", ZH, limit="many")
    assert en.status_code == zh.status_code == 400
    e, z = en.json(), zh.json()
    assert e["code"] == z["code"] == "invalid_parameter" and e["errors"] == z["errors"]
    assert z["detail"] == "请求参数 limit 无效。" and not CJK.search(e["detail"])
    # ?from= is read by the one range parser, which names it as the client sent it
    aliased = _get(live, "/v1/reconciliation/", ZH, **{"from": "yesterday"}).json()
    assert (aliased["code"], aliased["detail"]) == (
        "bad_time", "from 应为日期（例如 2026-01-31）或带时区偏移的 RFC 3339 时间（例如 2026-01-31T18:00:00Z）")


def test_kpis_time_parameters_read_chinese_with_the_english_unchanged(live: tuple[str, str]) -> None:
    en = _get(live, "/v1/kpis", None, to="tomorrow-ish")
    zh = _get(live, "/v1/kpis", ZH, to="tomorrow-ish")
    assert en.json()["detail"] == ("to is a date such as 2026-01-31 or an RFC 3339 date-time with an offset "
                                   "such as 2026-01-31T18:00:00Z")
    assert zh.json()["detail"] == ("to 应为日期（例如 2026-01-31）或带时区偏移的 RFC 3339 时间"
                                   "（例如 2026-01-31T18:00:00Z）")
    backwards = _get(live, "/v1/kpis", ZH, **{"from": "2026-02-01", "to": "2026-01-01"}).json()
    assert (backwards["code"], backwards["detail"]) == ("bad_range", "时间范围无效。")


def _csv_header(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return next(csv.reader(io.StringIO(r.text)))


def test_kpis_csv_has_chinese_headers_for_zh_cn_and_the_same_rows(live: tuple[str, str]) -> None:
    en = _get(live, "/v1/kpis", None, format="csv", group_by="priority")
    zh = _get(live, "/v1/kpis", ZH, format="csv", group_by="priority")
    assert _csv_header(en)[:4] == ["group", "tickets", "resolved", "first_time_fix_rate"]
    assert _csv_header(zh)[:4] == ["分组", "工单数", "已解决", "一次修复率"]
    assert len(_csv_header(zh)) == len(_csv_header(en))
    assert en.text.splitlines()[1:] == zh.text.splitlines()[1:] and len(en.text.splitlines()) > 1
    assert zh.headers["content-language"] == "zh-CN"


def test_the_other_csv_exports_are_headed_in_chinese_too(live: tuple[str, str]) -> None:
    recon = _csv_header(_get(live, "/v1/reconciliation/", ZH, format="csv"))
    sla = _csv_header(_get(live, "/v1/sla/compliance", ZH, format="csv"))
    assert recon[:3] == ["编号", "类型", "状态"]
    assert sla[-1] == "达标率（%）"
    assert all(CJK.search(h) for h in recon + sla)
