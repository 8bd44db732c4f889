"""Hybrid logical clocks: ordering that survives wrong wall clocks.

An HLC timestamp is one int: ``physical_ms << 16 | counter``.  Ties between
devices are broken by the device id, so ``(hlc, device_id)`` totally orders
writes.  The server re-bases a device's timestamps by its measured clock
offset (:func:`rebase`), so a tablet whose clock runs days ahead cannot win
every conflict.
"""

from __future__ import annotations

from typing import Final

COUNTER_BITS: Final = 16
COUNTER_MASK: Final = (1 << COUNTER_BITS) - 1


def pack(physical_ms: int, counter: int = 0) -> int:
    """Build an HLC value from wall milliseconds and a logical counter."""
    return (physical_ms << COUNTER_BITS) | (counter & COUNTER_MASK)


def physical(hlc: int) -> int:
    """The wall-clock milliseconds part of an HLC value."""
    return hlc >> COUNTER_BITS


def tick(last: int, now_ms: int) -> int:
    """Next local timestamp after ``last`` given the wall clock ``now_ms``."""
    candidate = pack(now_ms)
    return candidate if candidate > last else last + 1


def receive(last: int, remote: int, now_ms: int) -> int:
    """Merge a timestamp seen from elsewhere; the result is after both."""
    return tick(max(last, remote), now_ms)


def rebase(hlc: int, offset_ms: int, server_now_ms: int) -> int:
    """Correct a device HLC by its clock offset (device minus server).

    The result is never later than the server's own clock: a value from the
    future is clamped to ``server_now_ms`` so it cannot outrank writes made
    after it really happened.
    """
    shift, ceiling = rebase_bounds(offset_ms, server_now_ms)
    return min(max(hlc - shift, 0), ceiling)


def rebase_bounds(offset_ms: int, server_now_ms: int) -> tuple[int, int]:
    """``(shift, ceiling)`` of :func:`rebase`: ``rebase(h) == min(max(h - shift, 0), ceiling)``.

    A push re-bases every op of a change-set by the same offset at the same now: it computes these once.
    """
    return offset_ms << COUNTER_BITS, pack(server_now_ms, COUNTER_MASK)


def wins(a: int, a_node: str, b: int, b_node: str) -> bool:
    """True when write ``(a, a_node)`` beats ``(b, b_node)`` under last-writer-wins."""
    return (a, a_node) > (b, b_node)
