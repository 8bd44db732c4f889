"""SQL of customers and their sites: the records, search by tokens, and keeping the names on tickets, plans and
assets equal to the record's."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

from sync.storage import Row, Tx

#: the tables whose rows point at a customer (``customer_id``, ``site_id``) and carry its name (``customer``)
LINKED: Final = ("tickets", "plans", "assets")


def lock_name(tx: Tx, *parts: str) -> None:
    """Serialise "find by name, else create" for one name until the end of the transaction.

    PostgreSQL: a transaction-scoped advisory lock on the name's hash, so two tickets naming a new customer at
    once make one record (the second waits, then finds the first's).  SQLite has one writer at a time.
    """
    if tx.dialect != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256("\n".join(("customer-name", *parts)).encode()).digest()[:8], "big",
                         signed=True)
    tx.one("SELECT pg_advisory_xact_lock(?) AS held", (key,))


def insert_customer(tx: Tx, customer_id: str, name: str, contacts: str, external_ref: str | None,
                    search_text: str, by: str, now: int) -> bool:
    """A new customer (``contacts`` is encoded JSON); False (nothing written) when its ``external_ref`` is taken."""
    return tx.execute("INSERT INTO customers (id, name, contacts, external_ref, search_text, created_by, created_at, "
                      "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (external_ref) DO NOTHING",
                      (customer_id, name, contacts, external_ref, search_text, by, now, now)) == 1


def customer(tx: Tx, customer_id: str, *, lock: bool = False) -> Row | None:
    sql = "SELECT * FROM customers WHERE id = ?"
    return tx.lock(sql, (customer_id,)) if lock else tx.one(sql, (customer_id,))


def by_name(tx: Tx, name: str, limit: int = 10) -> list[Row]:
    """The customers named exactly ``name`` (oldest first)."""
    return tx.query("SELECT * FROM customers WHERE name = ? ORDER BY created_at, id LIMIT ?", (name, limit))


def by_external_ref(tx: Tx, external_ref: str) -> Row | None:
    return tx.one("SELECT * FROM customers WHERE external_ref = ?", (external_ref,))


def search(tx: Tx, tokens: Sequence[str], external_ref: str | None, after: tuple[str, str] | None,
           limit: int) -> list[Row]:
    """One page of customers by name then id: holding every token (whole), of an ERP reference, past ``after``."""
    sql, params = "SELECT * FROM customers WHERE 1 = 1", []
    for token in tokens:  # tokens are letters, digits and CJK only: never a LIKE wildcard
        sql += " AND search_text LIKE ?"
        params.append(f"% {token} %")
    if external_ref is not None:
        sql += " AND external_ref = ?"
        params.append(external_ref)
    if after is not None:
        sql += " AND (name > ? OR (name = ? AND id > ?))"
        params += [after[0], after[0], after[1]]
    return tx.query(sql + " ORDER BY name, id LIMIT ?", [*params, limit])


def update_customer(tx: Tx, customer_id: str, name: str, contacts: str, external_ref: str | None,
                    search_text: str, now: int) -> None:
    tx.execute("UPDATE customers SET name = ?, contacts = ?, external_ref = ?, search_text = ?, updated_at = ? "
               "WHERE id = ?", (name, contacts, external_ref, search_text, now, customer_id))


def rename_linked(tx: Tx, customer_id: str, name: str) -> None:
    """The customer's new name on its tickets, plans and assets."""
    for table in LINKED:
        tx.execute(f"UPDATE {table} SET customer = ? WHERE customer_id = ? AND customer <> ?",
                   (name, customer_id, name))


def rename_site_linked(tx: Tx, site_id: str, name: str) -> None:
    for table in LINKED:
        tx.execute(f"UPDATE {table} SET site = ? WHERE site_id = ? AND site <> ?", (name, site_id, name))


def touch(tx: Tx, customer_id: str, now: int) -> None:
    tx.execute("UPDATE customers SET updated_at = ? WHERE id = ?", (now, customer_id))


def insert_site(tx: Tx, site_id: str, customer_id: str, name: str, address: str) -> None:
    tx.execute("INSERT INTO sites (id, customer_id, name, address) VALUES (?, ?, ?, ?)",
               (site_id, customer_id, name, address))


def update_site(tx: Tx, site_id: str, name: str, address: str) -> None:
    tx.execute("UPDATE sites SET name = ?, address = ? WHERE id = ?", (name, address, site_id))


def site(tx: Tx, site_id: str) -> Row | None:
    return tx.one("SELECT * FROM sites WHERE id = ?", (site_id,))


def site_by_name(tx: Tx, customer_id: str, name: str) -> Row | None:
    return tx.one("SELECT * FROM sites WHERE customer_id = ? AND name = ? ORDER BY id LIMIT 1", (customer_id, name))


def sites_of(tx: Tx, customer_ids: Sequence[str]) -> list[Row]:
    if not customer_ids:
        return []
    marks = ", ".join("?" for _ in customer_ids)
    return tx.query(f"SELECT * FROM sites WHERE customer_id IN ({marks}) ORDER BY name, id", list(customer_ids))


def assets_of(tx: Tx, customer_ids: Sequence[str]) -> list[Row]:
    """``serial``, ``model``, ``equipment_type``, ``site``, ``site_id``, ``customer_id`` of the customers' assets."""
    if not customer_ids:
        return []
    marks = ", ".join("?" for _ in customer_ids)
    return tx.query(f"SELECT serial, model, equipment_type, site, site_id, customer_id FROM assets "
                    f"WHERE customer_id IN ({marks}) ORDER BY serial", list(customer_ids))


def open_jobs_of(tx: Tx, customer_id: str) -> list[Row]:
    """The jobs of the customer's open tickets (their tablets show the customer's name)."""
    return tx.query("SELECT j.* FROM jobs j JOIN tickets t ON t.id = j.ticket_id WHERE t.customer_id = ? "
                    "AND t.status NOT IN ('closed', 'cancelled') ORDER BY j.id", (customer_id,))


def ticket(tx: Tx, ticket_id: str) -> Row | None:
    return tx.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
