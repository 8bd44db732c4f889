"""One resolution for a conflict, visible in the review queue and in reconciliation alike.

An ``open_conflict`` reconciliation item is a conflict of the review queue: it is
resolved by resolving that conflict, and then shows as resolved (with the
conflict's resolution) under ``status=all`` instead of vanishing.  Resolving it
from reconciliation is refused with a pointer to the conflict, and changes
nothing.  Over HTTP against a real ``fieldsync serve``, with real tablets
producing the conflicts; on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client_sdk import FieldClient
from server.domain.devices.service import issue_enroll_token
from server.domain.reconciliation.service import item_id
from server.security import issue_staff_token
from server.services import Services
from tests.livesrv import LiveServer
from tools.demo_data import seed_demo


@pytest.fixture
def services(db: Any, db_url: str) -> Services:
    """Real wall-clock time: the server process runs on it too."""
    from server.settings import get_settings

    return Services(db=db, settings=get_settings(db_url=db_url, run_scheduler=False))


@pytest.fixture
def office(services: Services, db_url: str, tmp_path: Path) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """A back-office HTTP client on a live server with the demo data, and the conflicts two tablets raised."""
    seed_demo(services)
    server = LiveServer(db_url, tmp_path).start()
    tablets = []
    try:
        for name in ("ana-1", "ana-2"):
            tablet = FieldClient.open(tmp_path / f"{name}.db", server_url=server.url)
            tablet.enroll(issue_enroll_token(services, "e-ana")[0])
            assert tablet.sync().ok
            tablets.append(tablet)
        first, second = tablets
        job = first.jobs()[0].id
        # offline, the two tablets disagree on an answer and on the diagnosis
        first.answer(job, "condition", "good")
        first.set_field(job, "diagnosis", "Ignition electrode worn")
        second.answer(job, "condition", "poor")
        second.set_field(job, "diagnosis", "Gas valve sticking")
        assert first.sync().ok and second.sync().ok
        token = issue_staff_token(services, "backoffice", "bo-user")
        with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as http:
            conflicts = http.get("/v1/conflicts", params={"job_id": job}).json()
            assert sorted(c["kind"] for c in conflicts) == ["answer", "field"], conflicts
            yield http, {c["kind"]: c["id"] for c in conflicts}
    finally:
        for t in tablets:
            t.close()
        server.stop()


def recon(http: httpx.Client, **params: str) -> dict[str, dict[str, Any]]:
    r = http.get("/v1/reconciliation", params={"kind": "open_conflict", **params})
    assert r.status_code == 200, r.text
    return {i["key"]: i for i in r.json()["items"]}


def test_resolving_in_the_review_queue_resolves_the_reconciliation_item(office: Any) -> None:
    http, conflicts = office
    cid = conflicts["answer"]
    item = recon(http)[cid]
    assert item["id"] == item_id("open_conflict", cid) and item["status"] == "open"

    r = http.post(f"/v1/conflicts/{cid}/resolve", json={"choice": 1, "comment": "corrosion on the casing"})
    assert r.status_code == 200 and r.json()["status"] == "resolved"

    everything = recon(http, status="all")
    assert cid in everything, "a resolved conflict stays listed under status=all"
    done = everything[cid]
    assert done["id"] == item["id"] and done["status"] == "resolved"
    assert "resolved in the review queue" in done["summary"]
    entry = done["history"][-1]
    assert entry["action"] == "resolved" and entry["by"] == "bo-user" and entry["in"] == "review_queue"
    assert entry["kept"] == "poor" and entry["comment"] == "corrosion on the casing" and entry["conflict_id"] == cid
    assert cid not in recon(http, status="open") and cid in recon(http, status="resolved")
    assert conflicts["field"] in recon(http, status="open"), "the other conflict is still open in both places"
    rows = {row["key"]: row for row in csv.DictReader(io.StringIO(
        http.get("/v1/reconciliation", params={"format": "csv", "kind": "open_conflict", "status": "resolved"}).text))}
    assert rows[cid]["status"] == "resolved" and rows[cid]["last_comment"] == "corrosion on the casing"

    r = http.post(f"/v1/reconciliation/{item['id']}/resolve", json={"comment": "again"})
    assert r.status_code == 409 and r.json()["code"] == "already_resolved"


def test_resolving_from_reconciliation_leads_to_the_conflict_and_changes_nothing(office: Any) -> None:
    http, conflicts = office
    cid = conflicts["field"]
    item = recon(http)[cid]
    before = http.get(f"/v1/conflicts/{cid}").json()

    r = http.post(f"/v1/reconciliation/{item['id']}/resolve", json={"comment": "valve replaced"})
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "resolve_in_review_queue" and problem["conflict_id"] == cid
    assert f"/v1/conflicts/{cid}/resolve" in problem["detail"]
    assert http.get(f"/v1/conflicts/{cid}").json() == before, "the conflict is untouched"
    assert recon(http, status="all")[cid]["status"] == "open"
    assert recon(http, status="all")[cid]["history"] == []

    # following the pointer settles both views at once
    r = http.post(f"/v1/conflicts/{problem['conflict_id']}/resolve", json={"value": "Gas valve sticking, replaced"})
    assert r.status_code == 200
    assert cid not in {c["id"] for c in http.get("/v1/conflicts", params={"status": "open"}).json()}
    done = recon(http, status="all")[cid]
    assert done["status"] == "resolved" and done["history"][-1]["kept"] == "Gas valve sticking, replaced"
