"""Money reconciliation through the API: parts at price, labour, travel, warranty against billable, per job,
customer and period, in integer minor units with the currency; the CSV the accounting system imports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from schemas.wire import MovePart, SetStatus
from server.services import Services
from server.settings import SettingsError, get_settings
from tests.support import RawDevice, iso

MIN = 60_000
T0 = 1_790_035_200_000 + 9 * 60 * MIN  # Tuesday 2026-09-22 09:00 UTC, after the seeded data


@pytest.fixture
def priced(services: Services, clock: Any, seeded: Any) -> Iterator[tuple[Any, Services]]:
    from litestar.testing import TestClient

    from server.app import create_app

    euro = Services(db=services.db, clock=clock, settings=replace(
        services.settings, currency_code="EUR", labour_rate=10_001, travel_fee=5_000))
    with TestClient(create_app(services=euro, scheduler=False)) as client:
        yield client, euro


def job(client: Any, staff: Any, customer: str, asset: str | None = None) -> tuple[str, str]:
    body = {"customer": customer, "site": "S", "priority": "P2", **({"asset_serial": asset} if asset else {})}
    tid = client.post("/v1/tickets", json=body, headers=staff["dispatcher"]).json()["id"]
    r = client.post(f"/v1/tickets/{tid}/jobs", json={"engineer_id": "e-ben"}, headers=staff["dispatcher"])
    assert r.status_code == 201, r.text
    return tid, r.json()["jobs"][-1]["id"]


def walk(dev: RawDevice, clock: Any, job_id: str, steps: list[tuple[int, str]]) -> None:
    for at, status in steps:
        clock.now = at
        dev.open_session()
        assert dev.push([SetStatus(**dev.stamp(), job_id=job_id, status=status)]).results[0].result == "applied"


def use(dev: RawDevice, job_id: str, part_no: str, qty: int) -> None:
    assert dev.push([MovePart(**dev.stamp(), job_id=job_id, kind="consume", part_no=part_no, qty=qty)]
                    ).results[0].result == "applied"


def test_money_per_job_customer_and_period(priced: tuple[Any, Services], staff: Any, clock: Any) -> None:
    client, services = priced
    clock.now = T0
    hdr = staff["backoffice"]
    assert client.post("/v1/assets", json={"serial": "OLD-1", "customer": "Bravo", "warranty_until": iso(T0 - MIN)},
                       headers=hdr).status_code == 201
    ben = RawDevice(client, services, "e-ben")
    ta, ja = job(client, staff, "Acme")  # no known asset: its parts are billed
    walk(ben, clock, ja, [(T0 + 10 * MIN, "en_route"), (T0 + 30 * MIN, "on_site")])
    use(ben, ja, "P-VALVE", 2)
    walk(ben, clock, ja, [(T0 + 37 * MIN, "completed")])  # 7 min at 100.01/h: 11.6678 -> 11.67
    tb, jb = job(client, staff, "Bravo", asset="OLD-1")  # warranty ended yesterday
    walk(ben, clock, jb, [(T0 + 40 * MIN, "on_site")])
    use(ben, jb, "P-IGN", 1)
    walk(ben, clock, jb, [(T0 + 100 * MIN, "completed")])  # an hour: 100.01
    tc, jc = job(client, staff, "Acme")  # fixed by phone by the office: no labour, no travel
    clock.now = T0 + 2 * 60 * MIN
    assert client.post(f"/v1/jobs/{jc}/remote-resolution", json={"resolution": "reset"},
                       headers=hdr).status_code == 200
    _td, jd = job(client, staff, "Acme")  # on site, not finished: not in this period's money
    walk(ben, clock, jd, [(T0 + 130 * MIN, "on_site")])

    window = {"from": iso(T0), "to": iso(T0 + 3 * 60 * MIN)}
    r = client.get("/v1/reconciliation/money", params=window, headers=staff["dispatcher"])
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["currency"] == "EUR" and report["rates"] == {"labour_per_hour": 10_001, "travel_per_visit": 5_000}
    rows = {x["job_id"]: x for x in report["jobs"]}
    assert list(rows) == [ja, jb, jc]  # by completion
    keys = ("labour_minutes", "visits", "parts_billable", "parts_warranty", "labour", "travel", "billable_total",
            "warranty_cost", "under_warranty", "remote")
    assert tuple(rows[ja][k] for k in keys) == (7, 1, 8_400, 0, 1_167, 5_000, 14_567, 0, False, False)
    assert tuple(rows[jb][k] for k in keys) == (60, 1, 1_500, 0, 10_001, 5_000, 16_501, 0, False, False)
    assert tuple(rows[jc][k] for k in keys) == (0, 0, 0, 0, 0, 0, 0, 0, False, True)
    assert [(c["customer"], c["jobs"], c["billable_total"]) for c in report["customers"]] == [
        ("Acme", 2, 14_567), ("Bravo", 1, 16_501)]
    assert report["totals"]["billable_total"] == 31_068 and report["totals"]["currency"] == "EUR"
    assert all(isinstance(v, int) for x in report["jobs"] for k, v in x.items() if k in keys[:8])

    only = client.get("/v1/reconciliation/money", params={**window, "customer": "Bravo"}, headers=hdr).json()
    assert [x["job_id"] for x in only["jobs"]] == [jb]
    before = client.get("/v1/reconciliation/money", params={"from": iso(T0), "to": iso(T0 + 37 * MIN)},
                        headers=hdr).json()
    assert before["jobs"] == [] and before["totals"]["jobs"] == 0  # completed at 09:37: outside [09:00, 09:37)

    zh = client.get("/v1/reconciliation/money", params={**window, "format": "csv"},
                    headers={**hdr, "accept-language": "zh-CN"})
    assert zh.headers["content-language"] == "zh-CN"
    table = list(csv.reader(io.StringIO(zh.text)))
    assert table[0][:3] == ["派工单号", "工单号", "客户"] and len(table) == 4
    assert table[1][-3:] == ["14567", "0", "EUR"]
    for params, code in (({"format": "xml"}, "invalid_parameter"), ({"from": "yesterday"}, "bad_time"),
                         ({"from": str(T0)}, "bad_time"), ({"from": "2026-10-01", "to": "2026-09-01"}, "bad_range"),
                         ({"customer": "A\x00"}, "invalid_parameter")):
        r = client.get("/v1/reconciliation/money", params=params, headers=hdr)
        assert r.status_code == 400 and r.json()["code"] == code, params


@pytest.mark.parametrize(("name", "value"), [("FIELDSYNC_CURRENCY_CODE", "yuan"), ("FIELDSYNC_LABOUR_RATE", "-1"),
                                             ("FIELDSYNC_TRAVEL_FEE", "80.00")])
def test_a_bad_rate_or_currency_names_its_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        get_settings()


def test_rates_and_currency_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDSYNC_CURRENCY_CODE", "eur")
    monkeypatch.setenv("FIELDSYNC_LABOUR_RATE", "9000")
    monkeypatch.setenv("FIELDSYNC_TRAVEL_FEE", "0")
    s = get_settings()
    assert (s.currency_code, s.labour_rate, s.travel_fee) == ("EUR", 9000, 0)
