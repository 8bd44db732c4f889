"""``fieldsync verify`` on crafted bundles: an absurd signing time is reported, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas.signoff import ReportContent, SignOffBundle
from sync.core.signoff import certificate_message, report_digest, sign_off_message

ROOT = Path(__file__).resolve().parents[2]


def _pub(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _bundle(signed_at: int) -> SignOffBundle:
    """A bundle a forger signed with keys of their own, at a time no calendar holds."""
    device, server = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    content = ReportContent(job_id="J-9", ticket_id="T-9", engineer_id="e-x", diagnosis="", resolution="", notes="",
                            template_id="t", template_version=1, answers=[], parts=[], photos=[],
                            times={"completed": signed_at})
    digest = report_digest(content)
    return SignOffBundle(
        content=content, report_digest=digest, signer_name="X", signer_role="customer", signed_at=signed_at,
        strokes=[], device_id="D-9", device_public_key=_pub(device),
        device_signature=device.sign(sign_off_message("J-9", digest, signed_at, "X")),
        server_public_key=_pub(server), certificate=server.sign(certificate_message("D-9", "e-x", _pub(device))))


@pytest.mark.parametrize("signed_at", [-(2**63), 2**63 - 1, 10**15])
def test_an_absurd_signing_time_is_printed_as_invalid_not_a_traceback(tmp_path: Path, signed_at: int) -> None:
    path = tmp_path / "bundle.msgpack"
    path.write_bytes(msgspec.msgpack.encode(_bundle(signed_at)))
    r = subprocess.run([sys.executable, "-m", "fieldsync", "verify", str(path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "invalid time" in r.stdout
