"""Records of the service domain (DESIGN §3) as the back-office API shows them.

These are the shapes the HTTP API returns and accepts.  Input types
(``*In``) forbid unknown fields so a typo in a dispatcher's request is an
error, while the output types stay open for evolution.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from schemas.instant import Instant, InstantIn

Priority = Literal["P1", "P2", "P3", "complaint"]
Category = Literal["fault", "inspection", "installation", "complaint"]
#: the languages a service report is written in (``schemas/i18n/<locale>/report.json``)
ReportLocale = Literal["zh_CN", "en"]
Role = Literal["dispatcher", "backoffice", "admin"]
ItemType = Literal["pass_fail", "number", "text", "choice", "photo"]
LocationKind = Literal["warehouse", "van", "returns", "customer"]

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=10_000)]


class Engineer(msgspec.Struct, kw_only=True):
    """A field engineer; ``van_location`` is the stock location of their van."""

    id: str
    name: str
    email: str = ""
    skills: list[str] = []
    van_location: str = ""
    active: bool = True


class EngineerIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Create an engineer (a van stock location is created with them)."""

    id: Id
    name: Name
    email: Annotated[str, msgspec.Meta(max_length=200)] = ""
    skills: list[Annotated[str, msgspec.Meta(max_length=64)]] = []


class Customer(msgspec.Struct, kw_only=True):
    """A customer of the service plans."""

    id: str
    name: str
    phone: str = ""


class Site(msgspec.Struct, kw_only=True):
    """A customer site where equipment stands."""

    id: str
    customer_id: str
    name: str
    address: str = ""
    timezone: str = "UTC"


class ChecklistItem(msgspec.Struct, kw_only=True):
    """One item of a checklist template; ``key`` is stable across versions."""

    key: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    type: ItemType = "pass_fail"
    required: bool = True
    min: float | None = None
    max: float | None = None
    choices: list[str] = []


class ChecklistTemplate(msgspec.Struct, kw_only=True):
    """A published, immutable version of a checklist template."""

    id: str
    version: int
    name: str
    items: list[ChecklistItem]
    published_at: Instant = 0


class ChecklistTemplateIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Publish a new version of template ``id`` (versions count 1, 2, 3 ...)."""

    id: Id
    name: Name
    items: Annotated[list[ChecklistItem], msgspec.Meta(min_length=1, max_length=500)]


#: the reference of the system a record comes from (an ERP's number for it), unique among records of its kind
ExternalRef = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Part(msgspec.Struct, kw_only=True):
    """A catalog part; serialized parts are tracked one serial at a time."""

    part_no: str
    name: str
    serialized: bool = False
    unit_price_cents: int = 0
    #: the ERP's reference of the part, unique among parts
    external_ref: str | None = None


class PartIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Add or update a catalog part (``external_ref`` left out keeps the part's reference)."""

    part_no: Id
    name: Name
    serialized: bool = False
    unit_price_cents: Annotated[int, msgspec.Meta(ge=0)] = 0
    external_ref: ExternalRef | None = None


class StockLocation(msgspec.Struct, kw_only=True):
    """A warehouse, an engineer's van, or the returns location."""

    id: str
    kind: LocationKind
    name: str
    engineer_id: str | None = None


class StockLocationIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Create a stock location."""

    id: Id
    kind: LocationKind
    name: Name
    engineer_id: Id | None = None


class Movement(msgspec.Struct, kw_only=True):
    """One entry of the append-only parts ledger."""

    id: str
    kind: str
    part_no: str
    qty: int
    serial: str | None = None
    from_location: str | None = None
    to_location: str | None = None
    job_id: str | None = None
    device_id: str | None = None
    at: Instant = 0
    billable: bool | None = None
    #: the ERP's reference of a movement the office recorded, unique among movements
    external_ref: str | None = None


class MovementIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A back-office movement: issue to a van, transfer, or count adjustment."""

    kind: Literal["issue", "transfer", "adjust", "return_old"]
    part_no: Id
    qty: Annotated[int, msgspec.Meta(ge=-100_000, le=100_000)] = 1
    serial: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    from_location: Id | None = None
    to_location: Id | None = None
    #: the ERP's reference of this movement: a second movement with it is refused (409 ``external_ref_exists``)
    external_ref: ExternalRef | None = None


class StockLevel(msgspec.Struct, kw_only=True):
    """Derived stock of one part at one location."""

    location: str
    part_no: str
    qty: int


class SlaTarget(msgspec.Struct, kw_only=True):
    """State of one SLA target (respond, on_site, resolve, follow_up)."""

    due_at: Instant | None
    met_at: Instant | None
    state: str
    breached: bool
    paused_seconds: int
    provisional: bool = False
    elapsed_fraction: float = 0.0


class TicketEvent(msgspec.Struct, kw_only=True):
    """One entry of a ticket's timeline / SLA event log.

    ``device_time`` is the tablet's own clock, ``corrected_time`` that time
    corrected by the measured clock offset, ``received_at`` the server time,
    and ``at`` the time SLA uses.  ``time_flag`` says why a device event's
    time was not trusted (``device_clock_unknown``, ``before_ticket_opened``,
    ``after_receipt``): ``at`` is then the receipt time, and the event is
    listed for review (reconciliation kind ``implausible_event_time``).
    """

    id: str
    ticket_id: str
    kind: str
    at: Instant
    job_id: str | None = None
    device_time: Instant | None = None
    corrected_time: Instant | None = None
    received_at: Instant = 0
    source: str = "server"
    data: dict[str, Any] = {}
    time_flag: str | None = None


class Job(msgspec.Struct, kw_only=True):
    """A visit (work order) of a ticket, as the server holds it."""

    id: str
    ticket_id: str
    engineer_id: str
    status: str = "assigned"
    hold_reason: str | None = None
    scheduled_start: Instant | None = None
    scheduled_end: Instant | None = None
    remote: bool = False
    notes: str = ""
    diagnosis: str = ""
    resolution: str = ""
    template_id: str | None = None
    template_version: int | None = None
    created_at: Instant = 0
    updated_at: Instant = 0
    signed_off: bool = False
    changed_after_signoff: bool = False


class JobIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Create a job on a ticket, pinning the current template version."""

    engineer_id: Id
    checklist_template: Id | None = None
    scheduled_start: InstantIn | None = None
    scheduled_end: InstantIn | None = None
    remote: bool = False
    notes: Text = ""
    override: bool = False  # admin only: dispatch an engineer not certified for the asset's equipment type
    override_reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class AssignIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Reassign a job to another engineer."""

    engineer_id: Id
    override: bool = False  # admin only, with a reason: see JobIn
    override_reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class Ticket(msgspec.Struct, kw_only=True):
    """A customer's service request with its jobs, timeline and SLA clocks."""

    id: str
    customer: str
    site: str
    priority: str
    category: str
    title: str = ""
    description: str = ""
    asset_serial: str | None = None
    status: str = "open"
    opened_at: Instant = 0
    created_by: str = ""
    #: the locale its service report is written in; None: the server's default (FIELDSYNC_LOCALE)
    report_locale: str | None = None
    #: the reference of the system it came from (an ERP's order number), unique among tickets
    external_ref: str | None = None
    jobs: list[Job] = []
    timeline: list[TicketEvent] = []
    sla: dict[str, SlaTarget] = {}
    #: the customer record (``GET /v1/customers/{id}``) and its site; ``customer`` and ``site`` are their names
    customer_id: str | None = None
    site_id: str | None = None


class TicketIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Open a ticket for a customer: ``customer_id`` (preferred), or ``customer``, its exact name.

    A name matching no customer makes a new customer record; one matching several is refused (409
    ``customer_ambiguous`` with the candidates).  The site likewise: ``site_id`` or ``site`` (a name).
    """

    customer: Name | None = None
    site: Name | None = None
    priority: Priority
    category: Category = "fault"
    title: Annotated[str, msgspec.Meta(max_length=300)] = ""
    description: Text = ""
    asset_serial: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    opened_at: InstantIn | None = None
    report_locale: ReportLocale | None = None
    #: the reference of the system it comes from (an ERP's order number): a second ticket with it is refused
    external_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    customer_id: Id | None = None
    site_id: Id | None = None


class TicketPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Corrections to an open ticket (a JSON merge patch: the members sent are set, the others kept).

    A new ``priority`` puts the ticket's SLA clocks under that priority's policy, from its opening.
    """

    customer: Name | msgspec.UnsetType = msgspec.UNSET
    site: Name | msgspec.UnsetType = msgspec.UNSET
    priority: Priority | msgspec.UnsetType = msgspec.UNSET
    title: Annotated[str, msgspec.Meta(max_length=300)] | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType = msgspec.UNSET
    #: another customer record (its name and, unless ``site``/``site_id`` is sent too, no site)
    customer_id: Id | msgspec.UnsetType = msgspec.UNSET
    site_id: Id | msgspec.UnsetType = msgspec.UNSET


class ReportLocaleIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Choose the locale of a ticket's service report (null: the server's default)."""

    report_locale: ReportLocale | None


class Device(msgspec.Struct, kw_only=True):
    """An enrolled tablet."""

    id: str
    engineer_id: str
    name: str
    enrolled_at: Instant
    revoked_at: Instant | None = None
    last_seq: int = 0
    last_sync_at: Instant | None = None
    clock_offset_ms: int = 0
    #: False when the device's last session reported no usable clock (its event times are then flagged)
    clock_known: bool = True


class Conflict(msgspec.Struct, kw_only=True):
    """A review item: both values, who wrote them and when, and the outcome."""

    id: str
    kind: str
    job_id: str
    key: str
    status: str
    values: list[dict[str, Any]]
    applied: dict[str, Any] = {}
    created_at: Instant = 0
    resolved_at: Instant | None = None
    resolution: dict[str, Any] = {}


class ResolveIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Resolve a conflict by choosing one of its values or giving a merged one."""

    choice: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    value: str | int | float | bool | None = None
    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class AdoptIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Adopt a late visit: apply its work to the job (see ``server.domain.sync.late_work``)."""

    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class DiscardIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Discard a late visit: its work is not applied (its parts stay used); why, for the record."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class TokenOut(msgspec.Struct, kw_only=True):
    """A freshly issued secret (shown once)."""

    token: str
    expires_at: Instant | None = None
