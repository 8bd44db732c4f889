"""``FieldClient.batch()``: many SDK writes in one local transaction, with the same all-or-nothing rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from client_sdk import FieldClient
from client_sdk.apply import apply_changes
from client_sdk.errors import InvalidAnswer, SdkError
from client_sdk.testing import Change, record

TEMPLATE = {"id": "svc", "version": 1, "name": "Service",
            "items": [{"key": "gas_tight", "label": "Gas tight", "type": "pass_fail", "required": True}]}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[FieldClient]:
    c = FieldClient.open(tmp_path / "tablet.db", "http://127.0.0.1:9")
    with c._store.write() as tx:
        apply_changes(tx, [
            Change(kind="template", id="svc@1", data=TEMPLATE),
            record("job", "J-1", engineer_id="e-1", template_id="svc", template_version=1),
        ])
    yield c
    c.close()


def test_batched_writes_commit_together_in_write_order(client: FieldClient) -> None:
    with client.batch():
        client.set_status("J-1", "on_site")
        client.answer("J-1", "gas_tight", True)
        client.set_field("J-1", "diagnosis", "ok")
    assert [p.type for p in client.pending()] == ["job.status", "checklist.answer", "job.field"]
    assert client.job("J-1").job.status == "on_site"


def test_a_refused_write_in_a_batch_is_undone_alone(client: FieldClient) -> None:
    with client.batch():
        client.set_status("J-1", "on_site")
        with pytest.raises(InvalidAnswer):
            client.answer("J-1", "no_such_item", True)
        client.answer("J-1", "gas_tight", True)
    assert len(client.pending()) == 2


def test_an_error_escaping_the_batch_writes_nothing(client: FieldClient) -> None:
    with pytest.raises(RuntimeError), client.batch():
        client.set_status("J-1", "on_site")
        raise RuntimeError("power cut")
    assert client.pending() == []
    assert client.job("J-1").job.status == "assigned"


def test_sync_inside_a_batch_is_refused(client: FieldClient) -> None:
    client._key = object()  # type: ignore[assignment]  # enrolled as far as sync() checks
    with client.batch(), pytest.raises(SdkError):
        client.sync()
