"""Apply pulled changes to the local store (one page per transaction, done by the caller).

Pulled records are the server's current state.  They replace local rows,
except where this tablet still has an unsynced op for the same value (a
field, an answer, the status, the sign-off): the local write stays in force
until its op is pushed and the server's verdict comes back in a later pull.
Unknown change kinds are ignored so an older tablet keeps working with a
newer server.

A page is decoded straight into the typed records of :mod:`schemas.records`
(one Struct per kind, the types the server publishes, kept out of the garbage
collector's view): one C call per page, no
dict per record.  A page the typed decoder refuses (a kind this tablet does
not know, a field of another type) is decoded generically and each record
converted on its own (:func:`decode_page`), so a newer server still gets
through.

A page is applied as if its changes ran one by one, in order, but with a
statement per kind of row rather than per record:

- the local rows a change reads (its job, movement, sign-off) are fetched for
  the whole page in a few ``IN (...)`` queries into a *view* that every write
  of the page keeps current, so a change sees what the changes before it
  wrote; a table with no rows (as on a new tablet) is neither queried nor
  has its ids collected: the view answers "no such row" for it;
- rows to write are buffered per statement and written with one
  ``executemany`` each (:data:`_WRITE_ORDER`), jobs before the updates that
  flag them signed off; a sign-off on a job whose row is still buffered flags
  that row instead; an ``INSERT`` writes :data:`ROWS_PER_INSERT` rows per
  execution (multi-row ``VALUES``, in the same order);
- a run of answers (a page holds them job after job) is turned into rows in
  one pass: between two other changes nothing they read can change;
- a ``job_removed`` deletes across tables: it flushes the buffers first, runs
  alone, and resets the view.

Kinds that touch tables nothing else reads in a page (assets, the knowledge
base) are written at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any, Final

import msgspec

from client_sdk.lifecycle import apply_asset, apply_kb
from client_sdk.store import Row, Tx
from schemas.records import (
    BY_KIND,
    AnswerData,
    AnswerRecord,
    AssetRecord,
    AttachmentData,
    AttachmentRecord,
    ConflictData,
    ConflictRecord,
    JobData,
    JobRecord,
    JobRemovedData,
    JobRemovedRecord,
    KbRecord,
    MovementData,
    MovementRecord,
    PartData,
    PartRecord,
    Record,
    SignoffData,
    SignoffRecord,
    StockData,
    StockRecord,
    TemplateData,
    TemplateRecord,
)
from schemas.wire import PullPage
from sync.storage import sqlite_rows

JOB_FIELDS: Final = ("notes", "diagnosis", "resolution", "remote", "rating", "customer_comment")
#: every column a pulled job writes, in statement order
JOB_COLUMNS: Final = ("id", "ticket_id", "engineer_id", "status", "hold_reason", "template_id", "template_version",
                      "scheduled_start", "scheduled_end", "signed_off", "changed_after_signoff", "ticket", "times",
                      *JOB_FIELDS, "field_hlc")
#: ids per ``IN (...)`` look-up (well under SQLite's bound-parameter limit)
LOOKUP_CHUNK: Final = 500


_json: Final = msgspec.json.Encoder(order="sorted")


def dumps(value: Any) -> str:
    """JSON text for a JSON column (compact, sorted)."""
    return _json.encode(value).decode()


def loads(text: str | None, default: Any = None) -> Any:
    """Decode a JSON column."""
    return default if text is None else msgspec.json.decode(text)


# -- decoding ----------------------------------------------------------------------------------------


class TypedPullPage(msgspec.Struct, kw_only=True):
    """A :class:`~schemas.wire.PullPage` decoded into typed records (``None``: a kind this tablet skips)."""

    protocol_version: int
    device_id: str
    cursor: str
    more: bool
    server_time: int
    changes: list[Record | None]


class _RawChange(msgspec.Struct, gc=False):
    """A record's framing, its ``data`` left undecoded (the fallback's first step)."""

    kind: str
    id: str
    data: msgspec.Raw = msgspec.Raw(b"\x80")  # an empty map


class _RawPage(msgspec.Struct, kw_only=True):
    protocol_version: int
    device_id: str
    cursor: str
    more: bool
    server_time: int
    changes: list[_RawChange]


_fast_decoder: Final = msgspec.msgpack.Decoder(PullPage)
_raw_decoder: Final = msgspec.msgpack.Decoder(_RawPage)
_any_decoder: Final = msgspec.msgpack.Decoder()
_data_decoders: Final[dict[str, msgspec.msgpack.Decoder[Any]]] = {
    kind: msgspec.msgpack.Decoder(msgspec.structs.fields(cls)[-1].type) for kind, cls in BY_KIND.items()
}


def decode_page(body: bytes) -> TypedPullPage:
    """A signed pull page's body as typed records (:mod:`schemas.records`), in order.

    Raises ``msgspec.DecodeError`` (a ``ValidationError`` for a record no conversion fits) when the
    body is not a pull page.
    """
    try:
        fast = _fast_decoder.decode(body)
        return TypedPullPage(protocol_version=fast.protocol_version, device_id=fast.device_id, cursor=fast.cursor,
                             more=fast.more, server_time=fast.server_time, changes=list(fast.changes))
    except msgspec.ValidationError:
        pass  # a kind or a field this decoder does not know: one record at a time
    raw = _raw_decoder.decode(body)
    return TypedPullPage(protocol_version=raw.protocol_version, device_id=raw.device_id, cursor=raw.cursor,
                         more=raw.more, server_time=raw.server_time, changes=[_typed(c) for c in raw.changes])


def _typed(change: _RawChange) -> Record | None:
    """One record of a page the typed decoder refused: decoded typed, else converted loosely."""
    cls = BY_KIND.get(change.kind)
    if cls is None:
        return None
    try:
        return cls(id=change.id, data=_data_decoders[change.kind].decode(change.data))  # type: ignore[call-arg,return-value]
    except msgspec.ValidationError:
        return typed_change(change.kind, change.id, _any_decoder.decode(change.data))


def typed_change(kind: str, change_id: str, data: Any) -> Record | None:
    """One record from its parts, converting loosely (``"3"`` for 3); None for a kind this tablet does not know.

    Raises ``msgspec.ValidationError`` when ``data`` does not fit the kind's record.
    """
    cls = BY_KIND.get(kind)
    if cls is None:
        return None
    return msgspec.convert({"kind": kind, "id": change_id, "data": data}, cls, strict=False)  # type: ignore[return-value]


NOTHING_PENDING: Final[frozenset[str]] = frozenset()
#: the columns of a local job the changes of a page read (the view holds these)
_VIEW_COLUMNS: Final = ", ".join(("id", "status", "hold_reason", "template_version", "signed_off", "field_hlc", "times",
                                  *JOB_FIELDS))
_JOB_ROW: Final = itemgetter(*JOB_COLUMNS)

PUT_JOB: Final = (f"INSERT OR REPLACE INTO jobs ({', '.join(JOB_COLUMNS)}) "
                  f"VALUES ({', '.join('?' for _ in JOB_COLUMNS)})")
FLAG_SIGNED: Final = "UPDATE jobs SET signed_off = 1 WHERE id = ?"
PUT_ANSWER: Final = ("INSERT OR REPLACE INTO answers (job_id, item_key, value, note, na_reason, hlc, device_id, "
                     "template_version, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
PUT_TEMPLATE: Final = "INSERT OR REPLACE INTO templates (id, version, name, items) VALUES (?, ?, ?, ?)"
PUT_PART: Final = "INSERT OR REPLACE INTO parts (part_no, name, serialized, unit_price_cents) VALUES (?, ?, ?, ?)"
PUT_STOCK: Final = "INSERT OR REPLACE INTO stock (location, part_no, qty) VALUES (?, ?, ?)"
PUT_MOVEMENT: Final = ("INSERT OR REPLACE INTO movements (id, kind, part_no, qty, serial, returned_serial, "
                       "from_location, to_location, job_id, at, billable, local) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)")
PUT_SIGNOFF: Final = ("INSERT OR REPLACE INTO signoffs (job_id, signer_name, signer_role, signed_at, report_digest) "
                      "VALUES (?, ?, ?, ?, ?)")
PUT_ATTACHMENT: Final = ("INSERT INTO attachments (job_id, sha256, kind, size, deleted) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT (job_id, sha256) DO UPDATE SET kind = excluded.kind, size = excluded.size, "
                         "deleted = excluded.deleted")
PUT_CONFLICT: Final = ("INSERT OR REPLACE INTO conflicts (id, kind, job_id, key, status, vals, applied, resolution) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
#: The order buffered rows are written in.  Jobs come before the sign-off flag on them (a flag set
#: earlier in the page must not be overwritten); every other statement writes its own table, which no
#: buffered change reads back (the view answers instead).
_WRITE_ORDER: Final = (PUT_JOB, FLAG_SIGNED, PUT_ANSWER, PUT_TEMPLATE, PUT_PART, PUT_STOCK, PUT_MOVEMENT,
                       PUT_SIGNOFF, PUT_ATTACHMENT, PUT_CONFLICT)


#: rows per multi-row ``INSERT`` (:mod:`sync.storage.sqlite_rows`): a statement's execution, its reset and
#: the hand-off of the interpreter lock around it are per row with ``executemany``: ~23% of writing 5,000
#: answers here
ROWS_PER_INSERT: Final = sqlite_rows.ROWS_PER_INSERT

#: the statements of :data:`_WRITE_ORDER` written as multi-row statements: the single-row ``INSERT OR
#: REPLACE`` ones (rows are written in order, so a row replaces an earlier one with its key as one by one)
_MULTI_ROW: Final = frozenset(sql for sql in _WRITE_ORDER if sql.startswith("INSERT OR REPLACE ") and sql.endswith(")"))
_MISSING: Final = object()


def write_rows(conn: Any, sql: str, rows: list[Any]) -> None:
    """``conn.executemany(sql, rows)``, an ``INSERT OR REPLACE`` as multi-row statements of the same rows in order."""
    if sql in _MULTI_ROW:
        sqlite_rows.write_rows(conn, sql, rows, ROWS_PER_INSERT)
    else:
        conn.executemany(sql, rows)


@dataclass(slots=True)
class Page:
    """One page being applied: its transaction, the local rows it reads, the rows it has yet to write.

    The view maps an id to the local row as the changes applied so far left it (None: no such row);
    an id it does not hold is read from the database, which is current for it, unless the table held
    no rows when the page began (``no_jobs`` and the like: nothing to read, so none is looked up).
    """

    tx: Tx
    pending: dict[str, set[str]]  # job -> keys of local values with unsynced ops (read once per page)
    jobs: dict[str, Row | None] = field(default_factory=dict)  # job id -> local jobs row
    returned_serials: dict[str, str | None] = field(default_factory=dict)  # movement id -> local returned_serial
    signoff_digests: dict[str, str | None] = field(default_factory=dict)  # job id -> local report_digest
    writes: dict[str, list[Any]] = field(default_factory=lambda: {sql: [] for sql in _WRITE_ORDER})
    buffered_jobs: set[str] = field(default_factory=set)  # jobs whose row is in the PUT_JOB buffer
    # the table had no row when the view was filled and nothing has been written to it since but through
    # the view: an id the view does not hold has no row
    no_jobs: bool = False
    no_movements: bool = False
    no_signoffs: bool = False

    @classmethod
    def open(cls, tx: Tx, changes: list[Any] | None = None) -> Page:
        """Read the pending ops, and the local rows ``changes`` (typed) will read, in a few queries."""
        pending: dict[str, set[str]] = {}
        for job_id, key in tx.conn.execute("SELECT DISTINCT job_id, key FROM outbox"):
            pending.setdefault(job_id, set()).add(key)
        page = cls(tx, pending)
        if changes:
            page.prefetch(changes)
        return page

    def prefetch(self, changes: list[Any]) -> None:
        """Fill the view with the local rows of every job, movement and sign-off ``changes`` refer to.

        A table without rows (a new tablet's) is not looked up at all: its ids are not even collected.
        """
        conn = self.tx.conn
        self.no_jobs = not _holds_rows(conn, "jobs")
        self.no_movements = not _holds_rows(conn, "movements")
        self.no_signoffs = not _holds_rows(conn, "signoffs")
        want_jobs, want_movements, want_signoffs = not self.no_jobs, not self.no_movements, not self.no_signoffs
        if not (want_jobs or want_movements or want_signoffs):
            return
        jobs: set[str] = set()
        movements: set[str] = set()
        signoffs: set[str] = set()
        for cls, run in groupby(changes, type):
            if cls is AnswerRecord:
                if want_jobs:
                    jobs.update([c.data.job_id for c in run])
            elif cls is JobRecord:
                if want_jobs:
                    jobs.update([c.data.id for c in run])
            elif cls is MovementRecord:
                if want_movements:
                    movements.update([c.data.id for c in run])
            elif cls is SignoffRecord:
                ids = [c.data.job_id for c in run]
                if want_jobs:
                    jobs.update(ids)
                if want_signoffs:
                    signoffs.update(ids)
        if jobs:
            self.jobs.update(dict.fromkeys(jobs))
            for chunk in _chunks(jobs):
                for row in self.tx.query(f"SELECT {_VIEW_COLUMNS} FROM jobs WHERE id IN ({_marks(chunk)})", chunk):
                    self.jobs[row["id"]] = row
        if movements:
            self.returned_serials.update(dict.fromkeys(movements))
            for chunk in _chunks(movements):
                self.returned_serials.update(conn.execute(
                    f"SELECT id, returned_serial FROM movements WHERE id IN ({_marks(chunk)})", chunk))
        if signoffs:
            self.signoff_digests.update(dict.fromkeys(signoffs))
            for chunk in _chunks(signoffs):
                self.signoff_digests.update(conn.execute(
                    f"SELECT job_id, report_digest FROM signoffs WHERE job_id IN ({_marks(chunk)})", chunk))

    def pending_for(self, job_id: str) -> set[str] | frozenset[str]:
        return self.pending.get(job_id, NOTHING_PENDING)

    def job(self, job_id: str) -> Row | None:
        """The local job row as the page left it so far."""
        row = self.jobs.get(job_id, _MISSING)
        if row is _MISSING:
            row = self.jobs[job_id] = None if self.no_jobs else self.tx.one(
                f"SELECT {_VIEW_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return row  # type: ignore[return-value]

    def template_version(self, job_id: str) -> int | None:
        job = self.job(job_id)
        return None if job is None else job["template_version"]

    def returned_serial(self, movement_id: str) -> str | None:
        serial = self.returned_serials.get(movement_id, _MISSING)
        if serial is _MISSING:
            serial = self.returned_serials[movement_id] = None if self.no_movements else self.tx.scalar(
                "SELECT returned_serial FROM movements WHERE id = ?", (movement_id,))
        return serial  # type: ignore[return-value]

    def signoff_digest(self, job_id: str) -> str | None:
        """The report digest of the local sign-off of ``job_id`` (None: not signed off here)."""
        digest = self.signoff_digests.get(job_id, _MISSING)
        if digest is _MISSING:
            digest = self.signoff_digests[job_id] = None if self.no_signoffs else self.tx.scalar(
                "SELECT report_digest FROM signoffs WHERE job_id = ?", (job_id,))
        return digest  # type: ignore[return-value]

    def write(self, sql: str, row: Any) -> None:
        """Buffer one row for one of the :data:`_WRITE_ORDER` statements."""
        self.writes[sql].append(row)

    def flush(self) -> None:
        """Write every buffered row, one ``executemany`` per statement (:func:`write_rows`)."""
        conn = self.tx.conn
        jobs = self.writes[PUT_JOB]
        if jobs:  # job rows stay dicts of the view until now: a later sign-off flags them in place
            self.writes[PUT_JOB] = list(map(_JOB_ROW, jobs))
        for sql, rows in self.writes.items():
            if rows:
                write_rows(conn, sql, rows)
        self.writes = {sql: [] for sql in _WRITE_ORDER}
        self.buffered_jobs.clear()

    def forget(self) -> None:
        """Drop the view (after a write that bypassed it): later reads go to the database."""
        self.jobs.clear()
        self.returned_serials.clear()
        self.signoff_digests.clear()
        self.no_jobs = self.no_movements = self.no_signoffs = False


def _holds_rows(conn: Any, table: str) -> bool:
    """Whether ``table`` has a row at all (a new tablet's tables have none to look up)."""
    return bool(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0])


def _chunks(ids: set[str]) -> Iterable[list[str]]:
    ordered = sorted(ids)
    for i in range(0, len(ordered), LOOKUP_CHUNK):
        yield ordered[i:i + LOOKUP_CHUNK]


def _marks(ids: list[str]) -> str:
    return ", ".join("?" * len(ids))


def apply_changes(tx: Tx, changes: Iterable[Any]) -> int:
    """Apply changes given as ``kind``, ``id`` and plain ``data`` (converted with :func:`typed_change`), in order.

    Return how many were understood (unknown kinds are skipped).
    """
    return apply_page(tx, [typed_change(c.kind, c.id, c.data) for c in changes])


def apply_page(tx: Tx, changes: list[Record | None]) -> int:
    """Apply typed records (:func:`decode_page`) in order; return how many were understood (None: skipped)."""
    page = Page.open(tx, changes)
    done = 0
    handlers = _HANDLERS
    for cls, run in groupby(changes, type):
        if cls is AnswerRecord:
            done += _apply_answers(page, list(run))  # type: ignore[arg-type]
        elif cls is not type(None):
            handler = handlers[cls]
            for change in run:
                handler(page, change.id, change.data)  # type: ignore[union-attr]
                done += 1
    page.flush()
    return done


def _apply_job(page: Page, change_id: str, data: JobData) -> None:
    job_id = data.id
    local = page.job(job_id)
    pending = page.pending_for(job_id)
    field_hlc: dict[str, Any] = dict(data.field_hlc)
    row: dict[str, Any] = {
        "id": job_id,
        "ticket_id": data.ticket_id,
        "engineer_id": data.engineer_id,
        "status": data.status,
        "hold_reason": data.hold_reason,
        "template_id": data.template_id,
        "template_version": data.template_version,
        "scheduled_start": data.scheduled_start,
        "scheduled_end": data.scheduled_end,
        "signed_off": 1 if data.signed_off else 0,
        "changed_after_signoff": 1 if data.changed_after_signoff else 0,
        "ticket": dumps(data.ticket),
        "times": "{}",
        "notes": data.notes,
        "diagnosis": data.diagnosis,
        "resolution": data.resolution,
        "remote": 1 if data.remote else 0,
        "rating": data.rating,
        "customer_comment": data.customer_comment,
    }
    if local is not None:
        row["times"] = local["times"]
        if pending:
            local_hlc: dict[str, int] = loads(local["field_hlc"], {})
            if "status" in pending:
                row["status"], row["hold_reason"] = local["status"], local["hold_reason"]
            for name in JOB_FIELDS:
                if f"field:{name}" in pending:
                    row[name] = local[name]
                    if name in local_hlc:
                        field_hlc[name] = local_hlc[name]
        if "signoff" in pending or local["signed_off"]:
            row["signed_off"] = 1
    row["field_hlc"] = dumps(field_hlc)
    page.jobs[job_id] = row
    page.writes[PUT_JOB].append(row)
    page.buffered_jobs.add(job_id)


def _apply_job_removed(page: Page, job_id: str, data: JobRemovedData) -> None:
    tx = page.tx
    page.flush()
    # The job left this engineer's scope.  Unsynced ops stay in the outbox: they
    # are still pushed and the server keeps them as review items.  Blobs not yet
    # uploaded stay too, they are evidence those ops refer to.
    for table in ("answers", "attachments", "signoffs", "conflicts"):
        tx.execute(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))
    tx.execute("DELETE FROM movements WHERE job_id = ?", (job_id,))
    tx.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
    tx.execute("DELETE FROM blobs WHERE uploaded = 1 AND sha256 NOT IN (SELECT sha256 FROM attachments)")
    page.forget()


def _apply_answers(page: Page, run: list[AnswerRecord]) -> int:
    """A run of answers: one row each, but an answer this tablet has an unsynced op for."""
    answers: list[AnswerData] = [c.data for c in run]
    if page.pending:
        answers = [a for a in answers if f"answer:{a.item_key}" not in page.pending_for(a.job_id)]
    versions = {job_id: page.template_version(job_id) for job_id in {a.job_id for a in answers}}
    encode = _json.encode
    page.writes[PUT_ANSWER] += [
        (a.job_id, a.item_key, encode(a.value).decode(), a.note, a.na_reason, a.hlc, a.device_id,
         versions[a.job_id], 1 if a.deleted else 0)
        for a in answers
    ]
    return len(run)


def _apply_template(page: Page, change_id: str, data: TemplateData) -> None:
    page.write(PUT_TEMPLATE, (data.id, data.version, data.name, dumps(data.items)))


def _apply_part(page: Page, change_id: str, data: PartData) -> None:
    page.write(PUT_PART, (data.part_no, data.name, 1 if data.serialized else 0, data.unit_price_cents))


def _apply_stock(page: Page, change_id: str, data: StockData) -> None:
    page.write(PUT_STOCK, (data.location, data.part_no, data.qty))


def _apply_movement(page: Page, change_id: str, data: MovementData) -> None:
    movement_id = data.id
    returned_serial = page.returned_serial(movement_id)  # not in the record: the local value stays
    page.returned_serials[movement_id] = returned_serial
    billable = data.billable
    page.writes[PUT_MOVEMENT].append((
        movement_id,
        data.kind,
        data.part_no,
        data.qty,
        data.serial,
        returned_serial,
        data.from_location,
        data.to_location,
        data.job_id,
        data.at,
        None if billable is None else (1 if billable else 0),
    ))


def _apply_signoff(page: Page, change_id: str, data: SignoffData) -> None:
    job_id = data.job_id
    local_digest = page.signoff_digest(job_id)
    if local_digest is not None and local_digest == data.report_digest:
        return  # our own sign-off came back: keep the strokes and signature we hold
    if local_digest is not None and "signoff" in page.pending_for(job_id):
        return
    digest = data.report_digest
    page.writes[PUT_SIGNOFF].append((job_id, data.signer_name, data.signer_role, data.signed_at, digest))
    page.signoff_digests[job_id] = digest
    job = page.job(job_id)
    if job is not None:
        job["signed_off"] = 1
        if job_id not in page.buffered_jobs:  # a buffered row is the dict just flagged
            page.writes[FLAG_SIGNED].append((job_id,))


def _apply_attachment(page: Page, change_id: str, data: AttachmentData) -> None:
    job_id, sha = data.job_id, data.sha256
    if f"attachment:{sha}" in page.pending_for(job_id):
        return
    page.write(PUT_ATTACHMENT, (job_id, sha, data.kind, data.size, 1 if data.deleted else 0))


def _apply_conflict(page: Page, change_id: str, data: ConflictData) -> None:
    # ``applied`` is stored as the local reads expect it (client_sdk.reads: an index, or {} for the first value)
    page.write(PUT_CONFLICT, (data.id, data.kind, data.job_id, data.key, data.status, dumps(data.values),
                              dumps(data.applied or {}), dumps(data.resolution)))


_HANDLERS: Final[dict[type, Callable[[Page, str, Any], None]]] = {
    JobRecord: _apply_job,
    JobRemovedRecord: _apply_job_removed,
    TemplateRecord: _apply_template,
    PartRecord: _apply_part,
    StockRecord: _apply_stock,
    MovementRecord: _apply_movement,
    SignoffRecord: _apply_signoff,
    AttachmentRecord: _apply_attachment,
    ConflictRecord: _apply_conflict,
    AssetRecord: lambda page, change_id, data: apply_asset(page.tx, data),
    KbRecord: lambda page, change_id, data: apply_kb(page.tx, data),
}
