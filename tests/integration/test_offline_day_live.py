"""End to end over the real HTTP server on loopback: two engineers' tablets work a full offline day.

Runs on SQLite and on PostgreSQL.  The server process is a real ``fieldsync serve``; the tablets are
real SDK clients with their own SQLite files.  At the end the server holds exactly what they recorded,
and a third tablet enrolled for the same engineer pulls the same state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client_sdk import FieldClient
from server.domain.devices.service import issue_enroll_token
from server.domain.tickets.jobs import job_detail
from server.services import Services
from tests.livesrv import LiveServer, free_port
from tools.demo_data import seed_demo

STROKES = [[10, 10, 40, 60, 80, 20, 120, 70], [130, 40, 160, 45, 190, 42]]


@pytest.fixture
def services(db: Any, db_url: str) -> Services:
    """Real wall-clock time: the server process runs on it too."""
    from server.settings import get_settings

    return Services(db=db, settings=get_settings(db_url=db_url, run_scheduler=False))


@pytest.fixture
def live(services: Services, db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    seed_demo(services)
    server = LiveServer(db_url, tmp_path).start()
    yield server
    server.stop()


def tablet(path: Path, url: str, services: Services, engineer: str) -> FieldClient:
    client = FieldClient.open(path, server_url=url)
    token, _ = issue_enroll_token(services, engineer)
    client.enroll(token)
    return client


def work_a_day(c: FieldClient, job_id: str, serial: str | None) -> dict[str, Any]:
    """What an engineer does on one job while offline; returns what was recorded."""
    c.set_status(job_id, "accepted")
    c.set_status(job_id, "en_route")
    c.set_status(job_id, "on_site")
    c.set_status(job_id, "in_progress")
    c.set_field(job_id, "diagnosis", "Ignition electrode worn; gas valve sticking")
    answers = {"gas_tight": True, "flue_co2": 9.2, "pressure_bar": 1.4, "condition": "fair",
               "remarks": "Customer asked for a quote for a new pump"}
    for key, value in answers.items():
        c.answer(job_id, key, value)
    c.use_part(job_id, "P-IGN", qty=1)
    c.use_part(job_id, "P-SEAL", qty=2)
    if serial:
        c.use_part(job_id, "P-PCB", serial=serial, returned_serial=f"OLD-{serial}")
    photo = b"\x89PNG\r\n\x1a\n" + job_id.encode() * 5000
    sha = c.attach(job_id, photo)
    c.set_field(job_id, "resolution", "Replaced electrode and seals; tested")
    c.set_status(job_id, "completed")
    c.sign_off(job_id, "Maria Customer", STROKES)
    return {"answers": answers, "photo": sha}


def test_two_engineers_work_offline_and_the_server_holds_exactly_what_they_recorded(
        live: LiveServer, services: Services, tmp_path: Path) -> None:
    ana = tablet(tmp_path / "ana.db", live.url, services, "e-ana")
    ben = tablet(tmp_path / "ben.db", live.url, services, "e-ben")
    assert ana.sync().ok and ben.sync().ok
    recorded: dict[str, dict[str, Any]] = {}
    for client in (ana, ben):
        job_id = client.jobs()[0].id
        serial = "PCB-e-ana-0" if client is ana else None
        recorded[job_id] = work_a_day(client, job_id, serial)
    # the link is down all day: a sync attempt against an unreachable server reports offline, loses nothing
    dead = FieldClient.open(tmp_path / "ana.db", server_url=f"http://127.0.0.1:{free_port()}")
    pending_before = len(ana.pending())
    ana.close()
    report = dead.sync()
    assert report.offline and len(dead.pending()) == pending_before
    dead.close()
    ana = FieldClient.open(tmp_path / "ana.db", server_url=live.url)

    for client in (ana, ben):
        report = client.sync()
        assert report.ok and report.rejected == 0 and report.needs_review == 0, report
        assert client.pending() == []
        assert all(r.result in ("applied", "merged") for r in client.op_results())

    for job_id, rec in recorded.items():
        detail = job_detail(services, job_id)
        assert detail["job"]["status"] == "signed_off"
        assert {a["item_key"]: a["value"] for a in detail["answers"]} == rec["answers"]
        assert detail["signoff"]["digest_matches"] is True and detail["signoff"]["signer_name"] == "Maria Customer"
        assert [a["sha256"] for a in detail["attachments"]] == [rec["photo"]]
        assert detail["attachments"][0]["arrived"] and detail["evidence_missing"] == 0
        consumed = sorted((p["part_no"], p["qty"]) for p in detail["parts"] if p["kind"] == "consume")
        expected = [("P-IGN", 1), ("P-SEAL", 2)] + ([("P-PCB", 1)] if job_id == ana.jobs()[0].id else [])
        assert consumed == sorted(expected)
        kinds = [e["kind"] for e in detail["timeline"]]
        for k in ("acknowledged", "en_route", "on_site", "completed", "signed_off"):
            assert k in kinds
        assert detail["job"]["diagnosis"].startswith("Ignition")

    # a third tablet for the same engineer pulls the same state
    third = tablet(tmp_path / "ana-2.db", live.url, services, "e-ana")
    assert third.sync().ok
    for job in ana.jobs():
        mine, theirs = ana.job(job.id), third.job(job.id)
        assert theirs.job.status == mine.job.status
        assert theirs.job.diagnosis == mine.job.diagnosis and theirs.job.resolution == mine.job.resolution
        assert {a.item_key: a.value for a in theirs.answers} == {a.item_key: a.value for a in mine.answers}
        assert (theirs.signoff is None) == (mine.signoff is None)
    assert {(s.part_no, s.qty) for s in third.stock()} == {(s.part_no, s.qty) for s in ana.stock()}
    for c in (ana, ben, third):
        c.close()
