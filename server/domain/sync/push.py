"""Push: verify a signed change-set, place it on the device's chain, merge every op, sign a receipt.

The signature is checked over the raw bytes before anything is decoded.  The
whole change-set is applied in one transaction together with its stored
receipt and the device's new chain head, so a crash mid-push applies nothing
and a re-sent change-set gets the stored receipt back (exactly-once).  The
merge decisions come from the pure core (:mod:`sync.core.merge`); this module
only loads state and writes outcomes.  A rejected op never blocks the ops
behind it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec

from schemas.codec import encode, json_encoder
from schemas.domain import ChecklistTemplate
from schemas.wire import (
    PROTOCOL_VERSION,
    AnswerItem,
    Attach,
    Delete,
    MovePart,
    Op,
    OpResult,
    Receipt,
    SetField,
    SetStatus,
    Signed,
    SignOff,
)
from server.context import Services, new_id
from server.domain.parts.service import asset_warranty, open_claim, under_warranty
from server.domain.records import (
    answer_feed_data,
    dumps,
    emit_stock,
    job_feed_data,
    loads,
    movement_feed_data,
    signoff_feed_data,
)
from server.domain.sync.report import build_report_content
from server.domain.tickets.service import add_event
from server.errors import Conflict, Forbidden
from server.feed import emit_many, engineer_scope
from server.security import DeviceAuth
from sync.core import hlc as hlc_mod
from sync.core.changeset import (
    ChainHead,
    decode_changeset,
    digest,
    judge_chain,
    open_envelope,
    verify_signature,
)
from sync.core.checklist import find_item, missing_required, validate_answer
from sync.core.merge import (
    ConflictDraft,
    JobView,
    Outcome,
    Written,
    check_ownership,
    merge_answer,
    merge_field,
    merge_signoff,
    merge_status,
)
from sync.core.signoff import report_digest, sign_off_message
from sync.core.signoff import verify_signature as verify_sig
from sync.storage import Row, Tx

PRELOAD_CHUNK = 500

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
TEXT_FIELDS = {"notes", "diagnosis", "resolution", "customer_comment"}
MAX_TEXT = 10_000
INT64 = 2**63
ANSWER_UPSERT = (
    "INSERT INTO answers (job_id, item_key, value, note, na_reason, hlc, device_id, at, template_version, deleted) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (job_id, item_key) DO UPDATE SET value = excluded.value, "
    "note = excluded.note, na_reason = excluded.na_reason, hlc = excluded.hlc, device_id = excluded.device_id, "
    "at = excluded.at, template_version = excluded.template_version, deleted = 0"
)


def unstorable_value(op: Op) -> str | None:
    """Why an op cannot be stored as sent (a number beyond 64 bits, a NUL in text), or None."""
    for value in msgspec.structs.astuple(op):
        kind = type(value)
        if kind is int and not -INT64 <= value < INT64:
            return "number_out_of_range"
        if kind is str and "\x00" in value:
            return "nul_in_text"
    return None


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


def push(services: Services, auth: DeviceAuth, envelope: bytes) -> bytes:
    """Apply one signed change-set; return the server-signed receipt bytes."""
    signed = open_envelope(envelope)
    verify_signature(signed, auth.public_key)
    cs = decode_changeset(signed, auth.device_id)
    body_hash = digest(signed.changeset)
    key = services.key
    now = services.clock()
    with services.db.write() as tx:
        dev = tx.lock("SELECT last_seq, last_hash, revoked_at, clock_offset_ms FROM devices WHERE id = ?",
                      (auth.device_id,))
        if dev is None or dev["revoked_at"] is not None:
            raise Forbidden("device_revoked", "this device has been revoked")
        head = ChainHead(int(dev["last_seq"]), dev["last_hash"])
        stored = None
        if cs.seq <= head.seq:
            stored = tx.one("SELECT hash, receipt FROM changesets WHERE device_id = ? AND seq = ?",
                            (auth.device_id, cs.seq))
        verdict = judge_chain(cs.seq, cs.prev_hash, body_hash, head, stored["hash"] if stored else None)
        if verdict == "duplicate":
            assert stored is not None
            return bytes(stored["receipt"])
        if verdict == "gap":
            raise Conflict("chain_gap", f"expected seq {head.seq + 1}, got {cs.seq}", expected_seq=head.seq + 1)
        if verdict == "fork":
            raise Conflict("chain_fork", f"change-set {cs.seq} does not extend this device's chain",
                           expected_seq=head.seq + 1)
        offset = int(dev["clock_offset_ms"])
        applier = PushApplier(tx, auth, offset, now)
        applier.preload(cs.ops)
        results = [applier.apply(op) for op in cs.ops]
        applier.flush()
        receipt = Receipt(protocol_version=PROTOCOL_VERSION, device_id=auth.device_id, seq=cs.seq,
                          changeset_hash=body_hash, server_time=now, clock_offset_ms=offset, results=results)
        body = encode(receipt)
        out = encode(Signed(body=body, signature=key.sign(body), key_id=key.key_id))
        tx.execute("INSERT INTO changesets (device_id, seq, hash, received_at, op_count, receipt) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (auth.device_id, cs.seq, body_hash, now, len(cs.ops), out))
        tx.execute("UPDATE devices SET last_seq = ?, last_hash = ?, last_sync_at = ? WHERE id = ?",
                   (cs.seq, body_hash, now, auth.device_id))
    return out


class PushApplier:
    """Applies the ops of one change-set inside one transaction."""

    def __init__(self, tx: Tx, auth: DeviceAuth, offset_ms: int, now: int) -> None:
        self.tx = tx
        self.auth = auth
        self.offset = offset_ms
        self.now = now
        self.jobs: dict[str, Row | None] = {}
        self.views: dict[str, JobView | None] = {}
        self.tickets: dict[str, Row] = {}
        self.templates: dict[tuple[str, int], ChecklistTemplate | None] = {}
        #: answers of preloaded jobs by (job_id, item_key); a missing key of a preloaded job means no answer yet
        self.answers: dict[tuple[str, str], Row] = {}
        self.answers_loaded: set[str] = set()
        self.touched_jobs: set[str] = set()
        self.pending_answers: list[tuple[Any, ...]] = []
        self.assets: dict[str, tuple[bool, int | None]] = {}  # ticket -> asset_warranty()
        self.parts: dict[str, bool | None] = {}  # part_no -> serialized (None: not in the catalog)
        #: jobs signed in this change-set whose content did not change after: job -> changed_after_signoff
        self.signed_here: dict[str, bool] = {}
        self.out: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.stock_parts: set[str] = set()
        self.van = f"van-{auth.engineer_id}"

    # -- state loading -------------------------------------------------
    def preload(self, ops: Sequence[Op]) -> None:
        """Lock and load every job the change-set names, with past assignees and answers: a few queries in all."""
        ids = sorted({op.job_id for op in ops} - self.jobs.keys())
        for i in range(0, len(ids), PRELOAD_CHUNK):
            chunk = ids[i:i + PRELOAD_CHUNK]
            marks = ",".join("?" for _ in chunk)
            rows = {r["id"]: r for r in self.tx.lock_all(f"SELECT * FROM jobs WHERE id IN ({marks}) ORDER BY id",
                                                          chunk)}
            past: dict[str, set[str]] = defaultdict(set)
            for r in self.tx.query(f"SELECT job_id, engineer_id FROM job_assignments WHERE job_id IN ({marks})",
                                   chunk):
                past[r["job_id"]].add(r["engineer_id"])
            for a in self.tx.query(f"SELECT * FROM answers WHERE job_id IN ({marks})", chunk):
                self.answers[(a["job_id"], a["item_key"])] = a
            for job_id in chunk:
                row = rows.get(job_id)
                self.jobs[job_id] = row
                self.views[job_id] = None if row is None else JobView(
                    job_id, row["engineer_id"], row["status"], frozenset(past[job_id]), bool(row["signed_off"]))
            self.answers_loaded.update(chunk)

    def current_answer(self, job_id: str, item_key: str) -> Row | None:
        if job_id in self.answers_loaded:
            return self.answers.get((job_id, item_key))
        return self.tx.one("SELECT * FROM answers WHERE job_id = ? AND item_key = ?", (job_id, item_key))

    def job(self, job_id: str) -> tuple[Row | None, JobView | None]:
        if job_id not in self.jobs:
            row = self.tx.lock("SELECT * FROM jobs WHERE id = ?", (job_id,))
            self.jobs[job_id] = row
            if row is None:
                self.views[job_id] = None
            else:
                past = frozenset(r["engineer_id"] for r in self.tx.query(
                    "SELECT engineer_id FROM job_assignments WHERE job_id = ?", (job_id,)))
                self.views[job_id] = JobView(job_id, row["engineer_id"], row["status"], past, bool(row["signed_off"]))
        return self.jobs[job_id], self.views[job_id]

    def template(self, job: Row) -> ChecklistTemplate | None:
        if not job["template_id"]:
            return None
        k = (job["template_id"], int(job["template_version"]))
        if k not in self.templates:
            row = self.tx.one("SELECT * FROM templates WHERE id = ? AND version = ?", k)
            self.templates[k] = None if row is None else msgspec.convert(
                {"id": row["id"], "version": row["version"], "name": row["name"], "items": loads(row["items"])},
                ChecklistTemplate)
        return self.templates[k]

    def corrected(self, device_ms: int) -> int:
        """Device time corrected by the measured offset, never after the server's now."""
        return min(device_ms - self.offset, self.now) if device_ms else self.now

    # -- dispatch ------------------------------------------------------
    def apply(self, op: Op) -> OpResult:
        unstorable = unstorable_value(op)
        if unstorable is not None:
            return OpResult(op_id=op.op_id, result="rejected", reason=unstorable)
        row, view = self.job(op.job_id)
        refusal = check_ownership(view, self.auth.engineer_id)
        if refusal is not None:
            if refusal.result == "needs_review" and row is not None:
                cid = self.late_work_conflict(row, op)
                return OpResult(op_id=op.op_id, result="needs_review", reason=refusal.reason, conflict_id=cid)
            return OpResult(op_id=op.op_id, result=refusal.result, reason=refusal.reason)
        assert row is not None and view is not None
        hlc = hlc_mod.rebase(op.hlc, self.offset, self.now)
        if not isinstance(op, AnswerItem):
            self.write_answers()  # other kinds of op may read the answers table
        if isinstance(op, SetStatus):
            outcome = self.status(row, view, op, hlc)
        elif isinstance(op, SetField):
            outcome = self.field(row, op, hlc)
        elif isinstance(op, AnswerItem):
            outcome = self.answer(row, op, hlc)
        elif isinstance(op, MovePart):
            outcome = self.move(row, op)
        elif isinstance(op, SignOff):
            outcome = self.signoff(row, view, op)
        elif isinstance(op, Attach):
            outcome = self.attach(op)
        else:
            assert isinstance(op, Delete)
            outcome = self.delete(op, hlc)
        cid = self.record_conflict(op.job_id, outcome.conflict) if outcome.conflict else None
        return OpResult(op_id=op.op_id, result=outcome.result, reason=outcome.reason, conflict_id=cid)

    # -- per kind ------------------------------------------------------
    def status(self, row: Row, view: JobView, op: SetStatus, hlc: int) -> Outcome:
        outcome = merge_status(view, op, self.auth.device_id, hlc)
        if op.status == "completed" and outcome.write:
            tpl = self.template(row)
            if tpl is not None:
                answered = [r["item_key"] for r in self.tx.query(
                    "SELECT item_key FROM answers WHERE job_id = ? AND deleted = 0", (op.job_id,))]
                missing = missing_required(tpl, answered)
                if missing:
                    return Outcome("rejected", False, "checklist_incomplete:" + ",".join(missing[:10]))
        if outcome.write:
            prev = view.status
            view.status = op.status
            self.tx.execute("UPDATE jobs SET status = ?, hold_reason = ?, updated_at = ? WHERE id = ?",
                            (op.status, op.hold_reason if op.status == "on_hold" else None, self.now, op.job_id))
            self.touch(op.job_id)
            corrected = self.corrected(op.at)
            if prev == "on_hold":
                self.event(row, "resumed", op, corrected)
            kind = STATUS_EVENTS.get(op.status)
            if kind:
                self.event(row, kind, op, corrected, {"hold_reason": op.hold_reason} if op.hold_reason else None)
        else:
            # the field work is kept on the timeline even when the transition is refused
            self.event(row, f"device_{op.status}", op, self.corrected(op.at), {"result": outcome.result})
        return outcome

    def event(self, row: Row, kind: str, op: SetStatus, corrected: int, data: dict[str, Any] | None = None) -> None:
        add_event(self.tx, row["ticket_id"], kind, corrected, self.now, job_id=op.job_id, device_time=op.at,
                  corrected_time=corrected, source=f"device:{self.auth.device_id}",
                  data={"op_id": op.op_id, **(data or {})}, event_id=f"E-{op.op_id}-{kind}")

    def field(self, row: Row, op: SetField, hlc: int) -> Outcome:
        if op.field in TEXT_FIELDS:
            if not isinstance(op.value, str) or len(op.value) > MAX_TEXT:
                return Outcome("rejected", False, "invalid_value")
        elif op.field == "remote":
            if not isinstance(op.value, bool):
                return Outcome("rejected", False, "invalid_value")
        elif op.field == "rating":
            if op.value is not None and (isinstance(op.value, bool) or not isinstance(op.value, int)
                                         or not 1 <= op.value <= 5):
                return Outcome("rejected", False, "invalid_value")
        else:
            return Outcome("rejected", False, "unknown_field")
        meta = loads(row["field_meta"], {})
        m = meta.get(op.field)
        current = None if m is None else Written(row[op.field] if op.field != "remote" else bool(row["remote"]),
                                                 m["hlc"], m["device_id"], m.get("at", 0))
        outcome = merge_field(current, op, self.auth.device_id, hlc)
        if outcome.write:
            meta[op.field] = {"hlc": hlc, "device_id": self.auth.device_id, "at": op.at}
            value = int(op.value) if op.field == "remote" else op.value
            self.tx.execute(f"UPDATE jobs SET {op.field} = ?, field_meta = ?, updated_at = ? WHERE id = ?",
                            (value, dumps(meta), self.now, op.job_id))
            self.jobs[op.job_id] = self.tx.one("SELECT * FROM jobs WHERE id = ?", (op.job_id,))
            self.touch(op.job_id)
        return outcome

    def answer(self, row: Row, op: AnswerItem, hlc: int) -> Outcome:
        tpl = self.template(row)
        if tpl is None:
            return Outcome("rejected", False, "job_has_no_checklist")
        item = find_item(tpl, op.item_key)
        if item is None:
            return Outcome("rejected", False, "unknown_item")
        problem = validate_answer(item, op.value, op.na_reason)
        if problem:
            return Outcome("rejected", False, problem)
        cur = self.current_answer(op.job_id, op.item_key)
        current = None
        if cur is not None and not cur["deleted"]:
            current = Written(loads(cur["value"]), cur["hlc"], cur["device_id"], cur["at"], cur["note"],
                              cur["na_reason"])
        outcome = merge_answer(current, op, self.auth.device_id, hlc)
        if outcome.write:
            value, version = dumps(op.value), op.template_version or tpl.version
            # written in one executemany before any other kind of op reads the table (see apply)
            self.pending_answers.append(
                (op.job_id, op.item_key, value, op.note, op.na_reason, hlc, self.auth.device_id, op.at, version))
            # the row as written: no read-back needed for the feed
            written = {"job_id": op.job_id, "item_key": op.item_key, "value": value, "note": op.note,
                       "na_reason": op.na_reason, "hlc": hlc, "device_id": self.auth.device_id, "at": op.at,
                       "template_version": version, "deleted": 0}
            if op.job_id in self.answers_loaded:
                self.answers[(op.job_id, op.item_key)] = written
            self.queue("answer", f"{op.job_id}/{op.item_key}", answer_feed_data(written))
            self.touch_if_signed(op.job_id)
        return outcome

    def warranty(self, ticket_id: str, at: int) -> bool | None:
        """Is the ticket's asset under warranty at ``at`` (None: no known asset)?  One lookup per ticket."""
        if ticket_id not in self.assets:
            self.assets[ticket_id] = asset_warranty(self.tx, ticket_id)
        return under_warranty(self.assets[ticket_id], at)

    def write_answers(self) -> None:
        """Store the answers applied since the last call, in one statement."""
        if self.pending_answers:
            self.tx.executemany(ANSWER_UPSERT, self.pending_answers)
            self.pending_answers.clear()

    def out_answer(self, job_id: str, item_key: str) -> None:
        a = self.tx.one("SELECT * FROM answers WHERE job_id = ? AND item_key = ?", (job_id, item_key))
        if a is not None:
            self.queue("answer", f"{job_id}/{item_key}", answer_feed_data(a))

    def move(self, row: Row, op: MovePart) -> Outcome:
        if op.kind != "consume":
            return Outcome("rejected", False, "device_may_only_consume")
        if op.qty <= 0 or op.qty > 10_000:
            return Outcome("rejected", False, "bad_quantity")
        if op.part_no not in self.parts:
            found = self.tx.one("SELECT serialized FROM parts WHERE part_no = ?", (op.part_no,))
            self.parts[op.part_no] = None if found is None else bool(found["serialized"])
        serialized = self.parts[op.part_no]
        if serialized is None:
            return Outcome("rejected", False, "unknown_part")
        if serialized and (not op.serial or op.qty != 1):
            return Outcome("rejected", False, "serial_required")
        # warranty is judged at the (corrected) time of use: free under warranty, billable outside, unknown asset NULL
        under = self.warranty(row["ticket_id"], self.corrected(op.at))
        billable = None if under is None else int(not under)
        n = self.tx.execute(
            "INSERT INTO movements (id, kind, part_no, qty, serial, returned_serial, from_location, to_location, "
            "job_id, device_id, at, recorded_at, billable, source) VALUES (?, 'consume', ?, ?, ?, ?, ?, NULL, ?, ?, "
            "?, ?, ?, 'device') ON CONFLICT (id) DO NOTHING",
            (op.op_id, op.part_no, op.qty, op.serial, op.returned_serial, self.van, op.job_id,
             self.auth.device_id, op.at, self.now, billable))
        if n == 0:
            return Outcome("merged", False, "duplicate_op")
        if under:
            open_claim(self.tx, op.op_id, op.job_id, op.part_no, op.serial, op.returned_serial, self.now)
        self.touch_if_signed(op.job_id)
        if op.returned_serial:
            self.tx.execute(
                "INSERT INTO movements (id, kind, part_no, qty, serial, from_location, to_location, job_id, "
                "device_id, at, recorded_at, source) VALUES (?, 'return_old', ?, 1, ?, NULL, ?, ?, ?, ?, ?, 'device') "
                "ON CONFLICT (id) DO NOTHING",
                (op.op_id + ":ret", op.part_no, op.returned_serial, self.van, op.job_id, self.auth.device_id,
                 op.at, self.now))
        # the rows as written: no read-back needed for the feed
        self.queue("movement", op.op_id, movement_feed_data({
            "id": op.op_id, "kind": "consume", "part_no": op.part_no, "qty": op.qty, "serial": op.serial,
            "from_location": self.van, "to_location": None, "job_id": op.job_id, "device_id": self.auth.device_id,
            "at": op.at, "billable": billable}))
        if op.returned_serial:
            self.queue("movement", op.op_id + ":ret", movement_feed_data({
                "id": op.op_id + ":ret", "kind": "return_old", "part_no": op.part_no, "qty": 1,
                "serial": op.returned_serial, "from_location": None, "to_location": self.van, "job_id": op.job_id,
                "device_id": self.auth.device_id, "at": op.at, "billable": None}))
        self.stock_parts.add(op.part_no)
        return Outcome("applied", True)

    def signoff(self, row: Row, view: JobView, op: SignOff) -> Outcome:
        message = sign_off_message(op.job_id, op.report_digest, op.signed_at, op.signer_name)
        if not verify_sig(self.auth.public_key, op.device_signature, message):
            return Outcome("rejected", False, "bad_signoff_signature")
        if not op.signer_name.strip() or len(op.signer_name) > 200 or not op.strokes:
            return Outcome("rejected", False, "signoff_incomplete")
        outcome = merge_signoff(view)
        if not outcome.write:
            existing = self.tx.one("SELECT * FROM signoffs WHERE job_id = ?", (op.job_id,))
            first = Written(existing["report_digest"] if existing else None, 0,
                            existing["device_id"] if existing else "", existing["signed_at"] if existing else 0,
                            existing["signer_name"] if existing else None)
            second = Written(op.report_digest, op.hlc, self.auth.device_id, op.signed_at, op.signer_name)
            draft = ConflictDraft("signoff", "signoff", (first, second), 0)
            return Outcome(outcome.result, False, outcome.reason, draft)
        content = build_report_content(self.tx, op.job_id)
        assert content is not None
        self.tx.execute(
            "INSERT INTO signoffs (job_id, signer_name, signer_role, signed_at, report_digest, strokes, device_id, "
            "device_signature, content, received_at, rating, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (op.job_id, op.signer_name, op.signer_role, op.signed_at, op.report_digest,
             json_encoder.encode(op.strokes).decode(),  # integer lists: the same text as dumps(), 10x faster
             self.auth.device_id, op.device_signature, dumps(msgspec.to_builtins(content)), self.now, op.rating,
             op.comment))
        new_status = "signed_off" if view.status == "completed" else view.status
        view.status, view.signed_off = new_status, True
        self.tx.execute("UPDATE jobs SET signed_off = 1, status = ?, updated_at = ? WHERE id = ?",
                        (new_status, self.now, op.job_id))
        corrected = self.corrected(op.signed_at)
        matches = report_digest(content) == op.report_digest
        self.signed_here[op.job_id] = not matches  # the job's changed_after_signoff, until its content changes
        add_event(self.tx, row["ticket_id"], "signed_off", corrected, self.now, job_id=op.job_id,
                  device_time=op.signed_at, corrected_time=corrected, source=f"device:{self.auth.device_id}",
                  data={"signer": op.signer_name, "digest_matches": matches},
                  event_id=f"E-{op.op_id}-signed_off")
        self.queue("signoff", op.job_id, signoff_feed_data({
            "job_id": op.job_id, "signer_name": op.signer_name, "signer_role": op.signer_role,
            "signed_at": op.signed_at, "report_digest": op.report_digest}))
        self.touch(op.job_id)
        if outcome.result == "needs_review" and outcome.conflict is None:
            # kept, but signed in a status that does not allow it: a needs_review result needs its review item
            draft = ConflictDraft("signoff", "status", (Written(new_status, 0, "server"), Written(
                "signed_off", op.hlc, self.auth.device_id, op.signed_at, op.signer_name)), 0)
            return Outcome(outcome.result, True, outcome.reason, draft)
        return outcome

    def attach(self, op: Attach) -> Outcome:
        if not SHA256_RE.match(op.sha256) or op.size < 0:
            return Outcome("rejected", False, "invalid_attachment")
        n = self.tx.execute(
            "INSERT INTO attachments (job_id, sha256, kind, size, content_type, device_id, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, sha256) DO NOTHING",
            (op.job_id, op.sha256, op.kind, op.size, op.content_type[:100], self.auth.device_id, op.at))
        self.queue("attachment", f"{op.job_id}/{op.sha256}",
                   {"job_id": op.job_id, "sha256": op.sha256, "kind": op.kind, "size": op.size, "deleted": False})
        if n:
            self.touch_if_signed(op.job_id)
        return Outcome("applied" if n else "merged", bool(n), None if n else "already_attached")

    def delete(self, op: Delete, hlc: int) -> Outcome:
        if op.entity == "answer":
            cur = self.tx.one("SELECT hlc, deleted FROM answers WHERE job_id = ? AND item_key = ?", (op.job_id, op.key))
            if cur is None or cur["deleted"]:
                return Outcome("merged", False, "already_deleted")
            if cur["hlc"] > hlc:
                return Outcome("merged", False, "newer_write_kept")
            self.tx.execute("UPDATE answers SET deleted = 1, hlc = ?, device_id = ? WHERE job_id = ? AND item_key = ?",
                            (hlc, self.auth.device_id, op.job_id, op.key))
            self.answers.pop((op.job_id, op.key), None)
            self.answers_loaded.discard(op.job_id)
            self.out_answer(op.job_id, op.key)
            self.touch_if_signed(op.job_id)
            return Outcome("applied", True)
        n = self.tx.execute("UPDATE attachments SET deleted = 1 WHERE job_id = ? AND sha256 = ? AND deleted = 0",
                            (op.job_id, op.key))
        if n:
            self.queue("attachment", f"{op.job_id}/{op.key}", {"job_id": op.job_id, "sha256": op.key, "deleted": True})
            self.touch_if_signed(op.job_id)
        return Outcome("applied" if n else "merged", bool(n), None if n else "already_deleted")

    # -- conflicts and output -------------------------------------------
    def record_conflict(self, job_id: str, draft: ConflictDraft) -> str:
        cid = new_id("C-")
        values = [{"value": w.value, "device_id": w.device_id, "hlc": w.hlc, "at": w.at, "note": w.note,
                   "na_reason": w.na_reason} for w in draft.values]
        self.tx.execute("INSERT INTO conflicts (id, kind, job_id, key, status, vals, applied, created_at) "
                        "VALUES (?, ?, ?, ?, 'open', ?, ?, ?)",
                        (cid, draft.kind, job_id, draft.key, dumps(values), draft.applied, self.now))
        self.queue("conflict", cid, {"id": cid, "kind": draft.kind, "job_id": job_id, "key": draft.key,
                                     "status": "open", "values": values, "applied": draft.applied, "resolution": {}})
        return cid

    def late_work_conflict(self, row: Row, op: Op) -> str:
        """Work on a job that was reassigned away: keep it whole as a review item."""
        body = msgspec.to_builtins(op)
        body.pop("device_signature", None)
        draft = ConflictDraft("late_work", type(op).__name__,
                              (Written(row["engineer_id"], 0, "server"),
                               Written(dumps(body), op.hlc, self.auth.device_id, op.at)), 0)
        return self.record_conflict(op.job_id, draft)

    def touch(self, job_id: str) -> None:
        self.touched_jobs.add(job_id)

    def touch_if_signed(self, job_id: str) -> None:
        """Re-send a signed job after a change to its report content (its changed_after_signoff flag)."""
        view = self.views.get(job_id)
        if view is not None and view.signed_off:
            self.signed_here.pop(job_id, None)  # its digest must be recomputed
            self.touch(job_id)

    def queue(self, kind: str, entity_id: str, data: dict[str, Any]) -> None:
        key = (engineer_scope(self.auth.engineer_id), kind, entity_id)
        self.out.pop(key, None)
        self.out[key] = data

    def flush(self) -> None:
        """Emit one change per touched record (the newest state), in order."""
        self.write_answers()
        jobs: dict[tuple[str, str, str], dict[str, Any]] = {}
        for job_id in sorted(self.touched_jobs):
            job = self.tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
            assert job is not None
            ticket = self.tickets.get(job["ticket_id"])
            if ticket is None:
                ticket = self.tx.one("SELECT * FROM tickets WHERE id = ?", (job["ticket_id"],))
                assert ticket is not None
                self.tickets[job["ticket_id"]] = ticket
            jobs[(engineer_scope(job["engineer_id"]), "job", job_id)] = job_feed_data(
                job, ticket, self.tx, changed_after_signoff=self.signed_here.get(job_id))
        emit_many(self.tx, [(s, k, e, d) for (s, k, e), d in (jobs | self.out).items()])
        for part_no in self.stock_parts:
            emit_stock(self.tx, {self.van}, part_no)
