"""Customers as records: name, contacts, sites, assets, the ERP's reference; search; the rule tickets follow.

How a ticket (or a plan, an asset) names its customer -- :func:`resolve`:

- ``customer_id`` (preferred): that customer (404 ``unknown_customer``); a ``customer`` name sent with it must
  be the record's (409 ``customer_mismatch``: the caller is looking at another customer);
- a ``customer`` name alone: the customer with exactly that name (after trimming spaces); two or more with
  it: 409 ``customer_ambiguous`` with the ``candidates`` (send ``customer_id``); none: a new customer record
  with that name is made and linked, and the ticket's ``opened`` event says ``customer_created``.  A phone
  report or an ERP sending names is never held up at intake (the registration clock runs), the new record
  is visible as such, and a misspelt customer is corrected with ``PATCH /v1/tickets/{id}``
  ``{"customer_id": ...}``.
- the site likewise, within the customer: ``site_id`` (404 ``unknown_site`` when it is not one of the
  customer's sites), else the site of that exact name, else a new site.

A customer's name is copied onto its tickets, plans and assets (their ``customer`` column) so every list and
report keeps reading it; a rename rewrites those copies and sends the open jobs to their tablets again.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Any, NamedTuple

import msgspec

from server.domain.conditional import etag, matches
from server.domain.customers import store
from server.domain.records import dumps, job_record, loads
from server.errors import BadRequest, Conflict, NotFound, PreconditionFailed, PreconditionRequired
from server.feed import publish
from server.ids import new_id
from server.services import Services
from sync.core.search import customer_index_text, query_tokens
from sync.storage import Row, Tx

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Label = Annotated[str, msgspec.Meta(max_length=200)]
Ref = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Contact(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A person to call at the customer."""

    name: Name
    phone: Annotated[str, msgspec.Meta(max_length=50)] = ""
    role: Annotated[str, msgspec.Meta(max_length=100)] = ""


Contacts = Annotated[list[Contact], msgspec.Meta(max_length=50)]


class SiteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A site of the customer where equipment stands."""

    name: Name
    address: Annotated[str, msgspec.Meta(max_length=500)] = ""


class Site(msgspec.Struct, kw_only=True):
    """A site of the customer."""

    id: str
    name: str
    address: str


class CustomerAsset(msgspec.Struct, kw_only=True):
    """An asset of the customer (its record: ``GET /v1/assets/{serial}``)."""

    serial: str
    model: str
    equipment_type: str
    site: str
    site_id: str | None


class CustomerIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new customer; ``external_ref`` is the ERP's reference, unique among customers."""

    name: Name
    contacts: Contacts = []
    sites: Annotated[list[SiteIn], msgspec.Meta(max_length=200)] = []
    external_ref: Ref | None = None


class CustomerPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Changes to a customer (a JSON merge patch; ``contacts`` replaces the list; ``external_ref`` null clears)."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    contacts: Contacts | msgspec.UnsetType = msgspec.UNSET
    external_ref: Ref | None | msgspec.UnsetType = msgspec.UNSET


class Customer(msgspec.Struct, kw_only=True):
    """A customer record with its sites and assets; ``archive`` is the path of its service archive."""

    id: str
    name: str
    contacts: list[Contact]
    sites: list[Site]
    assets: list[CustomerAsset]
    external_ref: str | None
    created_at: datetime
    updated_at: datetime
    archive: str


class Page(NamedTuple):
    """One page of customers and the cursor of the next (None: no more)."""

    customers: list[Customer]
    cursor: str | None


class Resolved(NamedTuple):
    """The customer and site a ticket points at, and whether this request made them."""

    customer_id: str
    customer: str
    site_id: str | None
    site: str
    customer_created: bool
    site_created: bool


def _instant(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _contacts(row: Row) -> list[Contact]:
    return [msgspec.convert(c, Contact) for c in loads(row["contacts"], [])]


def _records(tx: Tx, rows: list[Row]) -> list[Customer]:
    ids = [r["id"] for r in rows]
    sites: dict[str, list[Site]] = {i: [] for i in ids}
    for s in store.sites_of(tx, ids):
        sites[s["customer_id"]].append(Site(id=s["id"], name=s["name"], address=s["address"]))
    assets: dict[str, list[CustomerAsset]] = {i: [] for i in ids}
    for a in store.assets_of(tx, ids):
        assets[a["customer_id"]].append(CustomerAsset(serial=a["serial"], model=a["model"],
                                                      equipment_type=a["equipment_type"], site=a["site"],
                                                      site_id=a["site_id"]))
    return [Customer(id=r["id"], name=r["name"], contacts=_contacts(r), sites=sites[r["id"]],
                     assets=assets[r["id"]], external_ref=r["external_ref"], created_at=_instant(r["created_at"]),
                     updated_at=_instant(r["updated_at"]), archive=f"/v1/customers/{r['id']}/archive")
            for r in rows]


def _search_text(name: str, external_ref: str | None, contacts: list[Contact]) -> str:
    return customer_index_text(name, external_ref, [c.name for c in contacts])


def _refuse_taken_ref(tx: Tx, external_ref: str | None, own_id: str | None = None) -> None:
    if external_ref is None:
        return
    known = store.by_external_ref(tx, external_ref)
    if known is not None and known["id"] != own_id:
        raise Conflict("customer_ref_exists", f"customer {known['id']!r} already has external_ref {external_ref!r}",
                       customer_id=known["id"])


def insert(tx: Tx, name: str, by: str, now: int, contacts: list[Contact] | None = None,
           external_ref: str | None = None) -> str:
    """A new customer record in ``tx``; its id."""
    contacts = contacts or []
    _refuse_taken_ref(tx, external_ref)
    cid = new_id("C-")
    if not store.insert_customer(tx, cid, name.strip(), dumps(msgspec.to_builtins(contacts)), external_ref,
                                 _search_text(name.strip(), external_ref, contacts), by, now):
        raise Conflict("customer_ref_exists", f"a customer already has external_ref {external_ref!r}")
    return cid


def add_site(tx: Tx, customer_id: str, name: str, address: str = "") -> str:
    sid = new_id("S-")
    store.insert_site(tx, sid, customer_id, name.strip(), address)
    return sid


def _refuse_blank(*names: str) -> None:
    if any(not n.strip() for n in names):
        raise BadRequest("blank_name", "a customer's or site's name cannot be only spaces")


def create_customer(services: Services, data: CustomerIn, by: str) -> Customer:
    _refuse_blank(data.name, *(s.name for s in data.sites))
    now = services.clock()
    names = [s.name.strip() for s in data.sites]
    if len(set(names)) != len(names):
        raise BadRequest("duplicate_site", "two sites of one customer have the same name")
    with services.db.write() as tx:
        cid = insert(tx, data.name, by, now, data.contacts, data.external_ref)
        for s in data.sites:
            add_site(tx, cid, s.name, s.address)
        return _one(tx, cid)


def _one(tx: Tx, customer_id: str) -> Customer:
    row = store.customer(tx, customer_id)
    if row is None:
        raise NotFound("unknown_customer", f"no customer {customer_id!r}")
    return _records(tx, [row])[0]


def get_customer(services: Services, customer_id: str) -> tuple[Customer, str]:
    """The customer and its ETag."""
    with services.db.read() as tx:
        row = store.customer(tx, customer_id)
        if row is None:
            raise NotFound("unknown_customer", f"no customer {customer_id!r}")
        return _records(tx, [row])[0], etag(row)


def _encode_cursor(name: str, cid: str) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([name, cid])).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        name, cid = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)),
                                        type=tuple[str, str])
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise BadRequest("bad_cursor", "cursor is not one this server issued") from None
    return name, cid


def list_customers(services: Services, q: str | None, external_ref: str | None, cursor: str | None,
                   limit: int) -> Page:
    """Customers by name, holding every word of ``q`` (Chinese found inside names); a cursor when more follow."""
    tokens = query_tokens(q or "")
    if q and q.strip() and not tokens:
        return Page([], None)  # only punctuation: nothing can hold it
    after = _decode_cursor(cursor) if cursor else None
    with services.db.read() as tx:
        rows = store.search(tx, tokens, external_ref, after, limit + 1)
        page = _records(tx, rows[:limit])
    more = len(rows) > limit
    return Page(page, _encode_cursor(page[-1].name, page[-1].id) if more and page else None)


def patch_customer(services: Services, customer_id: str, patch: CustomerPatch, if_match: str | None,
                   by: str) -> tuple[Customer, str]:
    """Change the record if it is still the version ``if_match`` names; a new name reaches its tickets."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired("precondition_required",
                                   "send If-Match with the ETag of the customer as you last read it")
    now = services.clock()
    with services.db.write() as tx:
        row = store.customer(tx, customer_id, lock=True)
        if row is None:
            raise NotFound("unknown_customer", f"no customer {customer_id!r}")
        if not matches(if_match, etag(row)):
            raise PreconditionFailed("precondition_failed",
                                     "the customer changed since you read it (its ETag is not current); read it again")
        if not isinstance(patch.name, msgspec.UnsetType):
            _refuse_blank(patch.name)
        name = row["name"] if isinstance(patch.name, msgspec.UnsetType) else patch.name.strip()
        contacts = _contacts(row) if isinstance(patch.contacts, msgspec.UnsetType) else patch.contacts
        ref = row["external_ref"] if isinstance(patch.external_ref, msgspec.UnsetType) else patch.external_ref
        _refuse_taken_ref(tx, ref, customer_id)
        store.update_customer(tx, customer_id, name, dumps(msgspec.to_builtins(contacts)), ref,
                              _search_text(name, ref, contacts), now)
        if name != row["name"]:
            store.rename_linked(tx, customer_id, name)
            _republish(tx, customer_id)
        fresh = store.customer(tx, customer_id)
        assert fresh is not None
        return _records(tx, [fresh])[0], etag(fresh)


def _republish(tx: Tx, customer_id: str) -> None:
    """The open jobs of the customer to their tablets again (their ticket summary names the customer)."""
    records = []
    for job in store.open_jobs_of(tx, customer_id):
        ticket = store.ticket(tx, job["ticket_id"])
        assert ticket is not None
        records.append(job_record(job, ticket, tx))
    if records:
        publish(tx, records)


def create_site(services: Services, customer_id: str, data: SiteIn) -> Customer:
    _refuse_blank(data.name)
    with services.db.write() as tx:
        if store.customer(tx, customer_id, lock=True) is None:
            raise NotFound("unknown_customer", f"no customer {customer_id!r}")
        if store.site_by_name(tx, customer_id, data.name.strip()) is not None:
            raise Conflict("site_exists", f"customer {customer_id!r} already has a site {data.name.strip()!r}")
        add_site(tx, customer_id, data.name, data.address)
        store.touch(tx, customer_id, services.clock())
        return _one(tx, customer_id)


def _candidates(rows: list[Row]) -> list[dict[str, Any]]:
    return [{"id": r["id"], "name": r["name"], "external_ref": r["external_ref"]} for r in rows]


def resolve(tx: Tx, customer_id: str | None, name: str, site_id: str | None, site: str, by: str,
            now: int) -> Resolved:
    """The customer and site a ticket, plan or asset points at, by the rule in this module's docstring."""
    created = site_created = False
    name = name.strip()
    if customer_id is not None:
        row = store.customer(tx, customer_id)
        if row is None:
            raise NotFound("unknown_customer", f"no customer {customer_id!r}")
        if name and name != row["name"]:
            raise Conflict("customer_mismatch", f"customer {customer_id!r} is {row['name']!r}, not {name!r}",
                           customer_id=customer_id, name=row["name"])
    elif not name:
        raise BadRequest("customer_required", "name the customer: customer_id, or customer (its exact name)")
    else:
        store.lock_name(tx, name)
        rows = store.by_name(tx, name)
        if len(rows) > 1:
            raise Conflict("customer_ambiguous", f"{len(rows)} customers are named {name!r}: send customer_id",
                           candidates=_candidates(rows))
        if rows:
            row = rows[0]
        else:
            row = store.customer(tx, insert(tx, name, by, now))
            assert row is not None
            created = True
    cid = str(row["id"])
    site = site.strip()
    if site_id is not None:
        srow = store.site(tx, site_id)
        if srow is None or srow["customer_id"] != cid:
            raise NotFound("unknown_site", f"customer {cid!r} has no site {site_id!r}")
        if site and site != srow["name"]:
            raise Conflict("site_mismatch", f"site {site_id!r} is {srow['name']!r}, not {site!r}",
                           site_id=site_id, name=srow["name"])
        return Resolved(cid, row["name"], site_id, srow["name"], created, False)
    if not site:
        return Resolved(cid, row["name"], None, "", created, False)
    store.lock_name(tx, cid, site)
    srow = store.site_by_name(tx, cid, site)
    if srow is None:
        sid = add_site(tx, cid, site)
        site_created = True
    else:
        sid = srow["id"]
    return Resolved(cid, row["name"], sid, site, created, site_created)


def resolve_archive(services: Services, key: str) -> tuple[str, bool]:
    """(customer id, True when ``key`` was a customer's exact name and not an id); 404 ``unknown_customer``."""
    with services.db.read() as tx:
        if store.customer(tx, key) is not None:
            return key, False
        rows = store.by_name(tx, key)
    if len(rows) == 1:
        return str(rows[0]["id"]), True
    if len(rows) > 1:
        raise Conflict("customer_ambiguous", f"{len(rows)} customers are named {key!r}: use the id",
                       candidates=_candidates(rows))
    raise NotFound("unknown_customer", f"no customer with id or name {key!r}")
