"""A job with everything recorded on it: answers, parts, attachments, sign-off, conflicts."""

from __future__ import annotations

from typing import Any

import msgspec

from server.domain.records import job_from_row, loads, movement_from_row, signoff_changed
from server.domain.tickets.service import event_from_row
from server.errors import NotFound
from server.services import Services


def job_detail(services: Services, job_id: str) -> dict[str, Any]:
    """The job page's data."""
    with services.db.read() as tx:
        row = tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise NotFound("unknown_job", f"no job {job_id!r}")
        answers = tx.query("SELECT * FROM answers WHERE job_id = ? ORDER BY item_key", (job_id,))
        moves = tx.query("SELECT * FROM movements WHERE job_id = ? ORDER BY at, id", (job_id,))
        atts = tx.query("SELECT a.*, b.complete FROM attachments a LEFT JOIN blobs b ON b.sha256 = a.sha256 "
                        "WHERE a.job_id = ? ORDER BY a.at", (job_id,))
        so = tx.one("SELECT * FROM signoffs WHERE job_id = ?", (job_id,))
        events = tx.query("SELECT * FROM ticket_events WHERE job_id = ? ORDER BY at, received_at", (job_id,))
        conflicts = tx.query("SELECT id, kind, key, status FROM conflicts WHERE job_id = ? ORDER BY created_at",
                             (job_id,))
        changed = so is not None and signoff_changed(tx, job_id)
    signoff = None
    if so is not None:
        signoff = {"signer_name": so["signer_name"], "signer_role": so["signer_role"], "signed_at": so["signed_at"],
                   "report_digest": so["report_digest"], "device_id": so["device_id"],
                   "received_at": so["received_at"], "strokes": loads(so["strokes"], []),
                   "digest_matches": not changed, "rating": so["rating"], "comment": so["comment"]}
    return {
        "job": msgspec.to_builtins(job_from_row(row, changed)),
        "answers": [{"item_key": a["item_key"], "value": loads(a["value"]), "note": a["note"],
                     "na_reason": a["na_reason"], "device_id": a["device_id"], "at": a["at"],
                     "deleted": bool(a["deleted"])} for a in answers],
        "parts": [msgspec.to_builtins(movement_from_row(m)) for m in moves],
        "attachments": [{"sha256": a["sha256"], "kind": a["kind"], "size": a["size"], "deleted": bool(a["deleted"]),
                         "arrived": bool(a["complete"])} for a in atts],
        "evidence_missing": sum(1 for a in atts if not a["deleted"] and not a["complete"]),
        "signoff": signoff,
        "timeline": [msgspec.to_builtins(event_from_row(e)) for e in events],
        "conflicts": conflicts,
    }
