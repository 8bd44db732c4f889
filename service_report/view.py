"""What a report shows besides the signed content: names, labels, prices, photos, the timeline.

The customer's signature confirms :class:`~schemas.signoff.ReportContent` (keys,
part numbers, hashes, ids).  A customer reads a document: the company's header,
checklist labels with units, part descriptions and prices, the engineer's name,
the photos themselves, the order of events, labour and travel time.  Those come
from whoever renders the report (the tablet from its local copy, the server from
its database) as a :class:`ReportView`; the PDF's seal covers them, the
customer's signature does not, and nothing here changes what is digested.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CompanyHeader:
    """The service company printed at the top of every page one (from configuration)."""

    name: str = ""
    address: str = ""
    phone: str = ""
    logo: bytes = b""  # PNG or JPEG bytes; empty: no logo


@dataclass(frozen=True, slots=True)
class PartInfo:
    """A catalog part as a customer reads it."""

    description: str = ""
    unit_price_cents: int = 0


@dataclass(slots=True)
class ReportView:
    """Everything a report prints that the signature does not cover; every field may be left empty."""

    locale: str = "en"
    company: CompanyHeader = field(default_factory=CompanyHeader)
    #: ticket facts in print order: customer, site, title, asset (those known)
    customer: str = ""
    site: str = ""
    title: str = ""
    asset_serial: str = ""
    engineer_name: str = ""
    template_name: str = ""
    #: checklist item key -> label (and unit, when the template gives one)
    item_labels: dict[str, str] = field(default_factory=dict)
    item_units: dict[str, str] = field(default_factory=dict)
    parts: dict[str, PartInfo] = field(default_factory=dict)
    #: parts line (op id) -> True billable, False under warranty; absent: not decided
    billable: dict[str, bool] = field(default_factory=dict)
    currency: str = ""
    #: (status, epoch ms) of the job's status changes; printed oldest first
    timeline: list[tuple[str, int]] = field(default_factory=list)
    #: photo hash -> image bytes (those at hand)
    photos: dict[str, bytes] = field(default_factory=dict)
    #: the page that shows this report's signed content and whether it still matches (printed as a QR code)
    verify_url: str = ""
    #: IANA zone the report's times are printed in
    timezone: str = "UTC"


#: statuses whose time counts as travel, and as labour, until the next status change
TRAVEL_STATUSES = frozenset({"en_route"})
LABOUR_STATUSES = frozenset({"on_site", "in_progress"})


def work_minutes(timeline: list[tuple[str, int]]) -> tuple[int, int]:
    """(travel, labour) minutes from a status timeline: time spent in each kind of status, in order.

    Time in ``en_route`` is travel; time in ``on_site`` or ``in_progress`` is labour; a hold stops both.
    The clock stops at the last status change (a job not yet completed counts what is known).
    """
    events = sorted(timeline, key=lambda e: e[1])
    travel = labour = 0
    for (status, start), (_, end) in zip(events, events[1:], strict=False):
        span = max(0, end - start)
        if status in TRAVEL_STATUSES:
            travel += span
        elif status in LABOUR_STATUSES:
            labour += span
    return round(travel / 60_000), round(labour / 60_000)
