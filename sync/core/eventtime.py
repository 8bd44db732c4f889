"""When a device event happened, as the server uses it for SLA: the corrected device time, or the receipt time.

A tablet's clock can be wrong.  When it opens a session the server measures
the offset (device clock minus server clock) and later corrects each event's
device time by it.  Two things can still go wrong, and neither may move an
SLA clock silently:

- the device reported no usable clock (0, or outside the event-time bounds of
  :mod:`schemas.rules`): the offset is *unknown* (:func:`measure_offset`
  returns None), not zero;
- the clock jumped between the event and the session (a tablet set ten years
  ahead before it synced): the corrected time lands before the ticket opened,
  or after the server received the event.

In those cases :func:`place_event` uses the receipt time for SLA and returns
a flag naming why; the server stores the flag with the event, shows it in the
API and raises a reconciliation item for review.  Small differences (within
:data:`schemas.rules.EVENT_TIME_TOLERANCE_MS`) are measurement noise: a time a
little after the receipt counts as the receipt time, unflagged.
"""

from __future__ import annotations

from typing import Final

from schemas.rules import EVENT_TIME_TOLERANCE_MS
from sync.core.rules import time_ok

CLOCK_UNKNOWN: Final = "device_clock_unknown"
BEFORE_TICKET_OPENED: Final = "before_ticket_opened"
AFTER_RECEIPT: Final = "after_receipt"
#: every flag an event's time can carry
TIME_FLAGS: Final = (CLOCK_UNKNOWN, BEFORE_TICKET_OPENED, AFTER_RECEIPT)


#: an event's time for SLA (``at``), its corrected device time (None: unknown), and why ``at`` is the receipt
#: (None: it is not).  A plain tuple: a push places thousands of events.
PlacedTime = tuple[int, int | None, str | None]


def measure_offset(device_clock: int, server_now: int) -> int | None:
    """The device's clock offset in ms (device minus server), or None when it reported no usable clock."""
    return device_clock - server_now if time_ok(device_clock) else None


def place_event(device_ms: int, offset_ms: int | None, opened_at: int, received_at: int) -> PlacedTime:
    """The time SLA uses for an event recorded at ``device_ms`` on the device and received at ``received_at``.

    ``opened_at`` is when the event's ticket opened.  ``device_ms`` has passed the event-time bounds.
    """
    if offset_ms is None:
        return received_at, None, CLOCK_UNKNOWN
    corrected = device_ms - offset_ms
    if corrected < opened_at - EVENT_TIME_TOLERANCE_MS:
        return received_at, corrected, BEFORE_TICKET_OPENED
    if corrected > received_at:
        if corrected > received_at + EVENT_TIME_TOLERANCE_MS:
            return received_at, corrected, AFTER_RECEIPT
        corrected = received_at  # never after the server's own clock
    return corrected, corrected, None

