"""An office transfer never overdraws a van (409 ``insufficient_stock``, nothing written), also when two race;
the tablet's consumption is still never refused."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx

from schemas.wire import MovePart
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.livesrv import LiveServer
from tests.support import RawDevice
from tools.demo_data import seed_demo


def stock(client: Any, headers: dict[str, str], location: str) -> dict[str, int]:
    r = client.get("/v1/stock", params={"location": location}, headers=headers)
    assert r.status_code == 200, r.text
    return {s["part_no"]: s["qty"] for s in r.json()}


def ledger(client: Any, headers: dict[str, str]) -> int:
    return len(client.get("/v1/movements", headers=headers).json())


def transfer(qty: int, part_no: str = "P-VALVE", **kw: Any) -> dict[str, Any]:
    return {"kind": "transfer", "part_no": part_no, "qty": qty, "from_location": "van-e-ana",
            "to_location": "van-e-ben", **kw}


def test_a_transfer_beyond_the_van_is_refused_and_writes_nothing(app_client: Any, services: Services, seeded: Any,
                                                                staff: Any) -> None:
    hdr = staff["backoffice"]
    assert stock(app_client, hdr, "van-e-ana")["P-VALVE"] == 5
    moves = ledger(app_client, hdr)
    r = app_client.post("/v1/movements", json=transfer(50), headers={**hdr, "Idempotency-Key": "big"})
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["code"] == "insufficient_stock"
    assert (problem["available"], problem["requested"], problem["location"]) == (5, 50, "van-e-ana")
    assert r.headers["content-type"].startswith("application/problem+json")
    assert ledger(app_client, hdr) == moves and stock(app_client, hdr, "van-e-ana")["P-VALVE"] == 5
    assert stock(app_client, hdr, "van-e-ben")["P-VALVE"] == 5
    zh = app_client.post("/v1/movements", json=transfer(6), headers={**hdr, "Accept-Language": "zh-CN"})
    assert zh.status_code == 409 and zh.json()["code"] == "insufficient_stock"
    # exactly what it holds moves
    assert app_client.post("/v1/movements", json=transfer(5), headers=hdr).status_code == 201
    assert stock(app_client, hdr, "van-e-ana")["P-VALVE"] == 0

    # the tablet's consumption is never refused: the van goes below zero (a reconciliation item) ...
    device = RawDevice(app_client, services, "e-ana")
    job_id = next(j["id"] for t in app_client.get("/v1/tickets", params={"engineer_id": "e-ana"},
                                                  headers=hdr).json() for j in t["jobs"])
    op = MovePart(**device.stamp(), job_id=job_id, kind="consume", part_no="P-IGN", qty=7)
    assert device.push([op]).results[0].result == "applied"
    assert stock(app_client, hdr, "van-e-ana")["P-IGN"] == -2
    # ... and the office cannot take anything more out of it
    r = app_client.post("/v1/movements", json=transfer(1, "P-IGN"), headers=hdr)
    assert r.status_code == 409 and r.json()["available"] == 0
    # a serial the van does not hold cannot leave it; a warehouse issue is not counted (ERP receipts)
    r = app_client.post("/v1/movements", json=transfer(1, "P-PUMP", serial="PUMP-NOWHERE"), headers=hdr)
    assert r.status_code in (404, 409)
    r = app_client.post("/v1/movements", headers=hdr, json={"kind": "issue", "part_no": "P-SEAL", "qty": 500,
                                                            "from_location": "wh-main", "to_location": "van-e-ana"})
    assert r.status_code == 201


def test_two_racing_transfers_never_overdraw_together(db_url: str, tmp_path: Path) -> None:
    """The real server on each backend: 8 transfers of 2 race out of a van of 5; exactly 2 go through."""
    services = Services(db=open_database(db_url), settings=get_settings(db_url=db_url, run_scheduler=False))
    seed_demo(services)
    hdr = {"authorization": f"Bearer {issue_staff_token(services, 'backoffice', 'stores')}"}
    services.db.close()
    server = LiveServer(db_url, tmp_path, env={"FIELDSYNC_WORKERS": "1"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert stock(http, hdr, "van-e-ana")["P-VALVE"] == 5
            moves = ledger(http, hdr)
        start = threading.Barrier(8)
        codes: list[int] = []

        def send() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                start.wait()
                codes.append(http.post("/v1/movements", json=transfer(2), headers=hdr).status_code)

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(codes) == [201, 201] + [409] * 6
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert stock(http, hdr, "van-e-ana")["P-VALVE"] == 1
            assert stock(http, hdr, "van-e-ben")["P-VALVE"] == 9
            assert ledger(http, hdr) == moves + 2
    finally:
        server.stop()
