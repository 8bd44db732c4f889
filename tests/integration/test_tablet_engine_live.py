"""The tablet app's engine (JavaScript, in Node) against a real ``fieldsync serve``: a second implementation.

Node runs ``client_sdk/web/test/live.test.js``: it enrolls with a one-time token, pulls, works a whole
job offline (every status step, every checklist type including a photo, a serialized part with the old
part returned, the diagnosis, a completion and the customer's sign-off) and syncs.  Then this test asks the
server what it holds: the same answers, the job signed off with the digest the engine computed, evidence
arrived, and a report PDF that ``fieldsync verify`` accepts.  The engine's tampered, forged, gapped and
forked change-sets get the same refusals as the same mistakes made with the Python SDK.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client_sdk import FieldClient
from client_sdk.store import LocalStore
from client_sdk.syncer import SyncLoop
from schemas.codec import encode, signed_changeset_decoder
from schemas.wire import SetField, SignedChangeSet
from server.domain.devices.service import issue_enroll_token
from server.domain.tickets.jobs import job_detail
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.core.changeset import ChainHead, seal
from sync.storage import open_database
from sync.transport.base import ProtocolError
from sync.transport.http import HttpTransport
from tests.livesrv import LiveServer
from tests.tablet_node import ROOT, run_node, write_rules
from tools.demo_data import seed_demo


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, Services]]:
    db_url = f"sqlite:///{tmp_path / 'live.db'}"
    services = Services(db=open_database(db_url), settings=get_settings(db_url=db_url, run_scheduler=False))
    seed_demo(services)
    server = LiveServer(db_url, tmp_path).start()
    yield server, services
    server.stop()
    services.db.close()


def _refusal(send: Any) -> dict[str, Any]:
    with pytest.raises(ProtocolError) as caught:
        send()
    return {"status": caught.value.status, "code": caught.value.code}


def _sdk_refusals(url: str, services: Services, tmp_path: Path, job_id: str) -> dict[str, dict[str, Any]]:
    """The same bad change-sets, made with the Python SDK's sealing code for a device of the same engineer."""

    token, _ = issue_enroll_token(services, "e-ana")
    with FieldClient.open(tmp_path / "sdk.db", server_url=url) as sdk:
        sdk.enroll(token)
        sdk.sync()
        device_id = str(sdk.device_id)
        key = sdk._key  # noqa: SLF001 - the test makes change-sets the SDK itself never would
        assert key is not None
    transport = HttpTransport(url)
    store = LocalStore(tmp_path / "sdk.db")
    SyncLoop(store, transport, key, lambda: 0).open_session()
    store.close()
    op = SetField(op_id="e" * 32, hlc=1 << 60, job_id=job_id, at=1, field="resolution", value="x")
    head = ChainHead(0, "")
    envelope, _head = seal(key, device_id, head, [op], 1)
    signed = signed_changeset_decoder.decode(envelope)
    body = bytearray(signed.changeset)
    body[-2] ^= 0x01
    tampered = encode(SignedChangeSet(changeset=bytes(body), signature=signed.signature))
    forged = seal(Ed25519PrivateKey.generate(), device_id, head, [op], 1)[0]
    gap = seal(key, device_id, ChainHead(5, ""), [op], 1)[0]
    good = seal(key, device_id, head, [op], 1)[0]
    transport.push(good)  # seq 1 taken: a different seq 1 is a fork
    fork = seal(key, device_id, ChainHead(0, ""), [SetField(op_id="d" * 32, hlc=1 << 60, job_id=job_id, at=1,
                                                            field="resolution", value="z")], 1)[0]
    refusals = {"tampered": _refusal(lambda: transport.push(tampered)),
                "forged": _refusal(lambda: transport.push(forged)),
                "gap": _refusal(lambda: transport.push(gap)),
                "fork": _refusal(lambda: transport.push(fork))}
    transport.close()
    return refusals


def test_the_engine_works_a_job_against_the_real_server(live: tuple[LiveServer, Services], tmp_path: Path) -> None:
    server, services = live
    token, _ = issue_enroll_token(services, "e-ana")
    out = tmp_path / "engine.json"
    result = run_node(["--test", "test/live.test.js"], env={
        "FIELDSYNC_LIVE_URL": server.url, "FIELDSYNC_LIVE_TOKEN": token, "FIELDSYNC_LIVE_OUT": str(out),
        "FIELDSYNC_RULES": str(write_rules(tmp_path / "rules.json"))})
    assert result.returncode == 0 and "# pass 1" in result.stdout, result.stdout[-6000:] + result.stderr[-2000:]
    engine = json.loads(out.read_text())

    detail = job_detail(services, engine["job_id"])
    assert detail["job"]["status"] == "signed_off"
    assert detail["job"]["changed_after_signoff"] is False
    assert {a["item_key"]: a["value"] for a in detail["answers"]} == engine["answers"]
    assert all(a["device_id"] == engine["device_id"] for a in detail["answers"])
    consumed = sorted((m["part_no"], m["serial"]) for m in detail["parts"] if m["kind"] == "consume")
    returned = sorted(m["serial"] for m in detail["parts"] if m["kind"] == "return_old")
    assert consumed == [("P-IGN", None), ("P-PCB", "PCB-e-ana-0")]
    assert returned == ["IGN-OLD-1", "PCB-OLD-9"]
    assert detail["attachments"][0]["sha256"] == engine["photo"] and detail["attachments"][0]["arrived"]
    assert detail["evidence_missing"] == 0
    assert detail["signoff"]["report_digest"] == engine["report_digest"]
    assert detail["signoff"]["digest_matches"] is True
    assert detail["signoff"]["strokes"] == [[10, 10, 40, 60, 80, 20], [90, 30, 120, 35]]

    staff = issue_staff_token(services, "backoffice", "verify")
    pdf = httpx.get(f"{server.url}/v1/jobs/{engine['job_id']}/report.pdf",
                    headers={"Authorization": f"Bearer {staff}"}, timeout=30)
    assert pdf.status_code == 200
    (tmp_path / "report.pdf").write_bytes(pdf.content)
    verified = subprocess.run([sys.executable, "-m", "fieldsync", "verify", str(tmp_path / "report.pdf")],
                              capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "VALID" in verified.stdout

    sdk = _sdk_refusals(server.url, services, tmp_path, engine["job_id"])
    assert engine["refusals"]["tampered"] == sdk["tampered"] == {"status": 400, "code": "bad_signature"}
    assert engine["refusals"]["forged"] == sdk["forged"] == {"status": 400, "code": "bad_signature"}
    assert engine["refusals"]["gap"] == sdk["gap"] == {"status": 409, "code": "chain_gap"}
    assert engine["refusals"]["fork"] == sdk["fork"] == {"status": 409, "code": "chain_fork"}
    assert engine["refusals"]["garbage"]["status"] == 400
    with services.db.read() as tx:
        head = tx.one("SELECT last_seq FROM devices WHERE id = ?", (engine["device_id"],))
        notes = tx.one("SELECT notes FROM jobs WHERE id = ?", (engine["job_id"],))
    assert head is not None and head["last_seq"] == engine["head_seq"], "no refused change-set moved the chain"
    assert notes is not None and notes["notes"] == "", "the engine's refused ops changed nothing"
