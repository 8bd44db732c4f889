"""What the tablet holds, as the structs an app reads (:mod:`client_sdk.models`): rows in, fresh structs out.

Each function takes the store's reader (``LocalStore.read``) or an open
transaction, runs the queries of :mod:`client_sdk.read_sql` and maps their
rows; JSON columns are decoded here.  A struct is built on every call, so
changing one changes nothing on the tablet.
"""

from __future__ import annotations

import msgspec

from client_sdk import outbox, read_sql
from client_sdk.apply import loads
from client_sdk.errors import UnknownJob
from client_sdk.models import (
    JobDetail,
    LocalAnswer,
    LocalAttachment,
    LocalJob,
    LocalMovement,
    LocalSignOff,
    OpOutcome,
    PendingOp,
)
from client_sdk.store import Row, Tx
from schemas.domain import ChecklistTemplate, Conflict, Part, StockLevel
from sync.core.checklist import missing_required


def jobs(tx: Tx) -> list[LocalJob]:
    """The jobs on this tablet, by scheduled start."""
    return [local_job(r) for r in read_sql.job_rows(tx)]


def job_detail(tx: Tx, job_id: str) -> JobDetail:
    """One job with its answers, parts, attachments, sign-off and pinned template; ``UnknownJob`` if absent."""
    row = read_sql.job_row(tx, job_id)
    if row is None:
        raise UnknownJob(f"no job {job_id!r} on this tablet")
    unsynced = outbox.pending_keys(tx, job_id)
    answers = [
        LocalAnswer(
            item_key=a["item_key"],
            value=loads(a["value"]),
            note=a["note"],
            na_reason=a["na_reason"],
            hlc=a["hlc"],
            device_id=a["device_id"],
            template_version=a["template_version"],
            pending=f"answer:{a['item_key']}" in unsynced,
        )
        for a in read_sql.answer_rows(tx, job_id)
    ]
    movements = [
        LocalMovement(
            id=m["id"],
            kind=m["kind"],
            part_no=m["part_no"],
            qty=m["qty"],
            serial=m["serial"],
            returned_serial=m["returned_serial"],
            at=m["at"],
            billable=None if m["billable"] is None else bool(m["billable"]),
            pending=bool(m["local"]),
        )
        for m in read_sql.movement_rows(tx, job_id)
    ]
    attachments = [
        LocalAttachment(
            sha256=a["sha256"],
            kind=a["kind"],
            size=a["size"],
            content_type=a["content_type"],
            # a pulled attachment without local bytes is on the server already
            uploaded=bool(a["uploaded"]) or a["have_data"] is None,
            have_data=a["have_data"] is not None,
        )
        for a in read_sql.attachment_rows(tx, job_id)
    ]
    so = read_sql.signoff_row(tx, job_id)
    signoff = (
        None
        if so is None
        else LocalSignOff(
            signer_name=so["signer_name"],
            signer_role=so["signer_role"],
            signed_at=so["signed_at"],
            report_digest=so["report_digest"],
            strokes=loads(so["strokes"], []),
            rating=so["rating"],
            comment=so["comment"],
            pending="signoff" in unsynced,
        )
    )
    template = template_of(tx, row["template_id"], row["template_version"])
    missing = missing_required(template, read_sql.answered_keys(tx, job_id)) if template is not None else []
    return JobDetail(
        job=local_job(row),
        answers=answers,
        parts=movements,
        attachments=attachments,
        signoff=signoff,
        template=template,
        missing_required=missing,
    )


def template_of(tx: Tx, template_id: str | None, version: int | None) -> ChecklistTemplate | None:
    """A checklist template version as pulled (None when the job has none, or it is not on the tablet)."""
    if template_id is None or version is None:
        return None
    row = read_sql.template_row(tx, template_id, version)
    if row is None:
        return None
    return msgspec.convert(
        {"id": row["id"], "version": row["version"], "name": row["name"], "items": loads(row["items"], [])},
        ChecklistTemplate,
    )


def pending(tx: Tx) -> list[PendingOp]:
    """Ops not yet acknowledged by the server, in write order."""
    return [
        PendingOp(
            seq=r["seq"],
            op_id=r["op_id"],
            job_id=r["job_id"],
            type=r["type"],
            op=outbox.decode(r["body"]),
            sealed_seq=r["sealed_seq"],
        )
        for r in read_sql.outbox_rows(tx)
    ]


def conflicts(tx: Tx, status: str | None = None) -> list[Conflict]:
    """Review items the server raised on this tablet's jobs (optionally by status)."""
    out = []
    for r in read_sql.conflict_rows(tx, status):
        applied = loads(r["applied"], {})
        out.append(
            Conflict(
                id=r["id"],
                kind=r["kind"],
                job_id=r["job_id"],
                key=r["key"],
                status=r["status"],
                values=loads(r["vals"], []),
                applied=applied if isinstance(applied, dict) else {"index": applied},
                resolution=loads(r["resolution"], {}),
            )
        )
    return out


def op_results(tx: Tx, result: str | None = None) -> list[OpOutcome]:
    """The server's results for pushed ops (optionally one kind of result)."""
    return [msgspec.convert(r, OpOutcome) for r in read_sql.op_result_rows(tx, result)]


def parts(tx: Tx) -> list[Part]:
    """The parts catalog as last pulled."""
    return [
        Part(
            part_no=r["part_no"],
            name=r["name"],
            serialized=bool(r["serialized"]),
            unit_price_cents=r["unit_price_cents"],
        )
        for r in read_sql.part_rows(tx)
    ]


def stock(tx: Tx) -> list[StockLevel]:
    """Van stock: the server's figure minus consumptions still waiting in the outbox."""
    levels = {(r["location"], r["part_no"]): int(r["qty"]) for r in read_sql.stock_rows(tx)}
    van = next(iter(sorted({loc for loc, _ in levels})), None)
    if van is not None:
        for r in read_sql.unsynced_consumption_rows(tx):
            levels[(van, r["part_no"])] = levels.get((van, r["part_no"]), 0) - int(r["qty"])
    return [StockLevel(location=loc, part_no=p, qty=q) for (loc, p), q in sorted(levels.items())]


def blob(tx: Tx, sha256: str) -> bytes | None:
    """The bytes of a locally held attachment."""
    return read_sql.blob_data(tx, sha256)


def local_job(r: Row) -> LocalJob:
    """A job row (with ``pending_ops`` when the query counted them) as the app sees it."""
    return LocalJob(
        id=r["id"],
        ticket_id=r["ticket_id"],
        engineer_id=r["engineer_id"],
        status=r["status"],
        hold_reason=r["hold_reason"],
        notes=r["notes"],
        diagnosis=r["diagnosis"],
        resolution=r["resolution"],
        remote=bool(r["remote"]),
        template_id=r["template_id"],
        template_version=r["template_version"],
        scheduled_start=r["scheduled_start"],
        scheduled_end=r["scheduled_end"],
        signed_off=bool(r["signed_off"]),
        changed_after_signoff=bool(r["changed_after_signoff"]),
        ticket=loads(r["ticket"], {}),
        times=loads(r["times"], {}),
        rating=r["rating"],
        customer_comment=r["customer_comment"],
        pending_ops=int(r.get("pending_ops") or 0),
    )
