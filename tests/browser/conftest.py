"""Browser-test fixtures: a real ``fieldsync serve`` on loopback with demo data, and headless Chromium.

The server is a subprocess on a SQLite file seeded with ``tools.demo_data.seed_demo``;
tests talk to it as a dispatcher or back-office user would (Playwright) and as
a tablet would (``client_sdk.FieldClient`` over HTTP).  Chromium is the system
package (``/usr/bin/chromium``); without it these tests fail under ``CI=true``
and skip elsewhere.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = os.environ.get("FIELDSYNC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
TABLET = {"width": 800, "height": 1280}
PASSWORD = "correct horse battery"


def _require_chromium() -> None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium not found at {CHROMIUM} and CI=true: the console's browser tests must run")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("playwright is not installed and CI=true")
        pytest.skip("playwright not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    """The running server: its URL, database URL, demo ids and credentials per role."""

    url: str
    db_url: str
    ids: dict[str, list[str]]
    tokens: dict[str, str]
    tmp: Path
    users: dict[str, str] = field(default_factory=dict)

    def services(self) -> Any:
        """Services on the same database file (for setup the UI cannot do, e.g. enrollment tokens)."""
        from server.services import Services
        from server.settings import get_settings
        from sync.storage import open_database

        return Services(db=open_database(self.db_url), settings=get_settings(db_url=self.db_url,
                                                                              run_scheduler=False))


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    _require_chromium()
    from server.console.auth import set_user
    from server.security import issue_staff_token
    from tools.demo_data import seed_demo

    tmp = tmp_path_factory.mktemp("console")
    db_url = f"sqlite:///{tmp / 'console.db'}"
    port = _free_port()
    live = Live(url=f"http://127.0.0.1:{port}", db_url=db_url, ids={}, tokens={}, tmp=tmp)
    svc = live.services()
    live.ids = seed_demo(svc)
    live.tokens = {role: issue_staff_token(svc, role, f"{role}-token") for role in ("dispatcher", "backoffice",
                                                                                    "admin")}
    for role in ("dispatcher", "backoffice", "admin"):
        set_user(svc, f"{role[:4]}-user", role, PASSWORD)
        live.users[role] = f"{role[:4]}-user"
    svc.db.close()
    log = open(tmp / "server.log", "ab")  # noqa: SIM115 - the process writes it until the end
    env = {**os.environ, "FIELDSYNC_SCHEDULER": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "fieldsync", "serve", "--db", db_url, "--port", str(port),
                             "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(live.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not come up")
            time.sleep(0.1)
        yield live
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def browser(live: Live) -> Iterator[Any]:
    """One Chromium per test module: Playwright's sync API owns an event loop while it runs,
    so it must be stopped before tests that use asyncio run in this process."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Console:
    """One browser context (own cookies) with console-error collection and helpers."""

    def __init__(self, browser: Any, live: Live, viewport: dict[str, int]) -> None:
        self.live = live
        self.context = browser.new_context(viewport=viewport)
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        # Error pages are meant to carry their status (403, 404 ...) and tests assert it; Chromium logs the
        # status of such a *document* as a console error, so only those are not counted.  Any failing
        # stylesheet, script, image or fetch still is.
        self.error_documents: set[str] = set()
        self.page.on("response", self._on_response)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("dialog", lambda d: d.accept())
        self.viewport = viewport

    def _on_response(self, response: Any) -> None:
        if response.status >= 400 and response.request.resource_type == "document":
            self.error_documents.add(response.url)

    def _on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        if message.text.startswith("Failed to load resource") and message.location.get("url") in self.error_documents:
            return
        self.errors.append(f"console: {message.text} at {message.location.get('url')}")

    def go(self, path: str) -> Any:
        response = self.page.goto(self.live.url + path)
        self.page.wait_for_load_state("load")
        return response

    def sign_in_token(self, role: str) -> None:
        self.go("/login")
        self.page.fill("input[name=token]", self.live.tokens[role])
        self.page.click("button:has-text('Sign in')")
        self.page.wait_for_url("**/tickets")

    def sign_in_password(self, role: str, password: str = PASSWORD) -> None:
        self.go("/login")
        self.page.fill("input[name=name]", self.live.users[role])
        self.page.fill("input[name=password]", password)
        self.page.click("button:has-text('Sign in')")

    def assert_fits(self) -> None:
        overflow = self.page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{self.page.url} overflows horizontally by {overflow}px at {self.viewport}"

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}-{self.viewport['width']}x{self.viewport['height']}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def console(browser: Any, live: Live) -> Iterator[Console]:
    """A laptop-size console session; fails the test if the page logged any error."""
    c = Console(browser, live, LAPTOP)
    yield c
    c.context.close()
    assert c.errors == [], c.errors


@pytest.fixture
def tablet_factory(live: Live, tmp_path: Path) -> Iterator[Any]:
    """Enrolled tablets (``FieldClient``) talking to the live server over HTTP."""
    from client_sdk import FieldClient
    from server.domain.devices.service import issue_enroll_token

    opened: list[Any] = []

    def make(engineer_id: str, name: str, token: str | None = None) -> Any:
        if token is None:
            svc = live.services()
            token, _ = issue_enroll_token(svc, engineer_id)
            svc.db.close()
        client = FieldClient.open(tmp_path / f"{name}.db", server_url=live.url, device_name=name)
        client.enroll(token)
        opened.append(client)
        return client

    yield make
    for c in opened:
        c.close()
