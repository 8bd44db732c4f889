"""The service-report content a customer signs, and the sign-off bundle.

The digest of :class:`ReportContent` (canonical JSON, SHA-256) is what the
customer's signature confirms; tablet and server compute it from their own
copies of the job, so a later change to signed content shows as a mismatch.
"""

from __future__ import annotations

import msgspec


class ReportAnswer(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One checklist answer as it appears in the report."""

    key: str
    value: str | int | float | bool | None
    note: str | None = None
    na_reason: str | None = None


class ReportPart(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One parts line (a ledger movement made at the job)."""

    op_id: str
    kind: str
    part_no: str
    qty: int
    serial: str | None = None
    returned_serial: str | None = None


class ReportContent(msgspec.Struct, kw_only=True):
    """Everything the signature confirms, in a canonical order."""

    job_id: str
    ticket_id: str
    engineer_id: str
    diagnosis: str
    resolution: str
    notes: str
    template_id: str | None
    template_version: int | None
    answers: list[ReportAnswer]
    parts: list[ReportPart]
    photos: list[str]
    times: dict[str, int]


class Amendment(msgspec.Struct, kw_only=True):
    """A change to signed content made after the customer signed, declared with a reason (``signoff.amend``).

    Not covered by the customer's signature (which confirms the content as signed); the report lists it.
    """

    target: str
    key: str
    value: str | int | float | bool | None
    reason: str
    at: int
    engineer_id: str
    device_id: str = ""


class SignOffBundle(msgspec.Struct, kw_only=True):
    """A sign-off with what it confirms and the keys that vouch for it.

    ``certificate`` is the server's signature over the device public key (issued
    at enrollment), so a verifier holding only the server public key can check
    the whole chain offline.
    """

    content: ReportContent
    report_digest: str
    signer_name: str
    signer_role: str
    signed_at: int
    strokes: list[list[int]]
    device_id: str
    device_public_key: bytes
    device_signature: bytes
    server_public_key: bytes = b""
    certificate: bytes = b""
    #: changes made after the signature, with their reasons (the report's "amended after signature" section)
    amendments: list[Amendment] = []
