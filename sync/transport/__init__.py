"""Client side of the sync protocol's transport: one seam, swappable in tests.

:class:`~sync.transport.base.SyncTransport` is the port the tablet SDK talks
to; :class:`~sync.transport.http.HttpTransport` is the adapter over httpx.
The error tree lives in :mod:`sync.transport.base`.
"""

from __future__ import annotations

from sync.transport.base import (
    BadResponse,
    BlobStatus,
    Offline,
    ProtocolError,
    ServerError,
    SyncTransport,
    TransportError,
)
from sync.transport.http import AsyncTransportBridge, HttpTransport

__all__ = [
    "AsyncTransportBridge",
    "BadResponse",
    "BlobStatus",
    "HttpTransport",
    "Offline",
    "ProtocolError",
    "ServerError",
    "SyncTransport",
    "TransportError",
]
