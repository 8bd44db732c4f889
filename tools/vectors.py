"""Test vectors of the device protocol: ``python -m tools.vectors`` writes ``schemas/vectors/*.json``.

Fixed keys (the secret keys of RFC 8032's first two Ed25519 tests) and fixed inputs, with the bytes,
hashes and signatures the Python implementation produces for every signed thing: change-sets (a
chain of two), a session nonce, a sign-off (report content -> RFC 8785 bytes -> digest -> message ->
signature), a device certificate, a receipt, an accepted receipt and a pull page holding one record of every kind the
server emits, plus the plain messages of every device endpoint.  Ed25519 signatures are
deterministic, so every value here is reproducible; ``tests/unit/test_protocol_vectors.py`` holds
the SDK and the server to them and checks the committed files are this module's output.

In the files, byte strings (msgpack ``bin``) are lowercase hex, and integers outside JavaScript's
safe range (HLCs) are decimal strings; ``schemas/vectors/README.md`` says how to use them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Final

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas.codec import canonical_json, encode
from schemas.enrollment_link import enrollment_link
from schemas.records import Record
from schemas.signoff import ReportContent
from schemas.wire import (
    PROTOCOL_VERSION,
    Accepted,
    Amend,
    AnswerItem,
    Attach,
    Challenge,
    Delete,
    Enrollment,
    EnrollRequest,
    MovePart,
    OpResult,
    PullPage,
    PullRequest,
    Receipt,
    ServerKeyLink,
    Session,
    SessionRequest,
    SetField,
    SetStatus,
    Signed,
    SignOff,
)
from sync.core import hlc, search
from sync.core.changeset import ChainHead, digest, seal
from sync.core.signoff import (
    assemble_report_content,
    certificate_message,
    endorsed_keys,
    key_rotation_message,
    report_digest,
    sign_off_message,
)

VECTORS_DIR: Final = Path(__file__).resolve().parent.parent / "schemas" / "vectors"
SAFE_INTEGER: Final = 2**53 - 1

#: RFC 8032 section 7.1, TEST 1 and TEST 2: an implementation can check its Ed25519 against the RFC too
DEVICE_SEED: Final = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
SERVER_SEED: Final = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")

DEVICE_ID: Final = "D-5b0e1f2a9c"
ENGINEER_ID: Final = "e-wang"
JOB_ID: Final = "J-20251009-001"
TICKET_ID: Final = "T-20251009-001"
T0: Final = 1_760_000_000_000  # 2025-10-09T08:53:20Z, device time
OFFSET_MS: Final = 1_500  # the device clock runs 1.5 s ahead of the server's
PHOTO: Final = b"\xff\xd8\xff\xe0 fieldsync test vector photo"
PHOTO_SHA256: Final = hashlib.sha256(PHOTO).hexdigest()
STROKES: Final = [[10, 12, 11, 14, 13, 17, 16, 21], [40, 40, 42, 45, 45, 49]]
SIGNER: Final = "王芳"
SIGNED_AT: Final = T0 + 300_000
NONCE: Final = "q7Vb3x9Kd0mT2sYwLr8pE4nZc6uHj1Ao"


def private_key(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key(seed: bytes) -> bytes:
    return private_key(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: bytes) -> str:
    """The server's name for its public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public).hexdigest()[:16]


def plain(value: Any) -> Any:
    """A message as JSON: bytes as hex, integers beyond 2**53 as decimal strings."""
    return _plain(msgspec.to_builtins(value, builtin_types=(bytes,)))


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return value if -SAFE_INTEGER <= value <= SAFE_INTEGER else str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return {k: _plain(v) for k, v in value.items()}


def message(name: str, value: Any, note: str = "") -> dict[str, Any]:
    out = {"name": name, "value": plain(value), "msgpack": encode(value).hex()}
    return {**out, "note": note} if note else out


# -- the sign-off ----------------------------------------------------------------------------------------------

#: what the tablet holds when the customer signs: rows as its store has them, before selection
ASSEMBLY_INPUT: Final[dict[str, Any]] = {
    "job": {"id": JOB_ID, "ticket_id": TICKET_ID, "engineer_id": ENGINEER_ID,
            "diagnosis": "点火电极磨损 (worn ignition electrode)", "resolution": "Replaced the electrode.\n",
            "notes": "Customer: \"back door, ring twice\"", "template_id": "boiler-service", "template_version": 3},
    "answers": [
        {"item_key": "pressure_bar", "value": 1.4, "note": None, "na_reason": None},
        {"item_key": "gas_tight", "value": True, "note": None, "na_reason": None},
        {"item_key": "flue_co2", "value": 9.0, "note": "after cleaning", "na_reason": None},
        {"item_key": "flue_co", "value": None, "note": None, "na_reason": "analyser in repair"},
    ],
    "movements": [
        {"id": "op-0004:ret", "kind": "return_old", "part_no": "P-IGN", "qty": 1, "serial": "IGN-0815",
         "returned_serial": None},
        {"id": "op-0004", "kind": "consume", "part_no": "P-IGN", "qty": 1, "serial": "IGN-7731",
         "returned_serial": "IGN-0815"},
    ],
    "photos": [PHOTO_SHA256],
    "times": {"en_route": T0 - 1_800_000, "on_site": T0},
}


def report_content() -> ReportContent:
    a = ASSEMBLY_INPUT
    return assemble_report_content(a["job"], a["answers"], a["movements"], a["photos"], a["times"])


def signoff_vector() -> dict[str, Any]:
    content = report_content()
    canonical = canonical_json(content)
    digest_hex = report_digest(content)
    msg = sign_off_message(JOB_ID, digest_hex, SIGNED_AT, SIGNER)
    return {
        "about": "report content -> RFC 8785 canonical JSON -> SHA-256 -> sign-off message -> device signature",
        "device_public_key": public_key(DEVICE_SEED).hex(),
        "assembly_input": ASSEMBLY_INPUT,
        "content": plain(content),
        "canonical_json": canonical.decode(),
        "canonical_json_hex": canonical.hex(),
        "report_digest": digest_hex,
        "job_id": JOB_ID, "signed_at": SIGNED_AT, "signer_name": SIGNER,
        "message": msg.decode(),
        "message_hex": msg.hex(),
        "device_signature": private_key(DEVICE_SEED).sign(msg).hex(),
    }


# -- change-sets ------------------------------------------------------------------------------------------------

def stamp(n: int, ms: int, counter: int = 0) -> dict[str, Any]:
    return {"op_id": f"op-{n:04d}", "hlc": hlc.pack(ms, counter), "job_id": JOB_ID, "at": ms}


def ops_seq1(signoff: dict[str, Any]) -> list[Any]:
    return [
        SetStatus(**stamp(1, T0), status="on_site"),
        SetField(**stamp(2, T0 + 60_000), field="diagnosis", value=ASSEMBLY_INPUT["job"]["diagnosis"]),
        AnswerItem(**stamp(3, T0 + 120_000), item_key="flue_co2", value=9.0, note="after cleaning",
                   template_version=3),
        MovePart(**stamp(4, T0 + 120_000, 1), kind="consume", part_no="P-IGN", qty=1, serial="IGN-7731",
                 returned_serial="IGN-0815"),
        Attach(**stamp(5, T0 + 180_000), sha256=PHOTO_SHA256, kind="photo", size=len(PHOTO),
               content_type="image/jpeg"),
        Delete(**stamp(6, T0 + 240_000), entity="answer", key="remarks"),
        SignOff(**stamp(7, SIGNED_AT), signer_name=SIGNER, signer_role="customer", signed_at=SIGNED_AT,
                report_digest=signoff["report_digest"], strokes=STROKES,
                device_signature=bytes.fromhex(signoff["device_signature"]), rating=5, comment="准时，专业"),
    ]


def ops_seq2() -> list[Any]:
    return [
        SetStatus(**stamp(8, T0 + 360_000), status="completed", note="done"),
        SetField(**stamp(9, T0 + 360_000, 1), field="notes", value="Reminder in 12 months.",
                 base_hlc=hlc.pack(T0 - 86_400_000, 0)),
        # the notes are signed content (the customer signed in seq 1): the edit is declared an amendment
        Amend(**stamp(10, T0 + 360_000, 2), edit_op_id="op-0009", target="field", key="notes",
              value="Reminder in 12 months.", reason="客户要求提醒 / customer asked for a reminder"),
    ]


def changeset_vectors(signoff: dict[str, Any]) -> dict[str, Any]:
    key = private_key(DEVICE_SEED)
    head = ChainHead(0, "")
    out = []
    for ops, clock in ((ops_seq1(signoff), T0 + 301_000), (ops_seq2(), T0 + 361_000)):
        envelope, new_head = seal(key, DEVICE_ID, head, ops, clock)
        signed = msgspec.msgpack.decode(envelope)
        body = signed["changeset"]
        out.append({
            "seq": new_head.seq,
            "changeset": plain(msgspec.msgpack.decode(body)),
            "changeset_msgpack": body.hex(),
            "changeset_sha256": digest(body),
            "signature": signed["signature"].hex(),
            "envelope_msgpack": envelope.hex(),
        })
        head = new_head
    return {
        "about": "two chained change-sets of one device; seq 1 holds one op of every type up to the sign-off, "
                 "seq 2 an amendment of the signed content",
        "device_id": DEVICE_ID,
        "device_public_key": public_key(DEVICE_SEED).hex(),
        "changesets": out,
    }


# -- server-signed answers ------------------------------------------------------------------------------------

def server_signed(body_value: Any) -> dict[str, Any]:
    body = encode(body_value)
    signature = private_key(SERVER_SEED).sign(body)
    envelope = encode(Signed(body=body, signature=signature, key_id=key_id(public_key(SERVER_SEED))))
    return {"value": plain(body_value), "body_msgpack": body.hex(), "signature": signature.hex(),
            "key_id": key_id(public_key(SERVER_SEED)), "envelope_msgpack": envelope.hex()}


def receipt_vector(changesets: dict[str, Any]) -> dict[str, Any]:
    first = changesets["changesets"][0]
    results = [
        OpResult(op_id="op-0001", result="applied"),
        OpResult(op_id="op-0002", result="applied"),
        OpResult(op_id="op-0003", result="needs_review", reason="concurrent_write", conflict_id="C-7c1d2e3f4a5b"),
        OpResult(op_id="op-0004", result="rejected", reason="unknown_part"),
        OpResult(op_id="op-0005", result="merged", reason="already_attached"),
        OpResult(op_id="op-0006", result="merged", reason="already_deleted"),
        OpResult(op_id="op-0007", result="applied"),
    ]
    receipt = Receipt(protocol_version=PROTOCOL_VERSION, device_id=DEVICE_ID, seq=1,
                      changeset_hash=first["changeset_sha256"], server_time=T0 + 301_000 - OFFSET_MS + 40,
                      clock_offset_ms=OFFSET_MS, results=results)
    return {"about": "the server's receipt for change-set seq 1 (results made up to show every kind)",
            "server_public_key": public_key(SERVER_SEED).hex(), **server_signed(receipt)}


def accepted_vector(changesets: dict[str, Any]) -> dict[str, Any]:
    """The signed "accepted" answer to change-set seq 1 pushed with ``Prefer: respond-async``."""
    first = changesets["changesets"][0]
    accepted = Accepted(protocol_version=PROTOCOL_VERSION, device_id=DEVICE_ID, seq=1,
                        changeset_hash=first["changeset_sha256"], server_time=T0 + 301_000 - OFFSET_MS + 12,
                        op_count=len(first["changeset"]["ops"]))
    return {"about": "the server's signed Accepted for change-set seq 1 (202 to a push with Prefer: respond-async);"
                     " its map's first key is kind = accepted, which a Receipt never has",
            "server_public_key": public_key(SERVER_SEED).hex(), **server_signed(accepted)}


def pull_records(signoff: dict[str, Any]) -> list[Record]:
    """One record of every kind (:mod:`schemas.records`), typed as the server publishes it."""
    job = ASSEMBLY_INPUT["job"]
    van = f"van-{ENGINEER_ID}"
    records: list[tuple[str, str, dict[str, Any]]] = [
        ("template", "boiler-service@3", {"id": "boiler-service", "version": 3, "name": "Boiler service", "items": [
            {"key": "gas_tight", "label": "Gas tightness test passed", "type": "pass_fail", "required": True,
             "min": None, "max": None, "choices": []},
            {"key": "flue_co2", "label": "Flue CO2 (%)", "type": "number", "required": True, "min": 0.0,
             "max": 15.0, "choices": []},
            {"key": "condition", "label": "General condition", "type": "choice", "required": False, "min": None,
             "max": None, "choices": ["good", "fair", "poor"]}]}),
        ("part", "P-IGN", {"part_no": "P-IGN", "name": "Ignition electrode", "serialized": True,
                           "unit_price_cents": 1850}),
        ("job", JOB_ID, {
            "id": JOB_ID, "ticket_id": TICKET_ID, "engineer_id": ENGINEER_ID, "status": "signed_off",
            "hold_reason": None, "notes": job["notes"], "diagnosis": job["diagnosis"],
            "resolution": job["resolution"], "remote": False, "rating": 5, "customer_comment": "",
            "template_id": "boiler-service", "template_version": 3, "scheduled_start": T0 - 3_600_000,
            "scheduled_end": T0 + 3_600_000, "signed_off": True,
            "field_hlc": {"diagnosis": hlc.pack(T0 + 60_000 - OFFSET_MS, 0)},
            "ticket": {"customer": "极光酒店 Hotel Aurora", "site": "Plant room B2", "priority": "P1",
                       "category": "fault", "title": "Boiler down, no hot water", "asset_serial": "SN-1001"},
            "changed_after_signoff": False}),
        ("answer", f"{JOB_ID}/flue_co2", {
            "job_id": JOB_ID, "item_key": "flue_co2", "value": 9.0, "note": "after cleaning", "na_reason": None,
            "hlc": hlc.pack(T0 + 120_000 - OFFSET_MS, 0), "device_id": DEVICE_ID, "deleted": False}),
        ("movement", "op-0004", {
            "id": "op-0004", "kind": "consume", "part_no": "P-IGN", "qty": 1, "serial": "IGN-7731",
            "from_location": van, "to_location": None, "job_id": JOB_ID, "at": T0 + 120_000, "billable": False}),
        ("stock", f"{van}/P-IGN", {"location": van, "part_no": "P-IGN", "qty": 3}),
        ("attachment", f"{JOB_ID}/{PHOTO_SHA256}", {"job_id": JOB_ID, "sha256": PHOTO_SHA256, "kind": "photo",
                                                   "size": len(PHOTO), "deleted": False}),
        ("signoff", JOB_ID, {"job_id": JOB_ID, "signer_name": SIGNER, "signer_role": "customer",
                             "signed_at": SIGNED_AT, "report_digest": signoff["report_digest"]}),
        ("conflict", "C-7c1d2e3f4a5b", {
            "id": "C-7c1d2e3f4a5b", "kind": "answer", "job_id": JOB_ID, "key": "flue_co2", "status": "open",
            "values": [
                {"value": 8.5, "device_id": "D-31c8d0e4aa", "hlc": hlc.pack(T0 + 100_000, 0), "at": T0 + 100_000,
                 "note": None, "na_reason": None},
                {"value": 9.0, "device_id": DEVICE_ID, "hlc": hlc.pack(T0 + 120_000 - OFFSET_MS, 0),
                 "at": T0 + 120_000, "note": "after cleaning", "na_reason": None}],
            "applied": 1, "resolution": {}}),
        ("asset", "SN-1001", {
            "serial": "SN-1001", "model": "ecoTEC plus 832", "equipment_type": "boiler",
            "customer": "极光酒店 Hotel Aurora", "site": "Plant room B2", "installed_at": 1_640_995_200_000,
            "warranty_until": 1_798_761_600_000, "contract_until": None, "under_warranty": True,
            "under_contract": False, "history": [
                {"job_id": "J-20240301-007", "ticket_id": "T-20240301-007", "engineer_id": "e-li",
                 "category": "inspection", "title": "Annual service", "completed_at": 1_709_280_000_000,
                 "remote": False, "diagnosis": "", "resolution": "Serviced.", "parts": ["P-SEAL x1"]}]}),
        ("kb", "KB-4e5f6a7b8c9d", {
            "id": "KB-4e5f6a7b8c9d", "model": "ecoTEC plus 832", "equipment_type": "boiler",
            "symptom": "F.28 ignition failure", "cause": "Worn ignition electrode", "fix": "Replace the electrode",
            "parts": ["P-IGN"], "ticket_id": None, "created_at": 1_700_000_000_000, "created_by": "backoffice"}),
        ("job_removed", "J-20251008-014", {"id": "J-20251008-014", "reason": "reassigned"}),
    ]
    return [msgspec.convert({"kind": kind, "id": entity, "data": data}, Record)
            for kind, entity, data in records]


def pull_page_vector(signoff: dict[str, Any]) -> dict[str, Any]:
    page = PullPage(protocol_version=PROTOCOL_VERSION, device_id=DEVICE_ID, cursor="0.118", more=False,
                    server_time=T0 + 400_000, changes=pull_records(signoff))
    return {"about": "one pull page with one record of every kind the server emits",
            "server_public_key": public_key(SERVER_SEED).hex(), **server_signed(page)}


# -- the rest: keys, session, certificate, plain messages, clocks, canonical JSON ------------------------------

def keys_vector() -> dict[str, Any]:
    return {
        "about": "Ed25519 keys from 32-byte seeds (the secret keys of RFC 8032 section 7.1, TEST 1 and TEST 2)",
        "device": {"seed": DEVICE_SEED.hex(), "public_key": public_key(DEVICE_SEED).hex(), "device_id": DEVICE_ID,
                   "engineer_id": ENGINEER_ID},
        "server": {"seed": SERVER_SEED.hex(), "public_key": public_key(SERVER_SEED).hex(),
                   "key_id": key_id(public_key(SERVER_SEED))},
    }


def session_vector() -> dict[str, Any]:
    msg = NONCE.encode()
    signature = private_key(DEVICE_SEED).sign(msg)
    request = SessionRequest(device_id=DEVICE_ID, nonce=NONCE, signature=signature, device_clock=T0 - 5_000)
    return {"about": "the device signs the nonce's UTF-8 bytes, nothing else",
            "nonce": NONCE, "message_hex": msg.hex(), "signature": signature.hex(),
            "challenge": message("challenge", Challenge(device_id=DEVICE_ID, nonce=NONCE, expires_in_s=120)),
            "session_request": message("session_request", request)}


def certificate_vector() -> dict[str, Any]:
    msg = certificate_message(DEVICE_ID, ENGINEER_ID, public_key(DEVICE_SEED))
    return {"about": "the server's signature over the device key, issued at enrollment",
            "device_id": DEVICE_ID, "engineer_id": ENGINEER_ID, "device_public_key": public_key(DEVICE_SEED).hex(),
            "message_hex": msg.hex(), "certificate": private_key(SERVER_SEED).sign(msg).hex()}


#: the server's keys after two rotations: the second one was not endorsed by the key before it
ROTATED_SEED: Final = hashlib.sha256(b"fieldsync vector: the rotated server key").digest()
FORGED_SEED: Final = hashlib.sha256(b"fieldsync vector: a key nobody endorsed").digest()
STRANGER_SEED: Final = hashlib.sha256(b"fieldsync vector: a key the server never had").digest()


def key_rotation_vector() -> dict[str, Any]:
    first, rotated, forged = public_key(SERVER_SEED), public_key(ROTATED_SEED), public_key(FORGED_SEED)
    msg = key_rotation_message(first, rotated)
    endorsement = private_key(SERVER_SEED).sign(msg)
    # signed by a key that is not the one before it: a device must not trust it
    bad = private_key(STRANGER_SEED).sign(key_rotation_message(rotated, forged))
    chain = [ServerKeyLink(key_id=key_id(first), public_key=first),
             ServerKeyLink(key_id=key_id(rotated), public_key=rotated, endorsement=endorsement),
             ServerKeyLink(key_id=key_id(forged), public_key=forged, endorsement=bad)]
    trusted = endorsed_keys(first, [(k.public_key, k.endorsement) for k in chain])
    assert trusted == [first, rotated]
    body = encode({"hello": "after the rotation"})
    return {
        "about": ("server key rotation: the previous key signs key_rotation_message(previous, new); a device "
                  "trusts its enrolled key and each later key of the session's server_keys endorsed by the key "
                  "before it, and stops at the first that is not"),
        "rotated": {"seed": ROTATED_SEED.hex(), "public_key": rotated.hex(), "key_id": key_id(rotated)},
        "forged": {"seed": FORGED_SEED.hex(), "public_key": forged.hex(), "key_id": key_id(forged)},
        "message_hex": msg.hex(), "endorsement": endorsement.hex(),
        "session": message("session", Session(token="fs_dev_4fQm2Zk8Yx1Lr0Sv7TnWp3Dc", expires_in_s=3600,
                                              server_time=T0, clock_offset_ms=0, server_keys=chain)),
        "trusted_from_enrolled": [k.hex() for k in trusted],
        "signed_by_rotated": {"body_msgpack": body.hex(), "signature": private_key(ROTATED_SEED).sign(body).hex(),
                              "valid": True},
        "signed_by_forged": {"body_msgpack": body.hex(), "signature": private_key(FORGED_SEED).sign(body).hex(),
                             "valid": False},
    }


def messages_vector(certificate: dict[str, Any]) -> dict[str, Any]:
    token = "fs_enroll_Zx3-9_aQk2LmN0pR7sTuVwXy"
    server = public_key(SERVER_SEED)
    return {
        "about": "the unsigned messages of the device endpoints as the Python implementation encodes them",
        "enrollment_link": {"server": "https://fs.example.cn", "token": token,
                            "link": enrollment_link("https://fs.example.cn", token)},
        "messages": [
            message("enroll_request", EnrollRequest(token=token, public_key=public_key(DEVICE_SEED),
                                                    name="tablet-wang", device_clock=T0 - 60_000)),
            message("enrollment", Enrollment(device_id=DEVICE_ID, engineer_id=ENGINEER_ID, server_public_key=server,
                                             server_key_id=key_id(server),
                                             certificate=bytes.fromhex(certificate["certificate"]))),
            message("challenge_request", {"device_id": DEVICE_ID}),
            message("session", Session(token="fs_dev_4fQm2Zk8Yx1Lr0Sv7TnWp3Dc", expires_in_s=3600,
                                       server_time=T0 - 5_000 - OFFSET_MS, clock_offset_ms=OFFSET_MS)),
            message("pull_request", PullRequest(cursor="0.97", limit=500, device_clock=T0 + 399_000)),
        ],
    }


def hlc_vector() -> dict[str, Any]:
    cases = [(T0, 0), (T0, 1), (T0 + 120_000, 65_535), (1, 0)]
    return {"about": "hlc = physical_ms << 16 | counter (64-bit; past 2**53: a BigInt in JavaScript)",
            "cases": [{"physical_ms": ms, "counter": c, "hlc": str(hlc.pack(ms, c)),
                       "hlc_hex": f"{hlc.pack(ms, c):016x}"} for ms, c in cases]}


#: (note, JSON text in, canonical text out): the inputs are JSON so every language reads them alike
JCS_CASES: Final = [
    ("integral float", "9.0"), ("negative zero", "-0.0"), ("large float: exponent", "1e21"),
    ("below 1e21: digits", "1e20"), ("small: exponent", "0.0000001"), ("small: digits", "0.000001"),
    ("shortest round trip", "0.1"), ("max double", "1.7976931348623157e308"), ("min subnormal", "5e-324"),
    ("escapes", '"\\u20ac\\u0000\\u001f\\u007f\\"\\\\/\\u2028\\ud83d\\ude00"'),
    ("key order: UTF-16 code units (RFC 8785 3.2.3)",
     '{"\\u20ac":1,"\\r":2,"\\ufb33":3,"1":4,"\\ud83d\\ude00":5,"\\u0080":6,"\\u00f6":7}'),
    ("nesting, no whitespace", '{"b": [1, 2.50, {"d": null, "c": true}], "a": "x"}'),
]


def canonical_vector() -> dict[str, Any]:
    return {"about": "RFC 8785 canonical JSON, as digests use it",
            "cases": [{"note": note, "input": text, "canonical": canonical_json(json.loads(text)).decode()}
                      for note, text in JCS_CASES]}


#: texts and queries of the knowledge-base search vectors: Chinese of every length, mixed scripts,
#: full-width forms, English inflections, punctuation and search syntax a query must not obey
SEARCH_TEXTS: Final = ["风机异响，运行时有摩擦声", "燃烧器点火失败；点火电极老化", "故障码E3：风机停转（3号机组）",
                       "Fan noisy at start; worn bearing replaced", "Pressure drops overnight, leaking seal",
                       "ＦＡＮ１２ 全角字符", "ボイラーの異音", "보일러 소음", "Café_crème  naïve", "々〇 一"]
SEARCH_QUERIES: Final = ["异响", "风机", "异", "风机异响", "响异", "异响 点火", "E3风机", "3号", "fans", "bearings",
                         "Leaks", "noisy fan", "fan12", "異音", "소음", "naïve", "crème", "\" OR * NEAR(风机) ^:",
                         "", "，。！",  # and a query of more character pairs than a query asks for:
                         "风机异响运行时有摩擦声燃烧器点火失败点火电极老化故障码风机停转机组全角字符"]


def search_vector() -> dict[str, Any]:
    """Knowledge-base search tokens (``sync/core/search.py``): what a text is indexed as, what a query asks."""
    return {
        "rule": search.RULE, "fingerprint": search.fingerprint(), "max_query_tokens": search.MAX_QUERY_TOKENS,
        "texts": [{"text": t, "index_tokens": search.index_tokens(t)} for t in SEARCH_TEXTS],
        "queries": [{"query": q, "query_tokens": search.query_tokens(q)} for q in SEARCH_QUERIES],
        "found": [{"query": q, "text": t} for q in SEARCH_QUERIES for t in SEARCH_TEXTS
                  if search.query_tokens(q) and set(search.query_tokens(q)) <= set(search.index_tokens(t))],
        "probe": search.PROBE, "probe_index_text": search.index_text(search.PROBE),
    }


def render() -> dict[str, str]:
    """File name -> JSON text of every vector file."""
    signoff = signoff_vector()
    changesets = changeset_vectors(signoff)
    certificate = certificate_vector()
    files = {
        "keys.json": keys_vector(), "hlc.json": hlc_vector(), "canonical_json.json": canonical_vector(),
        "changesets.json": changesets, "session.json": session_vector(), "signoff.json": signoff,
        "certificate.json": certificate, "receipt.json": receipt_vector(changesets),
        "accepted.json": accepted_vector(changesets),
        "pull_page.json": pull_page_vector(signoff), "messages.json": messages_vector(certificate),
        "search_tokens.json": search_vector(), "key_rotation.json": key_rotation_vector(),
    }
    return {name: json.dumps(body, indent=2, ensure_ascii=False) + "\n" for name, body in files.items()}


def write(directory: Path = VECTORS_DIR) -> list[Path]:
    """Write the vector files; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":  # pragma: no cover - thin command
    for p in write():
        sys.stdout.write(f"{p}\n")
