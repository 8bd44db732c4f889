"""Assets and warranty, van stock per engineer, old-part tracking and warranty claims.

Stock is never stored: it is derived from the append-only ``movements`` ledger.
A van's *good* stock leaves out defective old parts taken back from customers
(``return_old`` movements and every later movement of those serials), which are
listed apart until they reach a ``returns`` location.  Whether a consumed part
is billable is decided once, when the consumption is recorded
(:func:`warranty_at`): free under the asset's warranty (and a warranty claim is
opened, approved only once the old part is back), billable otherwise.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.instant import Instant, InstantIn, epoch_ms_or_none
from server.domain.customers.service import resolve as resolve_customer
from server.domain.parts import store
from server.domain.parts.store import OLD_SERIALS as OLD_SERIALS  # re-exported: reconciliation counts stock with it
from server.domain.webhooks.service import claim_opened, emit
from server.errors import BadRequest, Conflict, NotFound
from server.ids import new_id
from server.services import Services
from sync.storage import Row, Tx

ClaimStatus = Literal["open", "approved", "rejected"]
Serial = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:/-]+$")]
Label = Annotated[str, msgspec.Meta(max_length=200)]


class AssetIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Register an installed asset (a boiler, a chiller) by its serial number."""

    serial: Serial
    model: Label = ""
    equipment_type: Label = ""
    customer: Label = ""
    site: Label = ""
    installed_at: InstantIn | None = None
    warranty_until: InstantIn | None = None
    contract_until: InstantIn | None = None
    #: the customer record and its site (preferred to the names ``customer`` and ``site``)
    customer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    site_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class Asset(msgspec.Struct, kw_only=True):
    """An installed asset; ``under_warranty`` is evaluated at the time of the request."""

    serial: str
    model: str
    equipment_type: str
    customer: str
    site: str
    installed_at: Instant | None
    warranty_until: Instant | None
    contract_until: Instant | None
    created_at: Instant
    under_warranty: bool
    customer_id: str | None = None
    site_id: str | None = None


class StockLine(msgspec.Struct, kw_only=True):
    """Good stock of one part in a van."""

    part_no: str
    qty: int


class SerialLine(msgspec.Struct, kw_only=True):
    """One serial number held at a location (``job_id``: where an old part came from)."""

    part_no: str
    serial: str
    job_id: str | None = None


class VanStock(msgspec.Struct, kw_only=True):
    """What an engineer's van holds according to the ledger."""

    engineer_id: str
    location: str
    parts: list[StockLine]
    serials: list[SerialLine]
    old_parts: list[SerialLine]


class WarrantyClaim(msgspec.Struct, kw_only=True):
    """A part used under warranty; approvable once the old part is at a returns location."""

    id: str
    movement_id: str
    job_id: str
    part_no: str
    serial: str | None
    returned_serial: str | None
    status: str
    created_at: Instant
    decided_at: Instant | None
    decided_by: str | None
    comment: str | None
    old_part_location: str | None
    old_part_returned: bool
    #: units used under the claim, and (a part without serials) the old units back at a returns location
    qty: int = 1
    returned_qty: int = 0
    by_quantity: bool = False


class ReturnIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Old parts of a claim (a part without serials) received at a returns location, by quantity."""

    qty: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    #: where they come from (an engineer's van); none: straight from the site
    from_location: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    #: the returns location (default: the first one)
    to_location: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class DecideIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Approve or reject a warranty claim, with an optional comment."""

    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""


# -- assets and warranty ---------------------------------------------------

def _asset(row: Row, now: int) -> Asset:
    until = row["warranty_until"]
    return Asset(serial=row["serial"], model=row["model"], equipment_type=row["equipment_type"],
                 customer=row["customer"], site=row["site"], installed_at=row["installed_at"],
                 warranty_until=until, contract_until=row["contract_until"], created_at=row["created_at"],
                 under_warranty=until is not None and now <= until, customer_id=row["customer_id"],
                 site_id=row["site_id"])


def create_asset(services: Services, data: AssetIn) -> Asset:
    installed, warranty = epoch_ms_or_none(data.installed_at), epoch_ms_or_none(data.warranty_until)
    contract = epoch_ms_or_none(data.contract_until)
    if installed is not None and warranty is not None and warranty < installed:
        raise BadRequest("bad_warranty", "warranty_until is before installed_at")
    now = services.clock()
    with services.db.write() as tx:
        if store.asset_exists(tx, data.serial):
            raise Conflict("asset_exists", f"asset {data.serial!r} already exists")
        customer, site, customer_id, site_id = data.customer, data.site, None, None
        if data.customer_id is not None or data.customer.strip():  # an asset may be registered before it is sold
            who = resolve_customer(tx, data.customer_id, data.customer, data.site_id, data.site, "assets", now)
            customer, site, customer_id, site_id = who.customer, who.site, who.customer_id, who.site_id
        store.insert_asset(tx, data.serial, data.model, data.equipment_type, customer, site,
                           installed, warranty, contract, now, customer_id, site_id)
    return get_asset(services, data.serial)


def get_asset(services: Services, serial: str) -> Asset:
    with services.db.read() as tx:
        row = store.asset(tx, serial)
    if row is None:
        raise NotFound("unknown_asset", f"no asset {serial!r}")
    return _asset(row, services.clock())


def list_assets(services: Services, customer: str | None = None, limit: int = 200, offset: int = 0) -> list[Asset]:
    with services.db.read() as tx:
        rows = store.assets(tx, customer, limit, offset)
    now = services.clock()
    return [_asset(r, now) for r in rows]


def asset_warranty(tx: Tx, ticket_id: str) -> tuple[bool, int | None]:
    """(does the ticket name a known asset, the end of its warranty or None)."""
    row = store.ticket_asset_warranty(tx, ticket_id)
    if row is None:
        return (False, None)
    return (True, None if row["warranty_until"] is None else int(row["warranty_until"]))


def under_warranty(asset: tuple[bool, int | None], at: int) -> bool | None:
    """Is a part used at ``at`` covered by ``asset_warranty``?  None when there is no known asset."""
    known, until = asset
    if not known:
        return None
    return until is not None and at <= until


def warranty_at(tx: Tx, ticket_id: str, at: int) -> bool | None:
    """Is the ticket's asset under warranty at ``at``?  None when the ticket names no known asset."""
    return under_warranty(asset_warranty(tx, ticket_id), at)


def open_claim(tx: Tx, movement_id: str, job_id: str, part_no: str, serial: str | None,
               returned_serial: str | None, now: int) -> str:
    """Open the warranty claim of one consumption (idempotent by movement)."""
    cid = f"W-{movement_id}"
    if store.insert_claim(tx, cid, movement_id, job_id, part_no, serial, returned_serial, now):
        claim_opened(tx, cid, job_id, part_no, serial, returned_serial, now)
    return cid


# -- where serials are -----------------------------------------------------

def serial_location(tx: Tx, part_no: str, serial: str) -> str | None:
    """Where a serial is now: the location the ledger nets it at (None when consumed or unknown).

    Netting in and out per location, not taking the "last" movement, so two
    movements recorded in the same millisecond cannot be read in the wrong order.
    """
    return store.serial_location(tx, part_no, serial)


def is_at_returns(tx: Tx, location: str | None) -> bool:
    if location is None:
        return False
    return store.location_kind(tx, location) == "returns"


def good_stock(tx: Tx, location: str) -> dict[str, int]:
    """Good stock per part at ``location`` (old parts left out), parts with any movement there."""
    return store.good_stock(tx, location)


def van_stock(services: Services, engineer_id: str) -> VanStock:
    with services.db.read() as tx:
        eng = store.van_location(tx, engineer_id)
        if eng is None:
            raise NotFound("unknown_engineer", f"no engineer {engineer_id!r}")
        van = eng["van_location"] or f"van-{engineer_id}"
        parts = good_stock(tx, van)
        held = store.good_serials(tx, van)
        old = store.old_parts_taken_to(tx, van)
        old_here = [SerialLine(part_no=r["part_no"], serial=r["serial"], job_id=r["job_id"]) for r in old
                    if serial_location(tx, r["part_no"], r["serial"]) == van]
    return VanStock(engineer_id=engineer_id, location=van,
                    parts=[StockLine(part_no=p, qty=q) for p, q in parts.items()],
                    serials=[SerialLine(part_no=r["part_no"], serial=r["serial"]) for r in held if int(r["q"]) > 0],
                    old_parts=old_here)


# -- warranty claims -------------------------------------------------------

def by_quantity(tx: Tx, row: Row) -> bool:
    """Whether a claim's old part comes back by quantity: no serial was recorded and the part has none."""
    return not row["returned_serial"] and not store.is_serialized(tx, row["part_no"])


def old_part_back(tx: Tx, row: Row) -> tuple[bool, str | None, int, int]:
    """(is the claim's old part back at a returns location, where its serial is, units used, units back)."""
    qty = store.consumed_qty(tx, row["movement_id"])
    if by_quantity(tx, row):
        back = store.returned_qty(tx, row["id"])
        return back >= qty, None, qty, back
    loc = serial_location(tx, row["part_no"], row["returned_serial"]) if row["returned_serial"] else None
    returned = is_at_returns(tx, loc)
    return returned, loc, qty, qty if returned else 0


def _claim(tx: Tx, row: Row) -> WarrantyClaim:
    returned, loc, qty, back = old_part_back(tx, row)
    return WarrantyClaim(id=row["id"], movement_id=row["movement_id"], job_id=row["job_id"], part_no=row["part_no"],
                         serial=row["serial"], returned_serial=row["returned_serial"], status=row["status"],
                         created_at=row["created_at"], decided_at=row["decided_at"], decided_by=row["decided_by"],
                         comment=row["comment"], old_part_location=loc, old_part_returned=returned, qty=qty,
                         returned_qty=back, by_quantity=by_quantity(tx, row))


def list_claims(services: Services, status: str | None = None, job_id: str | None = None,
                limit: int = 200) -> list[WarrantyClaim]:
    if status and status not in ("open", "approved", "rejected"):
        raise BadRequest("invalid_parameter", "status is open, approved or rejected")
    with services.db.read() as tx:
        return [_claim(tx, r) for r in store.claims(tx, status, job_id, limit)]


def get_claim(services: Services, claim_id: str) -> WarrantyClaim:
    with services.db.read() as tx:
        row = store.claim(tx, claim_id)
        if row is None:
            raise NotFound("unknown_claim", f"no warranty claim {claim_id!r}")
        return _claim(tx, row)


def decide_claim(services: Services, claim_id: str, decision: ClaimStatus, by: str, comment: str) -> WarrantyClaim:
    """Approve (only once the old part is at a returns location) or reject an open claim."""
    now = services.clock()
    with services.db.write() as tx:
        row = store.claim(tx, claim_id, lock=True)
        if row is None:
            raise NotFound("unknown_claim", f"no warranty claim {claim_id!r}")
        if row["status"] != "open":
            raise Conflict("claim_decided", f"this claim is already {row['status']}")
        if decision == "approved" and by_quantity(tx, row):
            returned, _, qty, back = old_part_back(tx, row)
            if not returned:
                raise Conflict("old_part_not_returned", f"{back} of {qty} old part(s) are back at returns",
                               returned_qty=back, qty=qty)
        elif decision == "approved":
            if not row["returned_serial"]:
                raise Conflict("old_part_not_returned", "no old part serial was recorded for this claim")
            loc = serial_location(tx, row["part_no"], row["returned_serial"])
            if not is_at_returns(tx, loc):
                raise Conflict("old_part_not_returned",
                               f"old part {row['returned_serial']} is at {loc or 'no known location'}, "
                               "not at a returns location", location=loc)
        store.decide_claim(tx, claim_id, decision, by, comment, now)
        emit(tx, f"{claim_id}-decided", "warranty_claim_decided",
             {"claim_id": claim_id, "job_id": row["job_id"], "part_no": row["part_no"], "status": decision,
              "comment": comment, "by": by}, now)
        fresh = store.claim(tx, claim_id)
        assert fresh is not None
        return _claim(tx, fresh)


def return_by_quantity(services: Services, claim_id: str, data: ReturnIn, by: str) -> WarrantyClaim:
    """Book old parts of an open claim (a part without serials) at a returns location; partial returns add up.

    409 ``claim_decided`` once decided, ``claim_by_serial`` for a claim whose old part has a serial,
    ``return_exceeds_claim`` beyond the units still outstanding; nothing is written then.
    """
    now = services.clock()
    with services.db.write() as tx:
        row = store.claim(tx, claim_id, lock=True)
        if row is None:
            raise NotFound("unknown_claim", f"no warranty claim {claim_id!r}")
        if row["status"] != "open":
            raise Conflict("claim_decided", f"this claim is already {row['status']}")
        if not by_quantity(tx, row):
            raise Conflict("claim_by_serial", "this claim's old part is tracked by its serial: move that serial "
                                              "to a returns location")
        _, _, qty, back = old_part_back(tx, row)
        if data.qty > qty - back:
            raise Conflict("return_exceeds_claim", f"{qty - back} old part(s) are outstanding on this claim, "
                                                   f"not {data.qty}", qty=qty, returned_qty=back)
        to = data.to_location or store.first_returns_location(tx)
        if to is None or store.location_kind(tx, to) != "returns":
            raise BadRequest("not_a_returns_location", f"{to or 'no location'} is not a returns location")
        if data.from_location is not None and store.location_kind(tx, data.from_location) is None:
            raise NotFound("unknown_location", f"no stock location {data.from_location!r}")
        store.insert_claim_return(tx, new_id("M-"), claim_id, row["job_id"], row["part_no"], data.qty,
                                  data.from_location, to, now)
        emit(tx, new_id("E-"), "warranty_old_parts_returned",
             {"claim_id": claim_id, "job_id": row["job_id"], "part_no": row["part_no"], "qty": data.qty,
              "returned_qty": back + data.qty, "claim_qty": qty, "by": by}, now)
        fresh = store.claim(tx, claim_id)
        assert fresh is not None
        return _claim(tx, fresh)
