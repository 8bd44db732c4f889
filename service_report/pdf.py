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
import re
from dataclasses import dataclass, field
from datetime import UTC, timezone
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import qrcode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.utils import ImageReader  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from schemas import i18n
from schemas.signoff import ReportContent, SignOffBundle
from service_report.fonts import font_for
from service_report.view import LABOUR_STATUSES, TRAVEL_STATUSES, PartInfo, ReportView, work_minutes
from sync.core.signoff import verify_bundle, verify_signature
from sync.timetext import INVALID_TIME, utc_text, zone_text

SignerKind = Literal["device", "server"]

BUNDLE_PREFIX: Final = b"fieldsync-bundle:v1:"
SEAL_PREFIX: Final = b"%FIELDSYNC-SIG v1 "
_BUNDLE_RE: Final = re.compile(rb"fieldsync-bundle:v1:([A-Za-z0-9+/=]+)")
_bundle_decoder: Final = msgspec.msgpack.Decoder(SignOffBundle)
_bundle_json_decoder: Final = msgspec.json.Decoder(SignOffBundle)

MARGIN: Final = 40.0
GAP: Final = 4.0
QR_SIZE: Final = 110.0
PHOTO_W: Final = 240.0
PHOTO_H: Final = 180.0
SIGNATURE_H: Final = 120.0


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
    #: changes made after the signature (not covered by it), as the report lists them
    amendments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "kind": self.kind, "problems": self.problems, "job_id": self.job_id,
                "report_digest": self.report_digest, "signer_name": self.signer_name, "signed_at": self.signed_at,
                "device_id": self.device_id, "sealed_by": self.sealed_by,
                "server_key_pinned": self.server_key_pinned, "server_key_fingerprint": self.server_key_fingerprint,
                "amendments": self.amendments}


def fingerprint(public_key: bytes) -> str:
    """A short name for a public key (same as the server's key id)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def seal_message(kind: str, public_key: bytes, body: bytes) -> bytes:
    """The bytes the final seal signs: who seals, with which key, over the SHA-256 of the body."""
    return b"fieldsync-report-pdf:v1:" + kind.encode() + b":" + public_key + b":" + hashlib.sha256(body).digest()


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


# --- the document as a list of blocks, built first (so the font is subset to exactly its characters) ---

@dataclass(frozen=True, slots=True)
class _Text:
    value: str
    size: float = 9
    bold: bool = False
    color: Any = None
    indent: float = 0
    keep: float = 0  # room needed below it on the same page (what must not be parted from it)


@dataclass(frozen=True, slots=True)
class _Image:
    data: bytes
    caption: str
    width: float = PHOTO_W
    height: float = PHOTO_H


@dataclass(frozen=True, slots=True)
class _Signature:
    strokes: list[list[int]]


@dataclass(frozen=True, slots=True)
class _Qr:
    url: str


@dataclass(frozen=True, slots=True)
class _Space:
    height: float


_Block = _Text | _Image | _Signature | _Qr | _Space


class ReportTexts:
    """The report's catalog texts and locale formats (dates in the view's zone, money with its currency)."""

    def __init__(self, view: ReportView) -> None:
        self.locale = view.locale if view.locale in i18n.LOCALES else i18n.FALLBACK
        try:
            self.zone: ZoneInfo | timezone = ZoneInfo(view.timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            self.zone = UTC
        self.currency = view.currency

    def __call__(self, msg: str, /, **params: object) -> str:
        return i18n.text(self.locale, "report", msg, **params)

    def when(self, ms: int) -> str:
        if not ms:
            return self("none")
        return zone_text(ms, self.zone, self("datetime_format"), self("invalid_time"))

    def money(self, cents: int) -> str:
        return self("money", currency=self.currency, amount=f"{cents / 100:,.2f}")

    def duration(self, minutes: int) -> str:
        return self("minutes", hours=minutes // 60, minutes=minutes % 60)

    def status(self, status: str) -> str:
        return self(f"status.{status}") if f"status.{status}" in i18n.catalog(i18n.FALLBACK, "report") else status


def _answer_value(t: ReportTexts, value: object, unit: str) -> str:
    if value is True:
        text = t("answer.yes")
    elif value is False:
        text = t("answer.no")
    elif value is None:
        text = t("none")
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    return f"{text} {unit}".rstrip() if unit and value is not None and not isinstance(value, bool) else text


def _blocks(bundle: SignOffBundle, view: ReportView, signer_kind: SignerKind, signer_key: str,
            notices: list[str], generated_at: int) -> list[_Block]:
    t = ReportTexts(view)
    c: ReportContent = bundle.content
    out: list[_Block] = []
    company = view.company
    if company.logo:
        out.append(_Image(company.logo, "", width=120, height=48))
    if company.name:
        out.append(_Text(company.name, 14, bold=True))
    contact = "   ".join(x for x in (company.address, f"{t('phone')} {company.phone}" if company.phone else "") if x)
    if contact:
        out.append(_Text(contact, 8, color=colors.grey))
    out += [_Space(6), _Text(t("title"), 18, bold=True), _Text(t("job_line", job=c.job_id, ticket=c.ticket_id), 8,
                                                                 color=colors.grey)]
    for n in notices:
        out.append(_Text(n, 10, bold=True, color=colors.red))
    out.append(_Space(4))
    for label, value in (("customer", view.customer), ("site", view.site), ("subject", view.title),
                         ("asset", view.asset_serial), ("engineer", view.engineer_name or c.engineer_id)):
        if value:
            out.append(_Text(t("field", label=t(label), value=value), 10))

    out.append(_Text(t("section.work"), 12, bold=True))
    for label, value in (("diagnosis", c.diagnosis), ("resolution", c.resolution), ("notes", c.notes)):
        if value or label != "notes":
            out.append(_Text(t("field", label=t(label), value=value or t("none"))))

    timeline = sorted(view.timeline, key=lambda e: e[1]) or sorted(c.times.items(), key=lambda e: e[1])
    travel, labour = work_minutes(view.timeline)
    out.append(_Text(t("section.time"), 12, bold=True))
    seen = {status for status, _ in view.timeline}
    spans = [t("field", label=t(label), value=t.duration(minutes)) for label, minutes, kinds in (
        ("travel_time", travel, TRAVEL_STATUSES), ("labour_time", labour, LABOUR_STATUSES)) if seen & kinds]
    if spans:  # a time is printed only when the timeline holds the status it is counted from
        out.append(_Text("    ".join(spans)))
    for status, at in timeline:
        out.append(_Text(f"{t.when(at)}   {t.status(status)}", indent=8))
    out.append(_Text(t("timezone", zone=str(t.zone)), 7, color=colors.grey))

    name = view.template_name or (c.template_id or t("none"))
    out.append(_Text(t("section.checklist", name=name), 12, bold=True))
    if not c.answers:
        out.append(_Text(t("checklist.none")))
    order = {key: i for i, key in enumerate(view.item_labels)}  # the template's order, then unknown keys by name
    for a in sorted(c.answers, key=lambda a: (order.get(a.key, len(order)), a.key)):
        label = view.item_labels.get(a.key, a.key)
        if a.na_reason:
            out.append(_Text(t("field", label=label, value=t("answer.not_applicable", reason=a.na_reason))))
        else:
            out.append(_Text(t("field", label=label, value=_answer_value(t, a.value, view.item_units.get(a.key, "")))))
        if a.note:
            out.append(_Text(t("answer.remark", text=a.note), 8, indent=12))

    out.append(_Text(t("section.parts"), 12, bold=True))
    if not c.parts:
        out.append(_Text(t("parts.none")))
    for p in c.parts:
        info = view.parts.get(p.part_no, PartInfo())
        out.append(_Text(t("parts.line", qty=p.qty, description=info.description or p.part_no, part_no=p.part_no)))
        if p.serial:
            out.append(_Text(t("parts.serial", serial=p.serial), 8, indent=12))
        if p.returned_serial:
            out.append(_Text(t("parts.returned", serial=p.returned_serial), 8, indent=12))
        billable = view.billable.get(p.op_id)
        if billable is True:
            out.append(_Text(t("parts.billable", qty=p.qty, price=t.money(info.unit_price_cents),
                               total=t.money(info.unit_price_cents * p.qty)), 8, indent=12))
        elif billable is False:
            out.append(_Text(t("parts.warranty"), 8, indent=12))
        else:
            out.append(_Text(t("parts.undecided"), 8, indent=12, color=colors.grey))

    out.append(_Text(t("section.photos"), 12, bold=True))
    if not c.photos:
        out.append(_Text(t("photos.none")))
    for number, sha in enumerate(c.photos, 1):
        data = view.photos.get(sha)
        if data and _image_size(data) is not None:
            out.append(_Image(data, t("photos.caption", n=number)))
        else:
            out.append(_Text(t("photos.missing", n=number), 8, color=colors.grey))

    role = t("role.customer") if bundle.signer_role == "customer" else bundle.signer_role
    out.append(_Text(t("section.signoff"), 12, bold=True, keep=SIGNATURE_H + 30))
    out.append(_Text(t("signed_by", name=bundle.signer_name, role=role, when=t.when(bundle.signed_at)),
                     keep=SIGNATURE_H + 10))
    out.append(_Signature(bundle.strokes))
    if bundle.amendments:
        out.append(_Text(t("section.amended"), 12, bold=True, color=colors.red))
        out.append(_Text(t("amended.intro"), 8))
        for am in sorted(bundle.amendments, key=lambda x: x.at):
            label = view.item_labels.get(am.key, am.key) if am.target == "answer" else t(am.key)
            value = _answer_value(t, am.value, view.item_units.get(am.key, "")) if am.target == "answer" else str(
                am.value if am.value is not None else t("none"))
            out.append(_Text(t("amended.line", label=label, value=value)))
            out.append(_Text(t("amended.by", when=t.when(am.at), engineer=am.engineer_id, reason=am.reason), 8,
                             indent=12))

    sealer = t(f"sealer.{signer_kind}")
    out.append(_Text(t("section.verify"), 12, bold=True))
    out.append(_Text(t("verify.signed", name=bundle.signer_name, when=t.when(bundle.signed_at),
                       digest=bundle.report_digest[:16])))
    out.append(_Text(t("verify.sealed", sealer=sealer, key=signer_key)))
    if view.verify_url:
        out.append(_Text(t("verify.qr")))
        out.append(_Qr(view.verify_url))
    out.append(_Text(t("verify.offline"), 8, color=colors.grey))
    if generated_at:
        out.append(_Text(t("generated", when=t.when(generated_at), sealer=sealer, key=signer_key), 7,
                         color=colors.grey))
    return out


def _image_size(data: bytes) -> tuple[float, float] | None:
    """(width, height) of a PNG or JPEG, or None when the bytes are no image reportlab can draw."""
    try:
        w, h = ImageReader(io.BytesIO(data)).getSize()
    except Exception:  # noqa: BLE001 - any undecodable photo is shown as unavailable, never a failed report
        return None
    return (float(w), float(h)) if w and h else None


def _characters(blocks: list[_Block]) -> str:
    return "".join(b.value for b in blocks if isinstance(b, _Text)) + "".join(
        b.caption for b in blocks if isinstance(b, _Image))


class _Writer:
    """A top-down cursor over a reportlab canvas that wraps text (CJK too) and starts new pages as needed."""

    def __init__(self, canvas: Canvas, font: str) -> None:
        self.c = canvas
        self.font = font
        self.width, self.height = A4
        self.y = self.height - MARGIN

    def need(self, space: float) -> None:
        if self.y - space < MARGIN:
            self.c.showPage()
            self.y = self.height - MARGIN

    def wrap(self, value: str, size: float, width: float) -> list[str]:
        """Lines of ``value`` no wider than ``width``: break at spaces, and between any two CJK characters."""
        lines: list[str] = []
        for para in value.split("\n"):
            line = ""
            for ch in para:
                fits = stringWidth(line + ch, self.font, size) <= width
                if fits or not line or ch in _NO_LINE_START:
                    line += ch
                    continue
                cut = line.rfind(" ")
                if ch != " " and cut > 0 and not _is_wide(ch):
                    lines.append(line[:cut])
                    line = line[cut + 1:] + ch
                else:
                    lines.append(line)
                    line = ch.lstrip()
            lines.append(line)
        return lines

    def text(self, b: _Text) -> None:
        x = MARGIN + b.indent
        if b.size >= 12:  # a heading stays with the first lines under it
            self.need(b.size + 4 * 13)
        self.need(b.size + GAP + b.keep)
        for line in self.wrap(b.value, b.size, self.width - MARGIN - x):
            self.need(b.size + GAP)
            self.y -= b.size
            self.c.saveState()  # the text render mode outlives a text object: a saved state keeps bold to its line
            obj = self.c.beginText(x, self.y)
            obj.setFont(self.font, b.size)
            obj.setFillColor(b.color or colors.black)
            if b.bold:  # one face only: bold is the glyph filled and stroked
                self.c.setStrokeColor(b.color or colors.black)
                self.c.setLineWidth(b.size / 30)
                obj.setTextRenderMode(2)
            obj.textLine(line)
            self.c.drawText(obj)
            self.c.restoreState()
            self.y -= GAP
        if b.size >= 12:
            self.y -= 2

    def image(self, b: _Image) -> None:
        size = _image_size(b.data)
        if size is None:
            return
        scale = min(b.width / size[0], b.height / size[1])
        w, h = size[0] * scale, size[1] * scale
        self.need(h + (14 if b.caption else 4))
        self.y -= h
        self.c.drawImage(ImageReader(io.BytesIO(b.data)), MARGIN, self.y, w, h, mask="auto")
        if b.caption:
            self.y -= 10
            self.c.setFont(self.font, 7)
            self.c.setFillColor(colors.grey)
            self.c.drawString(MARGIN, self.y, b.caption)
        self.y -= GAP

    def qr(self, b: _Qr) -> None:
        """The link as a QR code of filled squares (vector, no image)."""
        code = qrcode.QRCode(border=4, error_correction=qrcode.constants.ERROR_CORRECT_M)  # the quiet zone QR asks for
        code.add_data(b.url)
        code.make(fit=True)
        matrix: list[list[bool]] = code.get_matrix()
        self.need(QR_SIZE + 16)
        cell = QR_SIZE / len(matrix)
        top = self.y
        self.c.setFillColor(colors.black)
        for r, row in enumerate(matrix):
            for col, dark in enumerate(row):
                if dark:
                    self.c.rect(MARGIN + col * cell, top - (r + 1) * cell, cell, cell, stroke=0, fill=1)
        self.y = top - QR_SIZE - 10
        self.c.setFont(self.font, 6)
        self.c.setFillColor(colors.grey)
        self.c.drawString(MARGIN, self.y, b.url)
        self.y -= GAP + 4

    def signature(self, strokes: list[list[int]], box_h: float = SIGNATURE_H) -> None:
        """Draw the pen strokes scaled into a box, as vector lines."""
        self.need(box_h + 10)
        x0, top = MARGIN, self.y
        box_w = min(360.0, self.width - 2 * MARGIN)
        self.c.setStrokeColor(colors.grey)
        self.c.setLineWidth(0.5)
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
                if not pts:
                    continue
                if len(pts) == 1:
                    pts.append((pts[0][0] + 0.5, pts[0][1]))
                path = self.c.beginPath()
                path.moveTo(*pts[0])
                for p in pts[1:]:
                    path.lineTo(*p)
                self.c.drawPath(path, stroke=1, fill=0)
        self.c.setLineWidth(1)
        self.y = top - box_h - 8

    def draw(self, blocks: list[_Block]) -> None:
        for b in blocks:
            if isinstance(b, _Text):
                self.text(b)
            elif isinstance(b, _Image):
                self.image(b)
            elif isinstance(b, _Signature):
                self.signature(b.strokes)
            elif isinstance(b, _Qr):
                self.qr(b)
            else:
                self.y -= b.height


#: punctuation a line does not start with (it stays at the end of the line before, a little over the margin)
_NO_LINE_START: Final = frozenset("，。、；：！？）》】」』”’,.;:!?)")


def _is_wide(ch: str) -> bool:
    """A character after which a line may break without a space (CJK ideographs, kana, full-width forms)."""
    return ch >= "\u2e80"


def _pdf_date(ms: int) -> Any:
    """A reportlab date formatter that writes ``ms`` (UTC) as the document's creation and change date."""
    # a stored time no date can hold (written before event times were bounded) dates the file at the epoch
    stamp = utc_text(ms, "D:%Y%m%d%H%M%S+00'00'")
    stamp = stamp if stamp != INVALID_TIME else "D:19700101000000+00'00'"
    return lambda *_: stamp


def render_report_pdf(bundle: SignOffBundle, signer: Ed25519PrivateKey, signer_kind: SignerKind, *,
                      view: ReportView | None = None, notices: list[str] | None = None,
                      generated_at: int = 0) -> bytes:
    """Draw the service report of ``bundle``, embed the bundle, and seal every byte with ``signer``.

    ``view`` carries what a customer reads besides the signed content (company
    header, labels, descriptions, prices, photos, timeline, the verification
    link) and the report's locale; ``notices`` are warnings printed in red under
    the title (e.g. content changed after sign-off).  All of it is covered by the
    seal but not by the customer's signature.  The same inputs give the same bytes
    (reportlab's invariant mode; the PDF's creation date is the sign-off time).
    """
    view = view or ReportView()
    c = bundle.content
    t = ReportTexts(view)
    blocks = _blocks(bundle, view, signer_kind, fingerprint(_public(signer)), notices or [], generated_at)
    font = font_for(_characters(blocks))
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, invariant=True, initialFontName=font, initialFontSize=9)
    canvas.setTitle(f"{t('title')} {c.job_id}")
    canvas.setAuthor(" / ".join(x for x in (view.company.name, view.engineer_name or c.engineer_id) if x))
    canvas.setSubject(t("meta.subject", job=c.job_id))
    canvas.setCreator("fieldsync")
    canvas.setDateFormatter(_pdf_date(bundle.signed_at))
    canvas.setKeywords((BUNDLE_PREFIX + base64.b64encode(msgspec.msgpack.encode(bundle))).decode())
    _Writer(canvas, font).draw(blocks)
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
    verdict.problems += verify_bundle(bundle)  # the signature is checked against the content as signed
    verdict.amendments = [msgspec.to_builtins(a) for a in sorted(bundle.amendments, key=lambda a: a.at)]
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
