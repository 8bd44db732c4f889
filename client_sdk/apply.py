"""Apply pulled changes to the local store (one page per transaction, done by the caller).

Pulled records are the server's current state.  They replace local rows,
except where this tablet still has an unsynced op for the same value (a
field, an answer, the status, the sign-off): the local write stays in force
until its op is pushed and the server's verdict comes back in a later pull.
Unknown change kinds are ignored so an older tablet keeps working with a
newer server.

A page is applied as if its changes ran one by one, in order, but with a
statement per kind of row rather than per record:

- the local rows a change reads (its job, movement, sign-off) are fetched for
  the whole page in a few ``IN (...)`` queries into a *view* that every write
  of the page keeps current, so a change sees what the changes before it wrote;
- rows to write are buffered per statement and written with one
  ``executemany`` each (:data:`_WRITE_ORDER`), jobs before the updates that
  flag them signed off;
- a ``job_removed`` deletes across tables: it flushes the buffers first, runs
  alone, and resets the view.

Kinds that touch tables nothing else reads in a page (assets, the knowledge
base) are written at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from client_sdk.lifecycle import apply_asset, apply_kb
from client_sdk.store import Row, Tx
from schemas.wire import Change

JOB_FIELDS: Final = ("notes", "diagnosis", "resolution", "remote", "rating", "customer_comment")
#: every column a pulled job writes, in statement order
JOB_COLUMNS: Final = ("id", "ticket_id", "engineer_id", "status", "hold_reason", "template_id", "template_version",
                      "scheduled_start", "scheduled_end", "signed_off", "changed_after_signoff", "ticket", "times",
                      *JOB_FIELDS, "field_hlc")
#: ids per ``IN (...)`` look-up (well under SQLite's bound-parameter limit)
LOOKUP_CHUNK: Final = 500


def dumps(value: Any) -> str:
    """JSON text for a JSON column (compact, sorted)."""
    return msgspec.json.encode(value, order="sorted").decode()


def loads(text: str | None, default: Any = None) -> Any:
    """Decode a JSON column."""
    return default if text is None else msgspec.json.decode(text)


NOTHING_PENDING: Final[frozenset[str]] = frozenset()

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


@dataclass(slots=True)
class Page:
    """One page being applied: its transaction, the local rows it reads, the rows it has yet to write.

    The view maps an id to the local row as the changes applied so far left it (None: no such row);
    an id it does not hold is read from the database, which is current for it.
    """

    tx: Tx
    pending: dict[str, set[str]]  # job -> keys of local values with unsynced ops (read once per page)
    jobs: dict[str, Row | None] = field(default_factory=dict)  # job id -> local jobs row
    returned_serials: dict[str, str | None] = field(default_factory=dict)  # movement id -> local returned_serial
    signoff_digests: dict[str, str | None] = field(default_factory=dict)  # job id -> local report_digest
    writes: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {sql: [] for sql in _WRITE_ORDER})

    @classmethod
    def open(cls, tx: Tx, changes: list[Change] | None = None) -> Page:
        """Read the pending ops, and the local rows ``changes`` will read, in a few queries."""
        pending: dict[str, set[str]] = {}
        for job_id, key in tx.conn.execute("SELECT DISTINCT job_id, key FROM outbox"):
            pending.setdefault(job_id, set()).add(key)
        page = cls(tx, pending)
        if changes:
            page.prefetch(changes)
        return page

    def prefetch(self, changes: list[Change]) -> None:
        """Fill the view with the local rows of every job, movement and sign-off ``changes`` refer to."""
        jobs: set[str] = set()
        movements: set[str] = set()
        signoffs: set[str] = set()
        for change in changes:
            kind, data = change.kind, change.data
            if kind == "answer":
                jobs.add(str(data.get("job_id")))
            elif kind == "job":
                jobs.add(str(data.get("id", change.id)))
            elif kind == "movement":
                movements.add(str(data.get("id", change.id)))
            elif kind == "signoff":
                job_id = str(data.get("job_id", change.id))
                jobs.add(job_id)
                signoffs.add(job_id)
        for chunk in _chunks(jobs):
            self.jobs.update(dict.fromkeys(chunk))
            for row in self.tx.query(f"SELECT * FROM jobs WHERE id IN ({_marks(chunk)})", chunk):
                self.jobs[row["id"]] = row
        for chunk in _chunks(movements):
            self.returned_serials.update(dict.fromkeys(chunk))
            self.returned_serials.update(self.tx.conn.execute(
                f"SELECT id, returned_serial FROM movements WHERE id IN ({_marks(chunk)})", chunk))
        for chunk in _chunks(signoffs):
            self.signoff_digests.update(dict.fromkeys(chunk))
            self.signoff_digests.update(self.tx.conn.execute(
                f"SELECT job_id, report_digest FROM signoffs WHERE job_id IN ({_marks(chunk)})", chunk))

    def pending_for(self, job_id: str) -> set[str] | frozenset[str]:
        return self.pending.get(job_id, NOTHING_PENDING)

    def job(self, job_id: str) -> Row | None:
        """The local job row as the page left it so far."""
        if job_id not in self.jobs:
            self.jobs[job_id] = self.tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return self.jobs[job_id]

    def template_version(self, job_id: str) -> int | None:
        job = self.job(job_id)
        return None if job is None else job["template_version"]

    def returned_serial(self, movement_id: str) -> str | None:
        if movement_id not in self.returned_serials:
            self.returned_serials[movement_id] = self.tx.scalar(
                "SELECT returned_serial FROM movements WHERE id = ?", (movement_id,))
        return self.returned_serials[movement_id]

    def signoff_digest(self, job_id: str) -> str | None:
        """The report digest of the local sign-off of ``job_id`` (None: not signed off here)."""
        if job_id not in self.signoff_digests:
            self.signoff_digests[job_id] = self.tx.scalar(
                "SELECT report_digest FROM signoffs WHERE job_id = ?", (job_id,))
        return self.signoff_digests[job_id]

    def write(self, sql: str, row: tuple[Any, ...]) -> None:
        """Buffer one row for one of the :data:`_WRITE_ORDER` statements."""
        self.writes[sql].append(row)

    def flush(self) -> None:
        """Write every buffered row, one ``executemany`` per statement."""
        conn = self.tx.conn
        for sql, rows in self.writes.items():
            if rows:
                conn.executemany(sql, rows)
                rows.clear()

    def forget(self) -> None:
        """Drop the view (after a write that bypassed it): later reads go to the database."""
        self.jobs.clear()
        self.returned_serials.clear()
        self.signoff_digests.clear()


def _chunks(ids: set[str]) -> Iterable[list[str]]:
    ordered = sorted(ids)
    for i in range(0, len(ordered), LOOKUP_CHUNK):
        yield ordered[i:i + LOOKUP_CHUNK]


def _marks(ids: list[str]) -> str:
    return ", ".join("?" * len(ids))


def apply_changes(tx: Tx, changes: list[Change]) -> int:
    """Apply changes in order; return how many were understood (unknown kinds are skipped)."""
    page = Page.open(tx, changes)
    done = 0
    for change in changes:
        handler = _HANDLERS.get(change.kind)
        if handler is not None:
            handler(page, change.id, change.data)
            done += 1
    page.flush()
    return done


def _apply_job(page: Page, job_id: str, data: dict[str, Any]) -> None:
    job_id = str(data.get("id", job_id))
    local = page.job(job_id)
    pending = page.pending_for(job_id)
    field_hlc: dict[str, int] = dict(data.get("field_hlc") or {})
    row: dict[str, Any] = {
        "id": job_id,
        "ticket_id": data.get("ticket_id", ""),
        "engineer_id": data.get("engineer_id", ""),
        "status": data.get("status", "assigned"),
        "hold_reason": data.get("hold_reason"),
        "template_id": data.get("template_id"),
        "template_version": data.get("template_version"),
        "scheduled_start": data.get("scheduled_start"),
        "scheduled_end": data.get("scheduled_end"),
        "signed_off": int(bool(data.get("signed_off", False))),
        "changed_after_signoff": int(bool(data.get("changed_after_signoff", False))),
        "ticket": dumps(data.get("ticket") or {}),
        "times": "{}",
    }
    for name in JOB_FIELDS:
        default: Any = None if name in ("rating", "customer_comment") else ("" if name != "remote" else False)
        row[name] = data.get(name, local[name] if local is not None else default)
    row["remote"] = int(bool(row["remote"]))
    if local is not None:
        local_hlc: dict[str, int] = loads(local["field_hlc"], {})
        row["times"] = local["times"]
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
    page.write(PUT_JOB, tuple(row[c] for c in JOB_COLUMNS))


def _apply_job_removed(page: Page, job_id: str, data: dict[str, Any]) -> None:
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


def _apply_answer(page: Page, change_id: str, data: dict[str, Any]) -> None:
    job_id, item_key = str(data["job_id"]), str(data["item_key"])
    if f"answer:{item_key}" in page.pending_for(job_id):
        return
    page.write(
        PUT_ANSWER,
        (
            job_id,
            item_key,
            dumps(data.get("value")),
            data.get("note"),
            data.get("na_reason"),
            int(data.get("hlc") or 0),
            data.get("device_id"),
            page.template_version(job_id),
            int(bool(data.get("deleted", False))),
        ),
    )


def _apply_template(page: Page, change_id: str, data: dict[str, Any]) -> None:
    page.write(PUT_TEMPLATE, (data["id"], int(data["version"]), data.get("name", ""), dumps(data.get("items") or [])))


def _apply_part(page: Page, change_id: str, data: dict[str, Any]) -> None:
    page.write(
        PUT_PART,
        (
            data.get("part_no", change_id),
            data.get("name", ""),
            int(bool(data.get("serialized"))),
            int(data.get("unit_price_cents") or 0),
        ),
    )


def _apply_stock(page: Page, change_id: str, data: dict[str, Any]) -> None:
    page.write(PUT_STOCK, (data["location"], data["part_no"], int(data.get("qty") or 0)))


def _apply_movement(page: Page, change_id: str, data: dict[str, Any]) -> None:
    movement_id = str(data.get("id", change_id))
    returned_serial = data["returned_serial"] if "returned_serial" in data else page.returned_serial(movement_id)
    page.returned_serials[movement_id] = returned_serial
    billable = data.get("billable")
    page.write(
        PUT_MOVEMENT,
        (
            movement_id,
            data.get("kind", ""),
            data.get("part_no", ""),
            int(data.get("qty") or 0),
            data.get("serial"),
            returned_serial,
            data.get("from_location"),
            data.get("to_location"),
            data.get("job_id"),
            int(data.get("at") or 0),
            None if billable is None else int(bool(billable)),
        ),
    )


def _apply_signoff(page: Page, job_id: str, data: dict[str, Any]) -> None:
    job_id = str(data.get("job_id", job_id))
    local_digest = page.signoff_digest(job_id)
    if local_digest is not None and local_digest == data.get("report_digest"):
        return  # our own sign-off came back: keep the strokes and signature we hold
    if local_digest is not None and "signoff" in page.pending_for(job_id):
        return
    digest = data.get("report_digest", "")
    page.write(
        PUT_SIGNOFF,
        (job_id, data.get("signer_name", ""), data.get("signer_role", ""), int(data.get("signed_at") or 0), digest),
    )
    page.signoff_digests[job_id] = digest
    job = page.job(job_id)
    if job is not None:
        job["signed_off"] = 1
        page.write(FLAG_SIGNED, (job_id,))


def _apply_attachment(page: Page, change_id: str, data: dict[str, Any]) -> None:
    job_id, sha = str(data["job_id"]), str(data["sha256"])
    if f"attachment:{sha}" in page.pending_for(job_id):
        return
    page.write(
        PUT_ATTACHMENT,
        (job_id, sha, data.get("kind", "photo"), int(data.get("size") or 0), int(bool(data.get("deleted")))),
    )


def _apply_conflict(page: Page, change_id: str, data: dict[str, Any]) -> None:
    page.write(
        PUT_CONFLICT,
        (
            data.get("id", change_id),
            data.get("kind", ""),
            data.get("job_id", ""),
            data.get("key", ""),
            data.get("status", "open"),
            dumps(data.get("values") or []),
            dumps(data.get("applied") or {}),
            dumps(data.get("resolution") or {}),
        ),
    )


_HANDLERS: Final[dict[str, Callable[[Page, str, dict[str, Any]], None]]] = {
    "job": _apply_job,
    "job_removed": _apply_job_removed,
    "answer": _apply_answer,
    "template": _apply_template,
    "part": _apply_part,
    "stock": _apply_stock,
    "movement": _apply_movement,
    "signoff": _apply_signoff,
    "attachment": _apply_attachment,
    "conflict": _apply_conflict,
    "asset": lambda page, change_id, data: apply_asset(page.tx, change_id, data),
    "kb": lambda page, change_id, data: apply_kb(page.tx, change_id, data),
}
