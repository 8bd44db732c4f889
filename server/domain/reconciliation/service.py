"""Reconciliation: discrepancies between jobs, sign-offs, parts, van stock and evidence.

Nothing here is kept up to date by triggers: every read derives the
discrepancies from the records with queries (so an item can never go stale),
then merges the back office's stored decisions from ``recon_items``.  An item's
``id`` is a hash of its kind and natural key (the job, the serial, the van and
part ...), so it is stable across reads and across processes.  Resolving an
item stores the records it covered; if new records join the discrepancy later
(a third use of the same serial, another unexplained consumption) it opens again,
with the earlier resolution kept in its history.

One kind is settled elsewhere: an ``open_conflict`` item *is* a conflict of the
review queue, so it has exactly one resolution, the conflict's.  It is open
while the conflict is open and resolved (with the conflict's resolution in its
history) once the conflict is resolved; ``resolve`` here refuses it with
``resolve_in_review_queue`` and names the conflict, so the two views never disagree.

Kinds (see :data:`KINDS`):

- ``completed_without_signoff``: a job completed or closed with no customer sign-off
- ``signoff_digest_mismatch``: the signed digest no longer matches the job's report content
- ``negative_van_stock``: a van's good stock of a part below zero (consumption the ledger cannot explain)
- ``serial_consumed_twice``: one serial consumed more than once (every consumption listed)
- ``old_part_not_returned``: an open warranty claim whose old part is not at a returns location
- ``evidence_missing``: attachments whose bytes have not (fully) arrived
- ``open_conflict``: a conflict of the review queue (resolved there; listed as resolved afterwards)
- ``late_sync``: device events received more than ``late_sync_threshold_s`` after they happened
- ``implausible_event_time``: device events whose time could not be trusted (the device gave no usable
  clock, or the corrected time falls before the ticket opened or after the receipt); SLA used the
  receipt time for them (see :mod:`sync.core.eventtime`)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from schemas import i18n
from schemas.instant import Instant
from server.domain.parts.service import by_quantity, old_part_back
from server.domain.reconciliation import store
from server.domain.records import dumps, loads
from server.domain.sync.signoff_content import content_changed, current_digest
from server.domain.webhooks.service import emit
from server.errors import BadRequest, Conflict, NotFound
from server.services import Services
from sync.storage import Tx

KINDS: Final = ("completed_without_signoff", "signoff_digest_mismatch", "negative_van_stock",
                "serial_consumed_twice", "old_part_not_returned", "evidence_missing", "open_conflict", "late_sync",
                "implausible_event_time")
STATUSES: Final = ("open", "resolved")
MAX_RECORDS: Final = 50


class ReconItem(msgspec.Struct, kw_only=True):
    """One discrepancy with the records involved; ``created_at`` is when it arose (epoch ms)."""

    id: str
    kind: str
    key: str
    status: str
    summary: str
    engineer_id: str | None
    engineer_ids: list[str]
    job_id: str | None
    created_at: Instant
    records: list[dict[str, Any]]
    history: list[dict[str, Any]]


class ResolveReconIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Resolve a discrepancy; the comment is kept in the item's history."""

    comment: str


@dataclass(slots=True)
class Filters:
    """Read filters: period ``[start, end)`` on ``created_at`` (ms), engineer, kinds, status."""

    start: int | None = None
    end: int | None = None
    engineer_id: str | None = None
    kinds: tuple[str, ...] = ()
    status: str | None = None

    def check(self) -> None:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise BadRequest("bad_range", "from must be before to")
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise BadRequest("invalid_parameter", f"unknown kind {unknown[0]!r}; kinds: {', '.join(KINDS)}")
        if self.status is not None and self.status not in STATUSES:
            raise BadRequest("invalid_parameter", "status is open, resolved or all")

    def keep(self, item: ReconItem) -> bool:
        return ((self.start is None or item.created_at >= self.start)
                and (self.end is None or item.created_at < self.end)
                and (not self.engineer_id or self.engineer_id in item.engineer_ids)
                and (not self.kinds or item.kind in self.kinds)
                and (self.status is None or item.status == self.status))


@dataclass(slots=True)
class Draft:
    """A discrepancy as derived, before the stored decision is merged in."""

    kind: str
    key: str
    summary: str
    created_at: int
    job_id: str | None = None
    engineers: set[str] = field(default_factory=set)
    records: list[dict[str, Any]] = field(default_factory=list)
    #: the status is the records' own (a conflict's), never one stored in ``recon_items``
    settled_elsewhere: bool = False
    #: with ``settled_elsewhere``: the history entry of the resolution made there (None: still open)
    resolution: dict[str, Any] | None = None


def item_id(kind: str, key: str) -> str:
    """The stable id of a discrepancy."""
    return "R-" + hashlib.sha256(f"{kind}\x00{key}".encode()).hexdigest()[:20]


def _record_keys(records: list[dict[str, Any]]) -> set[str]:
    return {f"{r.get('type', '')}:{r.get('id', '')}" for r in records}


# -- derivations -------------------------------------------------------------

def _movement(m: dict[str, Any], devices: dict[str, str]) -> dict[str, Any]:
    return {"type": "movement", "id": m["id"], "kind": m["kind"], "part_no": m["part_no"], "qty": m["qty"],
            "serial": m["serial"], "job_id": m["job_id"], "device_id": m["device_id"],
            "engineer_id": devices.get(m["device_id"] or ""), "from_location": m["from_location"],
            "to_location": m["to_location"], "at": m["at"], "recorded_at": m["recorded_at"]}


def completed_without_signoff(tx: Tx) -> list[Draft]:
    rows = store.completed_jobs_without_signoff(tx)
    return [Draft("completed_without_signoff", r["id"], f"job {r['id']} is {r['status']} without a customer sign-off",
                  int(r["done_at"] or r["updated_at"]), r["id"], {r["engineer_id"]},
                  [{"type": "job", "id": r["id"], "status": r["status"], "engineer_id": r["engineer_id"]}])
            for r in rows]


def signoff_digest_mismatch(tx: Tx, f: Filters) -> list[Draft]:
    out = []
    for s in store.signoffs_received(tx, f.start, f.end):  # the period bounds the digest recomputations
        if not content_changed(tx, s["job_id"], s["report_digest"]):
            continue
        now = current_digest(tx, s["job_id"])
        out.append(Draft("signoff_digest_mismatch", s["job_id"],
                         f"job {s['job_id']}: signed content changed after sign-off by {s['signer_name']}",
                         int(s["received_at"]), s["job_id"], {s["engineer_id"]},
                         [{"type": "signoff", "id": s["job_id"], "signer_name": s["signer_name"],
                           "signed_at": s["signed_at"], "device_id": s["device_id"],
                           "signed_digest": s["report_digest"], "current_digest": now}]))
    return out


def negative_van_stock(tx: Tx, devices: dict[str, str]) -> list[Draft]:
    out = []
    for r in store.negative_van_stock(tx):
        moves = store.consumptions_from(tx, r["loc"], r["part_no"], MAX_RECORDS)
        at = max((int(m["recorded_at"]) for m in moves), default=0)
        out.append(Draft("negative_van_stock", f"{r['loc']}/{r['part_no']}",
                         f"{r['loc']} is at {int(r['qty'])} x {r['part_no']}: consumption the ledger cannot explain",
                         at, None, {r["engineer_id"]} if r["engineer_id"] else set(),
                         [{"type": "stock", "id": f"{r['loc']}/{r['part_no']}", "location": r["loc"],
                           "part_no": r["part_no"], "qty": int(r["qty"])}]
                         + [_movement(m, devices) for m in moves]))
    return out


def serial_consumed_twice(tx: Tx, devices: dict[str, str]) -> list[Draft]:
    out = []
    for d in store.serials_consumed_twice(tx):
        moves = [_movement(m, devices) for m in store.consumptions_of_serial(tx, d["part_no"], d["serial"])]
        jobs = sorted({m["job_id"] for m in moves if m["job_id"]})
        out.append(Draft("serial_consumed_twice", f"{d['part_no']}/{d['serial']}",
                         f"{d['part_no']} serial {d['serial']} consumed {len(moves)} times "
                         f"(jobs {', '.join(jobs) or '-'})",
                         max(int(m["recorded_at"]) for m in moves), jobs[0] if len(jobs) == 1 else None,
                         {m["engineer_id"] for m in moves if m["engineer_id"]}, moves))
    return out


def old_part_not_returned(tx: Tx, jobs: dict[str, str]) -> list[Draft]:
    out = []
    for c in store.open_warranty_claims(tx):
        back, loc, qty, returned = old_part_back(tx, c)
        if back:
            continue
        engineer = jobs.get(c["job_id"])
        what = f"old part {c['returned_serial']} is at {loc or 'no known location'}" if c["returned_serial"] \
            else f"{returned} of {qty} old part(s) back at returns" if by_quantity(tx, c) \
            else "no old part was recorded"
        out.append(Draft("old_part_not_returned", c["id"], f"warranty claim {c['id']} ({c['part_no']}): {what}",
                         int(c["created_at"]), c["job_id"], {engineer} if engineer else set(),
                         [{"type": "warranty_claim", "id": c["id"], "movement_id": c["movement_id"],
                           "part_no": c["part_no"], "serial": c["serial"], "returned_serial": c["returned_serial"],
                           "old_part_location": loc}]))
    return out


def evidence_missing(tx: Tx, jobs: dict[str, str]) -> list[Draft]:
    rows = store.attachments_not_received(tx)
    per_job: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        per_job.setdefault(r["job_id"], []).append(
            {"type": "attachment", "id": f"{r['job_id']}/{r['sha256']}", "sha256": r["sha256"], "kind": r["kind"],
             "size": r["size"], "received": int(r["received"] or 0), "at": r["at"], "device_id": r["device_id"]})
    out = []
    for job_id, recs in per_job.items():
        engineer = jobs.get(job_id)
        out.append(Draft("evidence_missing", job_id, f"job {job_id}: {len(recs)} attachment(s) not fully received",
                         max(int(x["at"]) for x in recs), job_id, {engineer} if engineer else set(), recs))
    return out


def conflicts(tx: Tx, jobs: dict[str, str], status: str | None) -> list[Draft]:
    """Conflicts of the review queue (only those in ``status`` when given), settled by their own status."""
    out = []
    for c in store.conflicts(tx, status):  # the conflict's status is the item's: filtered in the query
        engineer = jobs.get(c["job_id"])
        vals = loads(c["vals"], [])
        resolution = None
        what = f"{c['kind']} conflict on {c['key']} of job {c['job_id']}"
        if c["status"] == "open":
            summary = f"open {what}"
        else:
            decided = loads(c["resolution"], {})
            resolution = {"at": c["resolved_at"], "by": c["resolved_by"] or decided.get("by"), "action": "resolved",
                          "comment": decided.get("comment") or "", "in": "review_queue", "conflict_id": c["id"],
                          "kept": decided.get("value")}
            summary = f"{what}, resolved in the review queue"
        out.append(Draft("open_conflict", c["id"], summary, int(c["created_at"]), c["job_id"],
                         {engineer} if engineer else set(),
                         [{"type": "conflict", "id": c["id"], "kind": c["kind"], "key": c["key"],
                           "values": [{"value": v.get("value"), "device_id": v.get("device_id"), "at": v.get("at")}
                                      for v in vals]}],
                         settled_elsewhere=True, resolution=resolution))
    return out


def late_sync(tx: Tx, threshold_s: int, jobs: dict[str, str]) -> list[Draft]:
    rows = store.late_device_events(tx, threshold_s * 1000)
    per_job: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        happened = int(r["corrected_time"] if r["corrected_time"] is not None else r["device_time"])
        per_job.setdefault(r["job_id"], []).append(
            {"type": "event", "id": r["id"], "kind": r["kind"], "device_time": r["device_time"],
             "corrected_time": r["corrected_time"], "received_at": r["received_at"],
             "device_id": r["source"].removeprefix("device:"), "delay_s": (int(r["received_at"]) - happened) // 1000})
    out = []
    for job_id, recs in per_job.items():
        engineer = jobs.get(job_id)
        worst = max(x["delay_s"] for x in recs)
        out.append(Draft("late_sync", job_id, f"job {job_id}: work synced up to {worst // 3600} h after it happened",
                         min(int(x["corrected_time"] or x["device_time"]) for x in recs), job_id,
                         {engineer} if engineer else set(), recs[:MAX_RECORDS]))
    return out


def implausible_event_time(tx: Tx, jobs: dict[str, str]) -> list[Draft]:
    rows = store.flagged_event_times(tx)
    per_job: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        per_job.setdefault(r["job_id"], []).append(
            {"type": "event", "id": r["id"], "kind": r["kind"], "flag": r["time_flag"], "at": r["at"],
             "device_time": r["device_time"], "corrected_time": r["corrected_time"], "received_at": r["received_at"],
             "device_id": r["source"].removeprefix("device:")})
    out = []
    for job_id, recs in per_job.items():
        engineer = jobs.get(job_id)
        flags = ", ".join(sorted({x["flag"] for x in recs}))
        out.append(Draft("implausible_event_time", job_id,
                         f"job {job_id}: {len(recs)} device event time(s) not trusted ({flags}); "
                         "SLA used the receipt time", min(int(x["received_at"]) for x in recs), job_id,
                         {engineer} if engineer else set(), recs[:MAX_RECORDS]))
    return out


def derive(tx: Tx, services: Services, f: Filters) -> list[Draft]:
    """Every discrepancy of the asked kinds, as the records stand in ``tx``."""
    want = set(f.kinds or KINDS)
    jobs = store.job_engineers(tx)
    devices = store.device_engineers(tx)
    drafts: list[Draft] = []
    if "completed_without_signoff" in want:
        drafts += completed_without_signoff(tx)
    if "signoff_digest_mismatch" in want:
        drafts += signoff_digest_mismatch(tx, f)
    if "negative_van_stock" in want:
        drafts += negative_van_stock(tx, devices)
    if "serial_consumed_twice" in want:
        drafts += serial_consumed_twice(tx, devices)
    if "old_part_not_returned" in want:
        drafts += old_part_not_returned(tx, jobs)
    if "evidence_missing" in want:
        drafts += evidence_missing(tx, jobs)
    if "open_conflict" in want:
        drafts += conflicts(tx, jobs, f.status)
    if "late_sync" in want:
        drafts += late_sync(tx, services.settings.late_sync_threshold_s, jobs)
    if "implausible_event_time" in want:
        drafts += implausible_event_time(tx, jobs)
    return drafts


def _merge(tx: Tx, drafts: list[Draft]) -> list[ReconItem]:
    stored = store.stored_items(tx)
    items = []
    for d in drafts:
        iid = item_id(d.kind, d.key)
        row = stored.get(iid)
        status, history = "open", []
        if d.settled_elsewhere:
            if d.resolution is not None:
                status, history = "resolved", [d.resolution]
        elif row is not None:
            history = loads(row["history"], [])
            if row["status"] == "resolved":
                covered = _record_keys(loads(row["records"], []))
                if _record_keys(d.records) <= covered:
                    status = "resolved"
                else:
                    history = [*history, {"action": "reopened", "reason": "new records since the resolution"}]
        engineers = sorted(e for e in d.engineers if e)
        items.append(ReconItem(id=iid, kind=d.kind, key=d.key, status=status, summary=d.summary,
                               engineer_id=engineers[0] if len(engineers) == 1 else None, engineer_ids=engineers,
                               job_id=d.job_id, created_at=d.created_at, records=d.records, history=history))
    items.sort(key=lambda i: (i.created_at, i.kind, i.key))
    return items


# -- public --------------------------------------------------------------------

def reconcile(services: Services, f: Filters | None = None) -> list[ReconItem]:
    """The discrepancies matching ``f``, oldest first, with their stored status and history."""
    f = f or Filters()
    f.check()
    with services.db.read() as tx:
        return [i for i in _merge(tx, derive(tx, services, f)) if f.keep(i)]


def list_items(services: Services, status: str | None = None, kind: str | None = None,
               engineer_id: str | None = None) -> list[ReconItem]:
    """Convenience for the console: filter by status, kind and engineer."""
    return reconcile(services, Filters(status=status, kinds=(kind,) if kind else (), engineer_id=engineer_id))


def resolve(services: Services, recon_id: str, comment: str, by: str) -> ReconItem:
    """Mark a current discrepancy resolved; the comment and the records it covered are kept."""
    comment = comment.strip()
    if not comment:
        raise BadRequest("comment_required", "say how the discrepancy was resolved")
    if len(comment) > 2000:
        raise BadRequest("comment_too_long", "at most 2000 characters")
    now = services.clock()
    with services.db.write() as tx:
        item = next((i for i in _merge(tx, derive(tx, services, Filters())) if i.id == recon_id), None)
        if item is None:
            raise NotFound("unknown_recon_item", f"no current discrepancy {recon_id!r} (it may have cleared itself)")
        if item.status == "resolved":
            raise Conflict("already_resolved", "this discrepancy is already resolved")
        if item.kind == "open_conflict":
            raise Conflict("resolve_in_review_queue",
                           f"this item is conflict {item.key} of the review queue: resolve it there "
                           f"(POST /v1/conflicts/{item.key}/resolve) and it is resolved here too",
                           conflict_id=item.key)
        history = [h for h in item.history if h.get("action") != "reopened"]
        history.append({"at": now, "by": by, "action": "resolved", "comment": comment})
        covered = [{"type": r.get("type"), "id": r.get("id")} for r in item.records]
        store.save_resolved(tx, item.id, item.kind, item.key, item.engineer_id, item.job_id, dumps(covered),
                            item.created_at, dumps(history))
        # one event per resolution (an item that reopens and is resolved again is a new one)
        emit(tx, f"{item.id}-resolved-{len(history)}", "reconciliation_resolved",
             {"item_id": item.id, "kind": item.kind, "key": item.key, "job_id": item.job_id,
              "engineer_id": item.engineer_id, "comment": comment, "by": by}, now)
    return msgspec.structs.replace(item, status="resolved", history=history)


CSV_COLUMNS: Final = ("id", "kind", "status", "created_at", "engineer_ids", "job_id", "key", "summary", "records",
                      "last_comment")


def to_csv(items: list[ReconItem], locale: str = i18n.FALLBACK) -> str:
    """The items as CSV (records as compact JSON in one column), headed in ``locale`` (English: the column ids)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([i18n.text(locale, "exports", f"reconciliation.{c}") for c in CSV_COLUMNS])
    for i in items:
        comments = [h["comment"] for h in i.history if h.get("comment")]
        w.writerow((i.id, i.kind, i.status, i.created_at, " ".join(i.engineer_ids), i.job_id or "", i.key, i.summary,
                    json.dumps(i.records, separators=(",", ":"), sort_keys=True), comments[-1] if comments else ""))
    return out.getvalue()
