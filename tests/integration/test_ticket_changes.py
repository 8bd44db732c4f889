"""GET /v1/tickets?updated_since=&cursor=: an ERP reads every ticket change once, even under concurrent writes."""

from __future__ import annotations

import collections
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from tests.livesrv import LiveServer

TICKET = {"customer": "Acme", "site": "Plant 1", "category": "fault", "priority": "P3"}
EPOCH = "1970-01-01T00:00:00Z"


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def page(client: Any, headers: dict[str, str], **params: Any) -> tuple[list[dict[str, Any]], str]:
    r = client.get("/v1/tickets", headers=headers, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["link"] == f'</v1/tickets?cursor={r.headers["next-cursor"]}&limit={params.get("limit", 100)}>; ' \
                                'rel="next"'
    return list(r.json()), str(r.headers["next-cursor"])


def create(client: Any, headers: dict[str, str], title: str) -> dict[str, Any]:
    r = client.post("/v1/tickets", headers=headers, json={**TICKET, "title": title})
    assert r.status_code == 201, r.text
    return dict(r.json())


def patch(client: Any, headers: dict[str, str], ticket_id: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.patch(f"/v1/tickets/{ticket_id}", headers={**headers, "if-match": "*"}, json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_updated_since_then_the_cursor_gives_each_change_once(app_client: Any, staff: Any, clock: Any) -> None:
    h = staff["dispatcher"]
    old = create(app_client, h, "old")
    clock.advance(60_000)
    since = rfc3339(clock.now)
    made = [create(app_client, h, f"t{i}")["id"] for i in range(5)]
    seen: list[str] = []
    tickets, cursor = page(app_client, h, updated_since=since, limit=2)
    while tickets:
        seen += [t["id"] for t in tickets]
        tickets, cursor = page(app_client, h, cursor=cursor, limit=2)
    assert seen == made  # in the order they were written; the one from before updated_since is not there
    assert page(app_client, h, cursor=cursor)[0] == []
    clock.advance(1000)
    patch(app_client, h, made[1], {"priority": "P1"})
    patch(app_client, h, old["id"], {"title": "old, corrected"})
    tickets, cursor = page(app_client, h, cursor=cursor)
    assert [(t["id"], t["priority"], t["title"]) for t in tickets] == [(made[1], "P1", "t1"),
                                                                     (old["id"], "P3", "old, corrected")]
    assert page(app_client, h, cursor=cursor)[0] == []
    # without the incremental parameters the list is as it always was
    r = app_client.get("/v1/tickets", headers=h)
    assert r.status_code == 200 and "next-cursor" not in r.headers and len(r.json()) == 6


@pytest.mark.parametrize(("params", "code"), [
    ({"updated_since": "2026-12-03"}, "bad_time"),
    ({"updated_since": "2026-12-03T10:00:00"}, "bad_time"),  # no offset: which time zone?
    ({"updated_since": "yesterday"}, "bad_time"),
    ({"cursor": "not-a-cursor"}, "bad_cursor"),
    ({"cursor": "WzEsMiwzXQ"}, "bad_cursor"),  # [1,2,3]: well-formed JSON, not ours
    ({"updated_since": EPOCH, "status": "open"}, "invalid_parameter"),
    ({"updated_since": EPOCH, "offset": 5}, "invalid_parameter"),
])
def test_bad_incremental_parameters_are_400(app_client: Any, staff: Any, params: dict[str, Any], code: str) -> None:
    r = app_client.get("/v1/tickets", headers=staff["backoffice"], params=params)
    assert r.status_code == 400 and r.json()["code"] == code, r.text


def test_concurrent_writes_are_each_seen_once(app_client: Any, staff: Any) -> None:
    """Writers create and correct tickets while a reader follows the cursor; every final version is read,
    and no version of a ticket is read twice."""
    h = staff["dispatcher"]
    finals: dict[str, tuple[str, str]] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(6):
                t = create(app_client, h, f"w{n}-{i}")
                last = patch(app_client, h, t["id"], {"priority": "P2"})
                if i % 2:
                    last = patch(app_client, h, t["id"], {"title": f"w{n}-{i} corrected", "priority": "P1"})
                with lock:
                    finals[t["id"]] = (last["priority"], last["title"])
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for w in writers:
        w.start()
    versions: list[tuple[str, str, str, int]] = []
    latest: dict[str, tuple[str, str]] = {}
    cursor = None

    def read_all() -> None:
        nonlocal cursor
        while True:
            tickets, cursor = page(app_client, h, **({"cursor": cursor} if cursor else {"updated_since": EPOCH}),
                                   limit=4)
            for t in tickets:
                versions.append((t["id"], t["priority"], t["title"], len(t["timeline"])))
                latest[t["id"]] = (t["priority"], t["title"])
            if not tickets:
                return

    while any(w.is_alive() for w in writers):
        read_all()
    for w in writers:
        w.join()
    read_all()
    assert not errors, errors
    assert latest == finals  # every ticket's last write was read
    dupes = [v for v, n in collections.Counter(versions).items() if n > 1]
    assert not dupes, (dupes, versions)  # no version read twice


def test_an_erp_reading_incrementally_from_the_live_server_sees_every_write_once(db_url: str,
                                                                                  tmp_path: Path) -> None:
    """The real server on a loopback port, writers and an incremental reader as separate HTTP clients."""
    services = Services(db=open_database(db_url), settings=get_settings(db_url=db_url, run_scheduler=False))
    h = {"authorization": f"Bearer {issue_staff_token(services, 'dispatcher', 'erp')}"}
    services.db.close()
    server = LiveServer(db_url, tmp_path).start()
    finals: dict[str, tuple[str, str]] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for i in range(5):
                    t = create(http, h, f"live{n}-{i}")
                    last = patch(http, h, t["id"], {"priority": "P1", "title": f"live{n}-{i}!"})
                    with lock:
                        finals[t["id"]] = (last["priority"], last["title"])
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            writers = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
            for w in writers:
                w.start()
            versions: list[tuple[str, str, str, int]] = []
            latest: dict[str, tuple[str, str]] = {}
            cursor: str | None = None

            def read_all() -> None:
                nonlocal cursor
                while True:
                    tickets, cursor = page(http, h, **({"cursor": cursor} if cursor else {"updated_since": EPOCH}),
                                           limit=3)
                    for t in tickets:
                        versions.append((t["id"], t["priority"], t["title"], len(t["timeline"])))
                        latest[t["id"]] = (t["priority"], t["title"])
                    if not tickets:
                        return

            while any(w.is_alive() for w in writers):
                read_all()
            for w in writers:
                w.join()
            read_all()
    finally:
        server.stop()
    assert not errors, errors
    assert len(finals) == 15 and latest == finals
    dupes = [v for v, n in collections.Counter(versions).items() if n > 1]
    assert not dupes, dupes
