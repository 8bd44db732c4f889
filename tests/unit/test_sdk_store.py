"""Local writes: validated by the shared rules, one transaction each, row + outbox op together."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from client_sdk import FieldClient
from client_sdk.errors import (
    ChecklistIncomplete,
    InvalidAnswer,
    InvalidAttachment,
    InvalidField,
    InvalidPart,
    InvalidTransition,
    UnknownJob,
)
from client_sdk.store import LocalStore
from client_sdk.testing import FakeSyncServer, publish_demo_job
from schemas.wire import AnswerItem, SetField, SetStatus
from sync.core.hlc import physical
from tests.support import TickingClock


@pytest.fixture()
def server() -> FakeSyncServer:
    s = FakeSyncServer()
    publish_demo_job(s)
    return s


@pytest.fixture()
def client(tmp_path: Path, server: FakeSyncServer) -> Iterator[FieldClient]:
    c = FieldClient.open(tmp_path / "tablet.db", transport=server, clock=TickingClock())
    c.enroll(server.issue_token())
    assert c.sync().ok
    yield c
    c.close()


def outbox_rows(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT type, key FROM outbox ORDER BY seq").fetchall()
    finally:
        conn.close()


MIGRATED = ["0001_initial", "0002_lifecycle", "0003_changed_after_signoff", "0004_write_path", "0005_kb_search_tokens",
            "0006_amendments", "0007_accepted", "0008_kb_fts_rowid"]


def test_store_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "t.db")
    assert store.applied_migrations() == MIGRATED
    assert store.db.journal_mode == "wal"
    store.close()
    again = LocalStore(tmp_path / "t.db")  # re-opening applies nothing twice
    assert again.applied_migrations() == MIGRATED
    again.close()


def test_pulled_job_is_listed(client: FieldClient) -> None:
    [job] = client.jobs()
    assert (job.id, job.status, job.template_version) == ("job-1", "assigned", 2)
    assert job.ticket["customer"] == "ACME"
    detail = client.job("job-1")
    assert detail.template is not None and detail.missing_required == ["gas_tight", "pressure"]
    assert client.pending() == []


def test_write_updates_row_and_outbox_and_survives_reopen(tmp_path: Path, client: FieldClient) -> None:
    client.set_status("job-1", "en_route")
    client.set_field("job-1", "diagnosis", "Igniter worn")
    client.answer("job-1", "pressure", 1.5, note="cold")
    client.close()
    assert outbox_rows(tmp_path / "tablet.db") == [
        ("job.status", "status"),
        ("job.field", "field:diagnosis"),
        ("checklist.answer", "answer:pressure"),
    ]
    reopened = FieldClient.open(tmp_path / "tablet.db", transport=FakeSyncServer())
    ops = [p.op for p in reopened.pending()]
    assert isinstance(ops[0], SetStatus) and ops[0].status == "en_route"
    assert isinstance(ops[1], SetField) and ops[1].value == "Igniter worn"
    assert isinstance(ops[2], AnswerItem) and ops[2].template_version == 2 and ops[2].note == "cold"
    assert reopened.job("job-1").job.diagnosis == "Igniter worn"
    assert len({p.op_id for p in reopened.pending()}) == 3
    reopened.close()


def test_ops_carry_increasing_hlc_and_device_time(client: FieldClient) -> None:
    client.set_field("job-1", "notes", "a")
    client.set_field("job-1", "notes", "b")
    first, second = (p.op for p in client.pending())
    assert isinstance(first, SetField) and isinstance(second, SetField)
    assert second.hlc > first.hlc
    assert physical(first.hlc) == first.at
    assert second.base_hlc == first.hlc  # overwrote our own earlier value


@pytest.mark.parametrize(
    ("path", "target", "hold", "error"),
    [
        (["on_site"], "closed", None, InvalidTransition),  # office only
        (["on_site"], "signed_off", None, InvalidTransition),  # only via sign_off()
        ([], "in_progress", None, InvalidTransition),  # assigned -> in_progress not allowed
        (["on_site"], "on_hold", None, InvalidTransition),  # hold needs a reason
        (["on_site"], "on_hold", "coffee", InvalidTransition),
        (["on_site"], "in_progress", "awaiting_parts", InvalidTransition),
        ([], "teleported", None, InvalidTransition),
        (["on_site"], "completed", None, ChecklistIncomplete),
    ],
)
def test_refused_status_writes_nothing(
    client: FieldClient, path: list[str], target: str, hold: str | None, error: type[Exception]
) -> None:
    for status in path:
        client.set_status("job-1", status)
    before = client.pending()
    with pytest.raises(error):
        client.set_status("job-1", target, hold_reason=hold)
    assert client.pending() == before
    assert client.job("job-1").job.status == (path[-1] if path else "assigned")


def test_status_machine_walk_and_hold(client: FieldClient) -> None:
    client.set_status("job-1", "accepted")
    client.set_status("job-1", "en_route")
    client.set_status("job-1", "on_site")
    client.set_status("job-1", "on_hold", hold_reason="awaiting_parts")
    assert client.job("job-1").job.hold_reason == "awaiting_parts"
    client.set_status("job-1", "in_progress")
    client.answer("job-1", "gas_tight", True)
    with pytest.raises(ChecklistIncomplete) as info:
        client.set_status("job-1", "completed")
    assert info.value.missing == ["pressure"]
    client.answer("job-1", "pressure", None, na_reason="gauge missing")
    client.set_status("job-1", "completed")
    job = client.job("job-1").job
    assert job.status == "completed" and job.hold_reason is None
    assert set(job.times) >= {"on_site", "completed"}


@pytest.mark.parametrize(
    ("key", "value", "na", "reason"),
    [
        ("gas_tight", "yes", None, "expected_pass_fail"),
        ("pressure", 9.0, None, "above_range"),
        ("pressure", True, None, "expected_number"),
        ("flue", "open", None, "not_a_choice"),
        ("pressure", None, None, "value_required"),
        ("pressure", None, "  ", "not_applicable_needs_reason"),
        ("nope", True, None, "unknown_item"),
    ],
)
def test_invalid_answers_write_nothing(
    client: FieldClient, key: str, value: object, na: str | None, reason: str
) -> None:
    with pytest.raises(InvalidAnswer) as info:
        client.answer("job-1", key, value, na_reason=na)  # type: ignore[arg-type]
    assert info.value.reason == reason
    assert client.pending() == [] and client.job("job-1").answers == []


def test_answer_overwrite_carries_base_hlc(client: FieldClient) -> None:
    client.answer("job-1", "flue", "ok")
    client.answer("job-1", "flue", "blocked", note="nest")
    first, second = (p.op for p in client.pending())
    assert isinstance(first, AnswerItem) and isinstance(second, AnswerItem)
    assert first.base_hlc == 0 and second.base_hlc == first.hlc
    [answer] = client.job("job-1").answers
    assert (answer.value, answer.note, answer.pending) == ("blocked", "nest", True)


def test_fields_parts_attachments_validation(client: FieldClient) -> None:
    with pytest.raises(InvalidField):
        client.set_field("job-1", "status", "closed")
    with pytest.raises(InvalidField):
        client.set_field("job-1", "remote", "yes")
    with pytest.raises(InvalidPart):
        client.use_part("job-1", "P-999")
    with pytest.raises(InvalidPart):
        client.use_part("job-1", "P-200")  # serialized, no serial
    with pytest.raises(InvalidPart):
        client.use_part("job-1", "P-100", qty=0)
    with pytest.raises(InvalidAttachment):
        client.attach("job-1", b"")
    with pytest.raises(InvalidAttachment):
        client.attach("job-1", b"x", kind="video")
    with pytest.raises(UnknownJob):
        client.set_field("job-x", "notes", "x")
    assert client.pending() == []


def test_use_part_and_van_stock(client: FieldClient) -> None:
    op_id = client.use_part("job-1", "P-100", qty=2, returned_serial="OLD-1")
    client.use_part("job-1", "P-200", serial="SN-9")
    parts = client.job("job-1").parts
    assert [(m.id, m.part_no, m.qty, m.returned_serial, m.pending) for m in parts][0] == (
        op_id,
        "P-100",
        2,
        "OLD-1",
        True,
    )
    assert {(s.part_no, s.qty) for s in client.stock()} >= {("P-100", 3)}


def test_attach_is_content_addressed_and_idempotent(client: FieldClient) -> None:
    data = b"\xff\xd8\xff" + b"photo" * 1000
    sha = client.attach("job-1", data)
    assert client.attach("job-1", data) == sha
    assert len(client.pending()) == 1
    [att] = client.job("job-1").attachments
    assert (att.sha256, att.size, att.content_type, att.uploaded) == (sha, len(data), "image/jpeg", False)
    assert client.blob(sha) == data


def test_failed_write_mid_transaction_rolls_back(client: FieldClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from client_sdk import outbox

    def boom(*args: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(outbox, "append", boom)
    with pytest.raises(RuntimeError):
        client.set_field("job-1", "notes", "lost?")
    monkeypatch.undo()
    assert client.job("job-1").job.notes == ""  # row update rolled back with the op
    assert client.pending() == []
