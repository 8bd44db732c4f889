"""Reconciliation: discrepancies derived from the records, one item per discrepancy, resolvable, exportable."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from schemas.wire import AnswerItem, Attach, MovePart, Op, SetStatus
from server.security import issue_staff_token
from server.services import Services
from tests.support import RawDevice, iso

DAY_MS = 24 * 3600 * 1000


def job_of(dev: RawDevice) -> dict[str, Any]:
    """The first job of the device's engineer, from the back-office API (not from a pull)."""
    token = issue_staff_token(dev.services, "dispatcher")
    tickets = dev.client.get("/v1/tickets", params={"engineer_id": dev.enrollment.engineer_id},
                             headers={"authorization": f"Bearer {token}"}).json()
    mine = dev.enrollment.engineer_id
    jobs: list[dict[str, Any]] = [j for t in tickets for j in t["jobs"] if j["engineer_id"] == mine]
    return sorted(jobs, key=lambda j: j["id"])[0]


def recon(client: Any, hdr: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    r = client.get("/v1/reconciliation", params=params, headers=hdr)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


@pytest.fixture
def devices(app_client: Any, services: Services, seeded: Any) -> dict[str, RawDevice]:
    return {e: RawDevice(app_client, services, e) for e in ("e-ana", "e-ben", "e-chen")}


def consume(dev: RawDevice, job_id: str, part_no: str, **kw: Any) -> str:
    op = MovePart(**dev.stamp(), job_id=job_id, kind="consume", part_no=part_no, **kw)
    r = dev.push([op])
    assert r.results[0].result == "applied", r.results
    return op.op_id


def test_one_serial_consumed_by_two_engineers_is_one_item_with_both_records(
        app_client: Any, devices: dict[str, RawDevice], staff: Any) -> None:
    hdr = staff["backoffice"]
    ana, ben = devices["e-ana"], devices["e-ben"]
    # both offline all day; both fit the same control board (it was in Ana's van)
    m1 = consume(ana, job_of(ana)["id"], "P-PCB", serial="PCB-e-ana-0")
    m2 = consume(ben, job_of(ben)["id"], "P-PCB", serial="PCB-e-ana-0")
    items = recon(app_client, hdr, kind="serial_consumed_twice")
    assert len(items) == 1
    (item,) = items
    assert item["key"] == "P-PCB/PCB-e-ana-0" and item["status"] == "open"
    assert {r["id"] for r in item["records"]} == {m1, m2}
    assert {r["engineer_id"] for r in item["records"]} == {"e-ana", "e-ben"} == set(item["engineer_ids"])
    # the same item (same id) whichever engineer one filters by; none for an engineer not involved
    assert [i["id"] for i in recon(app_client, hdr, engineer="e-ben", kind="serial_consumed_twice")] == [item["id"]]
    assert recon(app_client, hdr, engineer="e-chen", kind="serial_consumed_twice") == []
    # Ben had two boards of his own in the van, so only the serial is wrong, not the count
    assert recon(app_client, hdr, kind="negative_van_stock") == []

    r = app_client.post(f"/v1/reconciliation/{item['id']}/resolve", json={"comment": "Ben's board was PCB-e-ben-0"},
                        headers=hdr)
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    (again,) = recon(app_client, hdr, kind="serial_consumed_twice")
    assert again["id"] == item["id"] and again["status"] == "resolved"
    assert again["history"][-1]["comment"] == "Ben's board was PCB-e-ben-0"
    assert recon(app_client, hdr, kind="serial_consumed_twice", status="open") == []
    r = app_client.post(f"/v1/reconciliation/{item['id']}/resolve", json={"comment": "again"}, headers=hdr)
    assert r.status_code == 409 and r.json()["code"] == "already_resolved"
    # a third use of the same serial is news: the item opens again, the earlier resolution kept
    chen = devices["e-chen"]
    consume(chen, job_of(chen)["id"], "P-PCB", serial="PCB-e-ana-0")
    (reopened,) = recon(app_client, hdr, kind="serial_consumed_twice")
    assert reopened["status"] == "open" and len(reopened["records"]) == 3
    assert any(h.get("comment") == "Ben's board was PCB-e-ben-0" for h in reopened["history"])


def test_every_kind_of_discrepancy_and_the_csv_export(app_client: Any, services: Services, clock: Any,
                                                      devices: dict[str, RawDevice], staff: Any) -> None:
    hdr = staff["backoffice"]
    ana, ben = devices["e-ana"], devices["e-ben"]
    job = job_of(ana)
    ops: list[Op] = [SetStatus(**ana.stamp(), job_id=job["id"], status=s)
                     for s in ("accepted", "en_route", "on_site", "in_progress")]
    ops += [AnswerItem(**ana.stamp(), job_id=job["id"], item_key=k, value=v)
            for k, v in {"gas_tight": True, "flue_co2": 9.0, "pressure_bar": 1.2, "condition": "good"}.items()]
    ops += [SetStatus(**ana.stamp(), job_id=job["id"], status="completed"),
            Attach(**ana.stamp(), job_id=job["id"], sha256="ab" * 32, size=1000),  # bytes never uploaded
            MovePart(**ana.stamp(), job_id=job["id"], kind="consume", part_no="P-SEAL", qty=8)]  # van holds 5
    assert all(r.result == "applied" for r in ana.push(ops).results)
    ben_job = job_of(ben)
    ben.push([AnswerItem(**ben.stamp(), job_id=ben_job["id"], item_key="condition", value="fair")])
    second = RawDevice(app_client, services, "e-ben")
    second.push([AnswerItem(**second.stamp(), job_id=ben_job["id"], item_key="condition", value="poor")])
    # Ben's tablet was offline for two days: work done then arrives now
    clock.advance(2 * DAY_MS)
    old = clock.now - 2 * DAY_MS
    late = SetStatus(op_id="late-1", hlc=ben.stamp()["hlc"], at=old, job_id=ben_job["id"], status="accepted")
    ben.open_session()
    ben.push([late])

    kinds = {i["kind"]: i for i in recon(app_client, hdr)}
    assert {"completed_without_signoff", "evidence_missing", "negative_van_stock", "open_conflict",
            "late_sync"} <= kinds.keys()
    assert kinds["completed_without_signoff"]["job_id"] == job["id"]
    assert kinds["evidence_missing"]["records"][0]["sha256"] == "ab" * 32
    neg = kinds["negative_van_stock"]
    assert neg["key"] == "van-e-ana/P-SEAL" and neg["records"][0]["qty"] == -3 and neg["engineer_id"] == "e-ana"
    assert kinds["open_conflict"]["job_id"] == ben_job["id"]
    assert kinds["late_sync"]["job_id"] == ben_job["id"] and kinds["late_sync"]["records"][0]["delay_s"] >= 2 * 86400
    # filters: period, engineer, several kinds
    assert all(i["engineer_id"] in ("e-ben", None) or "e-ben" in i["engineer_ids"]
               for i in recon(app_client, hdr, engineer="e-ben"))
    assert {i["kind"] for i in recon(app_client, hdr, kind="late_sync,open_conflict")} == {"late_sync",
                                                                                          "open_conflict"}
    assert recon(app_client, hdr, **{"from": iso(clock.now + DAY_MS)}) == []
    assert recon(app_client, hdr, **{"to": iso(old - DAY_MS)}) == []

    r = app_client.get("/v1/reconciliation", params={"format": "csv"}, headers=hdr)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["kind"] for row in rows} == {i["kind"] for i in recon(app_client, hdr)}
    assert {row["id"] for row in rows} == {i["id"] for i in recon(app_client, hdr)}


@pytest.mark.parametrize("params,code", [
    ({"kind": "nonsense"}, "invalid_parameter"),
    ({"from": 10, "to": 5}, "bad_time"),
    ({"from": "2026-09-22", "to": "2026-09-21"}, "bad_range"),
    ({"format": "xml"}, "invalid_parameter"),
    ({"status": "maybe"}, "invalid_parameter"),
    ({"from": "yesterday"}, "bad_time"),
    ({"to": 2**70}, "bad_time"),
    ({"to": "99999-01-01T00:00:00Z"}, "bad_time"),
])
def test_bad_filters_are_clear_400s(app_client: Any, staff: Any, seeded: Any, params: dict[str, Any],
                                    code: str) -> None:
    r = app_client.get("/v1/reconciliation", params=params, headers=staff["backoffice"])
    assert r.status_code == 400 and r.json()["code"] == code, r.text


def test_resolve_needs_a_current_item_a_comment_and_the_backoffice(app_client: Any, staff: Any, seeded: Any) -> None:
    r = app_client.post("/v1/reconciliation/R-nope/resolve", json={"comment": "x"}, headers=staff["backoffice"])
    assert r.status_code == 404 and r.json()["code"] == "unknown_recon_item"
    r = app_client.post("/v1/reconciliation/R-nope/resolve", json={"comment": "  "}, headers=staff["backoffice"])
    assert r.status_code == 400 and r.json()["code"] == "comment_required"
    r = app_client.post("/v1/reconciliation/R-nope/resolve", json={"comment": "x"}, headers=staff["dispatcher"])
    assert r.status_code == 403
    assert app_client.get("/v1/reconciliation").status_code == 401
