"""SQL of inspection plans: the plans, their claimed visits (``plan_visits``) and the ticket and job of a visit."""

from __future__ import annotations

from sync.storage import Row, Tx


def asset(tx: Tx, serial: str) -> Row | None:
    return tx.one("SELECT * FROM assets WHERE serial = ?", (serial,))


def engineer_is_active(tx: Tx, engineer_id: str) -> bool:
    return tx.one("SELECT id FROM engineers WHERE id = ? AND active = 1", (engineer_id,)) is not None


def template_exists(tx: Tx, template_id: str) -> bool:
    return tx.one("SELECT id FROM templates WHERE id = ?", (template_id,)) is not None


def latest_template_version(tx: Tx, template_id: str) -> int | None:
    row = tx.one("SELECT MAX(version) AS v FROM templates WHERE id = ?", (template_id,))
    return int(row["v"]) if row and row["v"] is not None else None


def insert_plan(tx: Tx, plan_id: str, name: str, asset_serial: str | None, customer: str, site: str,
                every_months: int | None, dates_json: str, start_at: int, end_at: int | None,
                template_id: str | None, engineer_id: str, lead_days: int, priority: str, now: int,
                by: str, customer_id: str | None = None, site_id: str | None = None,
                notice_days: int | None = None) -> None:
    """Store an active plan."""
    tx.execute("INSERT INTO plans (id, name, asset_serial, customer, site, every_months, dates, start_at, end_at, "
               "template_id, engineer_id, lead_days, priority, active, created_at, created_by, customer_id, site_id, "
               "notice_days) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
               (plan_id, name, asset_serial, customer, site, every_months, dates_json, start_at, end_at, template_id,
                engineer_id, lead_days, priority, now, by, customer_id, site_id, notice_days))


def deactivate(tx: Tx, plan_id: str) -> int:
    """Mark a plan inactive; the number of rows changed (0: no such plan)."""
    return tx.execute("UPDATE plans SET active = 0 WHERE id = ?", (plan_id,))


def plan(tx: Tx, plan_id: str) -> Row | None:
    return tx.one("SELECT * FROM plans WHERE id = ?", (plan_id,))


def active_plan(tx: Tx, plan_id: str) -> Row | None:
    return tx.one("SELECT * FROM plans WHERE id = ? AND active = 1", (plan_id,))


def plans(tx: Tx, asset_serial: str | None, customer: str | None) -> list[Row]:
    """Plans (oldest first), of an asset and of a customer when given."""
    sql, params = "SELECT * FROM plans WHERE 1 = 1", []
    if asset_serial:
        sql += " AND asset_serial = ?"
        params.append(asset_serial)
    if customer:
        sql += " AND customer = ?"
        params.append(customer)
    return tx.query(sql + " ORDER BY created_at, id", params)


def active_plans(tx: Tx) -> list[Row]:
    return tx.query("SELECT * FROM plans WHERE active = 1 ORDER BY created_at, id")


def visits(tx: Tx, plan_id: str) -> list[Row]:
    """The plan's generated visits (by due date) with ``job_status`` and ``ticket_status``."""
    return tx.query(
        "SELECT v.*, j.status AS job_status, t.status AS ticket_status FROM plan_visits v "
        "LEFT JOIN jobs j ON j.id = v.job_id LEFT JOIN tickets t ON t.id = v.ticket_id "
        "WHERE v.plan_id = ? ORDER BY v.due_at", (plan_id,))


def periods_of_active_plans(tx: Tx) -> list[Row]:
    """(plan_id, period) of every visit generated for an active plan."""
    return tx.query("SELECT plan_id, period FROM plan_visits WHERE plan_id IN "
                    "(SELECT id FROM plans WHERE active = 1)")


def claim_visit(tx: Tx, plan_id: str, period: str, due_at: int, ticket_id: str, job_id: str, now: int) -> bool:
    """Claim a (plan, period) for a ticket and job; False when another run claimed it first (nothing written)."""
    return tx.execute("INSERT INTO plan_visits (plan_id, period, due_at, ticket_id, job_id, created_at) "
                      "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (plan_id, period) DO NOTHING",
                      (plan_id, period, due_at, ticket_id, job_id, now)) == 1


def insert_inspection_ticket(tx: Tx, ticket_id: str, customer: str, site: str, priority: str, title: str,
                             description: str, asset_serial: str | None, by: str, now: int,
                             customer_id: str | None = None, site_id: str | None = None) -> None:
    """An open ``inspection`` ticket."""
    tx.execute("INSERT INTO tickets (id, customer, site, priority, category, title, description, asset_serial, "
               "status, opened_at, created_by, created_at, updated_at, customer_id, site_id) "
               "VALUES (?, ?, ?, ?, 'inspection', ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
               (ticket_id, customer, site, priority, title, description, asset_serial, now, by, now, now,
                customer_id, site_id))


def insert_assigned_job(tx: Tx, job_id: str, ticket_id: str, engineer_id: str, start: int, end: int, notes: str,
                        template_id: str | None, template_version: int | None, now: int) -> None:
    """An ``assigned`` on-site job, with its assignment row."""
    tx.execute("INSERT INTO jobs (id, ticket_id, engineer_id, status, scheduled_start, scheduled_end, remote, "
               "notes, template_id, template_version, created_at, updated_at) "
               "VALUES (?, ?, ?, 'assigned', ?, ?, 0, ?, ?, ?, ?, ?)",
               (job_id, ticket_id, engineer_id, start, end, notes, template_id, template_version, now, now))
    tx.execute("INSERT INTO job_assignments (job_id, engineer_id, assigned_at) VALUES (?, ?, ?)",
               (job_id, engineer_id, now))
