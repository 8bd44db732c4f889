"""Row -> record conversions shared by the API and the change feed.

One function per record kind, so a job looks the same in ``GET /v1/tickets``,
in a device's pull and in a service report.
"""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.domain import Job, Movement
from server.feed import emit_many, engineer_scope
from sync.storage import Row, Tx


def loads(text: str | None, default: Any = None) -> Any:
    """Decode a JSON column."""
    return default if text is None else msgspec.json.decode(text)


def dumps(value: Any) -> str:
    """Encode a JSON column (compact, keys sorted)."""
    return msgspec.json.encode(value, order="sorted").decode()


def job_from_row(row: Row, changed_after_signoff: bool = False) -> Job:
    return Job(
        id=row["id"], ticket_id=row["ticket_id"], engineer_id=row["engineer_id"], status=row["status"],
        hold_reason=row["hold_reason"], scheduled_start=row["scheduled_start"], scheduled_end=row["scheduled_end"],
        remote=bool(row["remote"]), notes=row["notes"], diagnosis=row["diagnosis"], resolution=row["resolution"],
        template_id=row["template_id"], template_version=row["template_version"], created_at=row["created_at"],
        updated_at=row["updated_at"], signed_off=bool(row["signed_off"]), changed_after_signoff=changed_after_signoff,
    )


def job_feed_data(row: Row, ticket: Row, tx: Tx | None = None, *,
                  changed_after_signoff: bool | None = None) -> dict[str, Any]:
    """A job as a device receives it: with its field HLCs and a summary of its ticket.

    Given ``tx``, a signed-off job also carries ``changed_after_signoff`` (its
    report content digest recomputed: a few indexed reads, only for signed jobs).
    """
    meta = loads(row["field_meta"], {})
    data: dict[str, Any] = {
        "id": row["id"], "ticket_id": row["ticket_id"], "engineer_id": row["engineer_id"], "status": row["status"],
        "hold_reason": row["hold_reason"], "notes": row["notes"], "diagnosis": row["diagnosis"],
        "resolution": row["resolution"], "remote": bool(row["remote"]), "rating": row["rating"],
        "customer_comment": row["customer_comment"], "template_id": row["template_id"],
        "template_version": row["template_version"], "scheduled_start": row["scheduled_start"],
        "scheduled_end": row["scheduled_end"], "signed_off": bool(row["signed_off"]),
        "field_hlc": {k: v.get("hlc", 0) for k, v in meta.items()},
        "ticket": {"customer": ticket["customer"], "site": ticket["site"], "priority": ticket["priority"],
                   "category": ticket["category"], "title": ticket["title"], "asset_serial": ticket["asset_serial"]},
    }
    if changed_after_signoff is not None:
        data["changed_after_signoff"] = changed_after_signoff  # already known by the caller
    elif tx is not None and row["signed_off"]:
        data["changed_after_signoff"] = signoff_changed(tx, row["id"])
    return data


def signoff_changed(tx: Tx, job_id: str) -> bool:
    """True when the job's report content no longer matches the digest its customer signed."""
    from server.domain.sync.signoff_content import content_changed  # report builds on this module

    so = tx.one("SELECT report_digest FROM signoffs WHERE job_id = ?", (job_id,))
    return so is not None and content_changed(tx, job_id, so["report_digest"])


_UNDECODED: Any = object()


def answer_feed_data(row: Row, value: Any = _UNDECODED) -> dict[str, Any]:
    """An answer as a device receives it; ``value`` is the row's value decoded, when the caller has it."""
    return {"job_id": row["job_id"], "item_key": row["item_key"],
            "value": loads(row["value"]) if value is _UNDECODED else value,
            "note": row["note"], "na_reason": row["na_reason"], "hlc": row["hlc"], "device_id": row["device_id"],
            "deleted": bool(row["deleted"])}


def movement_from_row(row: Row) -> Movement:
    billable = row["billable"]
    return Movement(id=row["id"], kind=row["kind"], part_no=row["part_no"], qty=row["qty"], serial=row["serial"],
                    from_location=row["from_location"], to_location=row["to_location"], job_id=row["job_id"],
                    device_id=row["device_id"], at=row["at"], billable=None if billable is None else bool(billable))


def movement_feed_data(row: Row) -> dict[str, Any]:
    m = movement_from_row(row)
    return {"id": m.id, "kind": m.kind, "part_no": m.part_no, "qty": m.qty, "serial": m.serial,
            "from_location": m.from_location, "to_location": m.to_location, "job_id": m.job_id, "at": m.at,
            "billable": m.billable}


def stock_qty(tx: Tx, location: str, part_no: str) -> int:
    """Stock of one part at one location, derived from the ledger."""
    # two sums, each read from its own (location, part_no, qty) index: a van's history, not the ledger
    row = tx.one(
        "SELECT (SELECT COALESCE(SUM(qty), 0) FROM movements WHERE to_location = ? AND part_no = ?) "
        "- (SELECT COALESCE(SUM(qty), 0) FROM movements WHERE from_location = ? AND part_no = ?) AS q",
        (location, part_no, location, part_no),
    )
    return int(row["q"]) if row else 0


def emit_stock(tx: Tx, locations: set[str], part_no: str) -> None:
    """Tell the owners of van locations their new stock of ``part_no``."""
    rows = []
    for loc in locations:
        owner = tx.one("SELECT engineer_id FROM locations WHERE id = ? AND kind = 'van'", (loc,))
        if owner and owner["engineer_id"]:
            rows.append((engineer_scope(owner["engineer_id"]), "stock", f"{loc}/{part_no}",
                         {"location": loc, "part_no": part_no, "qty": stock_qty(tx, loc, part_no)}))
    emit_many(tx, rows)


def emit_job_bundle(tx: Tx, job_id: str, engineer_id: str) -> None:
    """Send a job and everything recorded on it to an engineer's devices (on assignment)."""
    job = tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
    if job is None:
        return
    ticket = tx.one("SELECT * FROM tickets WHERE id = ?", (job["ticket_id"],))
    assert ticket is not None
    scope = engineer_scope(engineer_id)
    rows: list[tuple[str, str, str, dict[str, Any]]] = [(scope, "job", job_id, job_feed_data(job, ticket, tx))]
    for a in tx.query("SELECT * FROM answers WHERE job_id = ?", (job_id,)):
        rows.append((scope, "answer", f"{job_id}/{a['item_key']}", answer_feed_data(a)))
    for m in tx.query("SELECT * FROM movements WHERE job_id = ?", (job_id,)):
        rows.append((scope, "movement", m["id"], movement_feed_data(m)))
    for at in tx.query("SELECT * FROM attachments WHERE job_id = ?", (job_id,)):
        rows.append((scope, "attachment", f"{job_id}/{at['sha256']}",
                     {"job_id": job_id, "sha256": at["sha256"], "kind": at["kind"], "size": at["size"],
                      "deleted": bool(at["deleted"])}))
    so = tx.one("SELECT * FROM signoffs WHERE job_id = ?", (job_id,))
    if so is not None:
        rows.append((scope, "signoff", job_id, signoff_feed_data(so)))
    from server.domain.archive.service import job_lifecycle_rows  # the archive builds on this module

    rows += job_lifecycle_rows(tx, job_id, ticket, scope)  # the job's asset with its history, its model's cases
    emit_many(tx, rows)


def signoff_feed_data(row: Row) -> dict[str, Any]:
    return {"job_id": row["job_id"], "signer_name": row["signer_name"], "signer_role": row["signer_role"],
            "signed_at": row["signed_at"], "report_digest": row["report_digest"]}
