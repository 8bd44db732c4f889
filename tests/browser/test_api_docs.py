"""The API docs page (/schema) renders its operations on a closed network: Redoc comes from the server itself."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from tests.browser.conftest import LAPTOP, Live


def test_docs_page_renders_the_operations_offline(browser: Any, live: Live) -> None:
    context = browser.new_context(viewport=LAPTOP)
    blocked: list[str] = []

    def only_loopback(route: Any) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:  # a closed network: nothing outside this machine answers
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(live.url + "/schema")
        text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # poll from Python: Redoc renders after its bundle has loaded
            text = page.evaluate("() => document.body.innerText")
            if "/v1/tickets/{ticket_id}" in text and "createTicket" in page.content():
                break
            time.sleep(0.25)
        assert "/v1/tickets/{ticket_id}" in text, text[:2000]
        for operation in ("/v1/jobs/{job_id}/assign", "/v1/movements", "/v1/sync/push"):
            assert operation in text
        assert "application/problem+json" in text or "Problem" in text
        assert not blocked, blocked
        assert not errors, errors
    finally:
        context.close()
