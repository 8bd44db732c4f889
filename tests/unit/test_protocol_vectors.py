"""The committed protocol test vectors (``schemas/vectors/``): current, and met by the SDK and the server.

A second implementation (the tablet web app, a Kotlin or Swift tablet) is held to these same files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from client_sdk.apply import decode_page
from schemas.codec import (
    accepted_decoder,
    canonical_json,
    encode,
    receipt_decoder,
    received_changeset_decoder,
    signed_decoder,
)
from schemas.enrollment_link import enrollment_link, enrollment_token
from schemas.records import BY_KIND, Record
from schemas.signoff import ReportContent, SignOffBundle
from schemas.wire import SignOff
from server.domain.sync.pull import RawPullPage
from server.feed import RawChange
from server.keys import ServerKey, key_id_for
from sync.core import hlc
from sync.core.changeset import ChainHead, decode_changeset, digest, judge_chain, open_envelope, seal
from sync.core.changeset import verify_signature as verify_changeset_signature
from sync.core.signoff import (
    assemble_report_content,
    certificate_message,
    report_digest,
    sign_off_message,
    signoffs_valid,
    verify_bundle,
    verify_signature,
)
from tools import vectors

DIR = vectors.VECTORS_DIR


def load(name: str) -> Any:
    return json.loads((DIR / name).read_text(encoding="utf-8"))


def hex_(text: str) -> bytes:
    return bytes.fromhex(text)


def test_the_committed_vectors_are_the_generators_output() -> None:
    """Run ``python -m tools.vectors`` when this fails, and say in the protocol document what changed."""
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in DIR.glob("*.json")}
    assert on_disk == vectors.render()


def test_the_keys_come_from_their_seeds_and_the_server_names_its_key_as_given() -> None:
    keys = load("keys.json")
    for side in ("device", "server"):
        assert vectors.public_key(hex_(keys[side]["seed"])).hex() == keys[side]["public_key"]
    assert key_id_for(hex_(keys["server"]["public_key"])) == keys["server"]["key_id"]


def test_the_sdk_seals_the_same_changeset_bytes_from_the_same_ops() -> None:
    data = load("changesets.json")
    key = vectors.private_key(vectors.DEVICE_SEED)
    head = ChainHead(0, "")
    for cs in data["changesets"]:
        signed = open_envelope(hex_(cs["envelope_msgpack"]))
        ops = decode_changeset(signed, data["device_id"]).ops
        envelope, head = seal(key, data["device_id"], head, ops, cs["changeset"]["device_clock"])
        assert envelope.hex() == cs["envelope_msgpack"]
        assert head == ChainHead(cs["seq"], cs["changeset_sha256"])


def test_the_server_verifies_and_chains_the_changesets() -> None:
    data = load("changesets.json")
    public = hex_(data["device_public_key"])
    head = ChainHead(0, "")
    for cs in data["changesets"]:
        signed = open_envelope(hex_(cs["envelope_msgpack"]))
        verify_changeset_signature(signed, public)
        assert signed.changeset.hex() == cs["changeset_msgpack"] and signed.signature.hex() == cs["signature"]
        body_hash = digest(signed.changeset)
        assert body_hash == cs["changeset_sha256"]
        received = received_changeset_decoder.decode(signed.changeset)
        assert judge_chain(received.seq, received.prev_hash, body_hash, head, None) == "next"
        head = ChainHead(received.seq, body_hash)
    first = decode_changeset(open_envelope(hex_(data["changesets"][0]["envelope_msgpack"])), data["device_id"])
    assert sorted({op.__struct_config__.tag for op in first.ops}) == sorted(
        ["job.status", "job.field", "checklist.answer", "part.move", "signoff", "attachment", "delete"])
    signoffs = [op for op in received_changeset_decoder.decode(
        hex_(data["changesets"][0]["changeset_msgpack"])).ops if op.__struct_config__.tag == "signoff"]
    assert signoffs_valid(public, signoffs) == [True]  # what the server's push checks


def test_a_tampered_changeset_does_not_verify() -> None:
    data = load("changesets.json")
    body = bytearray(hex_(data["changesets"][0]["changeset_msgpack"]))
    body[-1] ^= 1
    assert not verify_signature(hex_(data["device_public_key"]), hex_(data["changesets"][0]["signature"]), bytes(body))


def test_the_hlc_values_pack_as_given() -> None:
    for case in load("hlc.json")["cases"]:
        packed = hlc.pack(case["physical_ms"], case["counter"])
        assert str(packed) == case["hlc"] and f"{packed:016x}" == case["hlc_hex"]
        assert hlc.physical(packed) == case["physical_ms"]


def test_canonical_json_cases() -> None:
    for case in load("canonical_json.json")["cases"]:
        assert canonical_json(json.loads(case["input"])).decode() == case["canonical"], case["note"]


def test_the_sign_off_chain_from_report_content_to_device_signature() -> None:
    so = load("signoff.json")
    a = so["assembly_input"]
    content = assemble_report_content(a["job"], a["answers"], a["movements"], a["photos"], a["times"])
    assert msgspec.to_builtins(content) == so["content"]
    assert msgspec.convert(so["content"], ReportContent) == content  # the JSON form reads back as the same content
    assert canonical_json(content).hex() == so["canonical_json_hex"]
    assert canonical_json(content).decode() == so["canonical_json"]
    assert report_digest(content) == so["report_digest"] == hashlib.sha256(hex_(so["canonical_json_hex"])).hexdigest()
    message = sign_off_message(so["job_id"], so["report_digest"], so["signed_at"], so["signer_name"])
    assert message.hex() == so["message_hex"] and message.decode() == so["message"]
    assert vectors.private_key(vectors.DEVICE_SEED).sign(message).hex() == so["device_signature"]
    keys = load("keys.json")
    cert = load("certificate.json")
    bundle = SignOffBundle(
        content=content, report_digest=so["report_digest"], signer_name=so["signer_name"], signer_role="customer",
        signed_at=so["signed_at"], strokes=vectors.STROKES, device_id=cert["device_id"],
        device_public_key=hex_(so["device_public_key"]), device_signature=hex_(so["device_signature"]),
        server_public_key=hex_(keys["server"]["public_key"]), certificate=hex_(cert["certificate"]))
    assert verify_bundle(bundle) == []  # what `fieldsync verify` checks


def test_the_certificate_is_the_servers_signature_over_the_device_key() -> None:
    cert = load("certificate.json")
    keys = load("keys.json")
    message = certificate_message(cert["device_id"], cert["engineer_id"], hex_(cert["device_public_key"]))
    assert message.hex() == cert["message_hex"]
    assert vectors.private_key(vectors.SERVER_SEED).sign(message).hex() == cert["certificate"]
    assert verify_signature(hex_(keys["server"]["public_key"]), hex_(cert["certificate"]), message)  # the SDK's check


def test_the_session_signature_is_over_the_nonce_bytes() -> None:
    session = load("session.json")
    keys = load("keys.json")
    assert session["nonce"].encode().hex() == session["message_hex"]
    assert verify_signature(hex_(keys["device"]["public_key"]), hex_(session["signature"]),  # the server's check
                            session["nonce"].encode())
    request = msgspec.msgpack.decode(hex_(session["session_request"]["msgpack"]))
    assert request["signature"] == hex_(session["signature"]) and request["nonce"] == session["nonce"]


@pytest.mark.parametrize("name", ["receipt.json", "accepted.json", "pull_page.json"])
def test_server_signed_answers_verify_with_the_server_key(name: str) -> None:
    vec = load(name)
    signed = signed_decoder.decode(hex_(vec["envelope_msgpack"]))
    assert signed.body.hex() == vec["body_msgpack"] and signed.key_id == vec["key_id"]
    assert verify_signature(hex_(vec["server_public_key"]), signed.signature, signed.body)
    key = ServerKey(vec["key_id"], vectors.private_key(vectors.SERVER_SEED), hex_(vec["server_public_key"]))
    assert key.sign(signed.body).hex() == vec["signature"]


def test_the_server_encodes_the_receipt_as_given_and_the_sdk_reads_it() -> None:
    vec = load("receipt.json")
    receipt = receipt_decoder.decode(hex_(vec["body_msgpack"]))
    assert encode(receipt).hex() == vec["body_msgpack"]  # how the push encodes the receipt it signs
    assert [(r.result, r.reason, r.conflict_id) for r in receipt.results][2:4] == [
        ("needs_review", "concurrent_write", "C-7c1d2e3f4a5b"), ("rejected", "unknown_part", None)]
    changesets = load("changesets.json")["changesets"]
    assert receipt.seq == 1 and receipt.changeset_hash == changesets[0]["changeset_sha256"]


def test_the_accepted_receipt_is_tagged_and_never_reads_as_a_receipt() -> None:
    vec = load("accepted.json")
    body = hex_(vec["body_msgpack"])
    accepted = accepted_decoder.decode(body)
    assert encode(accepted).hex() == vec["body_msgpack"]
    assert next(iter(msgspec.msgpack.decode(body))) == "kind" and vec["value"]["kind"] == "accepted"
    changesets = load("changesets.json")["changesets"]
    assert accepted.seq == 1 and accepted.changeset_hash == changesets[0]["changeset_sha256"]
    assert accepted.op_count == len(changesets[0]["changeset"]["ops"])
    with pytest.raises(msgspec.ValidationError):
        receipt_decoder.decode(body)
    with pytest.raises(msgspec.ValidationError):
        accepted_decoder.decode(hex_(load("receipt.json")["body_msgpack"]))


def test_the_server_builds_the_pull_page_bytes_from_stored_records_and_the_sdk_decodes_every_kind() -> None:
    vec = load("pull_page.json")
    body = hex_(vec["body_msgpack"])
    page = vec["value"]
    raw = RawPullPage(protocol_version=page["protocol_version"], device_id=page["device_id"], cursor=page["cursor"],
                      more=page["more"], server_time=page["server_time"],
                      changes=[RawChange(c["kind"], c["id"], msgspec.Raw(encode(_ints(c["data"]))))
                               for c in page["changes"]])
    assert encode(raw) == body
    typed = decode_page(body)
    assert [type(c) for c in typed.changes] == [BY_KIND[c["kind"]] for c in page["changes"]]
    assert typed.changes == msgspec.convert(_ints(page["changes"]), list[Record])
    assert len({c["kind"] for c in page["changes"]}) == len(page["changes"]) == 12


def _ints(value: Any, key: str = "") -> Any:
    """The JSON form back to values: the HLCs the files give as decimal strings are integers."""
    if isinstance(value, dict):
        if key == "field_hlc":
            return {k: int(v) for k, v in value.items()}
        return {k: _ints(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return int(value) if key == "hlc" and isinstance(value, str) else value


def test_the_enrollment_link_and_the_plain_messages() -> None:
    vec = load("messages.json")
    link = vec["enrollment_link"]
    assert enrollment_link(link["server"], link["token"]) == link["link"]
    assert enrollment_token(link["link"]) == link["token"]
    for m in vec["messages"]:
        assert msgspec.msgpack.decode(hex_(m["msgpack"])) is not None


def test_the_signoff_op_carries_the_signoff_vector() -> None:
    so = load("signoff.json")
    first = load("changesets.json")["changesets"][0]["changeset"]
    [op] = [o for o in first["ops"] if o["type"] == "signoff"]
    assert op["report_digest"] == so["report_digest"] and op["device_signature"] == so["device_signature"]
    assert SignOff.__struct_config__.tag == "signoff"


def test_vectors_readme_names_every_file() -> None:
    readme = (DIR / "README.md").read_text(encoding="utf-8")
    assert all(p.name in readme for p in DIR.glob("*.json"))


def test_the_protocol_document_points_at_the_vectors() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert "schemas/vectors/" in doc and all(p.name in doc for p in DIR.glob("*.json"))
