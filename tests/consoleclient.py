"""Signing an in-process test client in to the web console, to read its pages as a person would."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import TestClient


def console_login(client: TestClient[Any], token: str) -> None:
    """Sign ``client`` in with a staff token (the session cookie stays on the client)."""
    form = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    r = client.post("/login", data={"csrf": csrf.group(1), "token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
