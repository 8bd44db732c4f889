"""The handoff of decoded accepted change-sets from the accepting request to the merger of the same process."""

from __future__ import annotations

from schemas.wire import ReceivedChangeSet
from server.domain.sync.handoff import Handoff


def changeset(seq: int) -> ReceivedChangeSet:
    return ReceivedChangeSet(protocol_version=1, device_id="D-1", seq=seq, prev_hash="0" * 64, device_clock=0, ops=[])


def test_a_kept_change_set_is_taken_once_and_only_with_its_hash() -> None:
    h = Handoff(max_bytes=1_000)
    cs = changeset(1)
    assert h.keep("D-1", 1, "h1", cs, 100)
    assert h.take("D-2", 1, "h1") is None  # another device's seq 1
    assert h.take("D-1", 1, "h1") is cs
    assert h.take("D-1", 1, "h1") is None and h.held() == (0, 0)  # taken: gone
    assert h.keep("D-1", 2, "h2", changeset(2), 100)
    assert h.take("D-1", 2, "other") is None  # not the bytes that were verified: read from the database instead
    assert h.held() == (0, 0)


def test_when_full_it_keeps_the_oldest_and_refuses_the_newest() -> None:
    h = Handoff(max_bytes=250)
    assert h.keep("D-1", 1, "a", changeset(1), 100)
    assert h.keep("D-2", 1, "b", changeset(1), 100)
    assert not h.keep("D-3", 1, "c", changeset(1), 100)  # the merger takes those that waited longest first
    assert h.held() == (2, 200)
    assert h.take("D-1", 1, "a") is not None
    assert h.keep("D-3", 1, "c", changeset(1), 100)  # room again
    assert h.held() == (2, 200)


def test_entries_nobody_took_are_dropped_when_room_is_wanted() -> None:
    h = Handoff(max_bytes=150, stale_s=0.0)  # every entry is stale at once
    assert h.keep("D-1", 1, "a", changeset(1), 100)  # merged by another process: never taken here
    assert h.keep("D-2", 1, "b", changeset(1), 100)
    assert h.take("D-1", 1, "a") is None and h.held() == (1, 100)
