"""The service-report content as the server holds it, for sign-off digests.

Built from the same fields, in the same canonical order, as the tablet's
``FieldClient.report_content``: when the two digests differ, something in the
signed content changed.
"""

from __future__ import annotations

from schemas.report import ReportAnswer, ReportContent, ReportPart
from server.domain.records import loads
from sync.core.signoff import report_digest
from sync.storage import Tx


def build_report_content(tx: Tx, job_id: str) -> ReportContent | None:
    """The report content of a job now, or None when there is no such job."""
    job = tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
    if job is None:
        return None
    answers = [
        ReportAnswer(key=a["item_key"], value=loads(a["value"]), note=a["note"], na_reason=a["na_reason"])
        for a in tx.query("SELECT * FROM answers WHERE job_id = ? AND deleted = 0 ORDER BY item_key", (job_id,))
    ]
    parts = [
        ReportPart(op_id=m["id"], kind=m["kind"], part_no=m["part_no"], qty=m["qty"], serial=m["serial"],
                   returned_serial=m["returned_serial"])
        for m in tx.query("SELECT * FROM movements WHERE job_id = ? AND kind = 'consume' ORDER BY id", (job_id,))
    ]
    photos = [r["sha256"] for r in tx.query(
        "SELECT sha256 FROM attachments WHERE job_id = ? AND deleted = 0 AND kind = 'photo' ORDER BY sha256",
        (job_id,))]
    times: dict[str, int] = {}
    for kind in ("on_site", "completed"):
        # ticket_id first: the (ticket_id, at) index keeps this a few-row read, not a scan of every event
        ev = tx.one("SELECT device_time FROM ticket_events WHERE ticket_id = ? AND job_id = ? AND kind = ? "
                    "AND device_time IS NOT NULL ORDER BY received_at DESC, device_time DESC LIMIT 1",
                    (job["ticket_id"], job_id, kind))
        if ev is not None:
            times[kind] = int(ev["device_time"])
    return ReportContent(
        job_id=job_id, ticket_id=job["ticket_id"], engineer_id=job["engineer_id"], diagnosis=job["diagnosis"],
        resolution=job["resolution"], notes=job["notes"], template_id=job["template_id"],
        template_version=job["template_version"], answers=answers, parts=parts, photos=photos, times=times,
    )


def current_digest(tx: Tx, job_id: str) -> str | None:
    """Digest of the job's report content as it stands now."""
    content = build_report_content(tx, job_id)
    return None if content is None else report_digest(content)
