"""A loopback TCP proxy that behaves like a weak field link: slow, far away, and cut at random points.

``fieldsync bench --scenario weak_link`` and the weak-link tests put it between the Python SDK and a real
``fieldsync serve``.  Each direction is its own link of ``rate_bps`` bits per second (serialization: a byte
leaves after the bytes before it) plus ``rtt_ms / 2`` of propagation; a new connection costs one round
trip before its first byte is forwarded (the TCP handshake).  Connections are cut (both sides closed at
once, with a reset) after a number of bytes drawn from an exponential distribution of mean
``cut_mean_bytes``, counted over both directions, from a ``random.Random(seed)``, so a run with the same
seed and the same traffic cuts at the same points.  :meth:`LinkProxy.cut_after` forces the next cut.

It counts the bytes it forwards each way (what a tablet's radio would carry, HTTP headers included) and
the cuts it made.  It runs its own event loop on a thread, so synchronous code (the SDK) can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Final

READ_SIZE: Final = 4096


@dataclass
class LinkStats:
    """What crossed the link so far."""

    up_bytes: int = 0  # client -> server
    down_bytes: int = 0  # server -> client
    connections: int = 0
    cuts: int = 0
    cut_points: list[int] = field(default_factory=list)


class _Direction:
    """One direction of the link: bytes queue behind each other at the link's rate, then travel ``delay``."""

    def __init__(self, rate_bytes_s: float, delay_s: float) -> None:
        self.rate = rate_bytes_s
        self.delay = delay_s
        self.free_at = 0.0

    def arrival(self, n: int, now: float) -> float:
        start = max(now, self.free_at)
        self.free_at = start + (n / self.rate if self.rate > 0 else 0.0)
        return self.free_at + self.delay


class LinkProxy:
    """Forward ``127.0.0.1:<port>`` to ``target`` through a shaped, cut link (see the module docstring)."""

    def __init__(self, target_host: str, target_port: int, *, rate_bps: float = 256_000, rtt_ms: float = 300,
                 cut_mean_bytes: float | None = 256 * 1024, seed: int = 1) -> None:
        self.target = (target_host, target_port)
        self.rate_bytes_s = rate_bps / 8
        self.delay_s = rtt_ms / 2000
        self.cut_mean_bytes = cut_mean_bytes
        self.rng = random.Random(seed)
        self.stats = LinkStats()
        #: cuts happen only while this is true (a test turns them off to finish cleanly)
        self.cutting = cut_mean_bytes is not None
        self._forced: int | None = None
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="linkproxy", daemon=True)
        self.port = 0
        # both directions share one link (one radio): one up and one down queue for every connection
        self._up = _Direction(self.rate_bytes_s, self.delay_s)
        self._down = _Direction(self.rate_bytes_s, self.delay_s)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LinkProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> LinkProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cut_after(self, n_bytes: int) -> None:
        """Cut the connection that carries the link's ``n_bytes``-th byte from now (either way), once."""
        self._forced = self.stats.up_bytes + self.stats.down_bytes + n_bytes

    # -- the event loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    def _cut_point(self) -> float:
        if not self.cutting or self.cut_mean_bytes is None:
            return float("inf")
        return self.rng.expovariate(1 / self.cut_mean_bytes)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        await asyncio.sleep(2 * self.delay_s)  # the handshake's round trip
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        conn = {"bytes": 0, "limit": self._cut_point(), "cut": False}
        writers = (client_w, server_w)

        def cut() -> None:
            if conn["cut"]:
                return
            conn["cut"] = True
            self.stats.cuts += 1
            self.stats.cut_points.append(int(conn["bytes"]))
            for w in writers:  # a reset, as when a radio link drops: no orderly close
                sock = w.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                w.close()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, link: _Direction, up: bool) -> None:
            queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

            async def deliver() -> None:
                while True:
                    item = await queue.get()
                    if item is None:
                        with contextlib.suppress(OSError):
                            if dst.can_write_eof():
                                dst.write_eof()
                        return
                    at, data = item
                    wait = at - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    if conn["cut"]:
                        return
                    dst.write(data)
                    with contextlib.suppress(OSError, ConnectionError):
                        await dst.drain()

            sender = asyncio.ensure_future(deliver())
            try:
                while not conn["cut"]:
                    data = await src.read(READ_SIZE)
                    if not data:
                        break
                    room = conn["limit"] - conn["bytes"]
                    forced = self._forced
                    if forced is not None:
                        room = min(room, forced - self.stats.up_bytes - self.stats.down_bytes)
                    if len(data) >= room:  # the link drops inside this piece: what came before still arrives
                        data = data[:max(0, int(room))]
                        conn["limit"] = conn["bytes"] + len(data)
                        if forced is not None:
                            self._forced = None
                    conn["bytes"] += len(data)
                    if up:
                        self.stats.up_bytes += len(data)
                    else:
                        self.stats.down_bytes += len(data)
                    if data:
                        await queue.put((link.arrival(len(data), time.monotonic()), data))
                    if conn["bytes"] >= conn["limit"]:
                        await asyncio.sleep(max(0.0, link.free_at + link.delay - time.monotonic()))
                        cut()
                        break
            except (OSError, ConnectionError):
                pass
            finally:
                await queue.put(None)
                with contextlib.suppress(Exception):
                    await sender

        await asyncio.gather(pipe(client_r, server_w, self._up, True), pipe(server_r, client_w, self._down, False))
        for w in writers:
            with contextlib.suppress(Exception):
                w.close()


__all__ = ["LinkProxy", "LinkStats"]
