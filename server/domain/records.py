"""Row -> record conversions shared by the API and the change feed.

One function per record kind, so a job looks the same in ``GET /v1/tickets``,
in a device's pull and in a service report.  The ``*_record`` builders return
the typed pull records of :mod:`schemas.records`, which writers publish
(:func:`server.feed.publish`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from schemas.domain import Job, Movement
from schemas.records import (
    AnswerData,
    AnswerRecord,
    AttachmentData,
    AttachmentRecord,
    JobData,
    JobRecord,
    MovementData,
    MovementRecord,
    Record,
    SignoffData,
    SignoffRecord,
    StockData,
    StockRecord,
    TicketSummary,
)
from server.feed import publish
from sync.storage import Row, Tx, among, chunk_size, chunks


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


def job_record(row: Row, ticket: Row, tx: Tx | None = None, *,
               changed_after_signoff: bool | None = None) -> JobRecord:
    """A job as a device receives it: with its field HLCs and a summary of its ticket.

    Given ``tx``, a signed-off job also carries ``changed_after_signoff`` (its
    report content digest recomputed: a few indexed reads, only for signed jobs).
    """
    meta = loads(row["field_meta"], {})
    if changed_after_signoff is None and tx is not None and row["signed_off"]:
        changed_after_signoff = signoff_changed(tx, row["id"])
    return JobRecord(id=row["id"], data=JobData(
        id=row["id"], ticket_id=row["ticket_id"], engineer_id=row["engineer_id"], status=row["status"],
        hold_reason=row["hold_reason"], notes=row["notes"], diagnosis=row["diagnosis"],
        resolution=row["resolution"], remote=bool(row["remote"]), rating=row["rating"],
        customer_comment=row["customer_comment"], template_id=row["template_id"],
        template_version=row["template_version"], scheduled_start=row["scheduled_start"],
        scheduled_end=row["scheduled_end"], signed_off=bool(row["signed_off"]),
        field_hlc={k: v.get("hlc", 0) for k, v in meta.items()},
        ticket=TicketSummary(customer=ticket["customer"], site=ticket["site"], priority=ticket["priority"],
                             category=ticket["category"], title=ticket["title"],
                             asset_serial=ticket["asset_serial"], report_locale=ticket["report_locale"],
                             customer_id=ticket.get("customer_id")),
        changed_after_signoff=changed_after_signoff))


def signoff_changed(tx: Tx, job_id: str) -> bool:
    """True when the job's report content no longer matches the digest its customer signed."""
    from server.domain.sync.signoff_content import content_changed  # report builds on this module

    so = tx.one("SELECT report_digest FROM signoffs WHERE job_id = ?", (job_id,))
    return so is not None and content_changed(tx, job_id, so["report_digest"])


_UNDECODED: Any = object()


def answer_record(row: Row, value: Any = _UNDECODED) -> AnswerRecord:
    """An answer as a device receives it; ``value`` is the row's value decoded, when the caller has it."""
    return AnswerRecord(id=f"{row['job_id']}/{row['item_key']}", data=AnswerData(
        job_id=row["job_id"], item_key=row["item_key"], value=loads(row["value"]) if value is _UNDECODED else value,
        note=row["note"], na_reason=row["na_reason"], hlc=row["hlc"], device_id=row["device_id"],
        deleted=bool(row["deleted"])))


def movement_from_row(row: Row) -> Movement:
    billable = row["billable"]
    return Movement(id=row["id"], kind=row["kind"], part_no=row["part_no"], qty=row["qty"], serial=row["serial"],
                    from_location=row["from_location"], to_location=row["to_location"], job_id=row["job_id"],
                    device_id=row["device_id"], at=row["at"], billable=None if billable is None else bool(billable),
                    external_ref=row.get("external_ref"))


def movement_record(row: Row) -> MovementRecord:
    """A parts-ledger movement as a device receives it."""
    billable = row["billable"]
    return MovementRecord(id=row["id"], data=MovementData(
        id=row["id"], kind=row["kind"], part_no=row["part_no"], qty=row["qty"], serial=row["serial"],
        from_location=row["from_location"], to_location=row["to_location"], job_id=row["job_id"], at=row["at"],
        billable=None if billable is None else bool(billable)))


def attachment_record(row: Row) -> AttachmentRecord:
    """An attachment reference as a device receives it."""
    return AttachmentRecord(id=f"{row['job_id']}/{row['sha256']}", data=AttachmentData(
        job_id=row["job_id"], sha256=row["sha256"], kind=row["kind"], size=row["size"],
        deleted=bool(row["deleted"])))


def signoff_record(row: Row) -> SignoffRecord:
    """A sign-off as a device receives it (without strokes and signature)."""
    return SignoffRecord(id=row["job_id"], data=SignoffData(
        job_id=row["job_id"], signer_name=row["signer_name"], signer_role=row["signer_role"],
        signed_at=row["signed_at"], report_digest=row["report_digest"]))


def stock_qtys(tx: Tx, location: str, part_nos: list[str]) -> dict[str, int]:
    """Stock of each of ``part_nos`` at one location, derived from the ledger (two queries per look-up)."""
    into: dict[str, int] = {}
    out: dict[str, int] = {}
    for chunk in chunks(part_nos, chunk_size(tx)):
        where, params = among(tx, "part_no", chunk)
        # two sums, each read from its own (location, part_no, qty) index: a van's history, not the ledger
        for column, sums in (("to_location", into), ("from_location", out)):
            sums.update(tx.rows(f"SELECT part_no, SUM(qty) FROM movements WHERE {column} = ? AND {where} "
                                "GROUP BY part_no", [location, *params]))
    return {p: int(into.get(p) or 0) - int(out.get(p) or 0) for p in part_nos}


def stock_records(tx: Tx, locations: set[str], part_nos: Iterable[str]) -> list[tuple[StockRecord, str]]:
    """The stock of each of ``part_nos`` at each van among ``locations``, with the van's owner to tell."""
    parts = sorted(set(part_nos))
    out: list[tuple[StockRecord, str]] = []
    for loc in sorted(locations) if parts else ():
        owner = tx.one("SELECT engineer_id FROM locations WHERE id = ? AND kind = 'van'", (loc,))
        if owner and owner["engineer_id"]:
            qty = stock_qtys(tx, loc, parts)
            out += [(StockRecord(id=f"{loc}/{p}", data=StockData(location=loc, part_no=p, qty=qty[p])),
                     owner["engineer_id"]) for p in parts]
    return out


def publish_stock(tx: Tx, locations: set[str], part_nos: Iterable[str]) -> None:
    """Tell the owners of van locations their new stock of each of ``part_nos``."""
    for record, owner in stock_records(tx, locations, part_nos):
        publish(tx, [record], owner)


def publish_job_bundle(tx: Tx, job_id: str, engineer_id: str) -> None:
    """Send a job and everything recorded on it to an engineer's devices (on assignment)."""
    job = tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
    if job is None:
        return
    ticket = tx.one("SELECT * FROM tickets WHERE id = ?", (job["ticket_id"],))
    assert ticket is not None
    records: list[Record] = [job_record(job, ticket, tx)]
    records += [answer_record(a) for a in tx.query("SELECT * FROM answers WHERE job_id = ?", (job_id,))]
    records += [movement_record(m) for m in tx.query("SELECT * FROM movements WHERE job_id = ?", (job_id,))]
    records += [attachment_record(at) for at in tx.query("SELECT * FROM attachments WHERE job_id = ?", (job_id,))]
    so = tx.one("SELECT * FROM signoffs WHERE job_id = ?", (job_id,))
    if so is not None:
        records.append(signoff_record(so))
    from server.domain.archive.service import job_lifecycle_records  # the archive builds on this module

    records += job_lifecycle_records(tx, job_id, ticket)  # the job's asset with its history, its model's cases
    publish(tx, records, engineer_id)
