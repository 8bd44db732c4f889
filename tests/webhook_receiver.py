"""A webhook receiver for tests: a loopback HTTP server thread recording every POST as it arrives."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """A webhook receiver on a fixed loopback port that can be stopped and started again."""

    def __init__(self, port: int, delay_s: float = 0.0) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/hooks/fieldsync"
        self.delay_s = delay_s  # how long it takes to answer (after recording the POST)
        self.got: list[tuple[str, bytes, str]] = []  # (X-Fieldsync-Event-Id, body, X-Fieldsync-Signature)
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver.lock:
                    receiver.got.append((self.headers.get("X-Fieldsync-Event-Id", ""), body,
                                         self.headers.get("X-Fieldsync-Signature", "")))
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                try:
                    self.send_response(204)
                    self.end_headers()
                except OSError:  # the server was killed while waiting for this answer
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def ids(self) -> list[str]:
        with self.lock:
            return [json.loads(body)["id"] for _, body, _ in self.got]

    def all(self) -> list[tuple[str, bytes, str]]:
        with self.lock:
            return list(self.got)
