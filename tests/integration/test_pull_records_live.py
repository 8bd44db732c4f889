"""Pull pages from the real server on loopback validate against the exported JSON Schema and decode into the
typed records of ``schemas.records``: what a Kotlin or Swift tablet built from the schema will receive.

Runs on SQLite and on PostgreSQL.  The server is a real ``fieldsync serve`` process; the device enrolls,
opens a session and pushes over HTTP; the office writes go through the services on the same database.
Between them the device's scope holds a record of every kind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import msgspec
import pytest

from client_sdk.apply import decode_page
from client_sdk.testing import record
from schemas.codec import encode, pull_page_decoder, signed_decoder
from schemas.domain import AssignIn, JobIn, PartIn, TicketIn
from schemas.export import JSON_DIR
from schemas.instant import instant_of
from schemas.records import BY_KIND, Record
from schemas.wire import AnswerItem, Attach, Delete, MovePart, PullRequest, SetStatus, SignOff
from server.domain.catalog.service import upsert_part
from server.domain.kb.service import KbCaseIn, add_case
from server.domain.parts.service import AssetIn, create_asset
from server.domain.tickets.service import assign_job, create_job, create_ticket
from server.services import Services
from sync.core.signoff import sign_off_message, verify_signature
from tests.livesrv import LiveServer
from tests.support import RawDevice
from tools.demo_data import seed_demo


@pytest.fixture
def services(db: Any, db_url: str) -> Services:
    """Real wall-clock time: the server process runs on it too."""
    from server.settings import get_settings  # the fixture's own settings, as the other live tests build them

    return Services(db=db, settings=get_settings(db_url=db_url, run_scheduler=False))


@pytest.fixture
def live(services: Services, db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    seed_demo(services)
    server = LiveServer(db_url, tmp_path).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads((JSON_DIR / "pull_page.schema.json").read_text(encoding="utf-8"))
    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema)
    return cls(schema)


def pull_bodies(device: RawDevice, limit: int = 20) -> list[bytes]:
    """Every signed pull page body of the device's scope from the start, its signature checked."""
    bodies, cursor = [], ""
    while True:
        r = device.client.post("/v1/sync/pull", content=encode(PullRequest(cursor=cursor, limit=limit)),
                               headers=device.headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/msgpack")
        signed = signed_decoder.decode(r.content)
        assert verify_signature(device.enrollment.server_public_key, signed.signature, signed.body)
        bodies.append(signed.body)
        page = msgspec.msgpack.decode(signed.body)
        cursor = page["cursor"]
        if not page["more"]:
            return bodies


def a_day_with_every_record_kind(services: Services, device: RawDevice) -> None:
    """Office writes and device pushes that put a record of each of the twelve kinds in the device's scope."""
    upsert_part(services, PartIn(part_no="P-LIVE", name="Live part", serialized=False, unit_price_cents=120))
    create_asset(services, AssetIn(serial="SN-LIVE", model="ecoTEC live", equipment_type="",
                                   customer="Hotel Aurora", site="Plant room",
                                   warranty_until=instant_of(4_000_000_000_000)))
    add_case(services, KbCaseIn(symptom="F.28 ignition failure", model="ecoTEC live", parts=["P-IGN"]), "bo")
    ticket = create_ticket(services, TicketIn(customer="Hotel Aurora", site="Plant room", priority="P2",
                                              asset_serial="SN-LIVE"), "tester")
    job = JobIn(engineer_id="e-ana", checklist_template="boiler-service")
    job_id = create_job(services, ticket.id, job).jobs[-1].id
    digest, at = "0" * 64, device.now()
    receipt = device.push([
        SetStatus(**device.stamp(), job_id=job_id, status="on_site"),
        AnswerItem(**device.stamp(), job_id=job_id, item_key="gas_tight", value=True, note="checked twice"),
        AnswerItem(**device.stamp(), job_id=job_id, item_key="flue_co2", value=9.5),
        MovePart(**device.stamp(), job_id=job_id, kind="consume", part_no="P-SEAL"),
        Attach(**device.stamp(), job_id=job_id, sha256="ab" * 32, size=3, content_type="image/jpeg"),
        Attach(**device.stamp(), job_id=job_id, sha256="cd" * 32, kind="document", size=5),
        Delete(**device.stamp(), job_id=job_id, entity="attachment", key="cd" * 32),
        SignOff(**device.stamp(), job_id=job_id, signer_name="王芳", signer_role="customer", signed_at=at,
                report_digest=digest, strokes=[[1, 2, 3, 4]],
                device_signature=device.key.sign(sign_off_message(job_id, digest, at, "王芳"))),
        SetStatus(**device.stamp(), job_id=job_id, status="accepted"),  # refused: a conflict for review
    ])
    assert [r.result for r in receipt.results][:8] == ["applied"] * 8, receipt.results
    assert receipt.results[8].result == "needs_review"
    other = next(j for j in device.jobs() if j != job_id)
    assign_job(services, other, AssignIn(engineer_id="e-ben"), "tester")  # a job_removed for e-ana


def test_a_real_pull_page_validates_against_the_json_schema_and_decodes_into_typed_records(
        live: LiveServer, services: Services, validator: jsonschema.protocols.Validator) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        device = RawDevice(http, services, "e-ana")  # type: ignore[arg-type]  # httpx.Client: the same calls
        a_day_with_every_record_kind(services, device)
        bodies = pull_bodies(device)
    assert len(bodies) > 1  # several pages, each checked on its own
    kinds: set[str] = set()
    for body in bodies:
        page = msgspec.msgpack.decode(body)
        errors = sorted(validator.iter_errors(page), key=str)
        assert errors == [], errors[0].message if errors else ""
        typed = pull_page_decoder.decode(body)  # the protocol's typed decoder: no record is a plain dict
        assert [type(r) for r in typed.changes] == [BY_KIND[c["kind"]] for c in page["changes"]]
        assert decode_page(body).changes == typed.changes  # the tablet SDK decodes into the same records
        kinds.update(c["kind"] for c in page["changes"])
    assert kinds == set(BY_KIND)  # every kind the protocol defines came through the real server


def test_the_schema_refuses_a_record_without_a_field_its_kind_requires(
        validator: jsonschema.protocols.Validator) -> None:
    changes = [msgspec.to_builtins(record(kind, rid)) for kind, rid in (("job", "J1"), ("stock", "van-1/P-1"))]
    page = {"protocol_version": 1, "device_id": "D", "cursor": "0.2", "more": False, "server_time": 1,
            "changes": changes}
    assert validator.is_valid(page)
    del changes[0]["data"]["status"]
    assert not validator.is_valid(page)
    with pytest.raises(msgspec.ValidationError, match="status"):
        msgspec.convert(changes[0], Record)
    changes[0]["data"]["status"] = "on_site"
    changes[1]["data"]["qty"] = "3"
    assert not validator.is_valid(page)
    changes[1]["data"]["qty"] = 3
    assert validator.is_valid(page)
