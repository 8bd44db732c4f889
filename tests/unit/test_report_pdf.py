"""Service-report PDFs: a sealed report verifies offline; any edited byte or forged part does not."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fieldsync.cli import main
from schemas.signoff import ReportAnswer, ReportContent, ReportPart, SignOffBundle
from service_report.pdf import render_report_pdf, seal, verify_file_bytes, verify_report_pdf
from service_report.view import ReportView
from sync.core.signoff import certificate_message, report_digest, sign_off_message

ROOT = Path(__file__).resolve().parents[2]


def pub(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


SERVER = Ed25519PrivateKey.generate()
DEVICE = Ed25519PrivateKey.generate()


def make_bundle(device: Ed25519PrivateKey = DEVICE, server: Ed25519PrivateKey = SERVER) -> SignOffBundle:
    content = ReportContent(
        job_id="J-1", ticket_id="T-1", engineer_id="e-ana", diagnosis="Igniter worn", resolution="Replaced",
        notes="", template_id="boiler-service", template_version=1,
        answers=[ReportAnswer(key="flue_co2", value=9.1), ReportAnswer(key="gas_tight", value=True, note="ok")],
        parts=[ReportPart(op_id="op1", kind="consume", part_no="P-IGN", qty=1, returned_serial="OLD-1")],
        photos=["ab" * 32], times={"on_site": 1_790_000_000_000, "completed": 1_790_000_900_000})
    d = report_digest(content)
    signed_at = 1_790_001_000_000
    return SignOffBundle(
        content=content, report_digest=d, signer_name="Ada Customer", signer_role="customer", signed_at=signed_at,
        strokes=[[10, 10, 50, 60, 90, 20], [100, 40]], device_id="D-1", device_public_key=pub(device),
        device_signature=device.sign(sign_off_message("J-1", d, signed_at, "Ada Customer")),
        server_public_key=pub(server), certificate=server.sign(certificate_message("D-1", "e-ana", pub(device))))


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return render_report_pdf(make_bundle(), DEVICE, "device", view=ReportView(customer="Hotel Aurora"),
                             generated_at=1_790_002_000_000)


def test_a_device_sealed_report_verifies_with_the_pinned_server_key(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-400:]
    verdict = verify_report_pdf(pdf, pub(SERVER))
    assert verdict.valid, verdict.problems
    assert verdict.job_id == "J-1" and verdict.signer_name == "Ada Customer" and verdict.server_key_pinned
    assert verdict.sealed_by.startswith("device:")


def test_a_server_sealed_report_verifies(pdf: bytes) -> None:
    out = render_report_pdf(make_bundle(), SERVER, "server", notices=["Content changed after sign-off"])
    assert verify_report_pdf(out, pub(SERVER)).valid


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9, 0.999])
def test_any_edited_byte_fails_verification(pdf: bytes, where: float) -> None:
    i = int(len(pdf) * where)
    edited = pdf[:i] + bytes([pdf[i] ^ 0x01]) + pdf[i + 1:]
    verdict = verify_file_bytes(edited, pub(SERVER))
    assert not verdict.valid


def test_appended_bytes_and_cut_seal_fail(pdf: bytes) -> None:
    assert any("seal" in p for p in verify_report_pdf(pdf + b"% more\n").problems)
    cut = pdf[: pdf.rfind(b"%FIELDSYNC-SIG")]
    assert any("no fieldsync seal" in p for p in verify_report_pdf(cut).problems)


def test_a_resealed_forgery_fails_on_the_bundle() -> None:
    bundle = make_bundle()
    # someone edits the content and re-seals with their own key: the digest and seal key give it away
    forged = msgspec.structs.replace(bundle, content=msgspec.structs.replace(bundle.content, resolution="Nothing"))
    mallory = Ed25519PrivateKey.generate()
    verdict = verify_report_pdf(render_report_pdf(forged, mallory, "device"), pub(SERVER))
    assert "report content does not match the signed digest" in verdict.problems
    assert any("device key other than" in p for p in verdict.problems)


def test_another_server_key_is_refused_when_pinned(pdf: bytes) -> None:
    other = pub(Ed25519PrivateKey.generate())
    verdict = verify_report_pdf(pdf, other)
    assert any("not by the trusted key" in p for p in verdict.problems)


def test_a_device_key_not_certified_by_the_server_fails() -> None:
    rogue_server = Ed25519PrivateKey.generate()
    bundle = msgspec.structs.replace(make_bundle(), server_public_key=pub(SERVER),
                                     certificate=rogue_server.sign(b"x"))
    body = b"%PDF-1.4\nfieldsync-bundle:v1:" + base64.b64encode(msgspec.msgpack.encode(bundle)) + b"\n"
    verdict = verify_report_pdf(seal(body, DEVICE, "device"))
    assert "device key is not certified by the server key" in verdict.problems


def test_cli_verify_exit_codes(tmp_path: Path, pdf: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "report.pdf"
    good.write_bytes(pdf)
    bad = tmp_path / "tampered.pdf"
    i = pdf.find(b"Igniter")  # may sit in a compressed stream: flip a byte of the body either way
    i = i if i > 0 else len(pdf) // 2
    bad.write_bytes(pdf[:i] + bytes([pdf[i] ^ 0x20]) + pdf[i + 1:])
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 not a report")
    key = pub(SERVER).hex()
    assert main(["verify", str(good), "--server-key", key]) == 0
    assert "VALID" in capsys.readouterr().out
    assert main(["verify", str(bad), "--server-key", key, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is False and out["problems"]
    assert main(["verify", str(junk)]) == 2
    assert main(["verify", str(tmp_path / "missing.pdf")]) == 2
    assert main(["verify", str(good), "--server-key", "nope"]) == 2
    # a bare bundle, as JSON and as msgpack
    (tmp_path / "b.json").write_bytes(msgspec.json.encode(make_bundle()))
    (tmp_path / "b.msgpack").write_bytes(msgspec.msgpack.encode(make_bundle()))
    assert main(["verify", str(tmp_path / "b.json"), "--server-key", key]) == 0
    assert main(["verify", str(tmp_path / "b.msgpack")]) == 0


def test_cli_verify_as_a_subprocess(tmp_path: Path, pdf: bytes) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf[:-10] + b"AAAAAAAAA\n")  # signature bytes replaced
    r = subprocess.run([sys.executable, "-m", "fieldsync", "verify", str(path), "--server-key", pub(SERVER).hex()],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "INVALID" in r.stdout and "seal" in r.stdout
