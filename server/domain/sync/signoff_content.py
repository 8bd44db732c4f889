"""The service-report content as the server holds it, for sign-off digests.

The server reads its rows and hands them to the same assembler the tablet uses
(:func:`sync.core.signoff.assemble_report_content`): when the two digests
differ, something in the signed content changed.
"""

from __future__ import annotations

from schemas.signoff import ReportContent
from server.json_columns import loads
from sync.core.signoff import REPORT_TIMES, assemble_report_content, digest_matches, report_digest
from sync.storage import Tx


def build_report_content(tx: Tx, job_id: str) -> ReportContent | None:
    """The report content of a job now, or None when there is no such job."""
    job = tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
    if job is None:
        return None
    answers = [{**a, "value": loads(a["value"])} for a in tx.query(
        "SELECT item_key, value, note, na_reason FROM answers WHERE job_id = ? AND deleted = 0", (job_id,))]
    parts = tx.query("SELECT id, kind, part_no, qty, serial, returned_serial FROM movements WHERE job_id = ?",
                     (job_id,))
    photos = [r["sha256"] for r in tx.query(
        "SELECT sha256 FROM attachments WHERE job_id = ? AND deleted = 0 AND kind = 'photo'", (job_id,))]
    times: dict[str, int] = {}
    for kind in REPORT_TIMES:
        # ticket_id first: the (ticket_id, at) index keeps this a few-row read, not a scan of every event
        ev = tx.one("SELECT device_time FROM ticket_events WHERE ticket_id = ? AND job_id = ? AND kind = ? "
                    "AND device_time IS NOT NULL ORDER BY received_at DESC, device_time DESC LIMIT 1",
                    (job["ticket_id"], job_id, kind))
        if ev is not None:
            times[kind] = int(ev["device_time"])
    return assemble_report_content(job, answers, parts, photos, times)


def current_digest(tx: Tx, job_id: str) -> str | None:
    """Digest of the job's report content as it stands now."""
    content = build_report_content(tx, job_id)
    return None if content is None else report_digest(content)


def content_changed(tx: Tx, job_id: str, signed_digest: str) -> bool:
    """True when the job's report content is no longer what ``signed_digest`` confirms."""
    content = build_report_content(tx, job_id)
    return content is None or not digest_matches(content, signed_digest)
