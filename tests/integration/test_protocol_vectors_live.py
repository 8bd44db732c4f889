"""The protocol vectors against the running app: it takes the vector change-sets and session signature,
and the records it emits carry exactly the fields the vector pull page documents."""

from __future__ import annotations

import json
from typing import Any

from schemas.codec import challenge_decoder, encode, receipt_decoder, session_decoder, signed_decoder
from schemas.domain import AssignIn, JobIn, TicketIn
from schemas.instant import instant_of
from schemas.wire import AnswerItem, Attach, MovePart, SessionRequest, SetStatus, SignOff
from server.domain.kb.service import KbCaseIn, add_case
from server.domain.parts.service import AssetIn, create_asset
from server.domain.tickets.service import assign_job, create_job, create_ticket
from server.services import Services
from sync.core.signoff import sign_off_message, verify_signature
from tests.support import MSGPACK, RawDevice
from tools import vectors


def load(name: str) -> Any:
    return json.loads((vectors.VECTORS_DIR / name).read_text(encoding="utf-8"))


def test_the_server_opens_a_session_and_takes_the_vector_changesets(app_client: Any, services: Services) -> None:
    keys = load("keys.json")["device"]
    with services.db.write() as tx:  # the device as enrollment would have registered it
        tx.execute("INSERT INTO devices (id, engineer_id, name, public_key, enrolled_at) VALUES (?, ?, ?, ?, ?)",
                   (keys["device_id"], keys["engineer_id"], "vector", bytes.fromhex(keys["public_key"]), 0))
    r = app_client.post("/v1/devices/challenge", content=encode({"device_id": keys["device_id"]}), headers=MSGPACK)
    nonce = challenge_decoder.decode(r.content).nonce
    key = vectors.private_key(bytes.fromhex(keys["seed"]))
    r = app_client.post("/v1/devices/session", headers=MSGPACK, content=encode(SessionRequest(
        device_id=keys["device_id"], nonce=nonce, signature=key.sign(nonce.encode()))))
    assert r.status_code == 200, r.text
    headers = {"authorization": f"Device {session_decoder.decode(r.content).token}", **MSGPACK}
    for cs in load("changesets.json")["changesets"]:
        r = app_client.post("/v1/sync/push", content=bytes.fromhex(cs["envelope_msgpack"]), headers=headers)
        assert r.status_code == 200, r.text
        signed = signed_decoder.decode(r.content)
        assert verify_signature(services.key.public, signed.signature, signed.body)
        receipt = receipt_decoder.decode(signed.body)
        assert (receipt.seq, receipt.changeset_hash) == (cs["seq"], cs["changeset_sha256"])
        # the vector's job is not on this server: every op is answered, none applied
        assert [r.result for r in receipt.results] == ["rejected"] * len(cs["changeset"]["ops"])


def test_every_record_kind_the_server_emits_has_the_fields_of_the_vector(
        app_client: Any, services: Services, seeded: Any) -> None:
    create_asset(services, AssetIn(serial="SN-V1", model="ecoTEC plus 832", equipment_type="",
                                   customer="Hotel Aurora", site="Plant room",
                                   warranty_until=instant_of(2_000_000_000_000)))
    add_case(services, KbCaseIn(symptom="F.28 ignition failure", model="ecoTEC plus 832", parts=["P-IGN"]), "bo")
    ticket = create_ticket(services, TicketIn(customer="Hotel Aurora", site="Plant room", priority="P2",
                                              asset_serial="SN-V1"), "tester")
    job = JobIn(engineer_id="e-ana", checklist_template="boiler-service")
    job_id = create_job(services, ticket.id, job).jobs[-1].id
    ana = RawDevice(app_client, services, "e-ana")
    other = next(j for j in ana.jobs() if j != job_id)
    digest = "0" * 64
    at = ana.now()
    receipt = ana.push([
        SetStatus(**ana.stamp(), job_id=job_id, status="on_site"),
        AnswerItem(**ana.stamp(), job_id=job_id, item_key="gas_tight", value=True),
        MovePart(**ana.stamp(), job_id=job_id, kind="consume", part_no="P-SEAL"),
        Attach(**ana.stamp(), job_id=job_id, sha256="ab" * 32, size=3, content_type="image/jpeg"),
        SignOff(**ana.stamp(), job_id=job_id, signer_name="王芳", signer_role="customer", signed_at=at,
                report_digest=digest, strokes=[[1, 2, 3, 4]],
                device_signature=ana.key.sign(sign_off_message(job_id, digest, at, "王芳"))),
        SetStatus(**ana.stamp(), job_id=job_id, status="accepted"),  # refused: a status conflict for review
    ])
    assert [r.result for r in receipt.results][:5] == ["applied"] * 5, receipt.results
    assert receipt.results[5].result == "needs_review"
    assign_job(services, other, AssignIn(engineer_id="e-ben"), "tester")
    ana.cursor = ""
    emitted: dict[str, set[str]] = {}
    for change in ana.pull():
        emitted.setdefault(change.kind, set()).update(change.data)
    documented = {c["kind"]: set(c["data"]) for c in load("pull_page.json")["value"]["changes"]}
    assert emitted == documented
