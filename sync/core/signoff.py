"""Sign-off digests and messages, computed the same way on tablet and server.

The customer signs the digest of the report content; the device key
countersigns :func:`sign_off_message`.  Anyone holding the server's public
key can check a :class:`~schemas.signoff.SignOffBundle` offline with
:func:`verify_bundle`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from schemas.codec import canonical_json, legacy_canonical_json
from schemas.signoff import ReportAnswer, ReportContent, ReportPart, SignOffBundle
from schemas.wire import ReceivedSignOff, SignOff
from sync.core.changeset import digest
from sync.core.signatures import is_valid

#: the status changes whose device times a report states
REPORT_TIMES: Final = ("on_site", "completed")
#: the ticket events that give a report time: the status change applied, or refused by the server but done in the
#: field (``device_<status>``: a job cancelled centrally while the engineer completed it offline).  The tablet
#: states the time it did the thing either way, so the server must too, or a genuine signature would not verify.
REPORT_TIME_EVENTS: Final = {**{k: k for k in REPORT_TIMES}, **{f"device_{k}": k for k in REPORT_TIMES}}
#: the parts movements a report lists
REPORT_PART_KINDS: Final = frozenset({"consume"})

Row = Mapping[str, object]


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: object) -> int | None:
    return None if value is None else int(str(value))


def assemble_report_content(job: Row, answers: Iterable[Row], parts: Iterable[Row], photos: Iterable[str],
                            times: Mapping[str, int]) -> ReportContent:
    """The canonical report content from plain rows, whichever store (tablet or server) they come from.

    ``answers`` are the live (not deleted) answers with their decoded ``value``; ``parts`` the job's
    movements; ``photos`` the hashes of its live photo attachments; ``times`` the device times of its
    latest status changes.  Selection and order are decided here, once, so both sides digest the same.
    """
    return ReportContent(
        job_id=str(job["id"]), ticket_id=str(job["ticket_id"]), engineer_id=str(job["engineer_id"]),
        diagnosis=str(job["diagnosis"]), resolution=str(job["resolution"]), notes=str(job["notes"]),
        template_id=_opt_str(job["template_id"]), template_version=_opt_int(job["template_version"]),
        answers=[_report_answer(a) for a in sorted(answers, key=_item_key)],
        parts=[ReportPart(op_id=str(m["id"]), kind=str(m["kind"]), part_no=str(m["part_no"]),
                          qty=int(str(m["qty"])), serial=_opt_str(m["serial"]),
                          returned_serial=_opt_str(m["returned_serial"]))
               for m in sorted(parts, key=lambda m: str(m["id"])) if m["kind"] in REPORT_PART_KINDS],
        photos=sorted(photos),
        times={k: int(times[k]) for k in REPORT_TIMES if k in times},
    )


_VALUE_TYPES: Final = (str, int, float, bool)


def _item_key(answer: Row) -> str:
    return str(answer["item_key"])


def _report_answer(a: Row) -> ReportAnswer:
    # a sign-off assembles every answer of its job: written out rather than through _opt_str
    value, note, na_reason = a["value"], a["note"], a["na_reason"]
    return ReportAnswer(key=str(a["item_key"]), value=value if isinstance(value, _VALUE_TYPES) else None,
                        note=None if note is None else str(note),
                        na_reason=None if na_reason is None else str(na_reason))


def report_digest(content: ReportContent) -> str:
    """Hex SHA-256 of the RFC 8785 canonical JSON of the report content (what a sign-off confirms)."""
    return digest(canonical_json(content))


def digest_matches(content: ReportContent, signed_digest: str) -> bool:
    """True when ``content`` is what ``signed_digest`` confirms.

    Sign-offs made before digests moved to RFC 8785 (and by tablets not updated since) confirm the
    older canonical form (:func:`~schemas.codec.legacy_canonical_json`); that form is accepted too,
    so those reports still verify and their jobs do not show as changed.
    """
    return digest(canonical_as_signed(content, signed_digest)) == signed_digest


def canonical_as_signed(content: ReportContent, signed_digest: str) -> bytes:
    """The canonical bytes of ``content`` in the form ``signed_digest`` was taken over (RFC 8785 unless
    only the older form matches): what the server stores beside a sign-off, so it verifies later."""
    canonical = canonical_json(content)
    if digest(canonical) != signed_digest:
        legacy = legacy_canonical_json(content)
        if digest(legacy) == signed_digest:
            return legacy
    return canonical


def sign_off_message(job_id: str, report_digest_hex: str, signed_at: int, signer_name: str) -> bytes:
    """The exact bytes the device key signs for a sign-off."""
    return f"fieldsync-signoff:v1:{job_id}:{report_digest_hex}:{signed_at}:{signer_name}".encode()


def certificate_message(device_id: str, engineer_id: str, public_key: bytes) -> bytes:
    """The bytes the server signs to vouch for a device key at enrollment."""
    return b"fieldsync-device:v1:" + device_id.encode() + b":" + engineer_id.encode() + b":" + public_key


def key_rotation_message(previous_key: bytes, new_key: bytes) -> bytes:
    """The bytes the server's previous signing key signs to endorse the next one (key rotation)."""
    return b"fieldsync-server-key:v1:" + previous_key + b":" + new_key


def endorsed_keys(trusted: bytes, chain: Sequence[tuple[bytes, bytes | None]]) -> list[bytes]:
    """``trusted`` and each later key of ``chain`` endorsed by the key before it, oldest first.

    ``chain`` is the server's public keys oldest first, each with the previous key's signature over
    :func:`key_rotation_message` (None for the first).  The walk starts at ``trusted`` (a key the device
    already trusts) and stops at the first key whose endorsement does not verify: that key and all after
    it are not trusted.  A chain that does not hold ``trusted`` gives ``[trusted]``.
    """
    keys = [public for public, _ in chain]
    if trusted not in keys:
        return [trusted]
    out = [trusted]
    for public, endorsement in chain[keys.index(trusted) + 1:]:
        if endorsement is None or not verify_signature(out[-1], endorsement, key_rotation_message(out[-1], public)):
            break
        out.append(public)
    return out


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message``."""
    return is_valid(public_key, signature, message)


def signoffs_valid(public_key: bytes, signoffs: Iterable[SignOff | ReceivedSignOff]) -> list[bool]:
    """For each sign-off op, in order: does its device signature verify under ``public_key``?"""
    return [verify_signature(public_key, op.device_signature,
                             sign_off_message(op.job_id, op.report_digest, op.signed_at, op.signer_name))
            for op in signoffs]


def verify_bundle(bundle: SignOffBundle, engineer_id: str | None = None) -> list[str]:
    """Check a sign-off bundle offline; return the problems found (empty = valid)."""
    problems: list[str] = []
    try:
        matches = digest_matches(bundle.content, bundle.report_digest)
    except (ValueError, TypeError):  # a value with no canonical form (NaN) cannot be what was signed
        matches = False
    if not matches:
        problems.append("report content does not match the signed digest")
    message = sign_off_message(bundle.content.job_id, bundle.report_digest, bundle.signed_at, bundle.signer_name)
    if not verify_signature(bundle.device_public_key, bundle.device_signature, message):
        problems.append("device signature over the sign-off does not verify")
    if bundle.server_public_key:
        owner = engineer_id or bundle.content.engineer_id
        cert = certificate_message(bundle.device_id, owner, bundle.device_public_key)
        if not verify_signature(bundle.server_public_key, bundle.certificate, cert):
            problems.append("device key is not certified by the server key")
    return problems
