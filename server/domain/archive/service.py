"""The service archive: the full history of an asset and of a customer, and the asset record a tablet keeps.

History is read from the records the service already keeps (tickets, jobs,
their timeline events, parts movements, sign-offs, follow-ups, plan visits);
nothing is copied.  A tablet gets the asset of each assigned job as an
``asset`` change carrying the asset record and its last visits, emitted with
the job bundle (``records.publish_job_bundle``), so the engineer sees what was
done before while offline.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Final

from schemas.records import AssetData, AssetRecord, AssetVisit, Record
from server.clock import wall_ms
from server.domain.archive import store
from server.domain.kb.service import kb_records_for_model
from server.errors import NotFound
from server.services import Services
from sync.storage import Row, Tx

#: how many past visits of an asset travel to the tablet with an assigned job
TABLET_VISITS: Final = 5
DONE_STATUSES: Final = ("completed", "signed_off", "closed")


def asset_record(row: Row, now: int) -> dict[str, Any]:
    until = row["warranty_until"]
    contract = row["contract_until"]
    return {"serial": row["serial"], "model": row["model"], "equipment_type": row["equipment_type"],
            "customer": row["customer"], "site": row["site"], "installed_at": row["installed_at"],
            "warranty_until": until, "contract_until": contract,
            "under_warranty": until is not None and now <= int(until),
            "under_contract": contract is not None and now <= int(contract)}


def ticket_visits(tx: Tx, tickets: list[Row]) -> list[dict[str, Any]]:
    """Tickets (newest first) with their jobs, parts, sign-offs, follow-ups and plan links: a few queries in all."""
    if not tickets:
        return []
    tids = [t["id"] for t in tickets]
    jobs = store.jobs_of_tickets(tx, tids)
    jids = [j["id"] for j in jobs]
    moves: dict[str, list[dict[str, Any]]] = defaultdict(list)
    signoffs: dict[str, Row] = {}
    times: dict[str, dict[str, int]] = defaultdict(dict)
    if jids:
        for m in store.movements_of_jobs(tx, jids):
            moves[m["job_id"]].append({"id": m["id"], "kind": m["kind"], "part_no": m["part_no"], "qty": m["qty"],
                                       "serial": m["serial"], "returned_serial": m["returned_serial"],
                                       "billable": None if m["billable"] is None else bool(m["billable"]),
                                       "at": m["at"]})
        for s in store.signoffs_of_jobs(tx, jids):
            signoffs[s["job_id"]] = s
        for e in store.on_site_and_completed_events(tx, jids):
            times[e["job_id"]].setdefault(f"{e['kind']}_at", int(e["at"]))
    follow: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in store.followups_of_tickets(tx, tids):
        follow[f["ticket_id"]].append({"at": f["at"], "reached": bool(f["reached"]), "rating": f["rating"],
                                       "comment": f["comment"], "recorded_by": f["recorded_by"]})
    plans = {p["ticket_id"]: p for p in store.plan_visits_of_tickets(tx, tids)}
    by_ticket: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for j in jobs:
        so = signoffs.get(j["id"])
        by_ticket[j["ticket_id"]].append({
            "id": j["id"], "engineer_id": j["engineer_id"], "status": j["status"], "remote": bool(j["remote"]),
            "scheduled_start": j["scheduled_start"], "diagnosis": j["diagnosis"], "resolution": j["resolution"],
            "on_site_at": times[j["id"]].get("on_site_at"), "completed_at": times[j["id"]].get("completed_at"),
            "parts": moves.get(j["id"], []),
            "signoff": None if so is None else {k: so[k] for k in ("signer_name", "signer_role", "signed_at",
                                                                  "report_digest", "rating", "comment")},
            "report_url": f"/v1/jobs/{j['id']}/report.pdf" if so is not None else None,
        })
    out = []
    for t in sorted(tickets, key=lambda r: (-int(r["opened_at"]), r["id"])):
        plan = plans.get(t["id"])
        out.append({"ticket_id": t["id"], "customer": t["customer"], "site": t["site"],
                    "asset_serial": t["asset_serial"], "category": t["category"], "priority": t["priority"],
                    "status": t["status"], "title": t["title"], "opened_at": t["opened_at"],
                    "jobs": by_ticket.get(t["id"], []), "followups": follow.get(t["id"], []),
                    "plan": None if plan is None else {"plan_id": plan["plan_id"], "period": plan["period"],
                                                       "due_at": plan["due_at"]}})
    return out


def asset_history(services: Services, serial: str, limit: int = 200) -> dict[str, Any]:
    """An asset's record with every ticket and visit on it, newest first."""
    with services.db.read() as tx:
        asset = store.asset(tx, serial)
        tickets = store.tickets_of_asset(tx, serial, limit)
        if asset is None and not tickets:
            raise NotFound("unknown_asset", f"no asset {serial!r}")
        visits = ticket_visits(tx, tickets)
        plans = store.plans_of_asset(tx, serial)
    return {"serial": serial, "asset": None if asset is None else asset_record(asset, services.clock()),
            "tickets": visits, "plans": plans}


def customer_archive(services: Services, customer_id: str, limit: int = 500) -> dict[str, Any]:
    """A customer's service archive: assets, every ticket with its visits, parts and sign-offs, plans."""
    with services.db.read() as tx:
        customer = store.customer_name(tx, customer_id)
        if customer is None:
            raise NotFound("unknown_customer", f"no customer {customer_id!r}")
        assets = store.assets_of_customer(tx, customer_id)
        tickets = store.tickets_of_customer(tx, customer_id, limit)
        visits = ticket_visits(tx, tickets)
        plans = store.plans_of_customer(tx, customer_id)
    now = services.clock()
    ratings = [j["signoff"]["rating"] for t in visits for j in t["jobs"]
               if j["signoff"] and j["signoff"]["rating"] is not None]
    ratings += [f["rating"] for t in visits for f in t["followups"] if f["rating"] is not None]
    return {"customer": customer, "customer_id": customer_id, "assets": [asset_record(a, now) for a in assets],
            "tickets": visits,
            "plans": plans, "summary": {
                "tickets": len(visits), "visits": sum(len(t["jobs"]) for t in visits),
                "complaints": sum(1 for t in visits if t["category"] == "complaint"),
                "mean_rating": round(sum(ratings) / len(ratings), 2) if ratings else None}}


def last_visits(tx: Tx, serial: str, limit: int = TABLET_VISITS) -> list[dict[str, Any]]:
    """The asset's last finished visits, compact, for the tablet."""
    rows = store.last_jobs_of_asset(tx, serial, DONE_STATUSES, limit)
    jids = [r["id"] for r in rows]
    parts: dict[str, list[str]] = defaultdict(list)
    done_at: dict[str, int] = {}
    if jids:
        for m in store.consumptions_of_jobs(tx, jids):
            parts[m["job_id"]].append(f"{m['part_no']} x{m['qty']}")
        for e in store.completed_at_of_jobs(tx, jids):
            done_at[e["job_id"]] = int(e["at"])
    return [{"job_id": r["id"], "ticket_id": r["ticket_id"], "engineer_id": r["engineer_id"],
             "category": r["category"], "title": r["title"], "completed_at": done_at.get(r["id"]),
             "remote": bool(r["remote"]), "diagnosis": r["diagnosis"], "resolution": r["resolution"],
             "parts": parts.get(r["id"], [])} for r in rows]


def asset_feed_data(tx: Tx, serial: str, now: int, exclude_job: str | None = None) -> AssetData | None:
    """The asset record a tablet receives: the record and its last visits (None for an unknown asset)."""
    row = store.asset(tx, serial)
    if row is None:
        return None
    visits = [v for v in last_visits(tx, serial, TABLET_VISITS + 1) if v["job_id"] != exclude_job]
    return AssetData(**asset_record(row, now), history=[AssetVisit(**v) for v in visits[:TABLET_VISITS]])


def job_lifecycle_records(tx: Tx, job_id: str, ticket: Row) -> list[Record]:
    """Records that travel with an assigned job: its asset (with history) and the knowledge base of its model."""
    serial = ticket["asset_serial"]
    if not serial:
        return []
    data = asset_feed_data(tx, serial, wall_ms(), exclude_job=job_id)
    if data is None:
        return []
    records: list[Record] = [AssetRecord(id=serial, data=data)]
    if data.model:
        records += kb_records_for_model(tx, data.model)
    return records
