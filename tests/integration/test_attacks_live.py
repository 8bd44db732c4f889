"""Issue 17's holes, each attacked against a real ``fieldsync serve`` on loopback the way the issue describes.

Every attack must be refused with a clear 4xx problem or an op-level
``rejected(reason)``, store nothing, and leave every staff page (API and
console: tickets, ticket, job, reconciliation, conflicts, SLA, devices) at 200.
A stranger is given another loopback address (127.0.0.2 and up) where the
attack needs one, so the server sees two callers as it would on a network.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from client_sdk import FieldClient
from client_sdk.errors import InvalidPart
from schemas import rules
from schemas.codec import challenge_decoder, encode, session_decoder
from schemas.wire import AnswerItem, EnrollRequest, MovePart, SessionRequest, SetField, SetStatus, SignOff
from server.console.auth import set_user
from server.domain.devices.service import issue_enroll_token
from server.security import issue_staff_token
from server.services import Services
from server.settings import get_settings
from sync.core.signoff import sign_off_message
from sync.storage import open_database
from tests.livesrv import LiveServer
from tests.support import MSGPACK, SMALL_ORDER_KEYS, RawDevice, epoch_doc
from tools.demo_data import seed_demo

YEAR_MS = 365 * 86_400_000
TABLES = ("tickets", "jobs", "answers", "movements", "signoffs", "attachments", "ticket_events", "conflicts",
          "devices", "enroll_tokens", "blobs", "blob_chunks", "staff_users", "console_sessions")


def from_address(host: str, base_url: str) -> httpx.Client:
    """An HTTP client whose connections come from another loopback address (another caller)."""
    return httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(local_address=host), timeout=30)


@dataclass
class Live:
    server: LiveServer
    services: Services  # the same database, on the wall clock the server runs on
    http: httpx.Client
    admin: dict[str, str]
    token: str

    def counts(self) -> dict[str, int]:
        with self.services.db.read() as tx:
            return {t: int(tx.one(f"SELECT COUNT(*) AS n FROM {t}")["n"]) for t in TABLES}  # type: ignore[index]

    def device(self, engineer: str = "e-ana", client: httpx.Client | None = None) -> RawDevice:
        return RawDevice(client or self.http, self.services, engineer)  # type: ignore[arg-type]

    def console(self) -> httpx.Client:
        c = httpx.Client(base_url=self.server.url, timeout=30)
        c.get("/login")
        r = c.post("/login", data={"csrf": c.cookies.get("fs_login_csrf") or "", "token": self.token,
                                   "next": "/tickets"})
        assert r.status_code == 303, r.text
        return c

    def staff_pages_answer_200(self, job_id: str) -> None:
        """Every staff view that shows the job, its ticket or a list it is on answers 200."""
        job = self.http.get(f"/v1/jobs/{job_id}", headers=self.admin)
        assert job.status_code == 200, job.text
        ticket_id = job.json()["job"]["ticket_id"]
        for path in ("/v1/tickets", f"/v1/tickets/{ticket_id}", "/v1/reconciliation", "/v1/conflicts?status=open",
                     "/v1/sla/tickets", "/v1/devices"):
            r = self.http.get(path, headers=self.admin)
            assert r.status_code == 200, (path, r.text)
        console = self.console()
        try:
            for path in ("/tickets", f"/tickets/{ticket_id}", f"/jobs/{job_id}", "/reconciliation",
                         "/reconciliation?status=all", "/conflicts", "/sla", "/devices"):
                r = console.get(path)
                assert r.status_code == 200, (path, r.text[-2000:])
        finally:
            console.close()


@pytest.fixture
def live_env() -> dict[str, str]:
    return {}


@pytest.fixture
def live(tmp_path: Path, live_env: dict[str, str]) -> Iterator[Live]:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    services = Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False))
    seed_demo(services)
    token = issue_staff_token(services, "admin", "attack-admin")
    server = LiveServer(url, tmp_path, env=live_env).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            yield Live(server, services, http, {"authorization": f"Bearer {token}"}, token)
    finally:
        server.stop()
        services.db.close()


def job_of(dev: RawDevice, status: str | None = None) -> str:
    return next(j for j, data in sorted(dev.jobs().items()) if status is None or data["status"] == status)


def results(receipt: Any) -> list[tuple[str, str | None]]:
    return [(r.result, r.reason) for r in receipt.results]


# -- 1. event times ------------------------------------------------------------------------------------


def test_event_times_out_of_bounds_are_rejected_per_op(live: Live) -> None:
    dev = live.device()
    job = job_of(dev)
    before = live.counts()
    absurd = [-(2**63), 1, 0, 10**15, 2**63 - 1, rules.EVENT_TIME_MIN_MS - 1, rules.EVENT_TIME_MAX_MS]
    receipt = dev.push([SetStatus(**{**dev.stamp(), "at": at}, job_id=job, status="accepted") for at in absurd]
                       + [SetStatus(**dev.stamp(), job_id=job, status="accepted")])
    assert results(receipt) == [("rejected", "bad_time")] * len(absurd) + [("applied", None)]
    after = live.counts()
    assert after["ticket_events"] == before["ticket_events"] + 1  # the good op's event alone
    with live.services.db.read() as tx:
        times = tx.rows("SELECT at, device_time FROM ticket_events WHERE job_id = ?", (job,))
    assert all(rules.EVENT_TIME_MIN_MS <= t < rules.EVENT_TIME_MAX_MS for row in times for t in row if t)
    live.staff_pages_answer_200(job)


def test_a_time_stored_before_the_bounds_existed_never_makes_a_page_fail(live: Live) -> None:
    """Defence in depth: values an older server stored render as "invalid time"; nothing answers 500.

    On every job of the engineer (a 24x7 P1 ticket and a P3 ticket on business hours), with a sign-off.
    """
    dev = live.device()
    jobs = sorted(dev.jobs())
    dev.push([SetStatus(**dev.stamp(), job_id=job, status="on_site") for job in jobs])
    signed = jobs[0]
    assert results(dev.push([_signoff(dev, signed, [[1, 2, 3, 4]])])) == [("applied", None)]
    absurd = (-(2**63), 10**15, 2**63 - 1)
    with live.services.db.write() as tx:
        for job in jobs:
            row = tx.one("SELECT ticket_id FROM jobs WHERE id = ?", (job,))
            assert row is not None
            for n, at in enumerate(absurd):
                tx.execute("INSERT INTO ticket_events (id, ticket_id, job_id, kind, at, device_time, corrected_time, "
                           "received_at, source, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}')",
                           (f"E-old-{job}-{n}", row["ticket_id"], job, ("on_site", "completed", "on_hold")[n], at,
                            at, at, live.services.clock(), f"device:{dev.device_id}"))
        tx.execute("UPDATE signoffs SET signed_at = ? WHERE job_id = ?", (2**63 - 1, signed))
    for job in jobs:
        live.staff_pages_answer_200(job)
    r = live.http.get(f"/v1/jobs/{signed}/report.pdf", headers=live.admin)
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    console = live.console()
    page = console.get(f"/jobs/{signed}").text
    console.close()
    assert "invalid time" in page


# -- 2. lockout by a stranger ----------------------------------------------------------------------------


def test_a_stranger_cannot_lock_a_tablet_out(live: Live) -> None:
    """Device ids are printed on reports: a stranger who floods challenges and forged sessions for one
    is limited at their own address, and the tablet still opens its session."""
    dev = live.device()
    limited = threading.Event()

    def flood() -> None:
        with from_address("127.0.0.2", live.server.url) as stranger:
            for _ in range(3_000):
                r = stranger.post("/v1/devices/challenge", content=encode({"device_id": dev.device_id}),
                                  headers=MSGPACK)
                if r.status_code == 429:
                    assert r.json()["code"] == "rate_limited"
                    limited.set()
                    return
                assert r.status_code == 200

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert limited.is_set()  # the stranger's address is limited ...
    with from_address("127.0.0.3", live.server.url) as other:
        for _ in range(40):  # ... and forged sessions from elsewhere spend nothing of the device's own limit
            r = other.post("/v1/devices/challenge", content=encode({"device_id": dev.device_id}), headers=MSGPACK)
            nonce = challenge_decoder.decode(r.content).nonce
            forged = SessionRequest(device_id=dev.device_id, nonce=nonce, signature=b"\x01" * 64,
                                    device_clock=live.services.clock())
            r = other.post("/v1/devices/session", content=encode(forged), headers=MSGPACK)
            assert r.status_code == 401 and r.json()["code"] == "bad_signature"
    dev.open_session()  # the tablet, from its own address: a fresh session
    job = job_of(dev)
    assert results(dev.push([SetStatus(**dev.stamp(), job_id=job, status="accepted")])) == [("applied", None)]
    live.staff_pages_answer_200(job)


# -- 3. strokes --------------------------------------------------------------------------------------------


def _signoff(dev: RawDevice, job: str, strokes: list[list[int]], **fields: Any) -> SignOff:
    at, digest = dev.now(), "ab" * 32
    name = fields.pop("signer_name", "Customer")
    return SignOff(**dev.stamp(), job_id=job, signer_name=name, signer_role=fields.pop("signer_role", "customer"),
                   signed_at=at, report_digest=digest, strokes=strokes,
                   device_signature=dev.key.sign(sign_off_message(job, digest, at, name)), **fields)


def test_huge_strokes_are_refused_per_op(live: Live) -> None:
    dev = live.device()
    job = job_of(dev)
    dev.push([SetStatus(**dev.stamp(), job_id=job, status="on_site")])
    before = live.counts()
    ten_mb = [[300] * 35_000 for _ in range(100)]  # 10.5 MB of msgpack, as in the issue
    one_point_too_many = [[5] * rules.MAX_STROKE_POINTS, [6] * (rules.MAX_STROKE_POINTS + 2)]
    too_many_strokes = [[1, 2]] * (rules.MAX_STROKES + 1)
    receipt = dev.push([_signoff(dev, job, ten_mb), _signoff(dev, job, one_point_too_many),
                        _signoff(dev, job, too_many_strokes)])
    assert results(receipt) == [("rejected", "strokes_too_large")] * 3
    assert live.counts() == before
    r = live.http.get(f"/v1/jobs/{job}", headers=live.admin)
    assert r.status_code == 200 and len(r.content) < 100_000
    live.staff_pages_answer_200(job)
    # a real signature, even a long one, is taken
    real = [[x, (x * 7) % 500] * 150 for x in range(40)]
    assert results(dev.push([_signoff(dev, job, real)]))[0][0] == "applied"


# -- 4. text fields ------------------------------------------------------------------------------------------


def test_device_text_fields_are_limited_and_answers_marked_na_carry_no_value(live: Live) -> None:
    dev = live.device()
    job = job_of(dev)
    dev.push([SetStatus(**dev.stamp(), job_id=job, status="on_site")])
    before = live.counts()
    mb = "x" * 1_000_000
    receipt = dev.push([
        SetStatus(**dev.stamp(), job_id=job, status="in_progress", note=mb),
        AnswerItem(**dev.stamp(), job_id=job, item_key="gas_tight", value=True, note=mb),
        MovePart(**dev.stamp(), job_id=job, kind="consume", part_no="P-IGN", returned_serial=mb),
        _signoff(dev, job, [[1, 2, 3, 4]], comment=mb),
        _signoff(dev, job, [[1, 2, 3, 4]], signer_role=mb),
        SetField(**dev.stamp(), job_id=job, field="notes", value=mb),
        AnswerItem(**dev.stamp(), job_id=job, item_key="flue_co2", value="3" * 3_000_000, na_reason="no gauge"),
        AnswerItem(**dev.stamp(), job_id=job, item_key="gas_tight", value=True, na_reason=mb),
    ])
    assert results(receipt) == [("rejected", "text_too_long")] * 6 + [("rejected", "value_with_na_reason"),
                                                                       ("rejected", "text_too_long")]
    assert live.counts() == before
    live.staff_pages_answer_200(job)


def test_the_tablet_refuses_offline_what_the_server_refuses(live: Live, tmp_path: Path) -> None:
    """qty 10,001: the SDK used to acknowledge it offline and the server to reject it later."""
    tablet = FieldClient.open(tmp_path / "tablet.db", server_url=live.server.url)
    try:
        token, _ = issue_enroll_token(live.services, "e-ana")
        tablet.enroll(token)
        assert tablet.sync().ok
        job = tablet.jobs()[0].id
        with pytest.raises(InvalidPart) as refused:
            tablet.use_part(job, "P-IGN", qty=rules.QTY_MAX + 1)
        assert refused.value.reason == "bad_quantity" and tablet.pending() == []
        tablet.use_part(job, "P-IGN", qty=rules.QTY_MAX)  # the largest the server takes
        assert tablet.sync().ok and [o.result for o in tablet.op_results()] == ["applied"]
    finally:
        tablet.close()


# -- 5. login limit ------------------------------------------------------------------------------------------


def _login(client: httpx.Client, name: str, password: str, headers: dict[str, str] | None = None) -> int:
    client.get("/login")
    r = client.post("/login", data={"csrf": client.cookies.get("fs_login_csrf") or "", "name": name,
                                     "password": password, "next": "/tickets"}, headers=headers or {})
    return r.status_code


def test_forwarded_for_does_not_reset_the_login_limit(live: Live) -> None:
    set_user(live.services, "dispatch-1", "dispatcher", "correct horse battery")
    before = live.counts()
    codes: list[int] = []
    with httpx.Client(base_url=live.server.url, timeout=30) as c:
        while 429 not in codes and len(codes) < 400:  # a new X-Forwarded-For and a new account name per guess
            n = len(codes)
            codes.append(_login(c, f"guess-{n}", "wrong password", {"x-forwarded-for": f"10.9.{n % 250}.{n // 250}"}))
    assert codes[-1] == 429 and set(codes) == {401, 429}  # the address's burst is spent, headers or not
    assert live.counts()["console_sessions"] == before["console_sessions"]


def test_guesses_at_one_account_from_many_addresses_are_limited(live: Live) -> None:
    set_user(live.services, "dispatch-1", "dispatcher", "correct horse battery")
    codes = []
    for n in range(14):  # one guess from each of 14 addresses: the account's own limit binds (10)
        with httpx.Client(base_url=live.server.url, timeout=30,
                          transport=httpx.HTTPTransport(local_address=f"127.0.0.{n + 10}")) as c:
            codes.append(_login(c, "dispatch-1", f"wrong password {n}"))
    assert codes[:10] == [401] * 10 and codes[10:] == [429] * 4
    with httpx.Client(base_url=live.server.url, timeout=30,
                      transport=httpx.HTTPTransport(local_address="127.0.0.40")) as c:
        assert _login(c, "dispatch-1", "correct horse battery") == 429  # until the account's limit refills
        c.get("/login")  # a staff token still signs in
        r = c.post("/login", data={"csrf": c.cookies.get("fs_login_csrf") or "", "token": live.token})
        assert r.status_code == 303


@pytest.mark.parametrize("live_env", [{"FIELDSYNC_TRUSTED_PROXIES": "127.0.0.1"}])
def test_a_configured_proxy_is_believed(live: Live) -> None:
    """With the operator's proxy configured, each forwarded client has its own address limit."""
    set_user(live.services, "dispatch-1", "dispatcher", "correct horse battery")
    with httpx.Client(base_url=live.server.url, timeout=30) as proxy:
        codes: list[int] = []
        while 429 not in codes and len(codes) < 400:
            codes.append(_login(proxy, f"nobody-{len(codes)}", "wrong password", {"x-forwarded-for": "10.0.0.1"}))
        assert codes[-1] == 429  # one forwarded client's burst is spent ...
        # ... and another client behind the same proxy signs in
        assert _login(proxy, "dispatch-1", "correct horse battery", {"x-forwarded-for": "10.0.0.2"}) == 303


# -- 6. uploads ----------------------------------------------------------------------------------------------


def test_another_devices_upload_cannot_block_the_owners(live: Live) -> None:
    import hashlib

    owner, stranger = live.device("e-ana"), live.device("e-ben")
    data = b"\xff\xd8\xff" + bytes(range(256)) * 40
    sha = hashlib.sha256(data).hexdigest()
    # the stranger starts the same hash first: a wrong declared size, then wrong bytes of the right size
    r = live.http.put(f"/v1/blobs/{sha}", params={"offset": 0, "size": 5000}, content=b"12345",
                      headers=stranger.headers)
    assert r.status_code == 200 and r.json()["complete"] is False
    r = live.http.put(f"/v1/blobs/{sha}", params={"offset": 0, "size": len(data)}, content=b"\x00" * 100,
                      headers=stranger.headers)
    assert r.status_code == 200  # the stranger restarted its own upload with another size
    half = len(data) // 2
    r = live.http.put(f"/v1/blobs/{sha}", params={"offset": 0, "size": len(data)}, content=data[:half],
                      headers=owner.headers)
    assert r.status_code == 200 and r.json()["received"] == half, r.text
    r = live.http.get(f"/v1/blobs/{sha}/status", headers=owner.headers)
    assert r.json() == {"sha256": sha, "size": len(data), "received": half, "complete": False}
    r = live.http.put(f"/v1/blobs/{sha}", params={"offset": half, "size": len(data)}, content=data[half:],
                      headers=owner.headers)
    assert r.status_code == 200 and r.json()["complete"] is True
    assert live.http.get(f"/v1/blobs/{sha}", headers=live.admin).content == data
    # the stranger's upload in progress is over too: the blob is complete for everyone
    r = live.http.get(f"/v1/blobs/{sha}/status", headers=stranger.headers)
    assert r.json()["complete"] is True
    with live.services.db.read() as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM blob_uploads WHERE sha256 = ?", (sha,)) == {"n": 1}  # the stranger's
    live.staff_pages_answer_200(job_of(owner))


# -- 7. clock tricks -----------------------------------------------------------------------------------------


def _session(dev: RawDevice, device_clock: int, client: httpx.Client) -> None:
    r = client.post("/v1/devices/challenge", content=encode({"device_id": dev.device_id}), headers=MSGPACK)
    nonce = challenge_decoder.decode(r.content).nonce
    req = SessionRequest(device_id=dev.device_id, nonce=nonce, signature=dev.key.sign(nonce.encode()),
                         device_clock=device_clock)
    r = client.post("/v1/devices/session", content=encode(req), headers=MSGPACK)
    assert r.status_code == 200, r.text
    dev.token = session_decoder.decode(r.content).token


@pytest.mark.parametrize("session_clock", [0, 2**63 - 1, -5])
def test_a_session_without_a_usable_clock_flags_event_times(live: Live, session_clock: int) -> None:
    dev = live.device()
    job = job_of(dev)
    _session(dev, session_clock, live.http)
    devices = {d["id"]: d for d in live.http.get("/v1/devices", headers=live.admin).json()}
    assert devices[dev.device_id]["clock_known"] is False
    receipt = dev.push([SetStatus(**dev.stamp(), job_id=job, status="on_site"),
                        SetStatus(**dev.stamp(), job_id=job, status="in_progress")])
    assert results(receipt) == [("applied", None)] * 2  # judged op by op, not refused whole
    ticket = live.http.get(f"/v1/jobs/{job}", headers=live.admin).json()
    flagged = [e for e in ticket["timeline"] if e["kind"] in ("on_site", "work_started")]
    assert flagged and all(e["time_flag"] == "device_clock_unknown" and e["at"] == e["received_at"]
                           for e in flagged)
    items = live.http.get("/v1/reconciliation", params={"kind": "implausible_event_time"}, headers=live.admin)
    assert [i["job_id"] for i in items.json()["items"]] == [job]
    live.staff_pages_answer_200(job)


def test_a_clock_that_jumped_ten_years_before_the_sync_does_not_move_sla(live: Live) -> None:
    """On site recorded with a right clock; the clock then jumps +10 years and the tablet syncs."""
    dev = live.device()
    job = job_of(dev)
    on_site = SetStatus(**dev.stamp(), job_id=job, status="on_site")  # device time: now, right
    _session(dev, live.services.clock() + 10 * YEAR_MS, live.http)
    before_sync = live.services.clock()
    assert results(dev.push([on_site])) == [("applied", None)]
    detail = epoch_doc(live.http.get(f"/v1/jobs/{job}", headers=live.admin).json())
    [event] = [e for e in detail["timeline"] if e["kind"] == "on_site"]
    assert event["time_flag"] == "before_ticket_opened"
    assert event["corrected_time"] < event["device_time"] - 9 * YEAR_MS  # what the offset alone would say: 2016
    assert event["at"] == event["received_at"] >= before_sync  # SLA counts the receipt time instead
    ticket = epoch_doc(live.http.get(f"/v1/tickets/{detail['job']['ticket_id']}", headers=live.admin).json())
    assert ticket["sla"]["on_site"]["met_at"] == event["received_at"]
    kinds = {i["kind"] for i in live.http.get("/v1/reconciliation", headers=live.admin).json()["items"]
             if i["job_id"] == job}
    assert "implausible_event_time" in kinds and "late_sync" not in kinds
    live.staff_pages_answer_200(job)


# -- 8. NUL in staff text, small-order keys --------------------------------------------------------------------


def test_nul_in_staff_json_is_a_400_and_stores_nothing(live: Live) -> None:
    before = live.counts()
    for body in ({"customer": "a\x00", "site": "s", "priority": "P1"},
                 {"customer": "a", "site": "s", "priority": "P1", "title": "t\x00t"}):
        r = live.http.post("/v1/tickets", json=body, headers=live.admin)
        assert r.status_code == 400 and r.json()["code"] == "nul_in_text", r.text
    r = live.http.post("/v1/tickets", json={"customer": "literal \\u0000 is fine", "site": "s", "priority": "P1"},
                       headers=live.admin)
    assert r.status_code == 201 and r.json()["customer"] == "literal \\u0000 is fine"
    assert live.counts()["tickets"] == before["tickets"] + 1


def test_small_order_public_keys_are_refused_before_the_token_is_used(live: Live) -> None:
    token, _ = issue_enroll_token(live.services, "e-chen")
    before = live.counts()
    for key in SMALL_ORDER_KEYS:
        r = live.http.post("/v1/devices/enroll", content=encode(EnrollRequest(token=token, public_key=key)),
                           headers=MSGPACK)
        assert r.status_code == 400 and r.json()["code"] == "invalid_public_key", r.text
    assert live.counts() == before
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    good = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    r = live.http.post("/v1/devices/enroll", content=encode(EnrollRequest(token=token, public_key=good)),
                       headers=MSGPACK)
    assert r.status_code == 200  # the token was still unused
