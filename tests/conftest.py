"""Shared fixtures: real SQLite files, a real PostgreSQL schema per test, services with a settable clock."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from server.services import Services
from server.settings import get_settings
from sync.storage import Database, open_database

logging.getLogger("httpx").setLevel(logging.WARNING)

PG_BASE = os.environ.get("FIELDSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: the rest of the suite never shares the process with a live Playwright loop."""
    items.sort(key=lambda item: "tests/browser/" in item.nodeid.replace("\\", "/"))


class Clock:
    """A settable clock in epoch ms, so tests decide what time it is."""

    def __init__(self, now: int = 1_790_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


def pg_available() -> bool:
    try:
        with psycopg.connect(PG_BASE, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def require_pg() -> None:
    """Fail under CI (PostgreSQL is part of the contract there), skip on a laptop without it."""
    if not pg_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is unreachable at {PG_BASE} and CI=true")
        pytest.skip("PostgreSQL not reachable")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    require_pg()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{PG_BASE}?schema={schema}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'server.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Every test using this runs once per storage backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'server.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(db: Database, db_url: str, clock: Clock) -> Services:
    return Services(db=db, settings=get_settings(db_url=db_url, run_scheduler=False), clock=clock)


@pytest.fixture
def app_client(services: Services) -> Iterator[object]:
    """The Litestar app in-process (the transport seam), on the parametrized backend."""
    from litestar.testing import TestClient

    from server.app import create_app

    with TestClient(create_app(services=services, scheduler=False)) as client:
        yield client


@pytest.fixture
def seeded(services: Services) -> dict[str, list[str]]:
    from tools.demo_data import seed_demo

    return seed_demo(services)


@pytest.fixture
def staff(services: Services) -> dict[str, dict[str, str]]:
    """Authorization headers per role."""
    from server.security import issue_staff_token

    return {role: {"authorization": f"Bearer {issue_staff_token(services, role)}"}
            for role in ("dispatcher", "backoffice", "admin")}
