"""The console's Parts desk: the parts catalog, stock per warehouse and van, the movement ledger, transfers,
and warranty claims with their old parts.

Everything goes through the services the API uses (``server.domain.catalog``
for parts, locations, the ledger and stock; ``server.domain.parts`` for
warranty claims), with the API's roles: any staff member reads, the back
office (and admin) keeps the catalog and the locations, records movements
(transfers, count corrections, old parts' arrival) and decides claims.  Stock is what the
ledger nets at a location, as ``GET /v1/stock`` says.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any, Final

from babel.numbers import format_decimal
from litestar import Request, Response, get, post

from schemas.domain import MovementIn, PartIn, StockLocationIn
from server.console import desks
from server.console.desks import fchoice, fid, fint, ftext
from server.console.i18n import Lang
from server.console.views import ID_RE, bad_filter
from server.domain.catalog import service as catalog
from server.domain.parts import service as parts
from server.errors import BadRequest, NotFound
from server.services import Services

ACT_ROLE: Final = "backoffice"
CLAIM_STATUSES: Final = ("open", "approved", "rejected", "all")
LOCATION_KINDS: Final = ("warehouse", "van", "returns", "customer")
MOVEMENT_KINDS: Final = ("issue", "transfer", "adjust", "consume", "return_old")


def _q(request: Request[Any, Any, Any], name: str, default: str = "") -> str:
    return (request.query_params.get(name) or default).strip()[:200]


def _page(request: Request[Any, Any, Any]) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 7 else 1


def price(cents: int, lang: Lang, currency: str) -> str:
    """A catalog price (cents) with two decimals the locale's way, after the configured currency sign."""
    return currency + format_decimal(Decimal(cents) / 100, format="#,##0.00", locale=lang.locale)


def _locations(services: Services, lang: Lang) -> dict[str, dict[str, Any]]:
    """Every stock location by id, each with the name the page shows (a van by its engineer's name)."""
    engineers = {e.id: e.name for e in catalog.list_engineers(services)}
    out = {}
    for loc in catalog.list_locations(services):
        shown = lang.t("parts.van_of", name=engineers[loc.engineer_id]) if loc.kind == "van" and \
            loc.engineer_id in engineers else loc.name
        out[loc.id] = {"id": loc.id, "kind": loc.kind, "kind_name": lang.t(f"parts.loc_kind.{loc.kind}"),
                       "name": shown}
    return out


# -- catalog -----------------------------------------------------------------------------------------------


def catalog_page(services: Services, request: Request[Any, Any, Any], lang: Lang) -> dict[str, Any]:
    q = _q(request, "q")
    kinds = {loc.id: loc.kind for loc in catalog.list_locations(services)}
    held: dict[str, dict[str, int]] = defaultdict(lambda: {"warehouse": 0, "van": 0})
    for s in catalog.stock_levels(services):
        kind = kinds.get(s.location)
        if kind in ("warehouse", "van"):
            held[s.part_no][kind] += s.qty
    rows = [{"part_no": p.part_no, "name": p.name, "serialized": p.serialized,
             "price": price(p.unit_price_cents, lang, services.settings.currency),
             "warehouse": lang.number(held[p.part_no]["warehouse"]), "van": lang.number(held[p.part_no]["van"])}
            for p in catalog.list_parts(services) if desks.matches(q, p.part_no, p.name)]
    shown, pager = desks.paginate(request, rows, _page(request), lang)
    return {"rows": shown, "pager": pager, "q": q, "tab": "catalog"}


def save_part(services: Services, form: dict[str, str], session: Any, lang: Lang) -> tuple[str, str]:
    """Add a part to the catalog or change one (``POST /v1/parts``); the price is typed in currency units."""
    raw = (form.get("price") or "0").strip().replace(",", ".")
    try:
        cents = int((Decimal(raw) * 100).to_integral_value())
    except ArithmeticError:
        raise desks.invalid(lang, "parts.bad_price", "price") from None
    if not 0 <= cents <= 10**11:
        raise desks.invalid(lang, "parts.bad_price", "price")
    data = PartIn(part_no=fid(lang, form, "part_no"), name=ftext(lang, form, "part_name", required=True),
                  serialized=bool(form.get("serialized")), unit_price_cents=cents)
    catalog.upsert_part(services, data)
    return "/parts", "parts_part_saved"


# -- stock -------------------------------------------------------------------------------------------------


def stock_page(services: Services, request: Request[Any, Any, Any], lang: Lang) -> dict[str, Any]:
    q, kind, chosen = _q(request, "q"), _q(request, "kind"), _q(request, "location")
    if kind and kind not in LOCATION_KINDS:
        raise bad_filter(lang, "kind", LOCATION_KINDS)
    locations = _locations(services, lang)
    levels = catalog.stock_levels(services)
    totals: dict[str, int] = defaultdict(int)
    for s in levels:
        totals[s.location] += s.qty
    rows = [{**loc, "total": lang.number(totals[loc_id])} for loc_id, loc in locations.items()
            if (not kind or loc["kind"] == kind) and desks.matches(q, loc_id, loc["name"])]
    shown, pager = desks.paginate(request, rows, _page(request), lang)
    if chosen and chosen not in locations:
        raise NotFound("unknown_location", f"no stock location {chosen[:64]!r}")
    chosen = chosen or next((r["id"] for r in rows), "")
    names = {p.part_no: p.name for p in catalog.list_parts(services)}
    here = [s for s in levels if s.location == chosen and s.qty != 0]
    chart = desks.bar_chart([(f"{s.part_no} · {names.get(s.part_no, '')}", s.qty) for s in here], lang,
                            lang.t("parts.stock_chart", place=locations[chosen]["name"]) if chosen else "")
    return {"rows": shown, "pager": pager, "q": q, "kind": kind, "kinds": LOCATION_KINDS, "tab": "stock",
            "chosen": locations.get(chosen), "chart": chart,
            "lines": [{"part_no": s.part_no, "name": names.get(s.part_no, ""), "qty": lang.number(s.qty),
                       "neg": s.qty < 0} for s in here]}


def add_location(services: Services, form: dict[str, str], session: Any, lang: Lang) -> tuple[str, str]:
    """A new warehouse or returns point (``POST /v1/locations``; vans come with their engineer)."""
    kind = fchoice(lang, form, "kind", {k: lang.t(f"parts.loc_kind.{k}") for k in ("warehouse", "returns")})
    catalog.create_location(services, StockLocationIn(id=fid(lang, form, "location_id"), kind=kind,  # type: ignore[arg-type]
                                                      name=ftext(lang, form, "location_name", required=True)))
    return "/parts/stock", "parts_location_added"


def adjust(services: Services, form: dict[str, str], session: Any, lang: Lang) -> tuple[str, str]:
    """A count correction at one location (``adjust`` in the ledger): what was counted minus what the ledger says."""
    location = fid(lang, form, "location")
    delta = fint(lang, form, "delta", low=-100_000, high=100_000) or 0
    if delta == 0:
        raise desks.invalid(lang, "parts.zero_delta", "delta")
    serial = ftext(lang, form, "serial", max_len=100) or None
    catalog.record_movement(services, MovementIn(kind="adjust", part_no=fid(lang, form, "part_no"), qty=delta,
                                                 serial=serial, to_location=location))
    return "/parts/transfers", "parts_adjusted"


# -- the ledger --------------------------------------------------------------------------------------------


def _movement_rows(services: Services, lang: Lang, locations: dict[str, dict[str, Any]], part: str = "",
                   location: str = "", start: int | None = None, end: int | None = None,
                   kind: str = "") -> list[dict[str, Any]]:
    moves = catalog.list_movements(services, location or None, part or None)
    out = []
    for m in reversed(moves):  # newest first
        if (start is not None and m.at < start) or (end is not None and m.at >= end) or (kind and m.kind != kind):
            continue
        out.append({"id": m.id, "kind": m.kind, "kind_name": lang.name("movement", m.kind), "part_no": m.part_no,
                    "qty": lang.number(m.qty), "serial": m.serial or "", "job_id": m.job_id or "",
                    "from": locations.get(m.from_location or "", {}).get("name", m.from_location or "—"),
                    "to": locations.get(m.to_location or "", {}).get("name", m.to_location or "—"),
                    "when": lang.when(m.at),
                    "billable": "" if m.billable is None else lang.t(f"parts.billable.{str(m.billable).lower()}")})
    return out


def ledger_page(services: Services, request: Request[Any, Any, Any], lang: Lang) -> dict[str, Any]:
    part, location, kind, q = _q(request, "part"), _q(request, "location"), _q(request, "kind"), _q(request, "q")
    day_from, day_to = _q(request, "from"), _q(request, "to")
    tz = services.settings.sla_timezone
    if part and not ID_RE.match(part):
        raise bad_filter(lang, "part", ())
    if kind and kind not in MOVEMENT_KINDS:
        raise bad_filter(lang, "kind", MOVEMENT_KINDS)
    locations = _locations(services, lang)
    if location and location not in locations:
        raise bad_filter(lang, "location", sorted(locations))
    rows = _movement_rows(services, lang, locations, part, location, desks.day_bounds(day_from, lang, "from", tz),
                          desks.day_bounds(day_to, lang, "to", tz, end=True), kind)
    rows = [r for r in rows if desks.matches(q, r["id"], r["serial"], r["job_id"])]
    shown, pager = desks.paginate(request, rows, _page(request), lang)
    return {"rows": shown, "pager": pager, "tab": "ledger", "locations": list(locations.values()),
            "parts": catalog.list_parts(services), "kinds": MOVEMENT_KINDS,
            "filters": {"part": part, "location": location, "from": day_from, "to": day_to, "kind": kind, "q": q}}


# -- transfers ---------------------------------------------------------------------------------------------


def transfers_page(services: Services, request: Request[Any, Any, Any], lang: Lang) -> dict[str, Any]:
    locations = _locations(services, lang)
    rows = _movement_rows(services, lang, locations, kind="transfer") + _movement_rows(
        services, lang, locations, kind="issue")
    rows.sort(key=lambda r: r["id"], reverse=True)
    shown, pager = desks.paginate(request, rows, _page(request), lang)
    return {"rows": shown, "pager": pager, "tab": "transfers", "parts": catalog.list_parts(services),
            "locations": [loc for loc in locations.values() if loc["kind"] in ("warehouse", "van", "returns")]}


def transfer(services: Services, form: dict[str, str], session: Any, lang: Lang) -> tuple[str, str]:
    """Move stock between two locations (``transfer`` in the ledger), checked as ``POST /v1/movements`` checks."""
    src, dst = fid(lang, form, "from_location"), fid(lang, form, "to_location")
    if src == dst:
        raise BadRequest("invalid_form", lang.t("parts.same_place"), field="to_location")
    part_no = fid(lang, form, "part_no")
    qty = fint(lang, form, "qty", low=1, high=100_000)
    serial = ftext(lang, form, "serial", max_len=100) or None
    catalog.record_movement(services, MovementIn(kind="transfer", part_no=part_no, qty=qty or 1, serial=serial,
                                                 from_location=src, to_location=dst))
    return "/parts/transfers", "parts_transferred"


# -- warranty claims ---------------------------------------------------------------------------------------


def warranty_page(services: Services, request: Request[Any, Any, Any], lang: Lang) -> dict[str, Any]:
    status, q = _q(request, "status", "open"), _q(request, "q")
    if status not in CLAIM_STATUSES:
        raise bad_filter(lang, "status", CLAIM_STATUSES)
    locations = _locations(services, lang)
    claims = parts.list_claims(services, None if status == "all" else status, limit=100_000)
    rows = []
    for c in sorted(claims, key=lambda c: (c.status != "open", c.old_part_returned, -c.created_at)):
        if not desks.matches(q, c.id, c.job_id, c.part_no, c.serial, c.returned_serial):
            continue
        rows.append({"id": c.id, "job_id": c.job_id, "part_no": c.part_no, "serial": c.serial or "",
                     "returned_serial": c.returned_serial or "", "status": c.status,
                     "status_name": lang.t(f"parts.claim.{c.status}"), "returned": c.old_part_returned,
                     "at": locations.get(c.old_part_location or "", {}).get("name", c.old_part_location or ""),
                     "created": lang.when(c.created_at), "decided": lang.when(c.decided_at) if c.decided_at else "",
                     "by": c.decided_by or "", "comment": c.comment or ""})
    shown, pager = desks.paginate(request, rows, _page(request), lang)
    returns = [loc for loc in locations.values() if loc["kind"] == "returns"]
    return {"rows": shown, "pager": pager, "tab": "warranty", "status": status, "q": q,
            "statuses": CLAIM_STATUSES, "returns": returns}


def old_part_arrived(services: Services, claim_id: str, form: dict[str, str], lang: Lang) -> None:
    """Book a claim's old part from where the ledger has it to a returns location (a ``return_old`` movement)."""
    claim = parts.get_claim(services, claim_id)
    if not claim.returned_serial:
        raise BadRequest("invalid_form", lang.t("parts.no_old_serial"))
    dst = fid(lang, form, "to_location")
    kinds = {loc.id: loc.kind for loc in catalog.list_locations(services)}
    if kinds.get(dst) != "returns":
        raise BadRequest("invalid_form", lang.t("parts.not_returns"), field="to_location")
    if claim.old_part_returned:
        raise BadRequest("invalid_form", lang.t("parts.already_back"))
    if not claim.old_part_location:
        raise BadRequest("invalid_form", lang.t("parts.nowhere"))
    catalog.record_movement(services, MovementIn(kind="return_old", part_no=claim.part_no, qty=1,
                                                 serial=claim.returned_serial, from_location=claim.old_part_location,
                                                 to_location=dst))


def decide(services: Services, claim_id: str, form: dict[str, str], by: str, lang: Lang) -> str:
    decision = fchoice(lang, form, "decision", {"approved": lang.t("parts.approve"),
                                                "rejected": lang.t("parts.reject")})
    comment = ftext(lang, form, "comment", max_len=2000)
    parts.decide_claim(services, claim_id, decision, by, comment)  # type: ignore[arg-type]
    return decision


# -- routes ------------------------------------------------------------------------------------------------


@get("/parts", include_in_schema=False)
async def parts_catalog(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.show(request, services, "parts_catalog.html", catalog_page)


@post("/parts", include_in_schema=False, status_code=303)
async def parts_save(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.act(request, services, "/parts", save_part, ACT_ROLE)


@post("/parts/stock", include_in_schema=False, status_code=303)
async def parts_add_location(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.act(request, services, "/parts/stock", add_location, ACT_ROLE)


@post("/parts/adjust", include_in_schema=False, status_code=303)
async def parts_adjust(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.act(request, services, "/parts/transfers", adjust, ACT_ROLE)


@get("/parts/stock", include_in_schema=False)
async def parts_stock(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.show(request, services, "parts_stock.html", stock_page)


@get("/parts/ledger", include_in_schema=False)
async def parts_ledger(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.show(request, services, "parts_ledger.html", ledger_page)


@get("/parts/transfers", include_in_schema=False)
async def parts_transfers(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.show(request, services, "parts_transfers.html", transfers_page)


@post("/parts/transfers", include_in_schema=False, status_code=303)
async def parts_transfer(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.act(request, services, "/parts/transfers", transfer, ACT_ROLE)


@get("/parts/warranty", include_in_schema=False)
async def parts_warranty(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    return await desks.show(request, services, "parts_warranty.html", warranty_page)


def _claim_id(value: str) -> str:
    if not ID_RE.match(value):
        raise NotFound("unknown_claim", f"no warranty claim {value[:64]!r}")
    return value


@post("/parts/warranty/{claim_id:str}/arrived", include_in_schema=False, status_code=303)
async def parts_old_part_arrived(request: Request[Any, Any, Any], services: Services, claim_id: str) -> Response[Any]:
    claim_id = _claim_id(claim_id)

    def do(svc: Services, form: dict[str, str], session: Any, lang: Lang) -> tuple[str, str]:
        old_part_arrived(svc, claim_id, form, lang)
        return "/parts/warranty", "parts_old_part_arrived"

    return await desks.act(request, services, "/parts/warranty", do, ACT_ROLE)


@post("/parts/warranty/{claim_id:str}/decide", include_in_schema=False, status_code=303)
async def parts_decide(request: Request[Any, Any, Any], services: Services, claim_id: str) -> Response[Any]:
    claim_id = _claim_id(claim_id)

    def do(svc: Services, form: dict[str, str], session: Any, lang: Lang) -> tuple[str, str]:
        return "/parts/warranty", f"parts_claim_{decide(svc, claim_id, form, session.staff.name, lang)}"

    return await desks.act(request, services, "/parts/warranty", do, ACT_ROLE)


ROUTES: Final = [parts_catalog, parts_save, parts_add_location, parts_adjust, parts_stock, parts_ledger,
                 parts_transfers, parts_transfer, parts_warranty, parts_old_part_arrived, parts_decide]
