"""Reconciliation items for the console: the discrepancy list, warranty claims, resolve, CSV export.

The reconciliation service (``server.domain.reconciliation.service``) builds
the items; when it is installed the console calls it, otherwise it reads and
updates the ``recon_items`` table directly, in the shape of
``GET /v1/reconciliation`` (items with ``id, kind, status, records,
engineer_id, job_id, created_at, history``), so the page works either way.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from server.context import Services
from server.errors import BadRequest, Conflict, NotFound

STATUSES = ("open", "resolved", "all")


def _service() -> Any | None:
    try:
        from server.domain.reconciliation import service
    except ImportError:
        return None
    return service


def _item(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "key": row.get("key", ""), "status": row["status"],
            "engineer_id": row.get("engineer_id"), "job_id": row.get("job_id"), "created_at": row["created_at"],
            "records": _json(row.get("records"), []), "history": _json(row.get("history"), [])}


def _json(value: Any, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return default
    return value


def list_items(services: Services, status: str = "open", kind: str = "", engineer_id: str = "") -> list[dict[str, Any]]:
    """Discrepancies, oldest first, filtered by status, kind and engineer."""
    if status not in STATUSES:
        raise BadRequest("bad_filter", f"status must be one of {', '.join(STATUSES)}")
    svc = _service()
    if svc is not None and hasattr(svc, "list_items"):
        items = [_as_dict(i) for i in svc.list_items(services, status=None if status == "all" else status)]
    else:
        with services.db.read() as tx:
            rows = tx.query("SELECT * FROM recon_items ORDER BY created_at, id")
        items = [_item(r) for r in rows]
        if status != "all":
            items = [i for i in items if i["status"] == status]
    if kind:
        items = [i for i in items if i["kind"] == kind]
    if engineer_id:
        items = [i for i in items if i.get("engineer_id") == engineer_id]
    return items


def kinds(services: Services) -> list[str]:
    with services.db.read() as tx:
        return [r["kind"] for r in tx.query("SELECT DISTINCT kind FROM recon_items ORDER BY kind")]


def _as_dict(item: Any) -> dict[str, Any]:
    import msgspec

    d: dict[str, Any] = item if isinstance(item, dict) else msgspec.to_builtins(item)
    d.setdefault("records", [])
    d.setdefault("history", [])
    return d


def resolve(services: Services, item_id: str, comment: str, by: str) -> None:
    """Mark an item resolved with the reviewer's comment (kept in its history)."""
    comment = comment.strip()
    if not comment:
        raise BadRequest("invalid_form", "A comment is required to resolve a discrepancy.", field="comment")
    if len(comment) > 2000:
        raise BadRequest("invalid_form", "The comment is longer than 2000 characters.", field="comment")
    svc = _service()
    if svc is not None and hasattr(svc, "resolve"):
        svc.resolve(services, item_id, comment, by)
        return
    now = services.clock()
    with services.db.write() as tx:
        row = tx.lock("SELECT status, history FROM recon_items WHERE id = ?", (item_id,))
        if row is None:
            raise NotFound("unknown_item", f"no reconciliation item {item_id!r}")
        if row["status"] != "open":
            raise Conflict("already_resolved", "this item is already resolved")
        history = _json(row["history"], [])
        history.append({"at": now, "by": by, "action": "resolved", "comment": comment})
        tx.execute("UPDATE recon_items SET status = 'resolved', history = ? WHERE id = ?",
                   (json.dumps(history, separators=(",", ":")), item_id))


CSV_COLUMNS = ("id", "kind", "status", "engineer_id", "job_id", "created_at", "records", "last_comment")


def export_csv(items: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for i in items:
        comments = [h.get("comment", "") for h in i.get("history", []) if isinstance(h, dict) and h.get("comment")]
        w.writerow((i["id"], i["kind"], i["status"], i.get("engineer_id") or "", i.get("job_id") or "",
                    i["created_at"], json.dumps(i.get("records", []), separators=(",", ":")),
                    comments[-1] if comments else ""))
    return out.getvalue()
