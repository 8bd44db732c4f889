"""Hostile input: the API fuzzed from its own OpenAPI schema, push envelopes mangled, oversized bodies.

What a user relies on: whatever arrives, the answer is a 4xx problem document
(never a 500), and a refused request changes nothing.  Schemathesis generates
requests for every operation in ``/schema/openapi.json`` (staff auth: an admin
token); hypothesis mangles signed change-set envelopes sent by a real device.
Bounded by ``FIELDSYNC_FUZZ_EXAMPLES`` (examples per operation, default 12).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from schemas.codec import encode
from schemas.wire import (
    AnswerItem,
    Attach,
    MovePart,
    SetField,
    SetStatus,
    SignedChangeSet,
    SignOff,
)
from server.ratelimit import RateLimiter
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.core.changeset import ChainHead, digest, seal
from sync.storage import open_database
from tests.support import RawDevice

EXAMPLES = int(os.environ.get("FIELDSYNC_FUZZ_EXAMPLES", "12"))
TABLES = ("tickets", "jobs", "engineers", "templates", "parts", "locations", "movements", "devices", "enroll_tokens",
          "conflicts", "changes", "answers", "signoffs", "changesets", "ticket_events", "attachments", "blobs",
          "staff_tokens")
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))


@schemathesis.serializer("application/msgpack")
def _msgpack_bytes(ctx: Any, value: Any) -> bytes:
    """The device protocol's bodies are msgpack bytes (``format: binary``): send what was generated, as bytes."""
    raw = getattr(value, "data", value)
    return raw if isinstance(raw, bytes) else msgspec.msgpack.encode(raw)


def counts(services: Services) -> dict[str, int]:
    out = {}
    with services.db.read() as tx:
        for t in TABLES:
            row = tx.one(f"SELECT COUNT(*) AS n FROM {t}")
            out[t] = int(row["n"]) if row else 0
    return out


def _services(url: str) -> Services:
    return Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False),
                    limiter=RateLimiter(rate=1e6, burst=1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def fuzz_services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    from tools.demo_data import seed_demo

    url = f"sqlite:///{tmp_path / 'fuzz.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    svc = _services(url)
    seed_demo(svc)
    yield svc
    svc.db.close()


def test_openapi_fuzz_finds_no_500_and_no_partial_write(fuzz_services: Services) -> None:
    from server.app import create_app

    svc = fuzz_services
    app = create_app(services=svc, scheduler=False)
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    auth = {"authorization": f"Bearer {issue_staff_token(svc, 'admin')}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @FUZZ_SETTINGS
        @given(case=operation.as_strategy())
        def probe(case: Any) -> None:
            before = counts(svc)
            response = case.call(headers=auth)
            label = f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:200]!r}"
            assert response.status_code < 500, f"{response.status_code} on {label}: {response.text[:300]}"
            if response.status_code >= 400:
                ctype = response.headers.get("content-type") or [""]
                ctype = ctype[0] if isinstance(ctype, list) else ctype
                assert ctype.startswith("application/problem+json"), f"{ctype} on {label}"
                assert response.json()["code"], label
                assert counts(svc) == before, f"refused request changed data: {label}"

        try:
            probe()
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0][:500])
    assert operations > 30
    assert failures == []


# -- push envelopes --------------------------------------------------------------------------


@pytest.fixture
def device(tmp_path: Path) -> Iterator[tuple[RawDevice, Services, TestClient[Any]]]:
    from server.app import create_app
    from tools.demo_data import seed_demo

    svc = _services(f"sqlite:///{tmp_path / 'push.db'}")
    seed_demo(svc)
    with TestClient(create_app(services=svc, scheduler=False)) as client:
        yield RawDevice(client, svc, "e-ana"), svc, client
    svc.db.close()


def assert_refused_cleanly(dev: RawDevice, svc: Services, body: bytes, before: dict[str, int]) -> int:
    r = dev.client.post("/v1/sync/push", content=body, headers=dev.headers)
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"]
        assert counts(svc) == before
    return int(r.status_code)


def valid_envelope(dev: RawDevice, job_id: str) -> bytes:
    ops = [SetStatus(**dev.stamp(), job_id=job_id, status="accepted"),
           AnswerItem(**dev.stamp(), job_id=job_id, item_key="gas_tight", value=True)]
    envelope, _ = seal(dev.key, dev.device_id, dev.head, ops, dev.now())
    return envelope


def test_random_truncated_and_bitflipped_envelopes_never_500_and_never_write(
        device: tuple[RawDevice, Services, TestClient[Any]]) -> None:
    dev, svc, _ = device
    job_id = next(iter(dev.jobs()))
    good = valid_envelope(dev, job_id)
    before = counts(svc)

    @FUZZ_SETTINGS
    @given(mode=st.sampled_from(["random", "truncate", "flip", "append"]), data=st.data())
    def probe(mode: str, data: st.DataObject) -> None:
        if mode == "random":
            body = data.draw(st.binary(max_size=2048))
        elif mode == "truncate":
            body = good[:data.draw(st.integers(0, len(good) - 1))]
        elif mode == "flip":
            i = data.draw(st.integers(0, len(good) - 1))
            bit = data.draw(st.integers(0, 7))
            body = good[:i] + bytes([good[i] ^ (1 << bit)]) + good[i + 1:]
        else:
            body = good + data.draw(st.binary(min_size=1, max_size=64))
        status = assert_refused_cleanly(dev, svc, body, before)
        assert status != 200 or body == good  # only the untouched envelope can be accepted

    probe()
    assert counts(svc) == before


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**64) + 1, max_value=2**64 - 1),
                    st.floats(allow_nan=True), st.text(max_size=300),
                    st.sampled_from(["'); DROP TABLE jobs;--", "\x00", "\ud7ff" * 50, "x" * 20_000]))
INTS = st.one_of(st.integers(min_value=0, max_value=2**64 - 1), st.integers(min_value=-(2**63), max_value=0))


def hostile_ops(job_ids: list[str]) -> st.SearchStrategy[list[Any]]:
    jobs = st.one_of(st.sampled_from(job_ids), st.text(max_size=40))
    stamp = {"op_id": st.text(min_size=1, max_size=80), "hlc": INTS, "job_id": jobs, "at": INTS}
    op = st.one_of(
        st.builds(SetStatus, **stamp, status=st.one_of(st.sampled_from(["accepted", "on_site", "closed"]),
                                                       st.text(max_size=30)),
                  hold_reason=st.one_of(st.none(), st.text(max_size=30)), note=st.one_of(st.none(), st.text())),
        st.builds(SetField, **stamp, field=st.sampled_from(["notes", "diagnosis", "resolution", "remote", "rating"]),
                  value=SCALARS, base_hlc=INTS),
        st.builds(AnswerItem, **stamp, item_key=st.one_of(st.sampled_from(["gas_tight", "flue_co2", "remarks"]),
                                                          st.text(max_size=30)),
                  value=SCALARS, note=st.one_of(st.none(), st.text(max_size=50)),
                  na_reason=st.one_of(st.none(), st.text(max_size=20)), template_version=INTS, base_hlc=INTS),
        st.builds(MovePart, **stamp, kind=st.sampled_from(["consume", "issue", "adjust"]),
                  part_no=st.one_of(st.sampled_from(["P-IGN", "P-PCB"]), st.text(max_size=20)), qty=INTS,
                  serial=st.one_of(st.none(), st.text(max_size=40)),
                  returned_serial=st.one_of(st.none(), st.text(max_size=40))),
        st.builds(Attach, **stamp, sha256=st.one_of(st.just("a" * 64), st.text(max_size=70)), size=INTS,
                  content_type=st.text(max_size=300)),
        st.builds(SignOff, **stamp, signer_name=st.text(max_size=250), signer_role=st.text(max_size=30),
                  signed_at=INTS, report_digest=st.text(max_size=70),
                  strokes=st.lists(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=8), max_size=4),
                  device_signature=st.binary(max_size=70), rating=st.one_of(st.none(), INTS),
                  comment=st.one_of(st.none(), st.text(max_size=100))),
    )
    return st.lists(op, min_size=1, max_size=6)


def test_signed_change_sets_with_hostile_ops_never_500(device: tuple[RawDevice, Services, TestClient[Any]]) -> None:
    """Validly signed and chained, but every field hostile: each op gets a result, or the set is refused whole."""
    dev, svc, _ = device
    job_ids = list(dev.jobs())

    @FUZZ_SETTINGS
    @given(ops=hostile_ops(job_ids))
    def probe(ops: list[Any]) -> None:
        try:
            envelope, head = seal(dev.key, dev.device_id, dev.head, ops, dev.now())
        except (OverflowError, msgspec.EncodeError):
            return  # not encodable by any client
        before = counts(svc)
        r = dev.client.post("/v1/sync/push", content=envelope, headers=dev.headers)
        assert r.status_code < 500, r.text
        if r.status_code == 200:
            dev.head = head
            from schemas.codec import receipt_decoder, signed_decoder

            receipt = receipt_decoder.decode(signed_decoder.decode(r.content).body)
            assert [x.op_id for x in receipt.results] == [op.op_id for op in ops]
            assert all(x.result != "rejected" or x.reason for x in receipt.results)
        else:
            assert r.json()["code"]
            assert counts(svc) == before

    probe()


def test_junk_signed_with_the_real_key_is_refused_before_any_write(
        device: tuple[RawDevice, Services, TestClient[Any]]) -> None:
    dev, svc, _ = device
    before = counts(svc)

    @FUZZ_SETTINGS
    @given(payload=st.one_of(st.binary(max_size=512),
                             st.builds(lambda x: msgspec.msgpack.encode(x), st.recursive(
                                 st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20)),
                                 lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                                 max_leaves=30))))
    def probe(payload: bytes) -> None:
        body = encode(SignedChangeSet(changeset=payload, signature=dev.key.sign(payload)))
        status = assert_refused_cleanly(dev, svc, body, before)
        assert status in (400, 409, 413)

    probe()


# -- sizes, nesting, verbatim strings ----------------------------------------------------------


def test_oversized_and_deeply_nested_bodies_are_refused(device: tuple[RawDevice, Services, TestClient[Any]]) -> None:
    dev, svc, client = device
    admin = {"authorization": f"Bearer {issue_staff_token(svc, 'admin')}"}
    before = counts(svc)
    limit = svc.settings.max_body_bytes
    r = client.post("/v1/sync/push", content=b"\x00" * (limit + 2048), headers=dev.headers)
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    r = client.post("/v1/tickets", content=b"{" * (limit + 2048), headers={**admin, "content-type": "application/json"})
    assert r.status_code == 413
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    r = client.post("/v1/tickets", content=deep, headers={**admin, "content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    deep_mp = b"\x91" * 100_000 + b"\xc0"
    r = client.post("/v1/sync/pull", content=deep_mp, headers=dev.headers)
    assert r.status_code in (400, 413), r.text
    r = client.post("/v1/sync/push", content=deep_mp, headers=dev.headers)
    assert r.status_code == 400, r.text
    huge_field = {"customer": "x" * 1_000_000, "site": "s", "priority": "P1"}
    r = client.post("/v1/tickets", json=huge_field, headers=admin)
    assert r.status_code in (400, 413, 422), r.text
    r = client.post("/v1/devices/enroll", content=b"\x00" * 10_000, headers={"content-type": "application/msgpack"})
    assert r.status_code == 413
    assert counts(svc) == before


def test_sql_looking_strings_are_stored_verbatim(device: tuple[RawDevice, Services, TestClient[Any]]) -> None:
    dev, svc, client = device
    admin = {"authorization": f"Bearer {issue_staff_token(svc, 'admin')}"}
    evil = ["'); DROP TABLE tickets;--", "Robert'); DELETE FROM jobs WHERE ('1'='1", "1 OR 1=1 --", "%' OR '%'='"]
    r = client.post("/v1/tickets", json={"customer": evil[0], "site": evil[1], "priority": "P2", "title": evil[2],
                                         "description": evil[3]}, headers=admin)
    assert r.status_code == 201, r.text
    got = client.get(f"/v1/tickets/{r.json()['id']}", headers=admin).json()
    assert [got["customer"], got["site"], got["title"], got["description"]] == evil
    job_id = next(iter(dev.jobs()))
    receipt = dev.push([SetField(**dev.stamp(), job_id=job_id, field="notes", value=evil[0]),
                        AnswerItem(**dev.stamp(), job_id=job_id, item_key="remarks", value=evil[1])])
    assert [x.result for x in receipt.results] == ["applied", "applied"]
    with svc.db.read() as tx:
        assert tx.one("SELECT notes FROM jobs WHERE id = ?", (job_id,)) == {"notes": evil[0]}
        assert tx.one("SELECT COUNT(*) AS n FROM tickets")["n"] == 6  # type: ignore[index]
    r = client.get("/v1/tickets", params={"status": evil[3], "engineer_id": evil[0]}, headers=admin)
    assert r.status_code == 200 and r.json() == []


def test_digest_of_an_envelope_changes_with_every_bit() -> None:
    """Tamper evidence at the root: the chain hash covers every byte."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    envelope, head = seal(key, "D-x", ChainHead(0, ""), [SetStatus(op_id="o", hlc=1, job_id="J", status="accepted")],
                          1)
    signed = msgspec.msgpack.decode(envelope, type=SignedChangeSet)
    assert head.hash == digest(signed.changeset)
    flipped = {digest(signed.changeset[:i] + bytes([signed.changeset[i] ^ 1]) + signed.changeset[i + 1:])
               for i in range(len(signed.changeset))}
    assert head.hash not in flipped and len(flipped) == len(signed.changeset)


def test_unstorable_numbers_and_nul_text_are_rejected_per_op(fuzz_services: Services) -> None:
    """Found by fuzzing: 64-bit overflow and NUL characters were 500s; now each such op is rejected alone."""
    from server.app import create_app

    svc = fuzz_services
    big = 2**64 - 1
    with TestClient(create_app(services=svc, scheduler=False)) as client:
        dev = RawDevice(client, svc, "e-ana")
        job = next(iter(dev.jobs()))
        receipt = dev.push([
            SetStatus(**{**dev.stamp(), "at": big}, job_id=job, status="accepted"),
            MovePart(**dev.stamp(), job_id=job, kind="consume", part_no="P-IGN", qty=big),
            Attach(**dev.stamp(), job_id=job, sha256="a" * 64, size=big),
            SetField(**dev.stamp(), job_id=job, field="notes", value="a\x00b"),
            AnswerItem(**dev.stamp(), job_id=job, item_key="remarks", value="ok", note="\x00"),
            SetField(**dev.stamp(), job_id=job, field="notes", value="still applied"),
        ])
        assert [(r.result, r.reason) for r in receipt.results] == [
            ("rejected", "number_out_of_range")] * 3 + [("rejected", "nul_in_text")] * 2 + [("applied", None)]
        before = counts(svc)
        from schemas.wire import SessionRequest

        challenge = client.post("/v1/devices/challenge", content=encode({"device_id": dev.device_id}),
                                headers={"content-type": "application/msgpack"})
        nonce = msgspec.msgpack.decode(challenge.content)["nonce"]
        req = SessionRequest(device_id=dev.device_id, nonce=nonce, signature=dev.key.sign(nonce.encode()),
                             device_clock=big)
        r = client.post("/v1/devices/session", content=encode(req), headers={"content-type": "application/msgpack"})
        # an absurd device clock opens the session with its offset unknown (event times are flagged), not a 500
        assert r.status_code == 200 and msgspec.msgpack.decode(r.content)["clock_offset_ms"] == 0
        with svc.db.read() as tx:
            assert tx.one("SELECT clock_known FROM devices WHERE id = ?", (dev.device_id,)) == {"clock_known": 0}
        admin = {"authorization": f"Bearer {issue_staff_token(svc, 'admin')}"}
        before = counts(svc)
        r = client.post("/v1/tickets", json={"customer": "a\x00", "site": "s", "priority": "P1"}, headers=admin)
        assert r.status_code == 400 and r.json()["code"] == "nul_in_text"  # on both backends, nothing stored
        assert counts(svc) == before
        r = client.post("/v1/tickets", json={"customer": "c", "site": "s", "priority": "P1", "opened_at": -big},
                        headers=admin)
        assert r.status_code in (201, 400)


def test_nul_in_an_op_id_or_job_id_rejects_that_op_only(fuzz_services: Services) -> None:
    """Found in review: on PostgreSQL a NUL in an op's ids failed the whole push (400) before its rule check ran."""
    from server.app import create_app

    svc = fuzz_services
    with TestClient(create_app(services=svc, scheduler=False)) as client:
        dev = RawDevice(client, svc, "e-ana")
        job = next(iter(dev.jobs()))
        before = counts(svc)
        receipt = dev.push([
            SetStatus(**{**dev.stamp(), "op_id": "a\x00b"}, job_id=job, status="accepted"),
            SetField(**dev.stamp(), job_id="J\x00", field="notes", value="x"),
            SetField(**dev.stamp(), job_id=job, field="notes", value="still applied"),
        ])
        results = [(r.result, r.reason) for r in receipt.results]
        assert results[0] == ("rejected", "nul_in_text") and results[1][0] == "rejected", results
        assert results[2] == ("applied", None)
        with svc.db.read() as tx:
            assert tx.one("SELECT notes FROM jobs WHERE id = ?", (job,)) == {"notes": "still applied"}
        assert counts(svc)["ticket_events"] == before["ticket_events"]
