"""The service-report content as the server holds it, for sign-off digests.

The server reads its rows and hands them to the same assembler the tablet uses
(:func:`sync.core.signoff.assemble_report_content`): when the two digests
differ, something in the signed content changed.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.signoff import ReportContent
from server.json_columns import loads
from sync.core.signoff import REPORT_TIME_EVENTS, assemble_report_content, digest_matches, report_digest
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
    latest: dict[str, tuple[int, int]] = {}
    kinds = sorted(REPORT_TIME_EVENTS)
    # ticket_id first: the (ticket_id, at) index keeps this a few-row read, not a scan of every event
    for ev in tx.query(f"SELECT kind, received_at, device_time FROM ticket_events WHERE ticket_id = ? "
                       f"AND job_id = ? AND kind IN ({','.join('?' * len(kinds))}) AND device_time IS NOT NULL",
                       (job["ticket_id"], job_id, *kinds)):
        timed, candidate = REPORT_TIME_EVENTS[ev["kind"]], (int(ev["received_at"]), int(ev["device_time"]))
        if candidate > latest.get(timed, (-1, -1)):
            latest[timed] = candidate
    # the engineer the customer's signature confirms: the one whose device took it (see JobState.report_content)
    signer = tx.one("SELECT d.engineer_id FROM signoffs s JOIN devices d ON d.id = s.device_id WHERE s.job_id = ?",
                    (job_id,))
    row: Mapping[str, object] = job
    if signer is not None and signer["engineer_id"] != job["engineer_id"]:
        row = {**job, "engineer_id": signer["engineer_id"]}
    return assemble_report_content(row, answers, parts, photos, {k: t[1] for k, t in latest.items()})


def current_digest(tx: Tx, job_id: str) -> str | None:
    """Digest of the job's report content as it stands now."""
    content = build_report_content(tx, job_id)
    return None if content is None else report_digest(content)


def content_changed(tx: Tx, job_id: str, signed_digest: str) -> bool:
    """True when the job's report content is no longer what ``signed_digest`` confirms."""
    content = build_report_content(tx, job_id)
    return content is None or not digest_matches(content, signed_digest)
