"""Service-report PDFs: a sealed report verifies offline; any edited byte or forged part does not."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from fieldsync.cli import main
from schemas.signoff import ReportAnswer, ReportContent, ReportPart, SignOffBundle
from service_report import fonts
from service_report.fonts import font_for
from service_report.pdf import _Writer, render_report_pdf, seal, verify_file_bytes, verify_report_pdf
from service_report.view import CompanyHeader, PartInfo, ReportView, work_minutes
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


# -- the report as a document: font, metadata, determinism, the time it took -------------------------------------


def chinese_view(locale: str = "zh_CN") -> ReportView:
    return ReportView(locale=locale, company=CompanyHeader(name="华东设备服务有限公司", phone="021-5555 0100"),
                      customer="某某医院", site="住院部", engineer_name="陈力", item_labels={"gas_tight": "燃气密封"},
                      parts={"P-IGN": PartInfo("点火电极", 1500)}, billable={"op1": True}, currency="¥",
                      timeline=[("completed", 1_790_000_900_000), ("en_route", 1_789_998_000_000),
                                ("on_site", 1_790_000_000_000)], timezone="Asia/Shanghai")


def test_the_pdf_embeds_a_truetype_cjk_subset_and_no_unembedded_font() -> None:
    out = render_report_pdf(make_bundle(), DEVICE, "device", view=chinese_view())
    assert b"NotoSansCJKsc-Regular" in out and b"/FontFile2" in out  # an embedded TrueType font program
    assert b"/Helvetica" not in out  # every line is set in the embedded font, none left to the reader's
    assert verify_report_pdf(out, pub(SERVER)).valid


def info_text(pdf: bytes, name: bytes) -> str:
    """A text entry of the PDF's info dictionary, its octal escapes and UTF-16 decoded."""
    found = re.search(rb"/" + name + rb" \((.*?)\) /", pdf, re.S)
    assert found, name
    raw = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), found.group(1))
    raw = re.sub(rb"\\(.)", rb"\1", raw)
    return raw[2:].decode("utf-16-be") if raw.startswith(b"\xfe\xff") else raw.decode("latin-1")


def test_metadata_names_company_and_engineer_and_dates_the_sign_off() -> None:
    out = render_report_pdf(make_bundle(), DEVICE, "device", view=chinese_view())
    assert info_text(out, b"Author") == "华东设备服务有限公司 / 陈力"
    assert b"/CreationDate (D:20260921143000+00'00')" in out  # signed_at 1_790_001_000_000 in UTC
    assert b"D:20000101" not in out


def test_the_same_signed_report_renders_to_the_same_bytes() -> None:
    one = render_report_pdf(make_bundle(), DEVICE, "device", view=chinese_view(), generated_at=1_790_002_000_000)
    two = render_report_pdf(make_bundle(), DEVICE, "device", view=chinese_view(), generated_at=1_790_002_000_000)
    assert one == two


def test_travel_and_labour_come_from_the_status_timeline_in_any_order() -> None:
    timeline = [("completed", 1_000 + 95 * 60_000), ("en_route", 1_000), ("on_site", 1_000 + 30 * 60_000),
                ("on_hold", 1_000 + 50 * 60_000), ("in_progress", 1_000 + 70 * 60_000)]
    assert work_minutes(timeline) == (30, 20 + 25)  # the hold counts for neither
    assert work_minutes([]) == (0, 0)


@given(st.lists(st.tuples(st.sampled_from(["accepted", "en_route", "on_site", "in_progress", "on_hold", "completed"]),
                          st.integers(0, 10**10)), max_size=12))
def test_travel_and_labour_never_exceed_the_span_of_the_timeline(timeline: list[tuple[str, int]]) -> None:
    travel, labour = work_minutes(timeline)
    span = (max(t for _, t in timeline) - min(t for _, t in timeline)) / 60_000 if timeline else 0
    assert travel >= 0 and labour >= 0 and travel + labour <= span + 1


def test_an_image_that_does_not_decode_is_listed_as_unavailable_not_a_failed_report() -> None:
    view = chinese_view("en")
    view.photos = {"ab" * 32: b"not an image at all"}
    out = render_report_pdf(make_bundle(), DEVICE, "device", view=view)
    assert verify_report_pdf(out, pub(SERVER)).valid


WRAP_ALPHABET = "风机异响某某医院李经理，。 abc"


@settings(deadline=None)
@given(st.text(alphabet=st.sampled_from(WRAP_ALPHABET), max_size=400))
def test_wrapped_lines_keep_every_character_and_fit_the_page(value: str) -> None:
    font = font_for(WRAP_ALPHABET)
    writer = _Writer(Canvas(io.BytesIO()), font)
    lines = writer.wrap(value, 9, 200)
    assert "".join(lines).replace(" ", "") == value.replace(" ", "")
    assert all(stringWidth(line[:-1], font, 9) <= 200 for line in lines)


def test_the_process_keeps_a_bounded_number_of_font_subsets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "_KEEP", 2)
    names = [font_for(text) for text in ("甲", "乙", "丙", "丁")]
    assert len(set(names)) == 4
    registered = [n for n in names if n in pdfmetrics._fonts]
    assert registered == names[-2:]  # the two most recent stay, the older ones are forgotten
    assert font_for("丁") == names[-1]  # still cached: no new subset


def test_each_character_set_draws_with_its_own_subset() -> None:
    # reportlab keeps one font per PostScript face name: a second report must not draw with the first's glyphs
    first, second = font_for("风机异响"), font_for("李经理签字")
    assert first != second
    assert ord("风") in pdfmetrics.getFont(first).face.charToGlyph
    assert ord("李") in pdfmetrics.getFont(second).face.charToGlyph
    assert ord("李") not in pdfmetrics.getFont(first).face.charToGlyph
