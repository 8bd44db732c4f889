"""``fieldsync demo``: a fresh embedded database, demo data, a simulated offline day, then the console.

The offline day runs real tablet SDK clients against the real app in-process:
two tablets of one engineer work the same job without a network (one of them
answers a checklist item differently and both edit the diagnosis), a second
engineer completes and signs a job, and then everyone syncs.  The console
opens with synced work, SLA clocks and a conflict waiting for review.

``--locale zh-CN`` runs the same day in the Chinese world of
:mod:`tools.demo_data_zh` (customers such as 某某医院, Asia/Shanghai, China's
holidays and make-up working days) with ``FIELDSYNC_LOCALE=zh_CN``, so the
console and the demo's own messages are Chinese; without it the demo is the
English one, as it always was.

The listening port is claimed before anything else happens, and the same
socket is handed to uvicorn: a port that is taken is one line and exit 2,
never a console URL and token for a server that does not start.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from client_sdk import FieldClient
from server.app import create_app
from server.cli_text import say
from server.domain.devices.service import issue_enroll_token
from server.ports import claim_port
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings, uvicorn_proxy_options
from sync.storage import open_database
from tools.demo_data import ENGLISH, DemoWorld, seed_demo
from tools.demo_data_zh import WORLDS

STROKES = [[12, 40, 30, 22, 52, 48, 75, 18, 96, 44], [110, 30, 140, 34, 170, 28]]


def simulate_offline_day(services: Services, world: DemoWorld = ENGLISH) -> dict[str, int]:
    """Run tablets through an offline day against the in-process app; return what happened."""
    from litestar.testing import TestClient

    with tempfile.TemporaryDirectory() as tmp, TestClient(create_app(services=services, scheduler=False)) as http:
        tablets = {}
        first, second = world.engineers[0][0], world.engineers[1][0]
        day = world.offline_day
        for name, engineer in (("ana-1", first), ("ana-2", first), ("ben", second)):
            client = FieldClient.open(Path(tmp) / f"{name}.db", transport=http)
            client.enroll(issue_enroll_token(services, engineer)[0], name=day.tablet.format(name=name))
            client.sync()
            tablets[name] = client
        # -- offline from here: every write goes to the local store and outbox only
        ana1, ana2, ben = tablets["ana-1"], tablets["ana-2"], tablets["ben"]
        job = ana1.jobs()[0].id
        for status in ("accepted", "en_route", "on_site", "in_progress"):
            ana1.set_status(job, status)
        ana1.answer(job, "gas_tight", True)
        ana1.answer(job, "condition", "good")
        ana1.set_field(job, "diagnosis", day.diagnosis)
        ana1.use_part(job, "P-IGN")
        ana2.answer(job, "condition", "poor")  # the second tablet disagrees: a conflict for review
        ana2.set_field(job, "diagnosis", day.other_diagnosis)
        bjob = ben.jobs()[0].id
        for status in ("accepted", "en_route", "on_site", "in_progress"):
            ben.set_status(bjob, status)
        for key, value in (("gas_tight", True), ("flue_co2", 9.4), ("pressure_bar", 1.5), ("condition", "good")):
            ben.answer(bjob, key, value)
        ben.use_part(bjob, "P-SEAL", qty=2)
        ben.attach(bjob, b"\x89PNG demo rating plate photo" * 200)
        ben.set_field(bjob, "resolution", day.resolution)
        ben.set_status(bjob, "completed")
        ben.sign_off(bjob, day.signer, STROKES)
        # -- the link comes back
        totals = {"applied": 0, "merged": 0, "needs_review": 0, "rejected": 0}
        for client in (ana1, ana2, ben):
            report = client.sync()
            for k in totals:
                totals[k] += getattr(report, k)
        for client in tablets.values():
            client.sync()
            client.close()
    return totals


def run_demo(host: str, port: int, path: str, serve: bool = True, locale: str = "en") -> int:
    """Recreate the demo database, seed it with ``locale``'s world, simulate a day, print how to sign in, and serve.

    The world's settings (time zone, holidays, locale) go into this process's environment before any
    settings are read, so the seeding and the served app run under them alike.

    Raises :class:`~server.ports.PortUnavailable` (before touching the database) when it cannot listen.
    """
    import logging

    world = WORLDS[locale]
    sock = claim_port(host, port) if serve else None
    os.environ.update(world.env)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    services = Services(db=open_database(url), settings=get_settings(db_url=url))
    ids = seed_demo(services, world)
    totals = simulate_offline_day(services, world)
    token = issue_staff_token(services, "admin", "demo-admin")
    services.db.close()
    print(say("demo.database", path=path, tickets=len(ids["tickets"]), engineers=len(ids["engineers"])))
    print(say("demo.synced", **totals))
    print(say("demo.console", url=f"http://{host}:{port}/"))
    print(say("demo.token", token=token))
    if sock is None:
        return 0
    import uvicorn

    os.environ["FIELDSYNC_DB"] = url
    server = uvicorn.Server(uvicorn.Config("server.app:create_app", factory=True, host=host, port=port,
                                           log_level="warning", **uvicorn_proxy_options(get_settings())))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0 if server.started else 1
