"""Service-report PDFs: render them (tablet and server alike) and verify them offline.

A report PDF carries three things a verifier needs, and nothing else is trusted:

1. the :class:`~schemas.signoff.SignOffBundle` (report content, digest, signer,
   strokes, device key + signature, server key + certificate), msgpack and
   base64 in the PDF's ``/Keywords`` entry (``fieldsync-bundle:v1:<b64>``);
2. the human-readable page(s) drawn from that same bundle, the customer's
   signature drawn as vector lines;
3. a last line after ``%%EOF``, a PDF comment readers ignore::

       %FIELDSYNC-SIG v1 <device|server> <b64 public key> <b64 signature>

   an Ed25519 signature over :func:`seal_message` of every byte before it, by the
   device key (a tablet-made report) or the server key (a back-office report).

So a byte edited anywhere fails the seal, a bundle swapped in fails the seal, and
a re-sealed forgery fails the bundle checks (digest, device signature, the
server's certificate of the device key).  It is shared by ``client_sdk`` (the
tablet's ``service_report``), the server's ``GET /v1/jobs/{id}/report.pdf`` and
``fieldsync verify``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.utils import simpleSplit  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from schemas.signoff import SignOffBundle
from sync.core.signoff import verify_bundle, verify_signature
from sync.timetext import utc_text

SignerKind = Literal["device", "server"]

BUNDLE_PREFIX: Final = b"fieldsync-bundle:v1:"
SEAL_PREFIX: Final = b"%FIELDSYNC-SIG v1 "
_BUNDLE_RE: Final = re.compile(rb"fieldsync-bundle:v1:([A-Za-z0-9+/=]+)")
_bundle_decoder: Final = msgspec.msgpack.Decoder(SignOffBundle)
_bundle_json_decoder: Final = msgspec.json.Decoder(SignOffBundle)

MARGIN: Final = 40.0
LINE: Final = 13.0


class ReportUnreadable(Exception):
    """The file is neither a fieldsync report PDF nor a sign-off bundle (msgpack or JSON)."""


@dataclass(slots=True)
class ReportVerdict:
    """The outcome of checking a report or bundle offline; ``problems`` empty means valid."""

    kind: Literal["pdf", "bundle"]
    problems: list[str] = field(default_factory=list)
    job_id: str = ""
    report_digest: str = ""
    signer_name: str = ""
    signed_at: int = 0
    device_id: str = ""
    sealed_by: str = ""
    server_key_pinned: bool = False
    server_key_fingerprint: str = ""

    @property
    def valid(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "kind": self.kind, "problems": self.problems, "job_id": self.job_id,
                "report_digest": self.report_digest, "signer_name": self.signer_name, "signed_at": self.signed_at,
                "device_id": self.device_id, "sealed_by": self.sealed_by,
                "server_key_pinned": self.server_key_pinned, "server_key_fingerprint": self.server_key_fingerprint}


def fingerprint(public_key: bytes) -> str:
    """A short name for a public key (same as the server's key id)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def seal_message(kind: str, public_key: bytes, body: bytes) -> bytes:
    """The bytes the final seal signs: who seals, with which key, over the SHA-256 of the body."""
    return b"fieldsync-report-pdf:v1:" + kind.encode() + b":" + public_key + b":" + hashlib.sha256(body).digest()


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _when(ms: int) -> str:
    return utc_text(ms, "%Y-%m-%d %H:%M:%S UTC") if ms else "-"


class _Writer:
    """A tiny top-down text cursor over a reportlab canvas that starts new pages as needed."""

    def __init__(self, canvas: Canvas) -> None:
        self.c = canvas
        self.width, self.height = A4
        self.y = self.height - MARGIN

    def need(self, space: float) -> None:
        if self.y - space < MARGIN:
            self.c.showPage()
            self.y = self.height - MARGIN

    def text(self, value: str, size: float = 9, bold: bool = False, color: Any = None) -> None:
        font = "Helvetica-Bold" if bold else "Helvetica"
        for line in simpleSplit(value, font, size, self.width - 2 * MARGIN) or [""]:
            self.need(LINE)
            self.c.setFont(font, size)
            self.c.setFillColor(color or colors.black)
            self.c.drawString(MARGIN, self.y, line)
            self.y -= size + 4

    def heading(self, value: str) -> None:
        self.y -= 4
        self.text(value, 12, bold=True)

    def signature(self, strokes: list[list[int]], box_h: float = 120) -> None:
        """Draw the pen strokes scaled into a box, as vector lines."""
        self.need(box_h + 10)
        x0, top = MARGIN, self.y
        box_w = min(360.0, self.width - 2 * MARGIN)
        self.c.setStrokeColor(colors.grey)
        self.c.rect(x0, top - box_h, box_w, box_h)
        xs = [s[i] for s in strokes for i in range(0, len(s) - 1, 2)]
        ys = [s[i] for s in strokes for i in range(1, len(s), 2)]
        if xs and ys:
            min_x, max_x, min_y, max_y = min(xs), max(xs), min(ys), max(ys)
            scale = min((box_w - 20) / max(max_x - min_x, 1), (box_h - 20) / max(max_y - min_y, 1))
            self.c.setStrokeColor(colors.darkblue)
            self.c.setLineWidth(1.2)
            for s in strokes:
                pts = [(x0 + 10 + (s[i] - min_x) * scale, top - 10 - (s[i + 1] - min_y) * scale)
                       for i in range(0, len(s) - 1, 2)]
                if len(pts) == 1:
                    pts.append((pts[0][0] + 0.5, pts[0][1]))
                path = self.c.beginPath()
                path.moveTo(*pts[0])
                for p in pts[1:]:
                    path.lineTo(*p)
                self.c.drawPath(path, stroke=1, fill=0)
        self.c.setLineWidth(1)
        self.y = top - box_h - 8


def render_report_pdf(bundle: SignOffBundle, signer: Ed25519PrivateKey, signer_kind: SignerKind, *,
                      details: dict[str, str] | None = None, notices: list[str] | None = None,
                      generated_at: int = 0) -> bytes:
    """Draw the service report of ``bundle``, embed the bundle, and seal every byte with ``signer``.

    ``details`` are extra header lines (customer, site, asset ...); ``notices``
    are warnings printed in red under the title (e.g. content changed after
    sign-off).  Both are covered by the seal but not by the customer's signature.
    """
    c = bundle.content
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, invariant=True)
    canvas.setTitle(f"Service report {c.job_id}")
    canvas.setSubject(f"Signed service report of job {c.job_id}, digest {bundle.report_digest}")
    canvas.setCreator("fieldsync")
    canvas.setKeywords((BUNDLE_PREFIX + base64.b64encode(msgspec.msgpack.encode(bundle))).decode())
    w = _Writer(canvas)
    w.text("Service report", 16, bold=True)
    w.text(f"Job {c.job_id} - ticket {c.ticket_id} - engineer {c.engineer_id}")
    for k, v in (details or {}).items():
        w.text(f"{k}: {v}")
    if generated_at:
        w.text(f"Generated {_when(generated_at)} (sealed by the {signer_kind} key {fingerprint(_public(signer))})",
               8, color=colors.grey)
    for n in notices or []:
        w.text(n, 10, bold=True, color=colors.red)

    w.heading("Work")
    for label, value in (("Diagnosis", c.diagnosis), ("Resolution", c.resolution), ("Notes", c.notes)):
        w.text(f"{label}: {value or '-'}")
    for k in sorted(c.times):
        w.text(f"{k.replace('_', ' ').capitalize()}: {_when(c.times[k])}")

    w.heading(f"Checklist {c.template_id or '-'} v{c.template_version if c.template_version is not None else '-'}")
    if not c.answers:
        w.text("(no answers)")
    for a in c.answers:
        value = json.dumps(a.value) if not isinstance(a.value, str) else a.value
        extra = "".join(f"  [{lbl}: {x}]" for lbl, x in (("note", a.note), ("n/a", a.na_reason)) if x)
        w.text(f"{a.key}: {value}{extra}")

    w.heading("Parts")
    if not c.parts:
        w.text("(no parts used)")
    for p in c.parts:
        serial = f" serial {p.serial}" if p.serial else ""
        old = f", old part {p.returned_serial} taken back" if p.returned_serial else ""
        w.text(f"{p.qty} x {p.part_no}{serial}{old}  (line {p.op_id})")

    w.heading("Photos")
    w.text(", ".join(c.photos) if c.photos else "(none)", 8)

    w.heading("Customer sign-off")
    w.text(f"Signed by {bundle.signer_name} ({bundle.signer_role}) at {_when(bundle.signed_at)}")
    w.signature(bundle.strokes)
    w.text(f"Report digest (SHA-256): {bundle.report_digest}", 8)
    w.text(f"Device {bundle.device_id}, key {fingerprint(bundle.device_public_key)}", 8)
    w.text(f"Device signature: {base64.b64encode(bundle.device_signature).decode()}", 7)
    if bundle.server_public_key:
        w.text(f"Device key certified by server key {fingerprint(bundle.server_public_key)}: "
               f"{base64.b64encode(bundle.certificate).decode()}", 7)
    w.text("Check offline: fieldsync verify <this file> [--server-key KEY]", 8, color=colors.grey)
    canvas.showPage()
    canvas.save()
    return seal(buf.getvalue(), signer, signer_kind)


def seal(body: bytes, signer: Ed25519PrivateKey, signer_kind: SignerKind) -> bytes:
    """Append the seal line over ``body`` (which must end with a newline)."""
    if not body.endswith(b"\n"):
        body += b"\n"
    pub = _public(signer)
    sig = signer.sign(seal_message(signer_kind, pub, body))
    line = SEAL_PREFIX + b" ".join([signer_kind.encode(), base64.b64encode(pub), base64.b64encode(sig)]) + b"\n"
    return body + line


def parse_server_key(text: str) -> bytes:
    """A 32-byte Ed25519 public key from hex or base64 text; ValueError otherwise."""
    text = text.strip()
    raw: bytes | None = None
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raw = bytes.fromhex(text)
    else:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != 32:
        raise ValueError("a server key is 32 bytes, given as 64 hex digits or base64")
    return raw


def load_bundle(data: bytes) -> SignOffBundle:
    """A bare sign-off bundle from msgpack or JSON bytes; ReportUnreadable otherwise."""
    for decoder in (_bundle_decoder, _bundle_json_decoder):
        try:
            return decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
    raise ReportUnreadable("not a fieldsync report PDF nor a sign-off bundle (msgpack or JSON)")


def _check_bundle(bundle: SignOffBundle, verdict: ReportVerdict, trusted: bytes | None) -> None:
    verdict.job_id = bundle.content.job_id
    verdict.report_digest = bundle.report_digest
    verdict.signer_name = bundle.signer_name
    verdict.signed_at = bundle.signed_at
    verdict.device_id = bundle.device_id
    verdict.server_key_fingerprint = fingerprint(bundle.server_public_key) if bundle.server_public_key else ""
    verdict.problems += verify_bundle(bundle)
    if not bundle.server_public_key or not bundle.certificate:
        verdict.problems.append("the bundle carries no server certificate of the device key")
    if trusted is not None:
        verdict.server_key_pinned = True
        if bundle.server_public_key and bundle.server_public_key != trusted:
            verdict.problems.append(
                f"the device key is certified by server key {fingerprint(bundle.server_public_key)}, "
                f"not by the trusted key {fingerprint(trusted)}")


def verify_bundle_bytes(data: bytes, trusted_server_key: bytes | None = None) -> ReportVerdict:
    """Check a bare sign-off bundle (msgpack or JSON)."""
    verdict = ReportVerdict(kind="bundle")
    _check_bundle(load_bundle(data), verdict, trusted_server_key)
    return verdict


def verify_report_pdf(data: bytes, trusted_server_key: bytes | None = None) -> ReportVerdict:
    """Check a report PDF offline: the seal over every byte, then the embedded sign-off bundle.

    ``trusted_server_key`` pins the server key (else the one embedded is used and
    ``server_key_pinned`` stays False).  Raises :class:`ReportUnreadable` when the
    bytes are not a PDF at all.
    """
    if not data.startswith(b"%PDF-"):
        raise ReportUnreadable("not a PDF file")
    verdict = ReportVerdict(kind="pdf")
    at = data.rfind(b"\n" + SEAL_PREFIX)
    if at < 0:
        verdict.problems.append("no fieldsync seal line at the end: not a fieldsync report, or it was cut or edited")
        body, line = data, b""
    else:
        body, line = data[: at + 1], data[at + 1 + len(SEAL_PREFIX):]
    matches = _BUNDLE_RE.findall(body)
    bundle: SignOffBundle | None = None
    if len(matches) != 1:
        verdict.problems.append("no single sign-off bundle embedded in the PDF")
    else:
        try:
            bundle = _bundle_decoder.decode(base64.b64decode(matches[0]))
        except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
            verdict.problems.append("the embedded sign-off bundle does not decode")
    if bundle is not None:
        _check_bundle(bundle, verdict, trusted_server_key)
    if line:
        _check_seal(body, line, bundle, trusted_server_key, verdict)
    return verdict


def _check_seal(body: bytes, line: bytes, bundle: SignOffBundle | None, trusted: bytes | None,
                verdict: ReportVerdict) -> None:
    parts = line.rstrip(b"\n").split(b" ")
    if not line.endswith(b"\n") or line.count(b"\n") != 1 or len(parts) != 3 or parts[0] not in (b"device", b"server"):
        verdict.problems.append("the seal line is malformed (bytes were changed or added after it)")
        return
    kind = parts[0].decode()
    try:
        pub, sig = base64.b64decode(parts[1], validate=True), base64.b64decode(parts[2], validate=True)
    except (binascii.Error, ValueError):
        verdict.problems.append("the seal line is malformed (not base64)")
        return
    verdict.sealed_by = f"{kind}:{fingerprint(pub)}"
    if not verify_signature(pub, sig, seal_message(kind, pub, body)):
        verdict.problems.append("the seal over the PDF bytes does not verify: the file was changed after it was made")
        return
    if bundle is None:
        return
    if kind == "device" and pub != bundle.device_public_key:
        verdict.problems.append("sealed by a device key other than the one that countersigned the sign-off")
    if kind == "server":
        expected = trusted if trusted is not None else bundle.server_public_key
        if pub != expected:
            verdict.problems.append("sealed by a server key other than the trusted one")


def verify_file_bytes(data: bytes, trusted_server_key: bytes | None = None) -> ReportVerdict:
    """Check a report PDF or a bare bundle, whichever ``data`` is."""
    if data.startswith(b"%PDF-"):
        return verify_report_pdf(data, trusted_server_key)
    return verify_bundle_bytes(data, trusted_server_key)
