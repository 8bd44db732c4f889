"""The service-report content of a job as the tablet holds it (what a sign-off digests).

Built from local state only and assembled by the same function as on the
server (:func:`sync.core.signoff.assemble_report_content`: answers by item key,
consumed parts by op id, photos by hash) so the tablet and the server, each
from their own copy, arrive at the same digest.  ``times`` holds the device
times of the latest local ``on_site`` and ``completed`` status changes.
"""

from __future__ import annotations

from client_sdk.apply import loads
from client_sdk.errors import UnknownJob
from client_sdk.store import Tx
from schemas.report import ReportContent
from sync.core.signoff import assemble_report_content


def build_report_content(tx: Tx, job_id: str) -> ReportContent:
    """The report content of ``job_id`` from the local store."""
    job = tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
    if job is None:
        raise UnknownJob(f"no job {job_id!r} on this tablet")
    answers = [{**a, "value": loads(a["value"])} for a in tx.query(
        "SELECT item_key, value, note, na_reason FROM answers WHERE job_id = ? AND deleted = 0", (job_id,))]
    parts = tx.query("SELECT id, kind, part_no, qty, serial, returned_serial FROM movements WHERE job_id = ?",
                     (job_id,))
    photos = [r["sha256"] for r in tx.query(
        "SELECT sha256 FROM attachments WHERE job_id = ? AND deleted = 0 AND kind = 'photo'", (job_id,))]
    return assemble_report_content(job, answers, parts, photos, loads(job["times"], {}))
