"""Apply pulled changes to the local store (one page per transaction, done by the caller).

Pulled records are the server's current state.  They replace local rows,
except where this tablet still has an unsynced op for the same value (a
field, an answer, the status, the sign-off): the local write stays in force
until its op is pushed and the server's verdict comes back in a later pull.
Unknown change kinds are ignored so an older tablet keeps working with a
newer server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from client_sdk.lifecycle import apply_asset, apply_kb
from client_sdk.store import Tx
from schemas.wire import Change

JOB_FIELDS: Final = ("notes", "diagnosis", "resolution", "remote", "rating", "customer_comment")


def dumps(value: Any) -> str:
    """JSON text for a JSON column (compact, sorted)."""
    return msgspec.json.encode(value, order="sorted").decode()


def loads(text: str | None, default: Any = None) -> Any:
    """Decode a JSON column."""
    return default if text is None else msgspec.json.decode(text)


NOTHING_PENDING: Final[frozenset[str]] = frozenset()


@dataclass(slots=True)
class Page:
    """One page being applied: its transaction and what it looks up once instead of per change."""

    tx: Tx
    pending: dict[str, set[str]]  # job -> keys of local values with unsynced ops (read once per page)
    versions: dict[str, int | None] = field(default_factory=dict)  # job -> pinned template version
    answers: list[tuple[Any, ...]] = field(default_factory=list)  # answer rows not yet written

    @classmethod
    def open(cls, tx: Tx) -> Page:
        pending: dict[str, set[str]] = {}
        for r in tx.query("SELECT DISTINCT job_id, key FROM outbox"):
            pending.setdefault(r["job_id"], set()).add(r["key"])
        return cls(tx, pending)

    def pending_for(self, job_id: str) -> set[str] | frozenset[str]:
        return self.pending.get(job_id, NOTHING_PENDING)

    def write_answers(self) -> None:
        """Write the answers gathered so far in one statement (before anything else reads or deletes them)."""
        if self.answers:
            self.tx.conn.executemany(
                "INSERT OR REPLACE INTO answers (job_id, item_key, value, note, na_reason, hlc, device_id, "
                "template_version, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self.answers,
            )
            self.answers.clear()

    def template_version(self, job_id: str) -> int | None:
        if job_id not in self.versions:
            self.versions[job_id] = self.tx.scalar("SELECT template_version FROM jobs WHERE id = ?", (job_id,))
        return self.versions[job_id]


def apply_changes(tx: Tx, changes: list[Change]) -> int:
    """Apply changes in order; return how many were understood (unknown kinds are skipped)."""
    page = Page.open(tx)
    done = 0
    for change in changes:
        handler = _HANDLERS.get(change.kind)
        if handler is not None:
            if change.kind != "answer":
                page.write_answers()
            handler(page, change.id, change.data)
            done += 1
    page.write_answers()
    return done


def _apply_job(page: Page, job_id: str, data: dict[str, Any]) -> None:
    tx = page.tx
    job_id = str(data.get("id", job_id))
    local = tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
    pending = page.pending_for(job_id)
    page.versions.pop(job_id, None)
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
    cols = list(row)
    tx.execute(
        f"INSERT OR REPLACE INTO jobs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
        [row[c] for c in cols],
    )


def _apply_job_removed(page: Page, job_id: str, data: dict[str, Any]) -> None:
    tx = page.tx
    page.versions.pop(job_id, None)
    # The job left this engineer's scope.  Unsynced ops stay in the outbox: they
    # are still pushed and the server keeps them as review items.  Blobs not yet
    # uploaded stay too, they are evidence those ops refer to.
    for table in ("answers", "attachments", "signoffs", "conflicts"):
        tx.execute(f"DELETE FROM {table} WHERE job_id = ?", (job_id,))
    tx.execute("DELETE FROM movements WHERE job_id = ?", (job_id,))
    tx.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
    tx.execute("DELETE FROM blobs WHERE uploaded = 1 AND sha256 NOT IN (SELECT sha256 FROM attachments)")


def _apply_answer(page: Page, change_id: str, data: dict[str, Any]) -> None:
    job_id, item_key = str(data["job_id"]), str(data["item_key"])
    if f"answer:{item_key}" in page.pending_for(job_id):
        return
    version = page.template_version(job_id)
    page.answers.append(  # written together by Page.write_answers
        (
            job_id,
            item_key,
            dumps(data.get("value")),
            data.get("note"),
            data.get("na_reason"),
            int(data.get("hlc") or 0),
            data.get("device_id"),
            version,
            int(bool(data.get("deleted", False))),
        ),
    )


def _apply_template(page: Page, change_id: str, data: dict[str, Any]) -> None:
    page.tx.execute(
        "INSERT OR REPLACE INTO templates (id, version, name, items) VALUES (?, ?, ?, ?)",
        (data["id"], int(data["version"]), data.get("name", ""), dumps(data.get("items") or [])),
    )


def _apply_part(page: Page, change_id: str, data: dict[str, Any]) -> None:
    page.tx.execute(
        "INSERT OR REPLACE INTO parts (part_no, name, serialized, unit_price_cents) VALUES (?, ?, ?, ?)",
        (
            data.get("part_no", change_id),
            data.get("name", ""),
            int(bool(data.get("serialized"))),
            int(data.get("unit_price_cents") or 0),
        ),
    )


def _apply_stock(page: Page, change_id: str, data: dict[str, Any]) -> None:
    page.tx.execute(
        "INSERT OR REPLACE INTO stock (location, part_no, qty) VALUES (?, ?, ?)",
        (data["location"], data["part_no"], int(data.get("qty") or 0)),
    )


def _apply_movement(page: Page, change_id: str, data: dict[str, Any]) -> None:
    tx = page.tx
    movement_id = str(data.get("id", change_id))
    local = tx.one("SELECT returned_serial FROM movements WHERE id = ?", (movement_id,))
    billable = data.get("billable")
    tx.execute(
        "INSERT OR REPLACE INTO movements (id, kind, part_no, qty, serial, returned_serial, from_location, "
        "to_location, job_id, at, billable, local) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        (
            movement_id,
            data.get("kind", ""),
            data.get("part_no", ""),
            int(data.get("qty") or 0),
            data.get("serial"),
            data.get("returned_serial", local["returned_serial"] if local else None),
            data.get("from_location"),
            data.get("to_location"),
            data.get("job_id"),
            int(data.get("at") or 0),
            None if billable is None else int(bool(billable)),
        ),
    )


def _apply_signoff(page: Page, job_id: str, data: dict[str, Any]) -> None:
    tx = page.tx
    job_id = str(data.get("job_id", job_id))
    local = tx.one("SELECT * FROM signoffs WHERE job_id = ?", (job_id,))
    if local is not None and local["report_digest"] == data.get("report_digest"):
        return  # our own sign-off came back: keep the strokes and signature we hold
    if local is not None and "signoff" in page.pending_for(job_id):
        return
    tx.execute(
        "INSERT OR REPLACE INTO signoffs (job_id, signer_name, signer_role, signed_at, report_digest) "
        "VALUES (?, ?, ?, ?, ?)",
        (
            job_id,
            data.get("signer_name", ""),
            data.get("signer_role", ""),
            int(data.get("signed_at") or 0),
            data.get("report_digest", ""),
        ),
    )
    tx.execute("UPDATE jobs SET signed_off = 1 WHERE id = ?", (job_id,))


def _apply_attachment(page: Page, change_id: str, data: dict[str, Any]) -> None:
    job_id, sha = str(data["job_id"]), str(data["sha256"])
    if f"attachment:{sha}" in page.pending_for(job_id):
        return
    page.tx.execute(
        "INSERT INTO attachments (job_id, sha256, kind, size, deleted) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (job_id, sha256) DO UPDATE SET kind = excluded.kind, size = excluded.size, "
        "deleted = excluded.deleted",
        (job_id, sha, data.get("kind", "photo"), int(data.get("size") or 0), int(bool(data.get("deleted")))),
    )


def _apply_conflict(page: Page, change_id: str, data: dict[str, Any]) -> None:
    page.tx.execute(
        "INSERT OR REPLACE INTO conflicts (id, kind, job_id, key, status, vals, applied, resolution) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
