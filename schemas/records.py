"""Pull records: what a device receives in a pull page, one tagged Struct per kind.

A record travels as ``{"kind": ..., "id": ..., "data": {...}}``: ``kind`` is the
tag of a msgspec tagged union (:data:`Record`), ``id`` the record's identity in
its kind (a newer record with the same kind and id replaces the older one) and
``data`` the record as it now stands on the server, typed per kind.  The server
builds these Structs and publishes them (:func:`server.feed.publish`); the
tablet SDK decodes pages into the same types (:mod:`client_sdk.apply`); their
JSON Schema is ``schemas/json/pull_page.schema.json`` (``python -m schemas.export``).

Schema evolution follows :mod:`schemas.wire`: new fields get defaults and go at
the end, no type forbids unknown fields, and a tablet skips a ``kind`` it does
not know.  A field with a default is one older servers left out of records
already stored in their feed (they are sent as stored).
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from schemas.domain import ChecklistItem
from schemas.instant import Instant

#: a value a device can write to a field or a checklist answer (and a conflict can hold)
Value = str | int | float | bool | None
AttachmentKind = Literal["photo", "signature", "document"]


class _Data(msgspec.Struct, kw_only=True, gc=False):
    """Base of every record's ``data`` (never part of a reference cycle: kept out of the collector's view)."""


# -- data per kind ---------------------------------------------------------------------------------


class TicketSummary(_Data, omit_defaults=True):
    """The ticket a job belongs to, as far as the engineer needs it.

    ``report_locale`` (``zh_CN``, ``en``) is sent only when the dispatcher chose the language of the
    ticket's service report; the tablet prints its own copy of the report in it.
    """

    customer: str
    site: str
    priority: str
    category: str
    title: str
    asset_serial: str | None
    report_locale: str | None = None
    #: the customer record (its archive: ``/v1/customers/{id}/archive``); sent when the ticket has one
    customer_id: str | None = None


class JobData(_Data, omit_defaults=True):
    """A job assigned to the engineer, with the HLC of each device-written field and its ticket.

    ``field_hlc`` maps a field name (``notes``, ``diagnosis`` ...) to the HLC of the write that set it,
    so a device's next write of the field can name the value it overwrites (``SetField.base_hlc``).
    ``changed_after_signoff`` is sent for signed-off jobs only: the report content no longer matches
    the digest the customer signed.
    """

    id: str
    ticket_id: str
    engineer_id: str
    status: str
    hold_reason: str | None
    notes: str
    diagnosis: str
    resolution: str
    remote: bool
    rating: int | None
    customer_comment: str | None
    template_id: str | None
    template_version: int | None
    scheduled_start: Instant | None
    scheduled_end: Instant | None
    signed_off: bool
    field_hlc: dict[str, int]
    ticket: TicketSummary
    changed_after_signoff: bool | None = None


class JobRemovedData(_Data):
    """The job left the engineer's scope (``reason``: ``reassigned``): the tablet drops it and its records."""

    id: str
    reason: str


class AnswerData(_Data):
    """One checklist answer of a job (``deleted``: removed; its last value kept)."""

    job_id: str
    item_key: str
    value: Value
    note: str | None
    na_reason: str | None
    hlc: int
    device_id: str
    deleted: bool


class TemplateData(_Data):
    """One published version of a checklist template (sent to every device)."""

    id: str
    version: int
    name: str
    items: list[ChecklistItem]


class PartData(_Data):
    """A catalogue part (sent to every device)."""

    part_no: str
    name: str
    serialized: bool
    unit_price_cents: int


class StockData(_Data):
    """The stock of one part at one of the engineer's van locations, as derived from the ledger."""

    location: str
    part_no: str
    qty: int


class MovementData(_Data):
    """One parts-ledger movement on a job of the engineer (``billable``: None when the warranty is unknown)."""

    id: str
    kind: str
    part_no: str
    qty: int
    serial: str | None
    from_location: str | None
    to_location: str | None
    job_id: str | None
    at: Instant
    billable: bool | None


class SignoffData(_Data):
    """The customer's sign-off of a job (strokes and signature stay on the server)."""

    job_id: str
    signer_name: str
    signer_role: str
    signed_at: Instant
    report_digest: str


class AttachmentData(_Data):
    """A content-addressed blob referenced by a job (``deleted``: tombstoned)."""

    job_id: str
    sha256: str
    kind: AttachmentKind = "photo"
    size: int = 0
    deleted: bool = False


class ConflictValue(_Data):
    """One of the values a conflict holds: who wrote it, when, with which HLC."""

    value: Value
    device_id: str
    hlc: int
    at: Instant
    note: str | None = None
    na_reason: str | None = None


class ConflictResolution(_Data, omit_defaults=True):
    """How a conflict was resolved (an open conflict's is empty)."""

    choice: int | None = None
    value: Value = None
    comment: str | None = None
    by: str | None = None


class ConflictData(_Data):
    """A review item on a job of the engineer; ``applied`` is the index of the value in force."""

    id: str
    kind: str
    job_id: str
    key: str
    status: str
    values: list[ConflictValue]
    applied: int
    resolution: ConflictResolution


class AssetVisit(_Data):
    """One past finished visit to an asset."""

    job_id: str
    ticket_id: str
    engineer_id: str
    category: str
    title: str
    completed_at: Instant | None
    remote: bool
    diagnosis: str
    resolution: str
    parts: list[str]


class AssetData(_Data):
    """The asset of an assigned job, with its warranty and contract state and its last visits."""

    serial: str
    model: str
    equipment_type: str
    customer: str
    site: str
    installed_at: Instant | None
    warranty_until: Instant | None
    contract_until: Instant | None
    under_warranty: bool
    under_contract: bool
    history: list[AssetVisit] = []


class KbData(_Data):
    """A solved case of the knowledge base, for a model in the engineer's assigned jobs."""

    id: str
    model: str
    equipment_type: str
    symptom: str
    cause: str
    fix: str
    parts: list[str]
    ticket_id: str | None
    created_at: Instant
    created_by: str


# -- the records -----------------------------------------------------------------------------------


class _Record(msgspec.Struct, tag_field="kind", gc=False):
    """A pull record: ``kind`` (the tag), ``id`` and ``data``."""

    id: str


class JobRecord(_Record, tag="job"):
    """A job: ``id`` is the job id."""

    data: JobData


class JobRemovedRecord(_Record, tag="job_removed"):
    """A job removed from the device's scope: ``id`` is the job id."""

    data: JobRemovedData


class AnswerRecord(_Record, tag="answer"):
    """A checklist answer: ``id`` is ``<job_id>/<item_key>``."""

    data: AnswerData


class TemplateRecord(_Record, tag="template"):
    """A checklist template version: ``id`` is ``<template_id>@<version>``."""

    data: TemplateData


class PartRecord(_Record, tag="part"):
    """A catalogue part: ``id`` is the part number."""

    data: PartData


class StockRecord(_Record, tag="stock"):
    """Van stock of a part: ``id`` is ``<location>/<part_no>``."""

    data: StockData


class MovementRecord(_Record, tag="movement"):
    """A parts-ledger movement: ``id`` is the movement id."""

    data: MovementData


class SignoffRecord(_Record, tag="signoff"):
    """A sign-off: ``id`` is the job id."""

    data: SignoffData


class AttachmentRecord(_Record, tag="attachment"):
    """An attachment: ``id`` is ``<job_id>/<sha256>``."""

    data: AttachmentData


class ConflictRecord(_Record, tag="conflict"):
    """A review item: ``id`` is the conflict id."""

    data: ConflictData


class AssetRecord(_Record, tag="asset"):
    """An asset with its history: ``id`` is the serial number."""

    data: AssetData


class KbRecord(_Record, tag="kb"):
    """A knowledge-base case: ``id`` is the case id."""

    data: KbData


Record = (JobRecord | JobRemovedRecord | AnswerRecord | TemplateRecord | PartRecord | StockRecord | MovementRecord
          | SignoffRecord | AttachmentRecord | ConflictRecord | AssetRecord | KbRecord)

#: every record type, in the order of :data:`Record`
RECORD_TYPES: Final[tuple[type[_Record], ...]] = (
    JobRecord, JobRemovedRecord, AnswerRecord, TemplateRecord, PartRecord, StockRecord, MovementRecord,
    SignoffRecord, AttachmentRecord, ConflictRecord, AssetRecord, KbRecord,
)
#: record type by its wire ``kind``
BY_KIND: Final[dict[str, type[_Record]]] = {
    str(cls.__struct_config__.tag): cls for cls in RECORD_TYPES
}


def kind_of(record: Record) -> str:
    """The wire ``kind`` of a record."""
    return str(record.__struct_config__.tag)
