"""Sign-offs over RFC 8785 digests, and over the older msgspec form, where the two differ (an integral float)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fieldsync.cli import main
from schemas.codec import canonical_json, legacy_canonical_json
from schemas.wire import AnswerItem, Op, SetStatus, SignOff
from server.domain.sync.signoff_content import build_report_content
from server.services import Services
from sync.core.changeset import digest
from sync.core.signoff import sign_off_message
from tests.support import RawDevice

STROKES = [[10, 10, 40, 60, 80, 20]]


@pytest.fixture
def ana(app_client: Any, services: Services, seeded: Any) -> RawDevice:
    return RawDevice(app_client, services, "e-ana")


@pytest.mark.parametrize("form", ["rfc8785", "legacy"])
def test_a_signed_report_with_an_integral_float_verifies_and_shows_unchanged(
        form: str, app_client: Any, services: Services, staff: Any, ana: RawDevice, tmp_path: Path) -> None:
    job = sorted(ana.jobs().values(), key=lambda j: j["id"])[0]
    job_id = job["id"]
    ops: list[Op] = [SetStatus(**ana.stamp(), job_id=job_id, status=s) for s in ("accepted", "on_site")]
    ops += [AnswerItem(**ana.stamp(), job_id=job_id, item_key=k, value=v)
            for k, v in {"gas_tight": True, "flue_co2": 9.0, "pressure_bar": 1.5, "condition": "good"}.items()]
    assert all(r.result == "applied" for r in ana.push(ops).results)
    with services.db.read() as tx:
        content = build_report_content(tx, job_id)
    assert content is not None
    encoded = (canonical_json if form == "rfc8785" else legacy_canonical_json)(content)
    assert (b'"value":9}' if form == "rfc8785" else b'"value":9.0}') in encoded
    signed = digest(encoded)
    at = ana.now()
    receipt = ana.push([SignOff(**ana.stamp(), job_id=job_id, signer_name="王芳", signer_role="customer",
                                signed_at=at, report_digest=signed, strokes=STROKES,
                                device_signature=ana.key.sign(sign_off_message(job_id, signed, at, "王芳")))])
    assert receipt.results[0].result == "applied"
    hdr = staff["backoffice"]
    assert app_client.get(f"/v1/jobs/{job_id}", headers=hdr).json()["job"]["changed_after_signoff"] is False
    assert ana.jobs()[job_id]["changed_after_signoff"] is False
    recon = app_client.get("/v1/reconciliation", params={"kind": "signoff_digest_mismatch"}, headers=hdr).json()
    assert not any(i["job_id"] == job_id for i in recon["items"])
    r = app_client.get(f"/v1/jobs/{job_id}/report.pdf", headers=hdr)
    assert r.status_code == 200
    path = tmp_path / "report.pdf"
    path.write_bytes(r.content)
    assert main(["verify", str(path), "--server-key", services.key.public.hex()]) == 0
