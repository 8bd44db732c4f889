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
    AnswerChange,
    JobChange,
    MovementChange,
    SignoffChange,
    _fast_decoder,
    apply_changes,
    apply_page,
    decode_page,
    typed_change,
)
from client_sdk.store import LocalStore
from schemas.wire import Change, PullPage

JOBS = ("J1", "J2", "J3")
TABLES = ("jobs", "answers", "templates", "parts", "stock", "movements", "signoffs", "attachments", "conflicts",
          "blobs", "assets", "kb_cases")

job_ids = st.sampled_from(JOBS)
small = st.integers(min_value=0, max_value=3)
text = st.sampled_from(["", "a", "b"])


@st.composite
def changes(draw: st.DrawFn) -> Change:
    kind = draw(st.sampled_from(["job", "job", "answer", "answer", "movement", "signoff", "job_removed",
                                 "attachment", "conflict", "template", "part", "stock", "asset", "hologram"]))
    job = draw(job_ids)
    data: dict[str, Any]
    if kind == "job":
        data = {"id": job, "ticket_id": "T", "engineer_id": "e", "status": draw(st.sampled_from(["assigned",
                                                                                                  "on_site"])),
                "template_version": draw(st.none() | small), "signed_off": draw(st.booleans()),
                "field_hlc": {"notes": draw(small)}}
        for name in ("notes", "diagnosis", "rating"):
            if draw(st.booleans()):
                data[name] = draw(small) if name == "rating" else draw(text)
        return Change(kind=kind, id=job, data=data)
    if kind == "answer":
        key = draw(st.sampled_from(["k1", "k2"]))
        return Change(kind=kind, id=f"{job}/{key}", data={"job_id": job, "item_key": key, "value": draw(small),
                                                          "hlc": draw(small), "deleted": draw(st.booleans())})
    if kind == "movement":
        mid = draw(st.sampled_from(["M1", "M2"]))
        data = {"id": mid, "kind": "use", "part_no": "P", "qty": 1, "job_id": job, "at": draw(small)}
        if draw(st.booleans()):
            data["returned_serial"] = draw(st.none() | text)
        return Change(kind=kind, id=mid, data=data)
    if kind == "signoff":
        return Change(kind=kind, id=job, data={"job_id": job, "signer_name": "S", "signer_role": "customer",
                                               "signed_at": 1, "report_digest": draw(st.sampled_from(["d1", "d2"]))})
    if kind == "job_removed":
        return Change(kind=kind, id=job)
    if kind == "attachment":
        return Change(kind=kind, id=f"{job}/s", data={"job_id": job, "sha256": draw(st.sampled_from(["s1", "s2"])),
                                                      "size": draw(small), "deleted": draw(st.booleans())})
    if kind == "conflict":
        return Change(kind=kind, id=draw(st.sampled_from(["C1", "C2"])), data={"job_id": job, "key": "k",
                                                                              "status": "open"})
    if kind == "template":
        return Change(kind=kind, id="t", data={"id": "t", "version": draw(small), "items": [{"key": "k1"}]})
    if kind == "part":
        return Change(kind=kind, id="P", data={"part_no": "P", "name": draw(text)})
    if kind == "stock":
        return Change(kind=kind, id="v/P", data={"location": "v", "part_no": "P", "qty": draw(small)})
    if kind == "asset":
        return Change(kind=kind, id="A", data={"serial": "A", "model": draw(text)})
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
    store = _store(tmp_path / "t.db", [Change(kind="job", id="J1", data={"id": "J1", "signed_off": False})], [])
    with store.write() as tx:
        apply_changes(tx, [
            Change(kind="signoff", id="J1", data={"job_id": "J1", "report_digest": "d"}),
            Change(kind="job", id="J1", data={"id": "J1", "signed_off": False, "notes": "later"}),
        ])
    assert store.conn.execute("SELECT signed_off, notes FROM jobs").fetchall() == [(1, "later")]
    store.close()


def _page_bytes(page: list[Change]) -> bytes:
    return msgspec.msgpack.encode(PullPage(protocol_version=1, device_id="D", cursor="0.1", more=False, server_time=1,
                                           changes=page))


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


def test_known_pages_take_the_typed_decoder_and_records_hold_no_dicts() -> None:
    page = [Change(kind="job", id="J1", data={"id": "J1", "status": "on_site", "notes": "n"}),
            Change(kind="answer", id="J1/k", data={"job_id": "J1", "item_key": "k", "value": 3, "hlc": 5}),
            Change(kind="movement", id="M1", data={"id": "M1", "qty": 2}),
            Change(kind="signoff", id="J1", data={"job_id": "J1", "report_digest": "d"})]
    decoded = _fast_decoder.decode(_page_bytes(page)).changes
    assert [type(c) for c in decoded] == [JobChange, AnswerChange, MovementChange, SignoffChange]
    assert decoded[0].data.notes == "n" and decoded[0].data.diagnosis is msgspec.UNSET  # missing stays missing
    assert decoded[2].data.returned_serial is msgspec.UNSET and decoded[1].data.hlc == 5


def test_a_page_with_a_kind_or_a_field_type_this_tablet_does_not_know_still_applies(tmp_path: Path) -> None:
    body = msgspec.msgpack.encode({
        "protocol_version": 1, "device_id": "D", "cursor": "0.3", "more": False, "server_time": 1, "changes": [
            {"kind": "hologram", "id": "x", "data": {"anything": [1, 2]}},
            {"kind": "answer", "id": "J1/k", "data": {"job_id": "J1", "item_key": "k", "value": "ok", "hlc": "7",
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
