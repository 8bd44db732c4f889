"""Authorization, exhaustively: every /v1 route x every kind of caller, device scopes, revocation, rate limits.

The table below is the documented access policy.  A route in the OpenAPI
schema that is missing from it fails the test: add a row saying who may call
it.  ``STAFF`` = any staff role; ``DEVICE`` = a device session; ``PUBLIC`` =
device enrollment and authentication (rate limited); office = backoffice, admin.  Admin may do anything
staff may do.

| route | who |
|---|---|
| POST /v1/tickets, POST /v1/tickets/{id}/jobs, POST /v1/jobs/{id}/assign, /schedule | dispatcher, admin |
| POST /v1/jobs/{id}/status (cancel, close, reopen, hold) | dispatcher, backoffice, admin |
| POST /v1/engineers, /v1/engineers/{id}/deactivate, /activate | dispatcher, backoffice, admin |
| POST /v1/engineers/{id}/enroll-token | dispatcher, admin |
| POST templates, parts, locations, movements, assets; conflict, reconciliation, warranty decisions | office |
| POST /v1/devices/{id}/revoke, GET /v1/webhooks/deliveries | admin |
| PUT, DELETE /v1/kpis/targets/{kpi} | admin |
| POST plans, follow-up, acknowledge, customer-confirmation, close, kb | any staff role |
| POST /v1/customers, PATCH /v1/customers/{id}, POST /v1/customers/{id}/sites | any staff role |
| POST /v1/engineers/{id}/certifications, POST /v1/engineers/{id}/trainings | office |
| POST /v1/surveys (quarterly service-quality survey) | any staff role |
| every GET under /v1 (tickets, jobs, catalog, stock, devices, conflicts, SLA, reports, blobs) | any staff role |
| /v1/sync/push, pull, receipts/{seq}, uploads/{sha}, /v1/blobs/{sha} status and upload | a device session |
| /v1/devices/enroll, /challenge, /session | anyone (token / key proof inside) |
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from schemas.codec import encode
from schemas.wire import AnswerItem, Attach, EnrollRequest, MovePart, SetField, SetStatus, SignOff
from server.domain.devices.service import issue_enroll_token, revoke
from server.ratelimit import RateLimiter
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.conftest import Clock
from tests.support import MSGPACK, RawDevice

STAFF = frozenset({"dispatcher", "backoffice", "admin"})
DISPATCH = frozenset({"dispatcher", "admin"})
OFFICE = frozenset({"backoffice", "admin"})
ADMIN = frozenset({"admin"})
DEVICE = "device"
PUBLIC = "public"

#: (method, OpenAPI path) -> (who may call it, an example body that passes validation)
POLICY: dict[tuple[str, str], tuple[frozenset[str] | str, Any]] = {
    ("GET", "/v1/tickets"): (STAFF, None),
    ("POST", "/v1/tickets"): (DISPATCH, {"customer": "Matrix Ltd", "site": "Roof", "priority": "P3"}),
    ("GET", "/v1/tickets/{ticket_id}"): (STAFF, None),
    ("PATCH", "/v1/tickets/{ticket_id}"): (DISPATCH, {"title": "Matrix"}),
    ("POST", "/v1/tickets/{ticket_id}/jobs"): (DISPATCH, {"engineer_id": "e-chen"}),
    ("POST", "/v1/tickets/{ticket_id}/report-locale"): (DISPATCH, {"report_locale": "zh_CN"}),
    ("POST", "/v1/jobs/{job_id}/assign"): (DISPATCH, {"engineer_id": "e-chen"}),
    ("POST", "/v1/jobs/{job_id}/schedule"): (DISPATCH, {"scheduled_start": "2030-03-17T09:00:00Z"}),
    ("POST", "/v1/jobs/{job_id}/status"): (frozenset({"dispatcher", "backoffice", "admin"}), {"status": "closed"}),
    ("POST", "/v1/jobs/{job_id}/remote-resolution"): (frozenset({"dispatcher", "backoffice", "admin"}),
                                                      {"resolution": "reset by phone"}),
    ("GET", "/v1/jobs/{job_id}"): (STAFF, None),
    ("GET", "/v1/jobs/{job_id}/report.pdf"): (STAFF, None),
    ("GET", "/v1/engineers"): (STAFF, None),
    ("POST", "/v1/engineers"): (frozenset({"dispatcher", "backoffice", "admin"}), {"id": "e-new", "name": "New"}),
    ("POST", "/v1/engineers/{engineer_id}/enroll-token"): (DISPATCH, None),
    ("POST", "/v1/engineers/{engineer_id}/activate"): (STAFF, None),
    ("POST", "/v1/engineers/{engineer_id}/deactivate"): (STAFF, None),
    ("GET", "/v1/templates"): (STAFF, None),
    ("POST", "/v1/templates"): (OFFICE, {"id": "tpl-x", "name": "X", "items": [
        {"key": "ok", "label": "OK", "type": "pass_fail"}]}),
    ("GET", "/v1/templates/{template_id}"): (STAFF, None),
    ("GET", "/v1/parts"): (STAFF, None),
    ("POST", "/v1/parts"): (OFFICE, {"part_no": "P-NEW", "name": "New part"}),
    ("GET", "/v1/locations"): (STAFF, None),
    ("POST", "/v1/locations"): (OFFICE, {"id": "wh-2", "kind": "warehouse", "name": "Second"}),
    ("GET", "/v1/movements"): (STAFF, None),
    ("POST", "/v1/movements"): (OFFICE, {"kind": "adjust", "part_no": "P-SEAL", "qty": 1, "to_location": "wh-main"}),
    ("GET", "/v1/stock"): (STAFF, None),
    ("GET", "/v1/devices"): (STAFF, None),
    ("POST", "/v1/devices/{device_id}/revoke"): (ADMIN, None),
    ("GET", "/v1/webhooks/deliveries"): (ADMIN, None),
    ("POST", "/v1/devices/enroll"): (PUBLIC, None),
    ("POST", "/v1/devices/challenge"): (PUBLIC, None),
    ("POST", "/v1/devices/session"): (PUBLIC, None),
    ("POST", "/v1/sync/push"): (DEVICE, None),
    ("POST", "/v1/sync/pull"): (DEVICE, None),
    ("GET", "/v1/sync/receipts/{seq}"): (DEVICE, None),
    ("GET", "/v1/sync/uploads/{sha256}"): (DEVICE, None),
    ("PUT", "/v1/sync/uploads/{sha256}"): (DEVICE, None),
    ("POST", "/v1/sync/uploads/{sha256}/commit"): (DEVICE, None),
    ("GET", "/v1/blobs/{sha256}/status"): (DEVICE, None),
    ("PUT", "/v1/blobs/{sha256}"): (DEVICE, None),
    ("GET", "/v1/blobs/{sha256}"): (STAFF, None),
    ("GET", "/v1/conflicts"): (STAFF, None),
    ("GET", "/v1/conflicts/{conflict_id}"): (STAFF, None),
    ("POST", "/v1/conflicts/{conflict_id}/resolve"): (OFFICE, {"choice": 0}),
    ("POST", "/v1/conflicts/{conflict_id}/adopt"): (OFFICE, {}),
    ("POST", "/v1/conflicts/{conflict_id}/discard"): (OFFICE, {"reason": "duplicate visit"}),
    ("GET", "/v1/sla/tickets"): (STAFF, None),
    ("GET", "/v1/sla/compliance"): (STAFF, None),
    ("GET", "/v1/sla/due"): (STAFF, None),
    ("GET", "/v1/sla/policies"): (STAFF, None),
    ("GET", "/v1/sla/leader"): (STAFF, None),
    ("GET", "/v1/reconciliation"): (STAFF, None),
    ("GET", "/v1/reconciliation/money"): (STAFF, None),
    ("POST", "/v1/reconciliation/{recon_id}/resolve"): (OFFICE, {"comment": "checked"}),
    ("POST", "/v1/assets"): (OFFICE, {"serial": "SN-NEW", "customer": "Matrix Ltd"}),
    ("GET", "/v1/assets"): (STAFF, None),
    ("GET", "/v1/assets/{serial}"): (STAFF, None),
    ("GET", "/v1/vans/{engineer_id}"): (STAFF, None),
    ("GET", "/v1/warranty/claims"): (STAFF, None),
    ("GET", "/v1/warranty/claims/{claim_id}"): (STAFF, None),
    ("POST", "/v1/warranty/claims/{claim_id}/approve"): (OFFICE, None),
    ("POST", "/v1/warranty/claims/{claim_id}/reject"): (OFFICE, None),
    ("POST", "/v1/warranty/claims/{claim_id}/returns"): (OFFICE, {"qty": 1}),
    # service lifecycle (archive, plans, follow-ups, complaints, certifications, kb, kpis):
    # any staff role runs the service loop, office certifies
    ("GET", "/v1/assets/{serial}/history"): (STAFF, None),
    ("GET", "/v1/customers/{customer_id}/archive"): (STAFF, None),
    # customers as records: dispatchers and the back office both keep them
    ("GET", "/v1/customers"): (STAFF, None),
    ("POST", "/v1/customers"): (STAFF, {"name": "Matrix Ltd", "contacts": [{"name": "Neo", "phone": "1"}]}),
    ("GET", "/v1/customers/{customer_id}"): (STAFF, None),
    ("PATCH", "/v1/customers/{customer_id}"): (STAFF, {"name": "Matrix Ltd"}),
    ("POST", "/v1/customers/{customer_id}/sites"): (STAFF, {"name": "Roof"}),
    ("POST", "/v1/plans"): (STAFF, {"name": "P", "engineer_id": "e-chen", "customer": "A", "site": "B",
                                    "dates": ["2030-01-01"]}),
    ("GET", "/v1/plans"): (STAFF, None),
    ("GET", "/v1/plans/{plan_id}"): (STAFF, None),
    ("POST", "/v1/plans/{plan_id}/deactivate"): (STAFF, None),
    ("GET", "/v1/followups"): (STAFF, None),
    ("GET", "/v1/tickets/{ticket_id}/follow-up"): (STAFF, None),
    ("POST", "/v1/tickets/{ticket_id}/follow-up"): (STAFF, {"reached": True, "rating": 5}),
    ("POST", "/v1/tickets/{ticket_id}/acknowledge"): (STAFF, {"note": "called"}),
    ("POST", "/v1/tickets/{ticket_id}/customer-confirmation"): (STAFF, {"confirmed_by": "Customer"}),
    ("POST", "/v1/tickets/{ticket_id}/close"): (STAFF, {}),
    ("GET", "/v1/complaints"): (STAFF, None),
    ("POST", "/v1/engineers/{engineer_id}/certifications"): (OFFICE, {"equipment_type": "chiller", "name": "F"}),
    ("GET", "/v1/engineers/{engineer_id}/certifications"): (STAFF, None),
    ("POST", "/v1/kb"): (STAFF, {"symptom": "Noisy pump", "model": "M1"}),
    ("GET", "/v1/kb"): (STAFF, None),
    ("GET", "/v1/kb/{case_id}"): (STAFF, None),
    ("GET", "/v1/kpis"): (STAFF, None),
    ("GET", "/v1/kpis/targets"): (STAFF, None),
    ("PUT", "/v1/kpis/targets/{kpi}"): (ADMIN, {"target": 0.8}),
    ("DELETE", "/v1/kpis/targets/{kpi}"): (ADMIN, None),
    ("GET", "/v1/kpis/targets/in-force"): (STAFF, None),
    ("POST", "/v1/engineers/{engineer_id}/trainings"): (OFFICE, {"course": "Chillers", "date": "2026-09-01",
                                                                "trainer": "T", "result": "pass"}),
    ("GET", "/v1/engineers/{engineer_id}/trainings"): (STAFF, None),
    ("POST", "/v1/surveys"): (STAFF,
                              {"customer": "Matrix Ltd", "quarter": "2026-Q3", "overall": 4, "respondent": "R",
                               "scores": [{"question": "Response", "score": 4}]}),
    ("GET", "/v1/surveys"): (STAFF, None),
    ("GET", "/v1/surveys/results"): (STAFF, None),
}

WATCHED_TABLES = ("tickets", "jobs", "engineers", "templates", "parts", "locations", "movements", "devices",
                  "enroll_tokens", "conflicts", "changes", "answers", "signoffs")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(tmp_path: Path, clock: Clock) -> Iterator[Services]:
    url = f"sqlite:///{tmp_path / 'authz.db'}"
    services = Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False), clock=clock,
                        limiter=RateLimiter(rate=1000.0, burst=1000))
    from tools.demo_data import seed_demo

    seed_demo(services)
    yield services
    services.db.close()


@pytest.fixture
def client(svc: Services) -> Iterator[TestClient[Any]]:
    from server.app import create_app

    with TestClient(create_app(services=svc, scheduler=False)) as c:
        yield c


def snapshot(services: Services) -> dict[str, int]:
    out = {}
    with services.db.read() as tx:
        for t in WATCHED_TABLES:
            row = tx.one(f"SELECT COUNT(*) AS n FROM {t}")
            out[t] = int(row["n"]) if row else 0
        out["used_tokens"] = int((tx.one("SELECT COUNT(*) AS n FROM enroll_tokens WHERE used_at IS NOT NULL")
                                  or {"n": 0})["n"])
        out["revoked"] = int((tx.one("SELECT COUNT(*) AS n FROM devices WHERE revoked_at IS NOT NULL")
                              or {"n": 0})["n"])
    return out


def routes(client: TestClient[Any]) -> list[tuple[str, str]]:
    schema = client.get("/schema/openapi.json").json()
    out = []
    for path, item in schema["paths"].items():
        if not path.startswith("/v1"):
            continue
        for method in item:
            if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                out.append((method.upper(), path))
    return sorted(out)


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "no-such-" + m.group(1)), path)


def call(client: TestClient[Any], method: str, path: str, headers: dict[str, str], body: Any) -> Any:
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["content"] = json.dumps(body if body is not None else {}).encode()
        kwargs["headers"] = {**headers, "content-type": "application/json"}
    return client.request(method, path, **kwargs)


def test_every_route_is_in_the_policy_table(client: TestClient[Any]) -> None:
    missing = [r for r in routes(client) if r not in POLICY]
    assert not missing, f"routes without a row in POLICY (say who may call them): {missing}"


def test_role_matrix_over_every_route(client: TestClient[Any], svc: Services) -> None:
    tokens = {role: issue_staff_token(svc, role) for role in sorted(STAFF)}
    dev = RawDevice(client, svc, "e-ana")
    victim = RawDevice(client, svc, "e-ben")
    with svc.db.read() as tx:
        job = tx.one("SELECT id, ticket_id FROM jobs WHERE engineer_id = 'e-ana' ORDER BY id LIMIT 1")
    assert job is not None
    ids = {"ticket_id": job["ticket_id"], "job_id": job["id"], "engineer_id": "e-chen", "device_id": victim.device_id,
           "template_id": "boiler-service", "sha256": "0" * 64, "serial": "SN-1001", "seq": "1"}
    checked = 0
    for method, path in routes(client):
        who, body = POLICY[(method, path)]
        url = fill(path, ids)
        if who == PUBLIC:
            continue
        callers: dict[str, dict[str, str]] = {
            "no auth": {},
            "garbage bearer": {"authorization": "Bearer fs_staff_not-a-token"},
            "device session as staff": {"authorization": f"Bearer {dev.token}"},
            "staff token as device": {"authorization": f"Device {tokens['admin']}"},
        }
        before = snapshot(svc)
        for name, headers in callers.items():
            r = call(client, method, url, headers, body)
            assert r.status_code == 401, (method, path, name, r.status_code, r.text)
            assert r.json()["code"] in ("unauthorized", "session_expired"), (method, path, name, r.text)
            checked += 1
        if who == DEVICE:
            assert snapshot(svc) == before, (method, path)
            continue
        assert isinstance(who, frozenset)
        for role in sorted(STAFF - who):
            r = call(client, method, url, {"authorization": f"Bearer {tokens[role]}"}, body)
            assert r.status_code == 403, (method, path, role, r.status_code, r.text)
            assert r.json()["code"] == "role_forbidden"
            checked += 1
        assert snapshot(svc) == before, (method, path, "a refused call changed data")
        for role in sorted(who):
            r = call(client, method, url, {"authorization": f"Bearer {tokens[role]}"}, body)
            assert r.status_code not in (401, 403, 500), (method, path, role, r.status_code, r.text)
            checked += 1
    assert checked > 150


# -- device scope: A never sees or touches B's jobs, customers or van ----------------------


def test_engineer_a_cannot_read_b_jobs_customers_or_van(client: TestClient[Any], svc: Services) -> None:
    ana = RawDevice(client, svc, "e-ana")
    ben = RawDevice(client, svc, "e-ben")
    ben_jobs = ben.jobs()
    assert ben_jobs
    bj = next(iter(ben_jobs))
    ben.push([SetStatus(**ben.stamp(), job_id=bj, status="on_site"),
              AnswerItem(**ben.stamp(), job_id=bj, item_key="gas_tight", value=True),
              MovePart(**ben.stamp(), job_id=bj, kind="consume", part_no="P-IGN"),
              SetField(**ben.stamp(), job_id=bj, field="notes", value="ben's secret note")])
    with svc.db.read() as tx:
        ben_tickets = {r["ticket_id"] for r in tx.query("SELECT ticket_id FROM jobs WHERE engineer_id = 'e-ben'")}
        ben_customers = {r["customer"] for r in tx.query(
            "SELECT customer FROM tickets WHERE id IN (SELECT ticket_id FROM jobs WHERE engineer_id = 'e-ben') "
            "AND customer NOT IN (SELECT customer FROM tickets WHERE id IN "
            "(SELECT ticket_id FROM jobs WHERE engineer_id = 'e-ana'))")}
    changes = ana.pull()
    assert changes
    text = json.dumps([{"kind": c.kind, "id": c.id, "data": c.data} for c in changes], default=str)
    for secret in [*ben_jobs, *ben_tickets, *ben_customers, "van-e-ben", "ben's secret note"]:
        assert secret not in text, secret
    for c in changes:
        if c.kind == "job":
            assert c.data["engineer_id"] == "e-ana"
        if c.kind == "stock":
            assert c.data["location"] == "van-e-ana"


def test_pushing_on_b_job_is_rejected_not_your_job_and_writes_nothing(client: TestClient[Any], svc: Services) -> None:
    ana = RawDevice(client, svc, "e-ana")
    ben = RawDevice(client, svc, "e-ben")
    bj = next(iter(ben.jobs()))
    from sync.core.signoff import sign_off_message

    signature = ana.key.sign(sign_off_message(bj, "0" * 64, 1, "Mallory"))
    before = snapshot(svc)
    receipt = ana.push([
        SetStatus(**ana.stamp(), job_id=bj, status="accepted"),
        SetField(**ana.stamp(), job_id=bj, field="diagnosis", value="hijacked"),
        AnswerItem(**ana.stamp(), job_id=bj, item_key="gas_tight", value=False),
        MovePart(**ana.stamp(), job_id=bj, kind="consume", part_no="P-VALVE"),
        Attach(**ana.stamp(), job_id=bj, sha256="a" * 64, size=3),
        SignOff(**ana.stamp(), job_id=bj, signer_name="Mallory", signer_role="customer", signed_at=1,
                report_digest="0" * 64, strokes=[[1, 2]], device_signature=signature),
    ])
    assert [(r.result, r.reason) for r in receipt.results] == [("rejected", "not_your_job")] * 6
    after = snapshot(svc)
    assert {k: after[k] for k in ("jobs", "answers", "movements", "signoffs", "conflicts")} == \
        {k: before[k] for k in ("jobs", "answers", "movements", "signoffs", "conflicts")}
    with svc.db.read() as tx:
        row = tx.one("SELECT status, diagnosis FROM jobs WHERE id = ?", (bj,))
    assert row == {"status": "assigned", "diagnosis": ""}


def test_a_device_cannot_download_blobs_or_use_staff_routes(client: TestClient[Any], svc: Services) -> None:
    ana = RawDevice(client, svc, "e-ana")
    for path in ("/v1/blobs/" + "0" * 64, "/v1/tickets", "/v1/devices", "/v1/conflicts"):
        r = client.get(path, headers={"authorization": f"Device {ana.token}"})
        assert r.status_code == 401, path


# -- device identity: revocation, enrollment tokens --------------------------------------


def test_revoked_device_is_refused_everywhere(client: TestClient[Any], svc: Services) -> None:
    ana = RawDevice(client, svc, "e-ana")
    job = next(iter(ana.jobs()))
    envelope = ana.seal([SetStatus(**ana.stamp(), job_id=job, status="accepted")])
    revoke(svc, ana.device_id)
    before = snapshot(svc)
    assert ana.send(envelope).json()["code"] == "device_revoked"
    r = client.post("/v1/sync/pull", content=encode({"cursor": ""}), headers=ana.headers)
    assert r.status_code == 403 and r.json()["code"] == "device_revoked"
    r = client.post("/v1/devices/challenge", content=encode({"device_id": ana.device_id}), headers=MSGPACK)
    assert r.status_code == 403 and r.json()["code"] == "device_revoked"
    assert snapshot(svc) == before


def enroll(client: TestClient[Any], token: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return client.post("/v1/devices/enroll", content=encode(EnrollRequest(token=token, public_key=public)),
                       headers=MSGPACK)


def test_enrollment_tokens_are_single_use_and_expire(client: TestClient[Any], svc: Services, clock: Clock) -> None:
    token, _ = issue_enroll_token(svc, "e-ana")
    assert enroll(client, token).status_code == 200
    before = snapshot(svc)
    r = enroll(client, token)
    assert r.status_code == 401 and r.json()["code"] == "token_used"
    stale, _ = issue_enroll_token(svc, "e-ben")
    clock.advance(svc.settings.enroll_token_ttl_s * 1000 + 1)
    before = snapshot(svc)
    r = enroll(client, stale)
    assert r.status_code == 401 and r.json()["code"] == "token_expired"
    r = enroll(client, "fs_enroll_made-up")
    assert r.status_code == 401 and r.json()["code"] == "token_invalid"
    assert snapshot(svc) == before


# -- rate limits -------------------------------------------------------------------------


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[TestClient[Any], Services]]:
    from server.app import create_app
    from tools.demo_data import seed_demo

    url = f"sqlite:///{tmp_path / 'limited.db'}"
    frozen = 0.0  # a limiter clock that never moves: no refill during the test
    services = Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False),
                        limiter=RateLimiter(rate=1.0, burst=5, clock=lambda: frozen))
    seed_demo(services)
    with TestClient(create_app(services=services, scheduler=False)) as c:
        yield c, services
    services.db.close()


def test_enrollment_burst_gets_429_and_changes_nothing(limited: tuple[TestClient[Any], Services]) -> None:
    client, svc = limited
    for _ in range(5):
        assert enroll(client, "fs_enroll_guess").json()["code"] == "token_invalid"
    token, _ = issue_enroll_token(svc, "e-ana")
    before = snapshot(svc)
    r = enroll(client, token)  # a valid token, but the burst is spent
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert snapshot(svc) == before  # token not consumed, no device created


def test_authentication_burst_from_one_address_gets_429_and_changes_nothing(
        limited: tuple[TestClient[Any], Services]) -> None:
    """Challenges and sessions are limited per client address (50x the base: a depot's tablets share one)."""
    client, svc = limited
    from schemas.codec import enrollment_decoder

    fresh, _ = issue_enroll_token(svc, "e-ben")
    device_id = enrollment_decoder.decode(enroll(client, fresh).content).device_id
    for _ in range(5 * 50):
        r = client.post("/v1/devices/challenge", content=encode({"device_id": device_id}), headers=MSGPACK)
        assert r.status_code == 200
    with svc.db.read() as tx:
        nonces = tx.one("SELECT COUNT(*) AS n FROM nonces")
    r = client.post("/v1/devices/challenge", content=encode({"device_id": device_id}), headers=MSGPACK)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    # the body's device id is not the key: another device asked from the same address is limited too
    other = client.post("/v1/devices/challenge", content=encode({"device_id": "D-other"}), headers=MSGPACK)
    assert other.status_code == 429
    with svc.db.read() as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM nonces") == nonces


def test_sessions_per_device_count_only_signed_attempts(limited: tuple[TestClient[Any], Services]) -> None:
    """A device's own session limit is spent only by its key's signatures, never by a stranger's attempts."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from schemas.codec import challenge_decoder, enrollment_decoder
    from schemas.wire import SessionRequest

    client, svc = limited
    keys = {}
    for engineer in ("e-ana", "e-ben"):
        key = Ed25519PrivateKey.generate()
        token, _ = issue_enroll_token(svc, engineer)
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        r = client.post("/v1/devices/enroll", content=encode(EnrollRequest(token=token, public_key=public)),
                        headers=MSGPACK)
        keys[enrollment_decoder.decode(r.content).device_id] = key
    ana, ben = keys

    def session(device_id: str, key: Ed25519PrivateKey, seen: list[tuple[int, int]] | None = None) -> Any:
        r = client.post("/v1/devices/challenge", content=encode({"device_id": device_id}), headers=MSGPACK)
        nonce = challenge_decoder.decode(r.content).nonce
        req = SessionRequest(device_id=device_id, nonce=nonce, signature=key.sign(nonce.encode()),
                             device_clock=svc.clock())
        if seen is not None:
            seen.append(auth_rows())
        return client.post("/v1/devices/session", content=encode(req), headers=MSGPACK)

    def auth_rows() -> tuple[int, int]:
        with svc.db.read() as tx:
            return tuple(int(tx.one(f"SELECT COUNT(*) AS n FROM {t}")["n"])  # type: ignore[index,return-value]
                         for t in ("nonces", "device_sessions"))

    stranger = Ed25519PrivateKey.generate()
    for _ in range(20):  # a stranger's forged sessions for ana: refused, and they spend nothing of ana's
        assert session(ana, stranger).json()["code"] == "bad_signature"
    for _ in range(5):
        assert session(ana, keys[ana]).status_code == 200
    seen: list[tuple[int, int]] = []
    r = session(ana, keys[ana], seen)  # ana's own burst is spent
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert auth_rows() == seen[0]  # the nonce is not used up, no session opened
    assert session(ben, keys[ben]).status_code == 200  # ben is not affected by ana's limit
