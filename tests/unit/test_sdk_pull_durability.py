"""Pull pages that more pages follow commit without waiting for the disk; the last page's commit is a full one,
and the store's setting is back afterwards, also when a page fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client_sdk import FieldClient, syncer
from client_sdk.testing import FakeSyncServer, record

FULL, NORMAL = 2, 1


@pytest.fixture()
def server() -> FakeSyncServer:
    s = FakeSyncServer()
    s.page_size = 2
    for i in range(5):
        s.publish("part", f"X-{i}", record("part", f"X-{i}", name=f"part {i}").data)
    return s


@pytest.fixture()
def client(tmp_path: Path, server: FakeSyncServer) -> Iterator[FieldClient]:
    c = FieldClient.open(tmp_path / "tablet.db", transport=server)
    c.enroll(server.issue_token())
    yield c
    c.close()


@pytest.fixture()
def levels(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ``synchronous`` level each applied page's transaction commits at."""
    seen: list[int] = []
    apply_page = syncer.apply_page

    def recording(tx: Any, changes: list[Any]) -> int:
        seen.append(tx.conn.execute("PRAGMA synchronous").fetchone()[0])
        return apply_page(tx, changes)

    monkeypatch.setattr(syncer, "apply_page", recording)
    return seen


def _level(client: FieldClient) -> int:
    return int(client._store.conn.execute("PRAGMA synchronous").fetchone()[0])


def test_only_the_last_page_of_a_pull_waits_for_the_disk(client: FieldClient, levels: list[int]) -> None:
    report = client.sync()
    assert report.ok and report.pulled_changes == 5
    assert levels == [NORMAL, NORMAL, FULL]  # pages of 2, 2 and 1: the last one flushes them all
    assert _level(client) == FULL  # local writes commit as before
    assert client.sync().pulled_changes == 0 and levels[-1] == FULL  # one empty page, the last


def test_a_failed_page_leaves_the_store_at_its_own_level(client: FieldClient, server: FakeSyncServer,
                                                         levels: list[int]) -> None:
    # a quantity no SQLite integer holds: its page (the third) decodes but cannot be applied
    server.publish("stock", "van-1/X-0", {"location": "van-1", "part_no": "X-0", "qty": 2**64 - 1})
    for i in range(5, 7):
        server.publish("part", f"X-{i}", record("part", f"X-{i}", name=f"part {i}").data)
    with pytest.raises(OverflowError):
        client.sync()
    assert levels == [NORMAL, NORMAL, NORMAL]
    assert _level(client) == FULL
    assert client._store.read.scalar("SELECT pull_cursor FROM device WHERE id = 1") == "4"
