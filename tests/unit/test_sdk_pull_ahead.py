"""The tablet reads the next pull page while it applies one: same requests, same results, same failure rules."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from client_sdk import FieldClient
from client_sdk.testing import FakeSyncServer, record
from schemas.wire import PullRequest, Signed


class ScriptedServer(FakeSyncServer):
    """A fake server that runs an action before the n-th pull request and records who asked."""

    def __init__(self) -> None:
        super().__init__()
        self.page_size = 2
        self.before_pull: dict[int, Callable[[], None]] = {}
        self.cursors: list[str] = []
        self.threads: set[str] = set()

    def pull(self, req: PullRequest) -> Signed:
        self.cursors.append(req.cursor)
        self.threads.add(threading.current_thread().name)
        action = self.before_pull.get(len(self.cursors))
        if action is not None:
            action()
        return super().pull(req)


@pytest.fixture()
def server() -> ScriptedServer:
    s = ScriptedServer()
    for i in range(7):
        s.publish("part", f"X-{i}", record("part", f"X-{i}", name=f"part {i}").data)
    return s


@pytest.fixture()
def client(tmp_path: Path, server: ScriptedServer) -> Iterator[FieldClient]:
    c = FieldClient.open(tmp_path / "tablet.db", transport=server)
    c.enroll(server.issue_token())
    yield c
    c.close()


def _parts(client: FieldClient) -> set[str]:
    return {p.part_no for p in client.parts()}


def test_pages_are_requested_in_order_once_each_and_all_applied(client: FieldClient, server: ScriptedServer) -> None:
    report = client.sync()
    assert report.ok and report.pulled_changes == 7
    assert server.cursors == ["", "2", "4", "6"]
    assert _parts(client) == {f"X-{i}" for i in range(7)}
    assert any(name.startswith("fieldsync-pull") for name in server.threads)  # read ahead on the helper thread
    assert client.sync().pulled_changes == 0


def test_a_session_expiring_under_a_page_read_ahead_is_renewed(client: FieldClient, server: ScriptedServer) -> None:
    server.before_pull[3] = server.expire_session
    report = client.sync()
    assert report.ok and report.pulled_changes == 7
    assert server.cursors == ["", "2", "4", "4", "6"]  # the refused page is asked again, once
    assert _parts(client) == {f"X-{i}" for i in range(7)}


def test_losing_the_link_while_reading_ahead_keeps_the_pages_applied(client: FieldClient,
                                                                   server: ScriptedServer) -> None:
    def drop() -> None:
        server.offline = True

    server.before_pull[3] = drop
    report = client.sync()
    assert report.offline and report.pulled_changes == 4  # the two pages before the drop are in
    assert _parts(client) == {f"X-{i}" for i in range(4)}
    server.offline = False
    assert client.sync().pulled_changes == 3  # and the cursor went with them
    assert server.cursors[-2:] == ["4", "6"]
    assert _parts(client) == {f"X-{i}" for i in range(7)}


def test_a_failed_page_write_stops_the_run_and_keeps_the_pages_before(client: FieldClient,
                                                                      server: ScriptedServer) -> None:
    # a quantity no SQLite integer holds: the page holding it decodes but cannot be applied
    server.publish("stock", "van-1/X-0", {"location": "van-1", "part_no": "X-0", "qty": 2**64 - 1})
    for i in range(7, 10):
        server.publish("part", f"X-{i}", record("part", f"X-{i}", name=f"part {i}").data)
    with pytest.raises(OverflowError):
        client.sync()
    assert _parts(client) == {f"X-{i}" for i in range(6)}  # pages before the bad one committed
    assert client._store.read.scalar("SELECT pull_cursor FROM device WHERE id = 1") == "6"
