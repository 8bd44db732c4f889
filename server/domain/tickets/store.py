"""SQL of tickets, jobs and the ticket timeline: opening, dispatching, reassigning and closing, and the
reads of the ticket and job pages (a job with its answers, parts, attachments, sign-off and conflicts)."""

from __future__ import annotations

from sync.storage import Row, Tx


def _marks(values: list[str]) -> str:
    return ", ".join("?" for _ in values)


def titles(tx: Tx, ticket_ids: list[str]) -> dict[str, str]:
    """ticket id -> title, of the tickets named."""
    if not ticket_ids:
        return {}
    return {r["id"]: r["title"] for r in tx.query(f"SELECT id, title FROM tickets WHERE id IN ({_marks(ticket_ids)})",
                                                  ticket_ids)}


def job_contexts(tx: Tx, job_ids: list[str]) -> dict[str, Row]:
    """job id -> ``id``, ``engineer_id``, ``customer``, ``site``, ``ticket_id``, ``template_id``,
    ``template_version`` of the jobs named."""
    if not job_ids:
        return {}
    return {r["id"]: r for r in tx.query(
        f"SELECT j.id, j.engineer_id, t.customer, t.site, t.id AS ticket_id, j.template_id, j.template_version "
        f"FROM jobs j "
        f"JOIN tickets t ON t.id = j.ticket_id WHERE j.id IN ({_marks(job_ids)})", job_ids)}


def ticket(tx: Tx, ticket_id: str, *, lock: bool = False) -> Row | None:
    """A ticket row (locked for the rest of the transaction when ``lock``)."""
    sql = "SELECT * FROM tickets WHERE id = ?"
    return tx.lock(sql, (ticket_id,)) if lock else tx.one(sql, (ticket_id,))


def customer_confirmed(tx: Tx, ticket_id: str) -> bool:
    return tx.one("SELECT ticket_id FROM customer_confirmations WHERE ticket_id = ?", (ticket_id,)) is not None


def jobs_of(tx: Tx, ticket_id: str) -> list[Row]:
    return tx.query("SELECT * FROM jobs WHERE ticket_id = ? ORDER BY id", (ticket_id,))


def job(tx: Tx, job_id: str) -> Row | None:
    return tx.one("SELECT * FROM jobs WHERE id = ?", (job_id,))


def close_job(tx: Tx, job_id: str, now: int) -> None:
    tx.execute("UPDATE jobs SET status = 'closed', updated_at = ? WHERE id = ?", (now, job_id))


def close_ticket(tx: Tx, ticket_id: str, now: int) -> None:
    tx.execute("UPDATE tickets SET status = 'closed', updated_at = ? WHERE id = ?", (now, ticket_id))


def lock_job(tx: Tx, job_id: str) -> Row | None:
    """A job row, locked for the rest of the transaction."""
    return tx.lock("SELECT * FROM jobs WHERE id = ?", (job_id,))


def job_was_on_site(tx: Tx, job_id: str) -> bool:
    """Whether anyone arrived on site for this job (an ``on_site`` event on its ticket's timeline)."""
    return tx.one("SELECT id FROM ticket_events WHERE job_id = ? AND kind = 'on_site'", (job_id,)) is not None


def complete_remotely(tx: Tx, job_id: str, resolution: str, diagnosis: str, now: int) -> None:
    """The job completed without a visit: remote, with its resolution and diagnosis."""
    tx.execute("UPDATE jobs SET status = 'completed', remote = 1, resolution = ?, diagnosis = ?, hold_reason = NULL, "
               "updated_at = ? WHERE id = ?", (resolution, diagnosis, now, job_id))


#: the ticket columns a back-office correction may set (``editing.EDITABLE``)
CORRECTABLE = frozenset({"customer", "site", "priority", "title", "description", "customer_id", "site_id"})


def correct(tx: Tx, ticket_id: str, changes: dict[str, str | None], now: int) -> None:
    """Set the corrected fields of a ticket (names from :data:`CORRECTABLE` only)."""
    names = sorted(changes)
    if not names or not set(names) <= CORRECTABLE:
        raise ValueError(f"not correctable: {sorted(set(names) - CORRECTABLE)}")
    assignments = ", ".join(f"{name} = ?" for name in names)
    tx.execute(f"UPDATE tickets SET {assignments}, updated_at = ? WHERE id = ?",
               [*(changes[name] for name in names), now, ticket_id])


def changed(tx: Tx, since: int, after: tuple[int, str] | None, ceiling: int | None, limit: int) -> list[Row]:
    """``id`` and ``change_pos`` of tickets written at or after ``since`` (epoch ms), in the order of changes.

    Only past ``after`` (a position and id already read) and below ``ceiling`` (no write below it can still
    commit; None: none in flight, SQLite).
    """
    sql = "SELECT id, change_pos FROM tickets WHERE updated_at >= ?"
    params: list[int | str] = [since]
    if after is not None:
        sql += " AND (change_pos > ? OR (change_pos = ? AND id > ?))"
        params += [after[0], after[0], after[1]]
    if ceiling is not None:
        sql += " AND change_pos < ?"
        params.append(ceiling)
    return tx.query(sql + " ORDER BY change_pos, id LIMIT ?", [*params, limit])


def positions(tx: Tx, ticket_ids: list[str]) -> dict[str, int]:
    """ticket id -> its ``change_pos`` now."""
    if not ticket_ids:
        return {}
    return {r["id"]: int(r["change_pos"]) for r in tx.query(
        f"SELECT id, change_pos FROM tickets WHERE id IN ({_marks(ticket_ids)})", ticket_ids)}


def by_external_ref(tx: Tx, external_ref: str) -> str | None:
    """The id of the ticket with this external reference, if any."""
    row = tx.one("SELECT id FROM tickets WHERE external_ref = ?", (external_ref,))
    return None if row is None else str(row["id"])


def insert_event(tx: Tx, event_id: str, ticket_id: str, job_id: str | None, kind: str, at: int,
                 device_time: int | None, corrected_time: int | None, received_at: int, source: str,
                 data: str) -> bool:
    """One event on a ticket's timeline, once per ``event_id`` (``data`` is its encoded JSON); False: it was there."""
    return 0 < tx.execute("INSERT INTO ticket_events (id, ticket_id, job_id, kind, at, device_time, corrected_time, "
               "received_at, source, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                          (event_id, ticket_id, job_id, kind, at, device_time, corrected_time, received_at, source,
                           data))


def touch_ticket(tx: Tx, ticket_id: str, at: int) -> None:
    tx.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (at, ticket_id))


def insert_ticket(tx: Tx, ticket_id: str, customer: str, site: str, priority: str, category: str, title: str,
                  description: str, asset_serial: str | None, opened_at: int, created_by: str, now: int,
                  report_locale: str | None, external_ref: str | None = None, customer_id: str | None = None,
                  site_id: str | None = None) -> bool:
    """A new ticket, ``open``; False (nothing written) when another ticket has its ``external_ref``."""
    return tx.execute("INSERT INTO tickets (id, customer, site, priority, category, title, description, asset_serial, "
                      "status, opened_at, created_by, created_at, updated_at, report_locale, external_ref, "
                      "customer_id, site_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT (external_ref) DO NOTHING",
                      (ticket_id, customer, site, priority, category, title, description, asset_serial, opened_at,
                       created_by, now, now, report_locale, external_ref, customer_id, site_id)) == 1


def ticket_exists(tx: Tx, ticket_id: str) -> bool:
    return tx.one("SELECT id FROM tickets WHERE id = ?", (ticket_id,)) is not None


def set_report_locale(tx: Tx, ticket_id: str, locale: str | None, now: int) -> None:
    tx.execute("UPDATE tickets SET report_locale = ?, updated_at = ? WHERE id = ?", (locale, now, ticket_id))


def jobs_in_creation_order(tx: Tx, ticket_id: str) -> list[Row]:
    return tx.query("SELECT * FROM jobs WHERE ticket_id = ? ORDER BY created_at, id", (ticket_id,))


def events_of(tx: Tx, ticket_id: str) -> list[Row]:
    """A ticket's timeline, in order."""
    return tx.query("SELECT * FROM ticket_events WHERE ticket_id = ? ORDER BY at, received_at, id", (ticket_id,))


def ticket_ids(tx: Tx, status: str | None, priority: str | None, engineer_id: str | None, limit: int,
               offset: int, external_ref: str | None = None, customer_id: str | None = None) -> list[str]:
    """Ids of the tickets matching the filters given (newest opened first), one page."""
    sql = "SELECT id FROM tickets t WHERE 1 = 1"
    params: list[str | int] = []
    if customer_id is not None:
        sql += " AND t.customer_id = ?"
        params.append(customer_id)
    if external_ref is not None:
        sql += " AND t.external_ref = ?"
        params.append(external_ref)
    if status:
        sql += " AND t.status = ?"
        params.append(status)
    if priority:
        sql += " AND t.priority = ?"
        params.append(priority)
    if engineer_id:
        sql += " AND EXISTS (SELECT 1 FROM jobs j WHERE j.ticket_id = t.id AND j.engineer_id = ?)"
        params.append(engineer_id)
    sql += " ORDER BY t.opened_at DESC, t.id LIMIT ? OFFSET ?"
    params += [limit, offset]
    return [r["id"] for r in tx.query(sql, params)]


def lock_ticket_status(tx: Tx, ticket_id: str) -> Row | None:
    """``id`` and ``status`` of a ticket, locked for the rest of the transaction."""
    return tx.lock("SELECT id, status FROM tickets WHERE id = ?", (ticket_id,))


def engineer_is_active(tx: Tx, engineer_id: str) -> bool:
    return bool(tx.one("SELECT id FROM engineers WHERE id = ? AND active = 1", (engineer_id,)))


def latest_template_version(tx: Tx, template_id: str) -> int | None:
    """The newest published version of a checklist template; None when it has none."""
    tpl = tx.one("SELECT MAX(version) AS v FROM templates WHERE id = ?", (template_id,))
    return None if tpl is None or tpl["v"] is None else int(tpl["v"])


def insert_job(tx: Tx, job_id: str, ticket_id: str, engineer_id: str, scheduled_start: int | None,
               scheduled_end: int | None, remote: bool, notes: str, template_id: str | None,
               template_version: int | None, now: int) -> None:
    """A new job, ``assigned``."""
    tx.execute("INSERT INTO jobs (id, ticket_id, engineer_id, status, scheduled_start, scheduled_end, remote, "
               "notes, template_id, template_version, created_at, updated_at) "
               "VALUES (?, ?, ?, 'assigned', ?, ?, ?, ?, ?, ?, ?, ?)",
               (job_id, ticket_id, engineer_id, scheduled_start, scheduled_end, int(remote), notes, template_id,
                template_version, now, now))


def insert_assignment(tx: Tx, job_id: str, engineer_id: str, now: int) -> None:
    tx.execute("INSERT INTO job_assignments (job_id, engineer_id, assigned_at) VALUES (?, ?, ?)",
               (job_id, engineer_id, now))


def reassign_job(tx: Tx, job_id: str, engineer_id: str, now: int) -> None:
    """The job to another engineer, with the assignment recorded (again, when they had it before)."""
    tx.execute("UPDATE jobs SET engineer_id = ?, updated_at = ? WHERE id = ?", (engineer_id, now, job_id))
    tx.execute("INSERT INTO job_assignments (job_id, engineer_id, assigned_at) VALUES (?, ?, ?) "
               "ON CONFLICT (job_id, engineer_id) DO UPDATE SET assigned_at = excluded.assigned_at",
               (job_id, engineer_id, now))


def set_job_status(tx: Tx, job_id: str, status: str, now: int) -> None:
    tx.execute("UPDATE jobs SET status = ?, updated_at = ? WHERE id = ?", (status, now, job_id))


def open_job_count(tx: Tx, ticket_id: str) -> int:
    """How many of a ticket's jobs are neither cancelled nor closed."""
    row = tx.one("SELECT COUNT(*) AS n FROM jobs WHERE ticket_id = ? AND status NOT IN ('cancelled', 'closed')",
                 (ticket_id,))
    return int(row["n"]) if row else 0


def cancel_ticket(tx: Tx, ticket_id: str) -> None:
    tx.execute("UPDATE tickets SET status = 'cancelled' WHERE id = ?", (ticket_id,))


def answers_of(tx: Tx, job_id: str) -> list[Row]:
    return tx.query("SELECT * FROM answers WHERE job_id = ? ORDER BY item_key", (job_id,))


def movements_of(tx: Tx, job_id: str) -> list[Row]:
    return tx.query("SELECT * FROM movements WHERE job_id = ? ORDER BY at, id", (job_id,))


def attachments_of(tx: Tx, job_id: str) -> list[Row]:
    """A job's attachments, each with ``complete``: whether its blob has arrived (NULL: not begun)."""
    return tx.query("SELECT a.*, b.complete FROM attachments a LEFT JOIN blobs b ON b.sha256 = a.sha256 "
                    "WHERE a.job_id = ? ORDER BY a.at", (job_id,))


def signoff_of(tx: Tx, job_id: str) -> Row | None:
    return tx.one("SELECT * FROM signoffs WHERE job_id = ?", (job_id,))


def job_events(tx: Tx, job_id: str) -> list[Row]:
    return tx.query("SELECT * FROM ticket_events WHERE job_id = ? ORDER BY at, received_at", (job_id,))


def job_conflicts(tx: Tx, job_id: str) -> list[Row]:
    """``id``, ``kind``, ``key``, ``status`` of a job's conflicts, oldest first."""
    return tx.query("SELECT id, kind, key, status FROM conflicts WHERE job_id = ? ORDER BY created_at", (job_id,))
