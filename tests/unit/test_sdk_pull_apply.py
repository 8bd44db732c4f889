"""A pulled page applied in one go (buffered, one statement per kind) equals its changes applied one by one;
the typed decoding of a page from the wire equals its changes as given."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client_sdk.apply import (
    _fast_decoder,
    apply_changes,
    apply_page,
    decode_page,
    typed_change,
)
from client_sdk.store import LocalStore
from client_sdk.testing import Change
from schemas.records import AnswerRecord, JobRecord, MovementRecord, SignoffRecord

JOBS = ("J1", "J2", "J3")
TABLES = ("jobs", "answers", "templates", "parts", "stock", "movements", "signoffs", "attachments", "conflicts",
          "blobs", "assets", "kb_cases")
TICKET = {"customer": "C", "site": "S", "priority": "P2", "category": "fault", "title": "t", "asset_serial": None}

job_ids = st.sampled_from(JOBS)
small = st.integers(min_value=0, max_value=3)
text = st.sampled_from(["", "a", "b"])


def job(job_id: str, **fields: Any) -> dict[str, Any]:
    """A job record's data as the server sends it, with ``fields`` changed."""
    return {"id": job_id, "ticket_id": "T", "engineer_id": "e", "status": "assigned", "hold_reason": None,
            "notes": "", "diagnosis": "", "resolution": "", "remote": False, "rating": None, "customer_comment": None,
            "template_id": None, "template_version": None, "scheduled_start": None, "scheduled_end": None,
            "signed_off": False, "field_hlc": {}, "ticket": TICKET, **fields}


def answer(job_id: str, key: str, **fields: Any) -> dict[str, Any]:
    return {"job_id": job_id, "item_key": key, "value": None, "note": None, "na_reason": None, "hlc": 0,
            "device_id": "d", "deleted": False, **fields}


def movement(mid: str, **fields: Any) -> dict[str, Any]:
    return {"id": mid, "kind": "consume", "part_no": "P", "qty": 1, "serial": None, "from_location": "van-e",
            "to_location": None, "job_id": None, "at": 0, "billable": None, **fields}


def signoff(job_id: str, **fields: Any) -> dict[str, Any]:
    return {"job_id": job_id, "signer_name": "S", "signer_role": "customer", "signed_at": 1, "report_digest": "d",
            **fields}


@st.composite
def changes(draw: st.DrawFn) -> Change:
    kind = draw(st.sampled_from(["job", "job", "answer", "answer", "movement", "signoff", "job_removed",
                                 "attachment", "conflict", "template", "part", "stock", "asset", "kb", "hologram"]))
    job_id = draw(job_ids)
    if kind == "job":
        return Change(kind=kind, id=job_id, data=job(
            job_id, status=draw(st.sampled_from(["assigned", "on_site"])), template_version=draw(st.none() | small),
            signed_off=draw(st.booleans()), field_hlc={"notes": draw(small)}, notes=draw(text),
            diagnosis=draw(text), rating=draw(st.none() | small)))
    if kind == "answer":
        key = draw(st.sampled_from(["k1", "k2"]))
        return Change(kind=kind, id=f"{job_id}/{key}", data=answer(job_id, key, value=draw(small), hlc=draw(small),
                                                                   deleted=draw(st.booleans())))
    if kind == "movement":
        mid = draw(st.sampled_from(["M1", "M2"]))
        return Change(kind=kind, id=mid, data=movement(mid, job_id=job_id, at=draw(small)))
    if kind == "signoff":
        return Change(kind=kind, id=job_id, data=signoff(job_id, report_digest=draw(st.sampled_from(["d1", "d2"]))))
    if kind == "job_removed":
        return Change(kind=kind, id=job_id, data={"id": job_id, "reason": "reassigned"})
    if kind == "attachment":
        sha = draw(st.sampled_from(["s1", "s2"]))
        return Change(kind=kind, id=f"{job_id}/{sha}", data={"job_id": job_id, "sha256": sha, "kind": "photo",
                                                             "size": draw(small), "deleted": draw(st.booleans())})
    if kind == "conflict":
        cid = draw(st.sampled_from(["C1", "C2"]))
        return Change(kind=kind, id=cid, data={
            "id": cid, "kind": "answer", "job_id": job_id, "key": "k", "status": "open", "applied": draw(small),
            "values": [{"value": 1, "device_id": "d", "hlc": 1, "at": 0}], "resolution": {}})
    if kind == "template":
        return Change(kind=kind, id="t", data={"id": "t", "version": draw(small), "name": "T",
                                               "items": [{"key": "k1", "label": "K"}]})
    if kind == "part":
        return Change(kind=kind, id="P", data={"part_no": "P", "name": draw(text), "serialized": False,
                                               "unit_price_cents": 0})
    if kind == "stock":
        return Change(kind=kind, id="v/P", data={"location": "v", "part_no": "P", "qty": draw(small)})
    if kind == "asset":
        return Change(kind=kind, id="A", data={
            "serial": "A", "model": draw(text), "equipment_type": "", "customer": "", "site": "", "installed_at": None,
            "warranty_until": None, "contract_until": None, "under_warranty": False, "under_contract": False})
    if kind == "kb":
        return Change(kind=kind, id="K", data={
            "id": "K", "model": "", "equipment_type": "", "symptom": draw(text), "cause": "", "fix": "", "parts": [],
            "ticket_id": None, "created_at": 0, "created_by": "x"})
    return Change(kind=kind, id="x", data={"anything": 1})


pending_keys = st.lists(st.tuples(job_ids, st.sampled_from(["status", "field:notes", "field:diagnosis",
                                                            "answer:k1", "signoff", "attachment:s1"])),
                        max_size=4, unique=True)


def _store(path: Path, before: list[Change], pending: list[tuple[str, str]]) -> LocalStore:
    store = LocalStore(path)
    with store.write() as tx:
        for change in before:
            apply_changes(tx, [change])
        for n, (job_id, key) in enumerate(pending):
            tx.execute("INSERT INTO outbox (op_id, job_id, type, key, body, created_at) VALUES (?, ?, ?, ?, ?, 0)",
                       (f"op{n}", job_id, "t", key, b""))
    return store


def _dump(store: LocalStore) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(store.conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


@contextmanager
def _two_stores(before: list[Change], pending: list[tuple[str, str]]) -> Iterator[tuple[LocalStore, LocalStore]]:
    """Two tablets holding the same ``before`` state and pending ops, to apply a page two ways."""
    with tempfile.TemporaryDirectory() as tmp:
        a = _store(Path(tmp) / "a.db", before, pending)
        b = _store(Path(tmp) / "b.db", before, pending)
        try:
            yield a, b
        finally:
            a.close()
            b.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.lists(changes(), max_size=8), page=st.lists(changes(), max_size=14), pending=pending_keys)
def test_a_page_applies_as_its_changes_one_by_one(before: list[Change], page: list[Change],
                                                  pending: list[tuple[str, str]]) -> None:
    with _two_stores(before, pending) as (at_once, one_by_one):
        with at_once.write() as tx:
            done = apply_changes(tx, page)
        with one_by_one.write() as tx:
            for change in page:
                apply_changes(tx, [change])
        assert done == sum(c.kind != "hologram" for c in page)
        assert _dump(at_once) == _dump(one_by_one)


def test_a_sign_off_earlier_in_the_page_keeps_the_job_signed_when_the_job_row_follows(tmp_path: Path) -> None:
    store = _store(tmp_path / "t.db", [Change(kind="job", id="J1", data=job("J1"))], [])
    with store.write() as tx:
        apply_changes(tx, [
            Change(kind="signoff", id="J1", data=signoff("J1")),
            Change(kind="job", id="J1", data=job("J1", notes="later")),
        ])
    assert store.conn.execute("SELECT signed_off, notes FROM jobs").fetchall() == [(1, "later")]
    store.close()


def _page_bytes(page: list[Change]) -> bytes:
    return msgspec.msgpack.encode({"protocol_version": 1, "device_id": "D", "cursor": "0.1", "more": False,
                                   "server_time": 1, "changes": page})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.lists(changes(), max_size=6), page=st.lists(changes(), max_size=14), pending=pending_keys)
def test_a_page_decoded_from_the_wire_applies_as_its_changes(before: list[Change], page: list[Change],
                                                             pending: list[tuple[str, str]]) -> None:
    with _two_stores(before, pending) as (wire, given_):
        decoded = decode_page(_page_bytes(page))
        assert [type(c).__name__ if c is not None else None for c in decoded.changes] == [
            type(typed_change(c.kind, c.id, c.data)).__name__ if c.kind != "hologram" else None for c in page]
        with wire.write() as tx:
            done = apply_page(tx, decoded.changes)
        with given_.write() as tx:
            assert apply_changes(tx, page) == done
        assert _dump(wire) == _dump(given_)


def test_known_pages_take_the_typed_decoder_into_the_servers_record_types() -> None:
    page = [Change(kind="job", id="J1", data=job("J1", status="on_site", notes="n")),
            Change(kind="answer", id="J1/k", data=answer("J1", "k", value=3, hlc=5)),
            Change(kind="movement", id="M1", data=movement("M1", qty=2)),
            Change(kind="signoff", id="J1", data=signoff("J1"))]
    decoded = _fast_decoder.decode(_page_bytes(page)).changes
    assert [type(c) for c in decoded] == [JobRecord, AnswerRecord, MovementRecord, SignoffRecord]
    assert isinstance(decoded[0], JobRecord) and decoded[0].data.notes == "n"
    assert decoded[0].data.ticket.customer == "C" and decoded[0].data.changed_after_signoff is None
    assert isinstance(decoded[1], AnswerRecord) and decoded[1].data.hlc == 5


def test_a_record_missing_a_field_its_kind_requires_is_refused() -> None:
    body = _page_bytes([Change(kind="stock", id="v/P", data={"part_no": "P", "qty": 1})])
    with pytest.raises(msgspec.ValidationError, match="location"):
        decode_page(body)


def test_a_page_with_a_kind_or_a_field_type_this_tablet_does_not_know_still_applies(tmp_path: Path) -> None:
    body = msgspec.msgpack.encode({
        "protocol_version": 1, "device_id": "D", "cursor": "0.3", "more": False, "server_time": 1, "changes": [
            {"kind": "hologram", "id": "x", "data": {"anything": [1, 2]}},
            {"kind": "answer", "id": "J1/k", "data": {**answer("J1", "k", value="ok"), "hlc": "7",
                                                      "later_field": {"a": 1}}},
            {"kind": "stock", "id": "v/P", "data": {"location": "v", "part_no": "P", "qty": 4}},
        ]})
    with pytest.raises(msgspec.ValidationError):
        _fast_decoder.decode(body)
    page = decode_page(body)
    assert page.cursor == "0.3" and page.changes[0] is None
    store = LocalStore(tmp_path / "t.db")
    with store.write() as tx:
        assert apply_page(tx, page.changes) == 2
    assert store.conn.execute("SELECT job_id, item_key, value, hlc FROM answers").fetchall() == [("J1", "k", '"ok"', 7)]
    assert store.conn.execute("SELECT location, part_no, qty FROM stock").fetchall() == [("v", "P", 4)]
    store.close()


def test_a_body_that_is_not_a_pull_page_is_refused() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_page(b"\x93\x01\x02")
