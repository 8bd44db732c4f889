"""The server's copy of a signed service report, as a PDF sealed by the server key.

The sign-off bundle is rebuilt from what the server stored at sign-off time
(the report content it held, the customer's strokes, the device's signature)
plus the device's public key and the server's certificate of it (recomputed:
Ed25519 signatures are deterministic, so it is the one issued at enrollment).
When the job's content has changed since, the PDF says so on its first page.
"""

from __future__ import annotations

import msgspec

from schemas.signoff import ReportContent, SignOffBundle
from server.domain.records import loads, signoff_changed
from server.errors import Conflict, NotFound
from server.services import Services
from service_report.pdf import render_report_pdf
from sync.core.signoff import certificate_message


def signoff_bundle(services: Services, job_id: str) -> tuple[SignOffBundle, dict[str, str], bool]:
    """(bundle, header details, changed after sign-off) of a signed job."""
    key = services.key
    with services.db.read() as tx:
        job = tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if job is None:
            raise NotFound("unknown_job", f"no job {job_id!r}")
        so = tx.one("SELECT * FROM signoffs WHERE job_id = ?", (job_id,))
        if so is None:
            raise Conflict("not_signed_off", f"job {job_id} has no customer sign-off yet")
        dev = tx.one("SELECT engineer_id, public_key FROM devices WHERE id = ?", (so["device_id"],))
        ticket = tx.one("SELECT * FROM tickets WHERE id = ?", (job["ticket_id"],))
        changed = signoff_changed(tx, job_id)
    if dev is None:
        raise Conflict("device_unknown", f"the signing device {so['device_id']} is no longer registered")
    public = bytes(dev["public_key"])
    bundle = SignOffBundle(
        content=msgspec.convert(loads(so["content"]), ReportContent), report_digest=so["report_digest"],
        signer_name=so["signer_name"], signer_role=so["signer_role"], signed_at=so["signed_at"],
        strokes=loads(so["strokes"], []), device_id=so["device_id"], device_public_key=public,
        device_signature=bytes(so["device_signature"]), server_public_key=key.public,
        certificate=key.sign(certificate_message(so["device_id"], dev["engineer_id"], public)))
    details = {}
    if ticket is not None:
        details = {label: str(ticket[col]) for label, col in (("Customer", "customer"), ("Site", "site"),
                                                              ("Title", "title"), ("Asset", "asset_serial"))
                   if ticket[col]}
    return bundle, details, changed


def report_pdf(services: Services, job_id: str) -> bytes:
    """The job's signed service report, sealed by the server key."""
    bundle, details, changed = signoff_bundle(services, job_id)
    notices = []
    if changed:
        notices.append("WARNING: the job's content changed after the customer signed. This report shows what was "
                       "signed; the current job differs.")
    return render_report_pdf(bundle, services.key.private, "server", details=details, notices=notices,
                             generated_at=services.clock())
