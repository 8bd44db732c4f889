"""The server's copy of a signed service report, as a PDF sealed by the server key, and its public page.

The sign-off bundle is rebuilt from what the server stored at sign-off time
(the report content it held, the customer's strokes, the device's signature)
plus the device's public key and the server's certificate of it (recomputed:
Ed25519 signatures are deterministic, so it is the one issued at enrollment).
When the job's content has changed since, the PDF says so on its first page.

What the customer reads beside the signed content (company header, labels,
part descriptions and prices, the engineer's name, photos, the timeline) is
gathered into a :class:`~service_report.view.ReportView`, in the ticket's
report locale.  The report's QR code opens :func:`report_link`: a page that
shows the signed content and whether the job still matches it, to whoever holds
the link.  The link carries an HMAC of the job id under a key derived from the
server key, so it cannot be guessed from a job id, and a wrong one is a 404.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

from schemas import i18n
from schemas.signoff import Amendment, ReportContent, SignOffBundle
from schemas.status import JOB_STATUSES
from server.domain.records import loads, signoff_changed
from server.domain.signed_reports import store
from server.errors import Conflict, NotFound
from server.services import Services
from service_report.pdf import render_report_pdf
from service_report.view import CompanyHeader, PartInfo, ReportView
from sync.core.signoff import certificate_message, verify_bundle

#: where the report's QR code points, under the server's address
LINK_PATH = "/reports/{job_id}/{token}"

#: a status's place along the job's way (assigned ... completed), to order steps taken in the same millisecond
_STEP: Final = {status: i for i, status in enumerate(JOB_STATUSES)}


@dataclass(slots=True)
class SignedReport:
    """A signed job's bundle, what the report prints beside it, and whether the job changed since."""

    bundle: SignOffBundle
    view: ReportView
    changed: bool


def link_token(services: Services, job_id: str) -> str:
    """The unguessable part of a report's link: HMAC-SHA256 of the job id, 128 bits in hex."""
    # from the first server key, so a link printed before a key rotation still opens its report
    return hmac.new(services.key.link_secret, job_id.encode(), hashlib.sha256).hexdigest()[:32]


def report_link(services: Services, base_url: str, job_id: str) -> str:
    """The full address of a report's public page (``base_url`` is the server's, as the caller reached it)."""
    return base_url.rstrip("/") + LINK_PATH.format(job_id=job_id, token=link_token(services, job_id))


def _company(services: Services) -> CompanyHeader:
    s = services.settings
    logo = b""
    if s.company_logo:
        try:
            logo = Path(s.company_logo).read_bytes()
        except OSError:
            logo = b""  # a logo removed since the server started: the report goes out without it
    return CompanyHeader(name=s.company_name, address=s.company_address, phone=s.company_phone, logo=logo)


def signed_report(services: Services, job_id: str, *, photos: bool = True) -> SignedReport:
    """The signed job's bundle and report view (with the photos' bytes unless ``photos`` is False).

    NotFound / Conflict when there is no such signed job.
    """
    key = services.key
    with services.db.read() as tx:
        job = store.job(tx, job_id)
        if job is None:
            raise NotFound("unknown_job", f"no job {job_id!r}")
        so = store.signoff(tx, job_id)
        if so is None:
            raise Conflict("not_signed_off", f"job {job_id} has no customer sign-off yet")
        dev = store.device(tx, so["device_id"])
        ticket = store.ticket(tx, job["ticket_id"])
        changed = signoff_changed(tx, job_id)
        if dev is None:
            raise Conflict("device_unknown", f"the signing device {so['device_id']} is no longer registered")
        content = msgspec.convert(loads(so["content"]), ReportContent)
        view = ReportView(company=_company(services), currency=services.settings.currency,
                          timezone=services.settings.sla_timezone,
                          engineer_name=store.engineer_name(tx, content.engineer_id))
        if ticket is not None:
            view.locale = ticket["report_locale"] or services.settings.locale
            view.customer, view.site, view.title = ticket["customer"], ticket["site"], ticket["title"]
            view.asset_serial = ticket["asset_serial"] or ""
            # steps a tablet took within one millisecond share a time: they keep the status machine's order
            view.timeline = sorted(((r["kind"], int(r["at"])) for r in store.status_events(
                tx, ticket["id"], job_id, JOB_STATUSES)), key=lambda e: (e[1], _STEP.get(e[0], len(_STEP))))
        else:
            view.locale = services.settings.locale
        if content.template_id is not None and content.template_version is not None:
            template = store.template(tx, content.template_id, content.template_version)
            if template is not None:
                view.template_name = template["name"]
                for item in loads(template["items"], []):
                    view.item_labels[item["key"]] = item["label"]
                    if item.get("unit"):
                        view.item_units[item["key"]] = item["unit"]
        view.parts = {r["part_no"]: PartInfo(r["name"], int(r["unit_price_cents"]))
                      for r in store.parts(tx, sorted({p.part_no for p in content.parts}))}
        view.billable = {r["id"]: bool(r["billable"]) for r in store.billable(tx, job_id)}
        amendments = [Amendment(target=r["target"], key=r["key"], value=loads(r["value"]), reason=r["reason"],
                                at=int(r["at"]), engineer_id=r["engineer_id"], device_id=r["device_id"])
                      for r in store.amendments(tx, job_id)]
        for sha in content.photos if photos else []:
            data = store.blob(tx, sha)
            if data is not None:
                view.photos[sha] = data
    public = bytes(dev["public_key"])
    bundle = SignOffBundle(
        content=content, report_digest=so["report_digest"],
        signer_name=so["signer_name"], signer_role=so["signer_role"], signed_at=so["signed_at"],
        strokes=loads(so["strokes"], []), device_id=so["device_id"], device_public_key=public,
        device_signature=bytes(so["device_signature"]), server_public_key=key.public,
        certificate=key.sign(certificate_message(so["device_id"], dev["engineer_id"], public)),
        amendments=amendments)
    return SignedReport(bundle, view, changed)


def report_pdf(services: Services, job_id: str, base_url: str = "") -> bytes:
    """The job's signed service report, sealed by the server key (with the QR link when ``base_url`` is known)."""
    report = signed_report(services, job_id)
    if base_url:
        report.view.verify_url = report_link(services, base_url, job_id)
    notices = [i18n.text(report.view.locale, "report", "changed_notice")] if report.changed else []
    return render_report_pdf(report.bundle, services.key.private, "server", view=report.view, notices=notices,
                             generated_at=services.clock())


def public_report(services: Services, job_id: str, token: str) -> tuple[SignedReport, list[str]]:
    """The report behind a link, and the problems its signature check finds; NotFound for a wrong token.

    A wrong token, an unknown job and a job not signed off all answer the same 404, so the link
    reveals nothing about job ids to whoever guesses at it.
    """
    if not hmac.compare_digest(token.encode(), link_token(services, job_id).encode()):
        raise NotFound("unknown_report", "no report at this address")
    try:
        report = signed_report(services, job_id, photos=False)  # the page counts them, it does not show them
    except (NotFound, Conflict):
        raise NotFound("unknown_report", "no report at this address") from None
    return report, verify_bundle(report.bundle)
