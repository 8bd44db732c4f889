"""Push: merge every op of a verified change-set and sign its receipt.

Verifying, the chain and whether a change-set is merged at once or accepted
first live in :mod:`server.domain.sync.intake`; this module is the merge.  The
whole change-set is applied in one transaction together with its stored
receipt (and the caller's move of the device's chain head), so a crash
mid-merge applies nothing and a re-sent change-set gets the stored receipt
back (exactly-once).  Each
op is first checked by the rules the tablet checks it by
(:mod:`sync.core.rules`, with the facts it needs gathered here), then merged
by the pure core (:mod:`sync.core.merge`); the time SLA uses for its events
comes from :mod:`sync.core.eventtime`.  This module only loads state and writes
outcomes.  A rejected op never blocks the ops behind it.

Cost does not grow in round trips with the number of ops: the jobs the
change-set names are loaded in bulk (:mod:`server.domain.sync.job_state`),
every op is decided against that state in memory, and each table is written
once at the end (``Tx.append`` for rows known to be new, ``Tx.upsert`` for the
rest).  Rare writes (conflict records, attachments) go straight to the
database.  Sign-off signatures are checked on worker threads meanwhile
(:mod:`server.domain.sync.signoff_checks`), and sign-off pen strokes stay
msgpack until their sign-off is stored (:class:`~schemas.wire.ReceivedSignOff`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

import msgspec

from schemas.codec import encode, json_encoder, strokes_decoder
from schemas.domain import ChecklistItem, ChecklistTemplate
from schemas.records import (
    AttachmentData,
    AttachmentRecord,
    ConflictData,
    ConflictRecord,
    ConflictResolution,
    ConflictValue,
    MovementRecord,
    Record,
)
from schemas.wire import (
    PROTOCOL_VERSION,
    Amend,
    AnswerItem,
    Attach,
    Delete,
    MovePart,
    OpResult,
    Receipt,
    ReceivedChangeSet,
    ReceivedOp,
    ReceivedSignOff,
    SetField,
    SetStatus,
    Signed,
)
from server.domain.conflicts import store as conflict_store
from server.domain.parts.service import under_warranty
from server.domain.records import (
    answer_record,
    dumps,
    job_record,
    loads,
    movement_record,
    signoff_record,
    stock_records,
)
from server.domain.sync.job_state import JobState, Ticket, known_ids, load_jobs, serialized_parts
from server.domain.sync.signoff_checks import SignoffChecks
from server.domain.webhooks.service import claim_opened_row, emit, emit_rows, timeline_row
from server.domain.webhooks.store import OutboxRow
from server.feed import publish
from server.ids import new_id
from server.keys import ServerKey
from server.security import DeviceAuth
from sync.core import hlc as hlc_mod
from sync.core.changeset import (
    digest,
)
from sync.core.checklist import missing_required
from sync.core.eventtime import PlacedTime, place_event
from sync.core.merge import (
    ConflictDraft,
    Outcome,
    Written,
    check_ownership,
    merge_answer,
    merge_field,
    merge_signoff,
    merge_status,
)
from sync.core.rules import (
    MALFORMED_STROKES,
    check_amend,
    check_answer,
    check_attach,
    check_delete,
    check_field,
    check_move,
    check_signoff,
    check_status,
    check_strokes,
    check_strokes_size,
)
from sync.core.signoff import canonical_as_signed, digest_matches
from sync.storage import Tx, among, chunks

# -- what a push writes at its end: each table once ------------------------------------------------
#: the job rows as they stand (locked since the push began), written back whole
JOB_COLUMNS: Final = ("id", "ticket_id", "engineer_id", "status", "hold_reason", "scheduled_start", "scheduled_end",
                      "remote", "notes", "diagnosis", "resolution", "template_id", "template_version", "rating",
                      "customer_comment", "field_meta", "signed_off", "created_at", "updated_at")
ANSWER_COLUMNS: Final = ("job_id", "item_key", "value", "note", "na_reason", "hlc", "device_id", "at",
                         "template_version", "deleted")
JOB_TUPLE: Final = itemgetter(*JOB_COLUMNS)
ANSWER_TUPLE: Final = itemgetter(*ANSWER_COLUMNS)
#: rows known to be new (existing ids are read first, under the device's lock): appended, COPY on PostgreSQL
MOVEMENTS: Final = ("movements", ("id", "kind", "part_no", "qty", "serial", "returned_serial", "from_location",
                                  "to_location", "job_id", "device_id", "at", "recorded_at", "billable", "source"))
CLAIMS: Final = ("warranty_claims", ("id", "movement_id", "job_id", "part_no", "serial", "returned_serial", "status",
                                     "created_at"))
SIGNOFFS: Final = ("signoffs", ("job_id", "signer_name", "signer_role", "signed_at", "report_digest", "strokes",
                                "device_id", "device_signature", "content", "received_at", "rating", "comment"))
EVENTS: Final = ("ticket_events", ("id", "ticket_id", "job_id", "kind", "at", "device_time", "corrected_time",
                                   "received_at", "source", "data", "time_flag"))


#: the key of a late-work review item holding one device's whole visit to a job reassigned away
VISIT_KEY: Final = "visit"


@dataclass(slots=True)
class VisitItem:
    """The late-work review item of one visit, as a push extends it: its id, values and whether it is new."""

    id: str
    values: list[ConflictValue]
    new: bool


#: the ticket event of a remote job completed without anyone on site (the tablet's or the office's)
REMOTE_RESOLVED: Final = "remote_resolved"

#: device status -> SLA event kind recorded on the ticket
STATUS_EVENTS = {
    "accepted": "acknowledged",
    "en_route": "en_route",
    "on_site": "on_site",
    "on_hold": "on_hold",
    "completed": "completed",
    "cannot_complete": "cannot_complete",
    "in_progress": "work_started",
}


def decoded_strokes(op: ReceivedSignOff) -> list[list[int]] | None:
    """A sign-off's pen strokes (None: not lists of integers); decoded only when needed, see ReceivedSignOff."""
    try:
        return strokes_decoder.decode(op.strokes)
    except msgspec.DecodeError:
        return None


def event_ids_of(op: ReceivedOp) -> list[str]:
    """The ids of the ticket events an op can add (each op adds an event once, however often it is sent)."""
    if isinstance(op, SetStatus):
        kinds = [STATUS_EVENTS.get(op.status, ""), "resumed", f"device_{op.status}",
                 REMOTE_RESOLVED if op.status == "completed" else ""]
        return [f"E-{op.op_id}-{kind}" for kind in kinds if kind]
    if isinstance(op, ReceivedSignOff):
        return [f"E-{op.op_id}-signed_off"]
    if isinstance(op, Amend):
        return [f"E-{op.op_id}-amended"]
    return []


def apply_changeset(tx: Tx, key: ServerKey, auth: DeviceAuth, cs: ReceivedChangeSet, body_hash: str,
                    offset: int, clock_known: bool, now: int, checks: SignoffChecks) -> bytes:
    """Merge every op of a verified change-set in ``tx`` and store its signed receipt; return the receipt bytes.

    The one merge of a change-set, whether it came just now (a synchronous push) or was accepted earlier
    and is merged behind its 202 (:mod:`server.domain.sync.intake`): ``now`` is when the server received
    it, ``offset`` the device's clock offset then.  The caller holds the device's row lock and moves its
    chain head; this writes the ``changesets`` row that makes a repeat answer with the same bytes.
    """
    applier = PushApplier(tx, auth, offset if clock_known else None, now, checks)
    applier.preload(cs.ops)
    results = [applier.apply(op) for op in cs.ops]
    applier.flush()
    receipt = Receipt(protocol_version=PROTOCOL_VERSION, device_id=auth.device_id, seq=cs.seq,
                      changeset_hash=body_hash, server_time=now, clock_offset_ms=offset, results=results)
    body = encode(receipt)
    out = encode(Signed(body=body, signature=key.sign(body), key_id=key.key_id))
    tx.execute("INSERT INTO changesets (device_id, seq, hash, received_at, op_count, receipt) "
               "VALUES (?, ?, ?, ?, ?, ?)", (auth.device_id, cs.seq, body_hash, now, len(cs.ops), out))
    return out


class PushApplier:
    """Applies the ops of one change-set inside one transaction (see the module docstring)."""

    def __init__(self, tx: Tx, auth: DeviceAuth, offset_ms: int | None, now: int, checks: SignoffChecks,
                 adopting_for: str | None = None) -> None:
        self.tx = tx
        #: adopting a late visit (:mod:`server.domain.sync.late_work`): the engineer who holds the job now, whose
        #: devices receive the records; the ops are applied as ``auth``'s although that engineer lost the job
        self.adopting_for = adopting_for
        self.publish_to = adopting_for or auth.engineer_id
        #: the visit review item of each job reassigned away that this push adds late work to
        self.visits: dict[str, VisitItem] = {}
        #: records of late work the engineer now holding its job receives too: (record, that engineer)
        self.for_holder: list[tuple[Record, str]] = []
        self.checks = checks
        self.auth = auth
        self.offset = offset_ms  # None: the device gave no usable clock at its session (event times are flagged)
        self.now = now
        # an unknown offset re-bases nothing; the ceiling still keeps a clock from the future from winning
        self.hlc_shift, self.hlc_ceiling = hlc_mod.rebase_bounds(offset_ms or 0, now)
        self.jobs: dict[str, JobState | None] = {}
        self.tickets: dict[str, Ticket] = {}
        self.event_ids: set[str] = set()
        self.movement_ids: set[str] = set()  # of the movements the change-set names that exist
        self.templates: dict[tuple[str, int], tuple[ChecklistTemplate, dict[str, ChecklistItem]] | None] = {}
        self.checklists: dict[str, tuple[ChecklistTemplate, dict[str, ChecklistItem]] | None] = {}  # by job
        self.parts: dict[str, bool | None] = {}  # part_no -> serialized (None: not in the catalog)
        #: the strokes of the sign-off checked last (decoded by its check, stored by its handler)
        self.strokes: list[list[int]] = []
        #: jobs signed in this change-set whose content did not change after: job -> changed_after_signoff
        self.signed_here: dict[str, bool] = {}
        self.touched_jobs: set[str] = set()
        self.dirty_jobs: set[str] = set()
        self.dirty_answers: set[tuple[str, str]] = set()
        self.touched_tickets: set[str] = set()
        #: new rows per table, in the order the tables are written
        self.new_rows: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = {
            MOVEMENTS: [], CLAIMS: [], SIGNOFFS: [], EVENTS: []}
        #: the records to publish, by (type, id): the newest state of each, in the order of its last change
        self.out: dict[tuple[type, str], Record] = {}
        #: the webhook events of the new timeline events and warranty claims, written in one statement at the end
        self.webhooks: list[OutboxRow] = []
        self.stock_parts: set[str] = set()
        self.van = f"van-{auth.engineer_id}"

    # -- state loading -------------------------------------------------
    def preload(self, ops: list[ReceivedOp]) -> None:
        """Lock and load every job the change-set names, which of its movements exist and its parts: a few queries."""
        self.jobs.update(load_jobs(self.tx, {op.job_id for op in ops} - self.jobs.keys(), self.tickets,
                                   self.event_ids))
        moves = [op for op in ops if isinstance(op, MovePart)]
        ids = [op.op_id for op in moves]
        self.movement_ids |= known_ids(self.tx, "movements", ids + [m + ":ret" for m in ids])
        self.parts.update(serialized_parts(self.tx, {op.part_no for op in moves} - self.parts.keys()))
        # the events these ops may add exist already where an op was sent before (on any ticket)
        self.event_ids |= known_ids(self.tx, "ticket_events", [eid for op in ops for eid in event_ids_of(op)])

    def checklist(self, job: JobState) -> tuple[ChecklistTemplate, dict[str, ChecklistItem]] | None:
        """The job's checklist template and its items by key (None: the job has none).

        Every answer op asks, so the answer is kept per job, and each template version is read once.
        """
        job_id = job.row["id"]
        if job_id in self.checklists:
            return self.checklists[job_id]
        row = job.row
        found = None
        if row["template_id"]:
            k = (row["template_id"], int(row["template_version"]))
            if k not in self.templates:
                t = self.tx.one("SELECT * FROM templates WHERE id = ? AND version = ?", k)
                tpl = None if t is None else msgspec.convert(
                    {"id": t["id"], "version": t["version"], "name": t["name"], "items": loads(t["items"])},
                    ChecklistTemplate)
                self.templates[k] = None if tpl is None else (tpl, {item.key: item for item in tpl.items})
            found = self.templates[k]
        self.checklists[job_id] = found
        return found

    def placed(self, job: JobState, device_ms: int) -> PlacedTime:
        """When an event of the job happened for SLA: the corrected device time, or the receipt time, flagged."""
        return place_event(device_ms, self.offset, int(job.ticket.row["opened_at"]), self.now)

    def part_serialized(self, part_no: str) -> bool | None:
        """The catalog's serialized flag of a part (None: not in the catalog); each part read once."""
        if part_no not in self.parts:
            found = self.tx.one("SELECT serialized FROM parts WHERE part_no = ?", (part_no,))
            self.parts[part_no] = None if found is None else bool(found["serialized"])
        return self.parts[part_no]

    # -- dispatch ------------------------------------------------------
    def apply(self, op: ReceivedOp) -> OpResult:
        try:
            job = self.jobs[op.job_id]
        except KeyError:
            self.preload([op])
            job = self.jobs[op.job_id]
        if job is None or (job.view.engineer_id != self.auth.engineer_id and self.adopting_for is None):
            return self.refuse(job, op)
        kind = type(op)
        reason = CHECKS[kind](self, job, op)
        if reason is not None:
            return OpResult(op_id=op.op_id, result="rejected", reason=reason)
        hlc = min(max(op.hlc - self.hlc_shift, 0), self.hlc_ceiling)  # hlc.rebase, its bounds computed once
        outcome = BY_KIND[kind](self, job, op, hlc)
        if outcome.conflict is None:
            return OpResult(op_id=op.op_id, result=outcome.result, reason=outcome.reason)
        cid = self.record_conflict(op.job_id, outcome.conflict)
        return OpResult(op_id=op.op_id, result=outcome.result, reason=outcome.reason, conflict_id=cid)

    def refuse(self, job: JobState | None, op: ReceivedOp) -> OpResult:
        """An op on a job the device's engineer does not hold (see ``check_ownership``)."""
        refusal = check_ownership(None if job is None else job.view, self.auth.engineer_id)
        assert refusal is not None
        if refusal.result == "needs_review" and job is not None:
            # late work is kept whole for review, so it must be an op the server could have taken
            reason = CHECKS[type(op)](self, job, op)
            if reason is not None:
                return OpResult(op_id=op.op_id, result="rejected", reason=reason)
            if isinstance(op, MovePart):
                # a part used or taken back is physically gone from (or in) this engineer's van whatever the office
                # decides about the visit: the ledger takes it now (DESIGN: consumption is never refused).  It was
                # used on the job, so the devices of the engineer holding the job learn it too (the job's report
                # content lists the parts used on it: their tablet must digest the same)
                self.move(job, op, op.hlc)
                for mid in (op.op_id, op.op_id + ":ret"):
                    record = self.out.get((MovementRecord, mid))
                    if record is not None:
                        self.for_holder.append((record, job.view.engineer_id))
            cid = self.late_work_conflict(job, op)
            return OpResult(op_id=op.op_id, result="needs_review", reason=refusal.reason, conflict_id=cid)
        return OpResult(op_id=op.op_id, result=refusal.result, reason=refusal.reason)

    # -- checks per kind: the facts each needs, then the shared rule (sync.core.rules) ---------------
    def check_status(self, job: JobState, op: SetStatus) -> str | None:
        return check_status(op)

    def check_field(self, job: JobState, op: SetField) -> str | None:
        return check_field(op)

    def check_answer(self, job: JobState, op: AnswerItem) -> str | None:
        checklist = self.checklist(job)
        return check_answer(op, None if checklist is None else checklist[1])

    def check_move(self, job: JobState, op: MovePart) -> str | None:
        return check_move(op, self.part_serialized)

    def check_signoff(self, job: JobState, op: ReceivedSignOff) -> str | None:
        if not self.checks.valid(op):
            return "bad_signoff_signature"
        reason = check_signoff(op) or check_strokes_size(len(op.strokes))
        if reason is not None:
            return reason
        strokes = decoded_strokes(op)
        if strokes is None:
            return MALFORMED_STROKES
        self.strokes = strokes
        return check_strokes(strokes)

    def check_attach(self, job: JobState, op: Attach) -> str | None:
        return check_attach(op)

    def check_delete(self, job: JobState, op: Delete) -> str | None:
        return check_delete(op)

    def check_amend(self, job: JobState, op: Amend) -> str | None:
        return check_amend(op)

    # -- per kind ------------------------------------------------------
    def status(self, job: JobState, op: SetStatus, hlc: int) -> Outcome:
        view = job.view
        view.remote = bool(job.row["remote"])  # a job.field op of this push may have just set it
        outcome = merge_status(view, op, self.auth.device_id, hlc)
        if op.status == "completed" and outcome.write:
            checklist = self.checklist(job)
            if checklist is not None:
                missing = missing_required(checklist[0], job.live_answer_keys())
                if missing:
                    return Outcome("rejected", False, "checklist_incomplete:" + ",".join(missing[:10]))
        if outcome.write:
            prev = view.status
            view.status = op.status
            self.update_job(job, status=op.status, hold_reason=op.hold_reason)
            placed = self.placed(job, op.at)
            if prev == "on_hold":
                self.event(job, "resumed", op, placed)
            kind = STATUS_EVENTS.get(op.status)
            if kind:
                self.event(job, kind, op, placed, {"hold_reason": op.hold_reason} if op.hold_reason else None)
            if op.status == "completed" and view.remote and "on_site" not in job.times:
                # fixed without a visit: the on-site clock no longer applies (see the SLA policies)
                self.event(job, REMOTE_RESOLVED, op, placed, {"by": "engineer"})
        else:
            # the field work is kept on the timeline even when the transition is refused
            self.event(job, f"device_{op.status}", op, self.placed(job, op.at), {"result": outcome.result})
        return outcome

    def event(self, job: JobState, kind: str, op: SetStatus, placed: PlacedTime,
              data: dict[str, Any] | None = None) -> None:
        self.add_event(job, kind, placed, op.at, {"op_id": op.op_id, **(data or {})}, f"E-{op.op_id}-{kind}")

    def add_event(self, job: JobState, kind: str, placed: PlacedTime, device_time: int, data: dict[str, Any],
                  event_id: str) -> None:
        """Append one event to the job's ticket timeline (once per id, like a re-sent op)."""
        ticket_id = job.row["ticket_id"]
        self.touched_tickets.add(ticket_id)
        if event_id in self.event_ids:
            return
        self.event_ids.add(event_id)
        at, corrected, flag = placed
        self.new_rows[EVENTS].append((event_id, ticket_id, job.row["id"], kind, at, device_time, corrected, self.now,
                                      f"device:{self.auth.device_id}", dumps(data), flag))
        webhook = timeline_row(event_id, ticket_id, job.row["id"], kind, at, self.now, data)
        if webhook is not None:
            self.webhooks.append(webhook)
        job.note_event(kind, self.now, device_time)

    def field(self, job: JobState, op: SetField, hlc: int) -> Outcome:
        row = job.row
        meta = loads(row["field_meta"], {})
        m = meta.get(op.field)
        current = None if m is None else Written(row[op.field] if op.field != "remote" else bool(row["remote"]),
                                                 m["hlc"], m["device_id"], m.get("at", 0))
        outcome = merge_field(current, op, self.auth.device_id, hlc)
        if outcome.write:
            meta[op.field] = {"hlc": hlc, "device_id": self.auth.device_id, "at": op.at}
            value = int(op.value is True) if op.field == "remote" else op.value  # remote: a bool, checked
            self.update_job(job, **{op.field: value, "field_meta": dumps(meta)})
            self.content_changed(job)
        return outcome

    def answer(self, job: JobState, op: AnswerItem, hlc: int) -> Outcome:
        checklist = self.checklists[op.job_id]  # looked up by check_answer, which refused a job without one
        assert checklist is not None
        tpl = checklist[0]
        cur = job.answers.get(op.item_key)
        current = None
        if cur is not None and not cur["deleted"]:
            current = Written(job.value_of(op.item_key), cur["hlc"], cur["device_id"], cur["at"], cur["note"],
                              cur["na_reason"])
        outcome = merge_answer(current, op, self.auth.device_id, hlc)
        if outcome.write:
            self.put_answer(job, {
                "job_id": op.job_id, "item_key": op.item_key, "value": dumps(op.value), "note": op.note,
                "na_reason": op.na_reason, "hlc": hlc, "device_id": self.auth.device_id, "at": op.at,
                "template_version": op.template_version or tpl.version, "deleted": 0}, op.value)
        return outcome

    def put_answer(self, job: JobState, row: dict[str, Any], value: Any) -> None:
        """Keep an answer row as it will be stored (``value`` decoded), and tell the engineer's devices."""
        job.answers[row["item_key"]] = row
        job.values[row["item_key"]] = value
        self.dirty_answers.add((row["job_id"], row["item_key"]))
        self.queue(answer_record(row, value))
        self.content_changed(job)

    def move(self, job: JobState, op: MovePart, _hlc: int) -> Outcome:
        if op.op_id in self.movement_ids:
            return Outcome("merged", False, "duplicate_op")
        # warranty is judged at the (corrected) time of use: free under warranty, billable outside, unknown asset NULL
        under = under_warranty(job.ticket.asset, self.placed(job, op.at)[0])
        billable = None if under is None else int(not under)
        consume = {"id": op.op_id, "kind": "consume", "part_no": op.part_no, "qty": op.qty, "serial": op.serial,
                   "returned_serial": op.returned_serial, "from_location": self.van, "to_location": None,
                   "job_id": op.job_id, "device_id": self.auth.device_id, "at": op.at, "billable": billable}
        self.put_movement(job, consume)
        if under:
            self.new_rows[CLAIMS].append((f"W-{op.op_id}", op.op_id, op.job_id, op.part_no, op.serial,
                                          op.returned_serial, "open", self.now))
            self.webhooks.append(claim_opened_row(f"W-{op.op_id}", op.job_id, op.part_no, op.serial,
                                                  op.returned_serial, self.now))
        if op.returned_serial:
            self.put_movement(job, {
                "id": op.op_id + ":ret", "kind": "return_old", "part_no": op.part_no, "qty": 1,
                "serial": op.returned_serial, "returned_serial": None, "from_location": None, "to_location": self.van,
                "job_id": op.job_id, "device_id": self.auth.device_id, "at": op.at, "billable": None})
        self.stock_parts.add(op.part_no)
        self.content_changed(job)
        return Outcome("applied", True)

    def put_movement(self, job: JobState, m: dict[str, Any]) -> None:
        mid = m["id"]
        if mid in self.movement_ids:
            return
        self.movement_ids.add(mid)
        self.new_rows[MOVEMENTS].append((mid, m["kind"], m["part_no"], m["qty"], m["serial"], m["returned_serial"],
                                         m["from_location"], m["to_location"], m["job_id"], m["device_id"], m["at"],
                                         self.now, m["billable"], "device"))
        job.movements[mid] = {k: m[k] for k in ("id", "kind", "part_no", "qty", "serial", "returned_serial")}
        self.queue(movement_record(m))

    def signoff(self, job: JobState, op: ReceivedSignOff, _hlc: int) -> Outcome:
        strokes = self.strokes  # decoded by check_signoff, just before
        view = job.view
        outcome = merge_signoff(view)
        if not outcome.write:
            existing = job.signoff
            first = Written(existing["report_digest"] if existing else None, 0,
                            existing["device_id"] if existing else "", existing["signed_at"] if existing else 0,
                            existing["signer_name"] if existing else None)
            second = Written(op.report_digest, op.hlc, self.auth.device_id, op.signed_at, op.signer_name)
            draft = ConflictDraft("signoff", "signoff", (first, second), 0)
            return Outcome(outcome.result, False, outcome.reason, draft)
        # the content as the signing engineer's tablet held it (an adopted visit's engineer no longer holds the job)
        content = canonical_as_signed(job.report_content(self.auth.engineer_id), op.report_digest)
        self.new_rows[SIGNOFFS].append((
            op.job_id, op.signer_name, op.signer_role, op.signed_at, op.report_digest,
            json_encoder.encode(strokes).decode(),  # integer lists: the same text as dumps(), without its key sorting
            self.auth.device_id, op.device_signature, content.decode(), self.now, op.rating, op.comment))
        job.signoff = {"job_id": op.job_id, "signer_name": op.signer_name, "signed_at": op.signed_at,
                       "report_digest": op.report_digest, "device_id": self.auth.device_id,
                       "engineer_id": self.auth.engineer_id}
        new_status = "signed_off" if view.status == "completed" else view.status
        view.status, view.signed_off = new_status, True
        self.update_job(job, signed_off=1, status=new_status)
        matches = digest(content) == op.report_digest
        self.signed_here[op.job_id] = not matches  # the job's changed_after_signoff, until its content changes
        self.add_event(job, "signed_off", self.placed(job, op.signed_at), op.signed_at, {"signer": op.signer_name,
                                                                    "digest_matches": matches},
                       f"E-{op.op_id}-signed_off")
        self.queue(signoff_record({
            "job_id": op.job_id, "signer_name": op.signer_name, "signer_role": op.signer_role,
            "signed_at": op.signed_at, "report_digest": op.report_digest}))
        if outcome.result == "needs_review" and outcome.conflict is None:
            # kept, but signed in a status that does not allow it: a needs_review result needs its review item
            draft = ConflictDraft("signoff", "status", (Written(new_status, 0, "server"), Written(
                "signed_off", op.hlc, self.auth.device_id, op.signed_at, op.signer_name)), 0)
            return Outcome(outcome.result, True, outcome.reason, draft)
        return outcome

    def attach(self, job: JobState, op: Attach, _hlc: int) -> Outcome:
        n = self.tx.execute(
            "INSERT INTO attachments (job_id, sha256, kind, size, content_type, device_id, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, sha256) DO NOTHING",
            (op.job_id, op.sha256, op.kind, op.size, op.content_type, self.auth.device_id, op.at))
        self.queue(AttachmentRecord(id=f"{op.job_id}/{op.sha256}", data=AttachmentData(
            job_id=op.job_id, sha256=op.sha256, kind=op.kind, size=op.size, deleted=False)))
        if n:
            job.attachments[op.sha256] = (op.kind, False)
            self.content_changed(job)
        return Outcome("applied" if n else "merged", bool(n), None if n else "already_attached")

    def delete(self, job: JobState, op: Delete, hlc: int) -> Outcome:
        if op.entity == "answer":
            cur = job.answers.get(op.key)
            if cur is None or cur["deleted"]:
                return Outcome("merged", False, "already_deleted")
            if cur["hlc"] > hlc:
                return Outcome("merged", False, "newer_write_kept")
            self.put_answer(job, {**cur, "deleted": 1, "hlc": hlc, "device_id": self.auth.device_id},
                            job.value_of(op.key))
            return Outcome("applied", True)
        n = self.tx.execute("UPDATE attachments SET deleted = 1 WHERE job_id = ? AND sha256 = ? AND deleted = 0",
                            (op.job_id, op.key))
        if n:
            kind = job.attachments.get(op.key, ("", False))[0]
            job.attachments[op.key] = (kind, True)
            row = self.tx.one("SELECT kind, size FROM attachments WHERE job_id = ? AND sha256 = ?", (op.job_id, op.key))
            assert row is not None  # just updated
            self.queue(AttachmentRecord(id=f"{op.job_id}/{op.key}", data=AttachmentData(
                job_id=op.job_id, sha256=op.key, kind=row["kind"], size=row["size"], deleted=True)))
            self.content_changed(job)
        return Outcome("applied" if n else "merged", bool(n), None if n else "already_deleted")

    def amend(self, job: JobState, op: Amend, _hlc: int) -> Outcome:
        """Record an amendment of signed content (its edit came as its own op and merged by its own rule)."""
        n = self.tx.execute(
            "INSERT INTO amendments (op_id, job_id, edit_op_id, target, key, value, reason, device_id, engineer_id, "
            "at, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (op_id) DO NOTHING",
            (op.op_id, op.job_id, op.edit_op_id, op.target, op.key, dumps(op.value), op.reason,
             self.auth.device_id, self.auth.engineer_id, op.at, self.now))
        if not n:
            return Outcome("merged", False, "duplicate_op")
        self.add_event(job, "signed_content_amended", self.placed(job, op.at), op.at,
                       {"op_id": op.op_id, "item": op.key, "reason": op.reason, "engineer_id": self.auth.engineer_id},
                       f"E-{op.op_id}-amended")
        return Outcome("applied", True)

    # -- conflicts and output -------------------------------------------
    def record_conflict(self, job_id: str, draft: ConflictDraft) -> str:
        cid = new_id("C-")
        values = [ConflictValue(value=w.value, device_id=w.device_id, hlc=w.hlc, at=w.at, note=w.note,
                                na_reason=w.na_reason) for w in draft.values]
        self.tx.execute("INSERT INTO conflicts (id, kind, job_id, key, status, vals, applied, created_at) "
                        "VALUES (?, ?, ?, ?, 'open', ?, ?, ?)",
                        (cid, draft.kind, job_id, draft.key, dumps(values), draft.applied, self.now))
        job = self.jobs.get(job_id)
        emit(self.tx, f"{cid}-opened", "conflict_opened",
             {"conflict_id": cid, "ticket_id": job.row["ticket_id"] if job is not None else None, "job_id": job_id,
              "kind": draft.kind, "key": draft.key}, self.now)
        self.queue(ConflictRecord(id=cid, data=ConflictData(
            id=cid, kind=draft.kind, job_id=job_id, key=draft.key, status="open",
            values=values, applied=draft.applied, resolution=ConflictResolution())))
        return cid

    def late_work_conflict(self, job: JobState, op: ReceivedOp) -> str:
        """Work on a job that was reassigned away: kept whole in the one review item of this device's visit.

        A visit is every late op of one device on one job while its item is open (across change-sets): the
        item's ``values[0]`` names the engineer holding the job, each later value is one op as sent, in order,
        so the back office can adopt it (:mod:`server.domain.sync.late_work`) or discard it.
        """
        if isinstance(op, ReceivedSignOff):  # its strokes are still msgpack: kept as the lists sent
            fields = {name: getattr(op, name) for name in op.__struct_fields__ if name != "strokes"}
            body = {"type": "signoff", **msgspec.to_builtins(fields), "strokes": self.strokes}  # checked just before
        else:
            body = msgspec.to_builtins(op)
        value = ConflictValue(value=dumps(body), device_id=self.auth.device_id, hlc=op.hlc, at=op.at)
        job_id = op.job_id
        visit = self.visits.get(job_id)
        if visit is None:
            found = conflict_store.open_visit(self.tx, job_id, self.auth.device_id)
            if found is None:
                visit = VisitItem(new_id("C-"), [ConflictValue(value=job.row["engineer_id"], device_id="server",
                                                               hlc=0, at=0)], True)
            else:
                visit = VisitItem(found["id"], msgspec.convert(loads(found["vals"], []), list[ConflictValue]),
                                  False)
            self.visits[job_id] = visit
        visit.values.append(value)
        return visit.id

    def write_visits(self) -> None:
        """Store each visit item this push added late work to (one row each), and tell the engineer's devices."""
        for job_id, visit in sorted(self.visits.items()):
            vals = dumps(visit.values)
            if visit.new:
                conflict_store.insert_conflict(self.tx, visit.id, "late_work", job_id, VISIT_KEY, vals, 0, self.now)
                job = self.jobs.get(job_id)
                emit(self.tx, f"{visit.id}-opened", "conflict_opened",
                     {"conflict_id": visit.id, "ticket_id": job.row["ticket_id"] if job is not None else None,
                      "job_id": job_id, "kind": "late_work", "key": VISIT_KEY}, self.now)
            else:
                conflict_store.set_values(self.tx, visit.id, vals)
            self.queue(ConflictRecord(id=visit.id, data=ConflictData(
                id=visit.id, kind="late_work", job_id=job_id, key=VISIT_KEY, status="open",
                values=visit.values, applied=0, resolution=ConflictResolution())))

    def update_job(self, job: JobState, **values: Any) -> None:
        """Change the job row in memory; it is written once, at the end."""
        job.row.update(values, updated_at=self.now)
        self.dirty_jobs.add(job.row["id"])
        self.touched_jobs.add(job.row["id"])

    def content_changed(self, job: JobState) -> None:
        """Re-send a signed job after a change to its report content (its changed_after_signoff flag)."""
        if job.view.signed_off:
            self.signed_here.pop(job.row["id"], None)  # its digest must be recomputed
            self.touched_jobs.add(job.row["id"])

    def queue(self, record: Record) -> None:
        """Publish ``record`` at the end, replacing an earlier state of it queued by this push."""
        key = (type(record), record.id)
        self.out.pop(key, None)
        self.out[key] = record

    def changed_after_signoff(self, job: JobState) -> bool | None:
        if not job.view.signed_off:
            return None
        if job.signoff is None:
            return False
        known = self.signed_here.get(job.row["id"])
        return known if known is not None else not digest_matches(job.report_content(), job.signoff["report_digest"])

    def flush(self) -> None:
        """Write every table once, then emit one change per touched record (the newest state), in order."""
        tx = self.tx
        self.write_visits()
        dirty = [job.row for job_id in sorted(self.dirty_jobs) if (job := self.jobs[job_id]) is not None]
        tx.upsert("jobs", JOB_COLUMNS, ("id",), [JOB_TUPLE(row) for row in dirty])
        # the jobs are locked, so which answers exist is known: new ones are appended, the rest updated
        new_answers: list[tuple[Any, ...]] = []
        changed_answers: list[tuple[Any, ...]] = []
        for job_id, item_key in sorted(self.dirty_answers):
            job = self.jobs[job_id]
            assert job is not None
            row = ANSWER_TUPLE(job.answers[item_key])
            (changed_answers if item_key in job.stored_answers else new_answers).append(row)
        tx.append("answers", ANSWER_COLUMNS, new_answers)
        tx.upsert("answers", ANSWER_COLUMNS, ("job_id", "item_key"), changed_answers)
        for (table, columns), rows in self.new_rows.items():
            tx.append(table, columns, rows)
        emit_rows(tx, self.webhooks)
        for chunk in chunks(sorted(self.touched_tickets)):
            where, params = among(tx, "id", chunk)
            tx.execute(f"UPDATE tickets SET updated_at = ? WHERE {where}", [self.now, *params])
        records: list[Record] = []
        for job_id in sorted(self.touched_jobs):
            job = self.jobs[job_id]
            assert job is not None
            records.append(job_record(job.row, job.ticket.row, changed_after_signoff=self.changed_after_signoff(job)))
        # every record of a push is the pushing engineer's work (a job goes to its own engineer); an adopted
        # visit's records go to the engineer who holds the job now, whose tablet shows it as it really is
        stock = stock_records(tx, {self.van}, self.stock_parts)  # the van's owner is the pushing engineer
        publish(tx, [*records, *self.out.values(), *(r for r, owner in stock if owner == self.publish_to)],
                self.publish_to)
        for record, engineer in [*self.for_holder, *((r, owner) for r, owner in stock if owner != self.publish_to)]:
            publish(tx, [record], engineer)


#: the handler of each kind of op: (applier, job, op, its re-based HLC) -> outcome.  Plain functions, not
#: bound methods kept on the applier: those would make a reference cycle that keeps a push's whole state
#: alive until the next full garbage collection (server peak memory went up by a tenth that way)
BY_KIND: Final[dict[type, Callable[[PushApplier, JobState, Any, int], Outcome]]] = {
    AnswerItem: PushApplier.answer, SetStatus: PushApplier.status, SetField: PushApplier.field,
    MovePart: PushApplier.move, ReceivedSignOff: PushApplier.signoff, Attach: PushApplier.attach,
    Delete: PushApplier.delete, Amend: PushApplier.amend}
#: the check of each kind of op (its facts gathered, then the rule shared with the tablet): a reason or None
CHECKS: Final[dict[type, Callable[[PushApplier, JobState, Any], str | None]]] = {
    AnswerItem: PushApplier.check_answer, SetStatus: PushApplier.check_status, SetField: PushApplier.check_field,
    MovePart: PushApplier.check_move, ReceivedSignOff: PushApplier.check_signoff,
    Attach: PushApplier.check_attach, Delete: PushApplier.check_delete, Amend: PushApplier.check_amend}
