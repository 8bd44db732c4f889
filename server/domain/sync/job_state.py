"""The jobs one change-set touches, loaded in bulk and kept in memory while the push applies.

A push reads everything it needs about its jobs up front, a few queries per
500 jobs on SQLite and for all of them on PostgreSQL, whatever the number of
ops (the job rows locked, past assignees, answers, movements, attachments,
ticket events, sign-offs, tickets and their assets), then decides every op
from this state and updates it as it goes.  So the report content a sign-off
is checked against, the checklist a completion is checked against and the job
record sent back to devices all come from memory, and the push writes each
table once at the end (see :mod:`server.domain.sync.push`).  The report
content is assembled by the same function the tablet uses, from the same
values the database would return.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas.signoff import ReportContent
from server.domain.records import loads
from sync.core.merge import JobView
from sync.core.signoff import REPORT_TIME_EVENTS, assemble_report_content
from sync.storage import Tx, among, chunk_size, chunks


@dataclass(slots=True)
class Ticket:
    """A ticket's row and whether its asset is known and under warranty until when."""

    row: dict[str, Any]
    asset: tuple[bool, int | None] = (False, None)


@dataclass(slots=True)
class JobState:
    """One job as the push sees it; every field is kept current as ops apply."""

    row: dict[str, Any]
    view: JobView
    ticket: Ticket
    #: item_key -> the answers row (``value`` as stored JSON text), deleted ones included
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: item_key -> the answer's value decoded, where known (a report reads every answer's value)
    values: dict[str, Any] = field(default_factory=dict)
    #: the item keys the database held an answers row for when the job was loaded (and locked)
    stored_answers: set[str] = field(default_factory=set)
    #: movement id -> the columns a report lists
    movements: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: sha256 -> (kind, deleted)
    attachments: dict[str, tuple[str, bool]] = field(default_factory=dict)
    #: report time kind -> (received_at, device_time) of its latest event
    times: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: the sign-off row (None: not signed)
    signoff: dict[str, Any] | None = None

    def value_of(self, item_key: str) -> Any:
        """The decoded value of the answer to ``item_key`` (which must exist)."""
        values = self.values
        return values[item_key] if item_key in values else loads(self.answers[item_key]["value"])

    def live_answer_keys(self) -> list[str]:
        return [k for k, a in self.answers.items() if not a["deleted"]]

    def note_event(self, kind: str, received_at: int, device_time: int | None) -> None:
        """Track the latest device time of the status changes a report states (newest received first)."""
        timed = REPORT_TIME_EVENTS.get(kind)
        if timed is not None and device_time is not None:
            candidate = (received_at, device_time)
            if candidate > self.times.get(timed, (-1, -1)):
                self.times[timed] = candidate

    def report_content(self, engineer_id: str | None = None) -> ReportContent:
        """The report content as the database holds it after this push's writes.

        Its engineer is the one whose device took the customer's signature once the job is signed (the work
        the customer confirmed is theirs, whoever holds the job now), else ``engineer_id`` or the job's.
        """
        row = self.row
        signer = self.signoff.get("engineer_id") if self.signoff is not None else None
        engineer = signer or engineer_id
        if engineer and engineer != row["engineer_id"]:
            row = {**row, "engineer_id": engineer}
        answers = [{"item_key": key, "value": self.value_of(key), "note": a["note"], "na_reason": a["na_reason"]}
                   for key, a in self.answers.items() if not a["deleted"]]
        photos = [sha for sha, (kind, deleted) in self.attachments.items() if kind == "photo" and not deleted]
        return assemble_report_content(row, answers, self.movements.values(), photos,
                                       {k: t[1] for k, t in self.times.items()})


def load_jobs(tx: Tx, job_ids: Iterable[str], tickets: dict[str, Ticket],
              event_ids: set[str]) -> dict[str, JobState | None]:
    """Lock and load ``job_ids`` (None for an unknown job); fills ``tickets`` and the known ``event_ids``."""
    out: dict[str, JobState | None] = {}
    wanted = set(job_ids)
    out.update(dict.fromkeys(unstorable(wanted)))
    for chunk in chunks(sorted(wanted - out.keys()), chunk_size(tx)):
        where, params = among(tx, "id", chunk)
        rows = {r["id"]: dict(r) for r in tx.lock_all(f"SELECT * FROM jobs WHERE {where} ORDER BY id", params)}
        found = sorted(rows)
        if not found:
            out.update(dict.fromkeys(chunk))
            continue
        where, params = among(tx, "job_id", found)
        past: dict[str, set[str]] = {}
        for job_id, engineer_id in tx.rows(
                f"SELECT job_id, engineer_id FROM job_assignments WHERE {where}", params):
            past.setdefault(job_id, set()).add(engineer_id)
        _load_tickets(tx, {r["ticket_id"] for r in rows.values()} - tickets.keys(), tickets)
        states: dict[str, JobState] = {}
        for job_id, row in rows.items():
            view = JobView(job_id, row["engineer_id"], row["status"], frozenset(past.get(job_id, ())),
                           bool(row["signed_off"]), bool(row["remote"]))
            states[job_id] = JobState(row, view, tickets[row["ticket_id"]])
        for a in tx.query(f"SELECT * FROM answers WHERE {where}", params):
            state = states[a["job_id"]]
            state.answers[a["item_key"]] = dict(a)
            state.stored_answers.add(a["item_key"])
        for mid, job_id, kind, part_no, qty, serial, returned in tx.rows(
                f"SELECT id, job_id, kind, part_no, qty, serial, returned_serial FROM movements "
                f"WHERE {where}", params):
            states[job_id].movements[mid] = {"id": mid, "kind": kind, "part_no": part_no, "qty": qty,
                                             "serial": serial, "returned_serial": returned}
        for job_id, sha, kind, deleted in tx.rows(
                f"SELECT job_id, sha256, kind, deleted FROM attachments WHERE {where}", params):
            states[job_id].attachments[sha] = (kind, bool(deleted))
        swhere, sparams = among(tx, "s.job_id", found)
        for so in tx.query(f"SELECT s.job_id, s.signer_name, s.signed_at, s.report_digest, s.device_id, "
                           f"d.engineer_id FROM signoffs s LEFT JOIN devices d ON d.id = s.device_id "
                           f"WHERE {swhere}", sparams):
            states[so["job_id"]].signoff = dict(so)
        where, params = among(tx, "ticket_id", sorted({r["ticket_id"] for r in rows.values()}))
        for eid, ticket_id, job_id, kind, received_at, device_time in tx.rows(
                f"SELECT id, ticket_id, job_id, kind, received_at, device_time FROM ticket_events WHERE {where}",
                params):
            event_ids.add(eid)
            of_job = states.get(job_id) if job_id else None
            if of_job is not None and of_job.row["ticket_id"] == ticket_id:
                of_job.note_event(kind, int(received_at), None if device_time is None else int(device_time))
        out.update(dict.fromkeys(chunk))
        out.update(states)
    return out


def _load_tickets(tx: Tx, ids: set[str], tickets: dict[str, Ticket]) -> None:
    for chunk in chunks(sorted(ids), chunk_size(tx)):
        where, params = among(tx, "id", chunk)
        for r in tx.query(f"SELECT * FROM tickets WHERE {where}", params):
            tickets[r["id"]] = Ticket(dict(r))
        for tid, until in tx.rows(f"SELECT t.id, a.warranty_until FROM tickets t JOIN assets a "
                                  f"ON a.serial = t.asset_serial WHERE t.{where}", params):
            tickets[tid].asset = (True, None if until is None else int(until))


def unstorable(ids: set[str]) -> set[str]:
    """The ids no database row can have: text with NUL, which PostgreSQL cannot even be asked about.

    An op naming one is rejected by its rule check (``nul_in_text``); looking it up must not fail the push first.
    """
    return {i for i in ids if "\x00" in i}


def serialized_parts(tx: Tx, part_nos: Iterable[str]) -> dict[str, bool | None]:
    """The catalog's serialized flag of each of ``part_nos`` (None: not in the catalog); ids no row can have are
    left out (their op's rule check rejects them)."""
    wanted = set(part_nos)
    storable = sorted(wanted - unstorable(wanted))
    out: dict[str, bool | None] = dict.fromkeys(storable)
    for chunk in chunks(storable, chunk_size(tx)):
        where, params = among(tx, "part_no", chunk)
        out.update((p, bool(s)) for p, s in tx.rows(f"SELECT part_no, serialized FROM parts WHERE {where}", params))
    return out


def known_ids(tx: Tx, table: str, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` already exist in ``table`` (by primary key ``id``)."""
    found: set[str] = set()
    wanted = set(ids)
    for chunk in chunks(sorted(wanted - unstorable(wanted)), chunk_size(tx)):
        where, params = among(tx, "id", chunk)
        found.update(r[0] for r in tx.rows(f"SELECT id FROM {table} WHERE {where}", params))
    return found
