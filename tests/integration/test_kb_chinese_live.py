"""Knowledge-base search that understands Chinese, through a real ``fieldsync serve`` and an offline tablet.

The server runs on SQLite and on PostgreSQL; the cases reach the tablet (the
Python SDK) by sync, and the tablet then searches them with no network.  Every
query gives the same cases on the server and on the tablet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from client_sdk import FieldClient
from server.domain.devices.service import issue_enroll_token
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.livesrv import LiveServer
from tools.demo_data import seed_demo

MODEL = "Vitodens 200"
CASES = {
    "fan-noise-zh": {"symptom": "风机异响，运行时有摩擦声", "cause": "风机轴承磨损", "fix": "更换风机轴承",
                     "parts": ["P-BRG"]},
    "ignition-zh": {"symptom": "燃烧器点火失败", "cause": "点火电极老化", "fix": "更换点火电极，调整间隙"},
    "fan-en": {"symptom": "Fan noisy at start", "cause": "Fan bearing worn", "fix": "Replace the fan bearing"},
    "pump-en": {"symptom": "Pump noisy after the service visit, pressure drops and the boiler shows fault F4",
                "cause": "Air trapped in the pump", "fix": "Bleed the pump; the fan was checked too"},
}
#: query -> the cases it finds, best first where the order is asserted (a set where it is not)
EXPECTED: dict[str, list[str] | set[str]] = {
    "异响": ["fan-noise-zh"],
    "风机": ["fan-noise-zh"],
    "异": ["fan-noise-zh"],
    "风机异响": ["fan-noise-zh"],
    "轴承": ["fan-noise-zh"],
    "磨损 风机": ["fan-noise-zh"],
    "点火": ["ignition-zh"],
    "更换": {"fan-noise-zh", "ignition-zh"},
    "响异": [],  # the same characters in another order are another word
    "异响 点火": [],  # every part of a query must match
    "fan": ["fan-en", "pump-en"],  # three mentions in a short case rank above one in a long one
    "bearings": ["fan-en"],  # stemmed: bearings ~ bearing
    "noisy fans": ["fan-en", "pump-en"],
    "pressure dropping": ["pump-en"],
    "ＦＡＮ": ["fan-en", "pump-en"],  # full-width letters read as ASCII
    "refrigerant": [],
    '"* 风机 (: ^': ["fan-noise-zh"],  # never search syntax
}


class Live:
    def __init__(self, server: LiveServer, http: httpx.Client, office: str, staff: str, enroll: str) -> None:
        self.server, self.http, self.enroll_token = server, http, enroll
        self.office = {"authorization": f"Bearer {office}"}
        self.staff = {"authorization": f"Bearer {staff}"}
        self.ids: dict[str, str] = {}

    def search(self, q: str) -> list[str]:
        r = self.http.get("/v1/kb", params={"q": q}, headers=self.staff)
        assert r.status_code == 200, r.text
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[c["id"]] for c in r.json()]


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[Live]:
    services = Services(db=open_database(db_url), settings=get_settings(db_url=db_url, run_scheduler=False))
    seed_demo(services)  # e-ana has an open job on asset SN-1001
    office = issue_staff_token(services, "backoffice", "kb-office")
    staff = issue_staff_token(services, "dispatcher", "kb-dispatch")
    enroll, _ = issue_enroll_token(services, "e-ana")
    services.db.close()
    server = LiveServer(db_url, tmp_path).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            yield Live(server, http, office, staff, enroll)
    finally:
        server.stop()


def add_cases(live: Live) -> None:
    r = live.http.post("/v1/assets", json={"serial": "SN-1001", "model": MODEL, "equipment_type": "boiler",
                                           "customer": "某某医院", "site": "锅炉房"}, headers=live.office)
    assert r.status_code == 201, r.text
    for name, case in CASES.items():
        r = live.http.post("/v1/kb", json={**case, "model": MODEL}, headers=live.office)
        assert r.status_code == 201, r.text
        live.ids[name] = r.json()["id"]


def check(found: list[str], expected: list[str] | set[str], query: str) -> None:
    if isinstance(expected, set):
        assert set(found) == expected and len(found) == len(expected), query
    else:
        assert found == expected, query


def test_chinese_and_english_queries_find_the_same_cases_on_the_server_and_the_offline_tablet(
        live: Live, tmp_path: Path) -> None:
    tablet = FieldClient.open(tmp_path / "tablet.db", server_url=live.server.url)
    try:
        tablet.enroll(live.enroll_token)
        add_cases(live)
        assert tablet.sync().ok
    finally:
        tablet.close()

    on_server = {q: live.search(q) for q in EXPECTED}
    for query, expected in EXPECTED.items():
        check(on_server[query], expected, query)

    # the tablet with no network: the cases it pulled, searched by the same rule
    offline = FieldClient.open(tmp_path / "tablet.db", server_url="http://127.0.0.1:9")
    try:
        assert offline.sync().offline
        by_id = {v: k for k, v in live.ids.items()}
        for query, expected in EXPECTED.items():
            found = [by_id[c.id] for c in offline.search_kb(query)]
            check(found, expected, query)
        [case] = offline.search_kb("异响")
        assert case.symptom == "风机异响，运行时有摩擦声" and case.parts == ["P-BRG"]
    finally:
        offline.close()


def test_a_query_too_long_is_refused_and_an_empty_one_lists_the_newest(live: Live) -> None:
    add_cases(live)
    r = live.http.get("/v1/kb", params={"q": "风" * 1001}, headers=live.staff)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    assert live.search("风机 " * 300) == ["fan-noise-zh"]  # a long query, each token asked once
    assert len(live.search("")) == len(CASES) and live.search("，。") == live.search("")

