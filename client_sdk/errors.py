"""Exceptions the tablet SDK raises; everything derives from :class:`SdkError`.

A write that fails validation raises a :class:`WriteRefused` subclass and
writes nothing (no local row, no outbox op).  Its ``reason`` is a stable code:
for every rule the server also enforces it is the very reason the server would
give in ``rejected(reason)`` (see :mod:`schemas.rules` and :mod:`sync.core.rules`),
so what the tablet accepts the server accepts too.  ``sync()`` does not raise for
network trouble: it returns a report with ``offline=True``.  ``SdkError`` itself
is raised for a call made at the wrong moment (``sync()`` inside ``batch()``, a
service report of a job not signed off on this tablet).  The tree (a test holds
it to the classes below)::

    SdkError
     ├── NotEnrolled              the device has no identity yet: call enroll(token)
     ├── AlreadyEnrolled          enroll() on a device that already has one
     ├── EnrollmentFailed         the server refused the token, or could not be reached
     │                            (``code``: token_invalid, token_expired, token_used,
     │                            offline, bad_certificate ...)
     ├── BadPassphrase            the stored device key does not open with this passphrase
     ├── ServerSignatureInvalid   a receipt or pull page not signed by the enrolled server key
     └── WriteRefused             a local write broke a rule; nothing was written (``reason``)
          ├── UnknownJob          no such job on this tablet
          ├── InvalidTransition   a status the tablet may not set, or a step the machine does not allow
          ├── ChecklistIncomplete required checklist items unanswered (``missing``)
          ├── InvalidAnswer       the answer does not fit the pinned template item
          ├── InvalidField        not a settable job field, a wrong value type, a bad sign-off
          ├── InvalidPart         unknown part, bad quantity or missing serial
          ├── InvalidAttachment   empty data, unknown attachment kind, bad content type
          ├── AlreadySignedOff    sign-off is write-once
          └── SignedContentLocked the customer signed: change an answer or a signed field with amend(reason)
"""

from __future__ import annotations


class SdkError(Exception):
    """Base of every error raised by :mod:`client_sdk`."""


class NotEnrolled(SdkError):
    """The operation needs a device identity; call ``FieldClient.enroll(token)`` first."""


class AlreadyEnrolled(SdkError):
    """This tablet database already holds a device identity."""


class EnrollmentFailed(SdkError):
    """Enrollment did not complete; ``code`` is the server's problem code or ``offline``."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class BadPassphrase(SdkError):
    """The device private key cannot be decrypted with the given passphrase (or needs one)."""


class ServerSignatureInvalid(SdkError):
    """A server answer whose signature does not verify with the server key from enrollment."""


class WriteRefused(SdkError):
    """A local write was refused by validation; nothing was written.  ``reason`` is a stable code."""

    reason: str = "refused"

    def __init__(self, message: str = "", reason: str | None = None) -> None:
        super().__init__(message or reason or self.reason)
        if reason is not None:
            self.reason = reason


class UnknownJob(WriteRefused):
    """No job with this id on the tablet (never pulled, or reassigned away)."""

    reason = "unknown_job"


class InvalidTransition(WriteRefused):
    """The shared status machine does not allow this status change (``reason`` says which rule)."""

    reason = "transition_not_allowed"


class ChecklistIncomplete(WriteRefused):
    """Required checklist items are unanswered; ``missing`` lists their keys."""

    def __init__(self, job_id: str, missing: list[str]) -> None:
        super().__init__(f"job {job_id}: required checklist items unanswered: {', '.join(missing)}",
                         "checklist_incomplete:" + ",".join(missing[:10]))
        self.job_id = job_id
        self.missing = missing


class InvalidAnswer(WriteRefused):
    """The answer does not fit the pinned template item; ``reason`` is a stable code."""

    def __init__(self, item_key: str, reason: str) -> None:
        super().__init__(f"item {item_key!r}: {reason}", reason)
        self.item_key = item_key


class InvalidField(WriteRefused):
    """Not a field a tablet may set, or a value of the wrong type."""


class InvalidPart(WriteRefused):
    """Unknown part number, quantity below one, or a serialized part without its serial."""


class InvalidAttachment(WriteRefused):
    """Empty attachment data or an unknown attachment kind."""


class AlreadySignedOff(WriteRefused):
    """The job already has a sign-off; sign-off is write-once."""

    reason = "already_signed_off"


class SignedContentLocked(WriteRefused):
    """The customer signed this job's report: its answers and signed fields change only with ``amend(reason)``."""

    reason = "signed_content_needs_amend"
