"""The service-report content of a job as the tablet holds it (what a sign-off digests).

Built from local state only, in a canonical order (answers by item key, parts
lines by op id, photos by hash) so the tablet and the server, each from their
own copy, arrive at the same digest.  ``times`` holds the device times of the
latest local ``on_site`` and ``completed`` status changes.
"""

from __future__ import annotations

from typing import Final

from client_sdk.apply import loads
from client_sdk.errors import UnknownJob
from client_sdk.store import Tx
from schemas.report import ReportAnswer, ReportContent, ReportPart

REPORT_TIMES: Final = ("on_site", "completed")
REPORT_PART_KINDS: Final = ("consume",)


def build_report_content(tx: Tx, job_id: str) -> ReportContent:
    """The report content of ``job_id`` from the local store."""
    job = tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
    if job is None:
        raise UnknownJob(f"no job {job_id!r} on this tablet")
    answers = [
        ReportAnswer(key=r["item_key"], value=loads(r["value"]), note=r["note"], na_reason=r["na_reason"])
        for r in tx.query(
            "SELECT item_key, value, note, na_reason FROM answers WHERE job_id = ? AND deleted = 0 ORDER BY item_key",
            (job_id,),
        )
    ]
    parts = [
        ReportPart(
            op_id=r["id"],
            kind=r["kind"],
            part_no=r["part_no"],
            qty=r["qty"],
            serial=r["serial"],
            returned_serial=r["returned_serial"],
        )
        for r in tx.query(
            f"SELECT * FROM movements WHERE job_id = ? AND kind IN ({', '.join('?' for _ in REPORT_PART_KINDS)}) "
            "ORDER BY id",
            (job_id, *REPORT_PART_KINDS),
        )
    ]
    photos = [
        r["sha256"]
        for r in tx.query(
            "SELECT sha256 FROM attachments WHERE job_id = ? AND deleted = 0 AND kind = 'photo' ORDER BY sha256",
            (job_id,),
        )
    ]
    times: dict[str, int] = loads(job["times"], {})
    return ReportContent(
        job_id=job_id,
        ticket_id=job["ticket_id"],
        engineer_id=job["engineer_id"],
        diagnosis=job["diagnosis"],
        resolution=job["resolution"],
        notes=job["notes"],
        template_id=job["template_id"],
        template_version=job["template_version"],
        answers=answers,
        parts=parts,
        photos=photos,
        times={k: int(times[k]) for k in REPORT_TIMES if k in times},
    )
