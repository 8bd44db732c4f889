"""The sync protocol over the HTTP app: exactly-once push, refusals, merge rules, pull scope."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from schemas.codec import encode
from schemas.wire import AnswerItem, MovePart, PullRequest, SetField, SetStatus, SignedChangeSet
from server.services import Services
from tests.support import RawDevice


def table_count(services: Services, table: str) -> int:
    with services.db.read() as tx:
        row = tx.one(f"SELECT COUNT(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


def snapshot(services: Services) -> dict[str, int]:
    return {t: table_count(services, t) for t in ("changesets", "answers", "movements", "conflicts", "changes",
                                                   "ticket_events", "signoffs")}


def first_job(dev: RawDevice) -> dict[str, Any]:
    return next(iter(dev.jobs().values()))


@pytest.fixture
def ana(app_client: Any, services: Services, seeded: Any) -> RawDevice:
    return RawDevice(app_client, services, "e-ana")


def test_push_applies_ops_and_resend_returns_the_stored_receipt(ana: RawDevice, services: Services) -> None:
    job = first_job(ana)
    envelope = ana.seal([SetStatus(**ana.stamp(), job_id=job["id"], status="accepted"),
                         AnswerItem(**ana.stamp(), job_id=job["id"], item_key="gas_tight", value=True)])
    first = ana.send(envelope)
    assert first.status_code == 200
    before = snapshot(services)
    for _ in range(3):  # response lost: the tablet sends the same bytes again
        again = ana.send(envelope)
        assert again.status_code == 200 and again.content == first.content
    assert snapshot(services) == before


def test_a_rejected_op_does_not_block_the_ops_behind_it(ana: RawDevice) -> None:
    job = first_job(ana)
    receipt = ana.push([
        AnswerItem(**ana.stamp(), job_id=job["id"], item_key="flue_co2", value=99),  # out of range
        AnswerItem(**ana.stamp(), job_id=job["id"], item_key="no_such_item", value=True),
        SetStatus(**ana.stamp(), job_id=job["id"], status="teleported"),
        AnswerItem(**ana.stamp(), job_id=job["id"], item_key="flue_co2", value=9.5),
    ])
    assert [(r.result, r.reason) for r in receipt.results] == [
        ("rejected", "above_range"), ("rejected", "unknown_item"), ("rejected", "unknown_status"),
        ("applied", None)]


def test_forged_signature_is_refused_and_writes_nothing(ana: RawDevice, services: Services) -> None:
    import msgspec

    job = first_job(ana)
    envelope = ana.seal([SetStatus(**ana.stamp(), job_id=job["id"], status="accepted")])
    signed = msgspec.msgpack.decode(envelope, type=SignedChangeSet)
    forged = encode(SignedChangeSet(changeset=signed.changeset, signature=bytes(64)))
    flipped = signed.changeset[:-1] + bytes([signed.changeset[-1] ^ 1])
    tampered = encode(SignedChangeSet(changeset=flipped, signature=signed.signature))
    before = snapshot(services)
    for body in (forged, tampered):
        r = ana.send(body)
        assert r.status_code == 400 and r.json()["code"] == "bad_signature"
    assert snapshot(services) == before


def test_gap_and_fork_are_refused_with_their_codes(ana: RawDevice, services: Services) -> None:
    from sync.core.changeset import ChainHead

    job = first_job(ana)
    ana.push([SetStatus(**ana.stamp(), job_id=job["id"], status="accepted")])
    before = snapshot(services)
    head = ana.head
    ana.head = ChainHead(head.seq + 5, head.hash)
    r = ana.send(ana.seal([SetStatus(**ana.stamp(), job_id=job["id"], status="en_route")]))
    assert r.status_code == 409 and r.json()["code"] == "chain_gap" and r.json()["expected_seq"] == 2
    ana.head = ChainHead(head.seq, "0" * 64)  # right seq, wrong previous hash
    r = ana.send(ana.seal([SetStatus(**ana.stamp(), job_id=job["id"], status="en_route")]))
    assert r.status_code == 409 and r.json()["code"] == "chain_fork"
    ana.head = ChainHead(0, "")  # a different change-set at an already used seq
    r = ana.send(ana.seal([SetStatus(**ana.stamp(), job_id=job["id"], status="en_route")]))
    assert r.status_code == 409 and r.json()["code"] == "chain_fork"
    assert snapshot(services) == before


def test_replay_by_another_device_is_refused(app_client: Any, ana: RawDevice, services: Services) -> None:
    thief = RawDevice(app_client, services, "e-ana")
    job = first_job(ana)
    envelope = ana.seal([SetStatus(**ana.stamp(), job_id=job["id"], status="accepted")])
    assert ana.send(envelope).status_code == 200
    before = snapshot(services)
    r = thief.send(envelope)
    assert r.status_code == 400 and r.json()["code"] == "bad_signature"
    assert snapshot(services) == before


def test_revoked_device_is_refused_everywhere(app_client: Any, ana: RawDevice, services: Services,
                                              staff: Any) -> None:
    job = first_job(ana)
    r = app_client.post(f"/v1/devices/{ana.device_id}/revoke", headers=staff["admin"])
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    before = snapshot(services)
    r = ana.send(ana.seal([SetStatus(**ana.stamp(), job_id=job["id"], status="accepted")]))
    assert r.status_code == 403 and r.json()["code"] == "device_revoked"
    r = app_client.post("/v1/sync/pull", content=encode(PullRequest()), headers=ana.headers)
    assert r.status_code == 403
    r = app_client.post("/v1/devices/challenge", content=encode({"device_id": ana.device_id}),
                        headers={"content-type": "application/msgpack"})
    assert r.status_code == 403 and r.json()["code"] == "device_revoked"
    assert snapshot(services) == before


def test_enrollment_token_is_single_use_and_expires(app_client: Any, services: Services, seeded: Any,
                                                    clock: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from schemas.wire import EnrollRequest
    from server.domain.devices.service import issue_enroll_token

    def enroll(token: str) -> Any:
        pub = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return app_client.post("/v1/devices/enroll", content=encode(EnrollRequest(token=token, public_key=pub)),
                               headers={"content-type": "application/msgpack"})

    token, _ = issue_enroll_token(services, "e-ben")
    assert enroll(token).status_code == 200
    r = enroll(token)
    assert r.status_code == 401 and r.json()["code"] == "token_used"
    late, _ = issue_enroll_token(services, "e-ben")
    clock.advance(services.settings.enroll_token_ttl_s * 1000 + 1)
    r = enroll(late)
    assert r.status_code == 401 and r.json()["code"] == "token_expired"
    r = enroll("fs_enroll_made_up")
    assert r.status_code == 401 and r.json()["code"] == "token_invalid"
    assert table_count(services, "devices") == 1


def test_engineer_cannot_write_or_see_a_job_not_theirs(app_client: Any, ana: RawDevice, services: Services) -> None:
    ben = RawDevice(app_client, services, "e-ben")
    ana_job = first_job(ana)
    assert ana_job["id"] not in ben.jobs()
    before = snapshot(services)
    receipt = ben.push([AnswerItem(**ben.stamp(), job_id=ana_job["id"], item_key="gas_tight", value=False)])
    assert receipt.results[0].result == "rejected" and receipt.results[0].reason == "not_your_job"
    after = snapshot(services)
    assert {k: after[k] - before[k] for k in after} == {"changesets": 1, "answers": 0, "movements": 0,
                                                        "conflicts": 0, "changes": 0, "ticket_events": 0,
                                                        "signoffs": 0}
    kinds = {c.kind for c in ben.pull()}
    stock_ids = [c.id for c in ben.pull() if c.kind == "stock"]
    assert all(s.startswith("van-e-ben/") for s in stock_ids)
    assert "job" in kinds or True


def test_session_works_with_a_tablet_clock_days_wrong(app_client: Any, services: Services, seeded: Any) -> None:
    dev = RawDevice(app_client, services, "e-chen", clock_skew_ms=-3 * 24 * 3600 * 1000)
    job = first_job(dev)
    receipt = dev.push([SetStatus(**dev.stamp(), job_id=job["id"], status="accepted")])
    assert receipt.results[0].result == "applied"
    assert receipt.clock_offset_ms == -3 * 24 * 3600 * 1000


def test_same_note_edited_offline_on_two_tablets_keeps_the_loser(app_client: Any, services: Services,
                                                                  seeded: Any) -> None:
    a1 = RawDevice(app_client, services, "e-ana")
    a2 = RawDevice(app_client, services, "e-ana")
    job = first_job(a1)
    r1 = a1.push([SetField(**a1.stamp(), job_id=job["id"], field="diagnosis", value="valve stuck")])
    services.clock.advance(1000)  # type: ignore[attr-defined]
    r2 = a2.push([SetField(**a2.stamp(), job_id=job["id"], field="diagnosis", value="ignition failure")])
    assert r1.results[0].result == "applied"
    assert r2.results[0].result == "merged" and r2.results[0].conflict_id
    conflict = app_client.get(f"/v1/conflicts/{r2.results[0].conflict_id}",
                              headers={"authorization": "Bearer x"})
    assert conflict.status_code == 401
    assert a1.jobs()[job["id"]]["diagnosis"] == a2.jobs()[job["id"]]["diagnosis"] == "ignition failure"
    with services.db.read() as tx:
        vals = tx.one("SELECT vals FROM conflicts WHERE id = ?", (r2.results[0].conflict_id,))
    assert vals is not None and "valve stuck" in vals["vals"]


def test_a_write_after_seeing_the_other_is_not_a_conflict(app_client: Any, services: Services, seeded: Any) -> None:
    a1 = RawDevice(app_client, services, "e-ana")
    a2 = RawDevice(app_client, services, "e-ana")
    job = first_job(a1)
    a1.push([SetField(**a1.stamp(), job_id=job["id"], field="notes", value="first")])
    seen = a2.jobs()[job["id"]]["field_hlc"]["notes"]
    r = a2.push([SetField(**a2.stamp(), job_id=job["id"], field="notes", value="second", base_hlc=seen)])
    assert r.results[0].result == "applied" and r.results[0].conflict_id is None


def test_same_checklist_item_answered_differently_goes_to_review_with_both(app_client: Any, services: Services,
                                                                            seeded: Any, staff: Any) -> None:
    a1 = RawDevice(app_client, services, "e-ana")
    a2 = RawDevice(app_client, services, "e-ana")
    job = first_job(a1)
    a1.push([AnswerItem(**a1.stamp(), job_id=job["id"], item_key="condition", value="good")])
    r = a2.push([AnswerItem(**a2.stamp(), job_id=job["id"], item_key="condition", value="poor")])
    assert r.results[0].result == "needs_review"
    c = app_client.get(f"/v1/conflicts/{r.results[0].conflict_id}", headers=staff["backoffice"]).json()
    assert [v["value"] for v in c["values"]] == ["good", "poor"]
    assert {v["device_id"] for v in c["values"]} == {a1.device_id, a2.device_id}
    # the back office picks the first answer: both tablets learn it on their next pull
    r = app_client.post(f"/v1/conflicts/{c['id']}/resolve", headers=staff["backoffice"], json={"choice": 0})
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    for dev in (a1, a2):
        answers = {ch.id: ch.data for ch in dev.pull() if ch.kind == "answer"}
        assert answers[f"{job['id']}/condition"]["value"] == "good"
    open_ids = [x["id"] for x in app_client.get("/v1/conflicts?status=open", headers=staff["backoffice"]).json()]
    assert c["id"] not in open_ids


def test_cancelled_centrally_completed_offline_keeps_the_work_for_review(app_client: Any, services: Services,
                                                                          seeded: Any, staff: Any) -> None:
    dev = RawDevice(app_client, services, "e-ana")
    job = first_job(dev)
    r = app_client.post(f"/v1/jobs/{job['id']}/status", headers=staff["dispatcher"], json={"status": "cancelled"})
    assert r.status_code == 200
    receipt = dev.push([
        SetStatus(**dev.stamp(), job_id=job["id"], status="on_site"),
        AnswerItem(**dev.stamp(), job_id=job["id"], item_key="gas_tight", value=True),
        MovePart(**dev.stamp(), job_id=job["id"], kind="consume", part_no="P-SEAL"),
    ])
    assert receipt.results[0].result == "needs_review"
    assert receipt.results[1].result == "applied" and receipt.results[2].result == "applied"
    conflicts = app_client.get("/v1/conflicts", headers=staff["backoffice"]).json()
    assert any(c["kind"] == "status" and c["values"][1]["value"] == "on_site" for c in conflicts)
    detail = app_client.get(f"/v1/jobs/{job['id']}", headers=staff["backoffice"]).json()
    assert detail["job"]["status"] == "cancelled"
    assert any(e["kind"] == "device_on_site" for e in detail["timeline"])


def test_reassignment_removes_the_job_and_keeps_late_work_as_review(app_client: Any, services: Services,
                                                                     seeded: Any, staff: Any) -> None:
    ana = RawDevice(app_client, services, "e-ana")
    job = first_job(ana)
    r = app_client.post(f"/v1/jobs/{job['id']}/assign", headers=staff["dispatcher"], json={"engineer_id": "e-ben"})
    assert r.status_code == 200
    removed = [c for c in ana.pull() if c.kind == "job_removed"]
    assert [c.id for c in removed] == [job["id"]]
    assert job["id"] not in ana.jobs()
    receipt = ana.push([AnswerItem(**ana.stamp(), job_id=job["id"], item_key="gas_tight", value=True)])
    assert receipt.results[0].result == "needs_review" and receipt.results[0].reason == "job_reassigned"
    ben = RawDevice(app_client, services, "e-ben")
    assert job["id"] in ben.jobs()


def test_a_clock_far_in_the_future_does_not_win_every_conflict(app_client: Any, services: Services,
                                                                seeded: Any) -> None:
    future = RawDevice(app_client, services, "e-ana", clock_skew_ms=365 * 24 * 3600 * 1000)
    honest = RawDevice(app_client, services, "e-ana")
    job = first_job(honest)
    future.push([SetField(**future.stamp(), job_id=job["id"], field="resolution", value="from the future")])
    services.clock.advance(60_000)  # type: ignore[attr-defined]
    r = honest.push([SetField(**honest.stamp(), job_id=job["id"], field="resolution", value="written later")])
    assert r.results[0].result == "merged"
    assert honest.jobs()[job["id"]]["resolution"] == "written later"


def test_parts_ledger_is_idempotent_by_op_id(ana: RawDevice, services: Services) -> None:
    job = first_job(ana)
    stamp = ana.stamp()
    r1 = ana.push([MovePart(**stamp, job_id=job["id"], kind="consume", part_no="P-VALVE")])
    r2 = ana.push([MovePart(**stamp, job_id=job["id"], kind="consume", part_no="P-VALVE")])
    assert r1.results[0].result == "applied"
    assert r2.results[0].result == "merged" and r2.results[0].reason == "duplicate_op"
    stock = {c.id: c.data["qty"] for c in ana.pull() if c.kind == "stock"}
    assert stock["van-e-ana/P-VALVE"] == 4


def test_oversized_and_garbage_bodies_are_refused(ana: RawDevice, app_client: Any, services: Services) -> None:
    before = snapshot(services)
    r = ana.send(b"\x00" * 10)
    assert r.status_code == 400 and r.json()["code"] == "malformed_changeset"
    r = ana.send(b"x" * (services.settings.max_body_bytes + 10))
    assert r.status_code == 413
    r = app_client.post("/v1/sync/pull", content=b"nonsense", headers=ana.headers)
    assert r.status_code == 400
    r = app_client.post("/v1/sync/pull", content=encode(PullRequest(cursor="not.a.cursor")), headers=ana.headers)
    assert r.status_code == 400 and r.json()["code"] == "bad_cursor"
    assert snapshot(services) == before


def test_customer_rating_and_comment_fields_are_validated_and_synced(ana: RawDevice) -> None:
    job = first_job(ana)
    receipt = ana.push([
        SetField(**ana.stamp(), job_id=job["id"], field="rating", value=4),
        SetField(**ana.stamp(), job_id=job["id"], field="customer_comment", value="Quick and tidy"),
        SetField(**ana.stamp(), job_id=job["id"], field="rating", value=9),
    ])
    assert [r.result for r in receipt.results] == ["applied", "applied", "rejected"]
    pulled = ana.jobs()[job["id"]]
    assert pulled["rating"] == 4 and pulled["customer_comment"] == "Quick and tidy"


def test_each_signoff_signature_is_judged_on_its_own_across_check_batches(ana: RawDevice, services: Services) -> None:
    """Sign-offs are checked on worker threads in batches; each verdict still belongs to its own op."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from schemas.wire import SignOff
    from server.domain.sync.signoff_checks import BATCH
    from sync.core.signoff import sign_off_message

    job_id = first_job(ana)["id"]
    stranger = Ed25519PrivateKey.generate()
    forged = {0, BATCH - 1, BATCH, 2 * BATCH + 3}
    ops = []
    for i in range(2 * BATCH + 5):
        at, digest = ana.now() + i, f"{i:064x}"
        signer = stranger if i in forged else ana.key
        ops.append(SignOff(**ana.stamp(), job_id=job_id, signer_name=f"Signer {i}", signer_role="customer",
                           signed_at=at, report_digest=digest, strokes=[[1, 2, 3, 4]],
                           device_signature=signer.sign(sign_off_message(job_id, digest, at, f"Signer {i}"))))
    receipt = ana.push(ops)
    bad = {i for i, r in enumerate(receipt.results) if r.reason == "bad_signoff_signature"}
    assert bad == forged
    assert all(receipt.results[i].result == "rejected" for i in forged)
    # the first good one is kept (for review: the job was not completed); later ones are second sign-offs
    assert receipt.results[1].result == "needs_review"
    with services.db.read() as tx:
        rows = tx.query("SELECT signer_name, device_signature FROM signoffs WHERE job_id = ?", (job_id,))
    assert [(r["signer_name"], bytes(r["device_signature"])) for r in rows] == [("Signer 1", ops[1].device_signature)]


def test_new_and_changed_answers_in_one_change_set_are_both_stored(ana: RawDevice, services: Services) -> None:
    """A push appends the answers a job did not have and updates the ones it had, in the same change-set."""
    job_id = first_job(ana)["id"]
    ana.push([AnswerItem(**ana.stamp(), job_id=job_id, item_key="gas_tight", value=True)])
    receipt = ana.push([AnswerItem(**ana.stamp(), job_id=job_id, item_key="gas_tight", value=False, note="leak"),
                        AnswerItem(**ana.stamp(), job_id=job_id, item_key="flue_co2", value=9.1),
                        AnswerItem(**ana.stamp(), job_id=job_id, item_key="flue_co2", value=9.3)])
    assert [r.result for r in receipt.results] == ["applied"] * 3
    with services.db.read() as tx:
        rows = tx.rows("SELECT item_key, value, note FROM answers WHERE job_id = ? ORDER BY item_key", (job_id,))
    assert rows == [("flue_co2", "9.3", None), ("gas_tight", "false", "leak")]
    assert {c.id: c.data["value"] for c in ana.pull() if c.kind == "answer"} == {
        f"{job_id}/flue_co2": 9.3, f"{job_id}/gas_tight": False}


def _signoff(dev: RawDevice, job_id: str, strokes: Any, name: str = "Pat Customer") -> Any:
    from schemas.wire import SignOff
    from sync.core.signoff import sign_off_message

    at, digest = dev.now(), "ab" * 32
    return SignOff(**dev.stamp(), job_id=job_id, signer_name=name, signer_role="customer", signed_at=at,
                   report_digest=digest, strokes=strokes,
                   device_signature=dev.key.sign(sign_off_message(job_id, digest, at, name)))


def test_signoff_strokes_are_stored_as_sent_and_malformed_ones_reject_only_their_op(
        ana: RawDevice, services: Services) -> None:
    """The server decodes strokes one sign-off at a time: a malformed one is refused alone, not the change-set."""
    jobs = list(ana.jobs())
    strokes = [[10, 20, 11, 22, 300, 299], [0, 0], [2**63 - 1, -(2**63)]]
    receipt = ana.push([
        _signoff(ana, jobs[0], [["not", "numbers"]]),
        _signoff(ana, jobs[0], [[1, 2.5]]),
        _signoff(ana, jobs[0], [[]] * 0),
        _signoff(ana, jobs[1], strokes),
        AnswerItem(**ana.stamp(), job_id=jobs[1], item_key="gas_tight", value=True),
    ])
    assert [(r.result, r.reason) for r in receipt.results[:3]] == [
        ("rejected", "malformed_strokes"), ("rejected", "malformed_strokes"), ("rejected", "signoff_incomplete")]
    assert receipt.results[3].result in ("applied", "needs_review") and receipt.results[4].result == "applied"
    with services.db.read() as tx:
        stored = tx.query("SELECT job_id, strokes FROM signoffs")
    assert [(r["job_id"], msgspec.json.decode(r["strokes"])) for r in stored] == [(jobs[1], strokes)]


def test_a_late_signoff_on_a_reassigned_job_is_kept_whole_for_review(app_client: Any, services: Services,
                                                                      seeded: Any, staff: Any) -> None:
    ana = RawDevice(app_client, services, "e-ana")
    job = first_job(ana)
    r = app_client.post(f"/v1/jobs/{job['id']}/assign", headers=staff["dispatcher"], json={"engineer_id": "e-ben"})
    assert r.status_code == 200
    op = _signoff(ana, job["id"], [[5, 6, 7, 8]])
    receipt = ana.push([op])
    assert receipt.results[0].result == "needs_review" and receipt.results[0].reason == "job_reassigned"
    with services.db.read() as tx:
        row = tx.one("SELECT key, vals FROM conflicts WHERE kind = 'late_work' AND job_id = ?", (job["id"],))
    assert row is not None and row["key"] == "visit"  # one item for the device's whole visit
    body = msgspec.json.decode(msgspec.json.decode(row["vals"])[1]["value"])
    assert body["type"] == "signoff" and body["strokes"] == [[5, 6, 7, 8]]
    # the device signature is kept, so the sign-off can still be checked when the visit is adopted
    assert body["signer_name"] == "Pat Customer" and body["op_id"] == op.op_id and body["device_signature"]


def test_a_pushs_state_is_freed_when_it_returns_not_at_the_next_full_collection(
        ana: RawDevice, monkeypatch: pytest.MonkeyPatch) -> None:
    """No reference cycle keeps a push's loaded jobs and rows alive (the server collects old objects rarely)."""
    import gc
    import weakref

    from server.domain.sync import push as push_module

    appliers: list[weakref.ref[Any]] = []
    original = push_module.PushApplier.__init__

    def remember(self: Any, *args: Any) -> None:
        original(self, *args)
        appliers.append(weakref.ref(self))

    monkeypatch.setattr(push_module.PushApplier, "__init__", remember)
    job_id = first_job(ana)["id"]
    gc.disable()
    try:
        receipt = ana.push([AnswerItem(**ana.stamp(), job_id=job_id, item_key="gas_tight", value=True),
                            _signoff(ana, job_id, [[1, 2, 3, 4]])])
        assert receipt.results[0].result == "applied"
        assert len(appliers) == 1 and appliers[0]() is None
    finally:
        gc.enable()
