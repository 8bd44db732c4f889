"""A job's service report on the tablet: the content a sign-off digests, and the sealed PDF.

The content is built from local state only and assembled by the same function
as on the server (:func:`sync.core.signoff.assemble_report_content`: answers by
item key, consumed parts by op id, photos by hash), so the tablet and the
server, each from their own copy, arrive at the same digest.  ``times`` holds
the device times of the latest local ``on_site`` and ``completed`` status
changes.

The PDF (:func:`write_service_report`) embeds the sign-off bundle captured on
this tablet (content, digest, signature, the server's certificate of the
device key) and is sealed by the device key, so ``fieldsync verify`` checks it
offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client_sdk import read_sql
from client_sdk.apply import loads
from client_sdk.clock import Clock
from client_sdk.errors import SdkError, UnknownJob
from client_sdk.store import Tx
from schemas.signoff import Amendment, ReportContent, SignOffBundle
from service_report.view import PartInfo, ReportView
from sync.core.signoff import assemble_report_content

#: ticket fields printed in the report's header, in this order
HEADER_FIELDS: Final = ("customer", "site", "title", "asset_serial")


def report_content(tx: Tx, job_id: str) -> ReportContent:
    """The report content of ``job_id`` from the local store; ``UnknownJob`` if absent."""
    job = read_sql.plain_job_row(tx, job_id)
    if job is None:
        raise UnknownJob(f"no job {job_id!r} on this tablet")
    answers = [{**a, "value": loads(a["value"])} for a in read_sql.report_answer_rows(tx, job_id)]
    parts = read_sql.report_part_rows(tx, job_id)
    photos = read_sql.photo_hashes(tx, job_id)
    return assemble_report_content(job, answers, parts, photos, loads(job["times"], {}))


def signoff_bundle(tx: Tx, job_id: str) -> SignOffBundle:
    """The sign-off of ``job_id`` captured on this tablet, with the keys that vouch for it.

    Raises ``UnknownJob``, or ``SdkError`` when the job has no sign-off captured here
    (a pulled one carries no content or device signature of this tablet).
    """
    if read_sql.plain_job_row(tx, job_id) is None:
        raise UnknownJob(f"no job {job_id!r} on this tablet")
    so = read_sql.signoff_row(tx, job_id)
    if so is None or not so["content"] or so["device_signature"] is None:
        raise SdkError(f"job {job_id} has no sign-off captured on this tablet: sign_off() first")
    device = read_sql.device_row(tx)
    return SignOffBundle(
        content=msgspec.json.decode(so["content"], type=ReportContent),
        report_digest=so["report_digest"],
        signer_name=so["signer_name"],
        signer_role=so["signer_role"],
        signed_at=so["signed_at"],
        strokes=loads(so["strokes"], []),
        device_id=device["device_id"],
        device_public_key=bytes(device["public_key"]),
        device_signature=bytes(so["device_signature"]),
        server_public_key=bytes(device["server_public_key"] or b""),
        certificate=bytes(device["certificate"] or b""),
        amendments=[Amendment(target=a["target"], key=a["key"], value=loads(a["value"]), reason=a["reason"],
                              at=int(a["at"]), engineer_id=a["engineer_id"], device_id=a["device_id"])
                    for a in read_sql.amendment_rows(tx, job_id)],
    )


def report_view(tx: Tx, job_id: str) -> ReportView:
    """What the tablet knows to print beside the signed content: ticket facts, labels, parts, photos.

    The report's locale is the ticket's ``report_locale`` when the server sent one, else English; the
    company header, the engineer's display name and the full status timeline are the server's (its
    copy of the report has them), the tablet prints its own times of arrival and completion.
    """
    job = read_sql.plain_job_row(tx, job_id)
    if job is None:
        raise UnknownJob(f"no job {job_id!r} on this tablet")
    ticket = loads(job["ticket"], {})
    fact = {k: str(ticket.get(k) or "") for k in HEADER_FIELDS}
    view = ReportView(locale=str(ticket.get("report_locale") or "en"), customer=fact["customer"], site=fact["site"],
                      title=fact["title"], asset_serial=fact["asset_serial"])
    if job["template_id"] is not None and job["template_version"] is not None:
        template = read_sql.template_row(tx, job["template_id"], job["template_version"])
        if template is not None:
            view.template_name = template["name"]
            view.item_labels = {i["key"]: i["label"] for i in loads(template["items"], [])}
    view.parts = {r["part_no"]: PartInfo(r["name"], r["unit_price_cents"]) for r in read_sql.part_rows(tx)}
    view.billable = {r["id"]: bool(r["billable"]) for r in read_sql.movement_rows(tx, job_id)
                     if r["billable"] is not None}
    times = loads(job["times"], {})
    view.timeline = sorted(((k, int(v)) for k, v in times.items()), key=lambda e: e[1])
    for sha in read_sql.photo_hashes(tx, job_id):
        data = read_sql.blob_data(tx, sha)
        if data is not None:
            view.photos[sha] = data
    return view


def write_service_report(tx: Tx, key: Ed25519PrivateKey, job_id: str, path: str | Path, clock: Clock) -> Path:
    """Write the signed service report of ``job_id`` to ``path`` (whole or not at all); return the path."""
    # Imported here: rendering loads reportlab, which a tablet that never prints a report should not
    # pay for when it imports the SDK.
    from service_report.pdf import render_report_pdf

    bundle = signoff_bundle(tx, job_id)
    pdf = render_report_pdf(bundle, key, "device", view=report_view(tx, job_id), generated_at=clock())
    out = Path(path)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(pdf)
    tmp.replace(out)
    return out
