"""Test helpers: a raw protocol device (keys, sealing, sessions) over Litestar's test client."""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from litestar.testing import TestClient

from client_sdk.testing import Change
from schemas.codec import (
    challenge_decoder,
    encode,
    enrollment_decoder,
    pull_page_decoder,
    receipt_decoder,
    session_decoder,
    signed_decoder,
)
from schemas.instant import rfc3339
from schemas.wire import EnrollRequest, Op, PullRequest, Receipt, SessionRequest
from server.domain.devices.service import issue_enroll_token
from server.services import Services
from sync.core import hlc
from sync.core.changeset import ChainHead, seal
from sync.core.signoff import verify_signature

MSGPACK = {"content-type": "application/msgpack"}


class LoosePage(msgspec.Struct):
    """A pull page's records as plain data (kind, id, a dict), for tests that look fields up by name."""

    changes: list[Change]


loose_page_decoder = msgspec.msgpack.Decoder(LoosePage)
#: the eight encodings of small-order points of edwards25519 (OpenSSL's Ed25519 accepts them as public keys)
SMALL_ORDER_KEYS = [bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
)]


class TickingClock:
    """A tablet's clock in epoch ms that moves ``step`` ms each time it is read."""

    def __init__(self, now: int = 1_700_000_100_000, step: int = 1) -> None:
        self.now = now
        self.step = step

    def __call__(self) -> int:
        self.now += self.step
        return self.now


class RawDevice:
    """A tablet reduced to the protocol: a key, a chain head, an HLC and a pull cursor."""

    def __init__(self, client: TestClient[Any], services: Services, engineer_id: str, clock_skew_ms: int = 0) -> None:
        self.client = client
        self.services = services
        self.key = Ed25519PrivateKey.generate()
        self.public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.skew = clock_skew_ms
        token, _ = issue_enroll_token(services, engineer_id)
        r = client.post("/v1/devices/enroll", content=encode(EnrollRequest(token=token, public_key=self.public)),
                        headers=MSGPACK)
        assert r.status_code == 200, r.text
        self.enrollment = enrollment_decoder.decode(r.content)
        self.device_id = self.enrollment.device_id
        self.head = ChainHead(0, "")
        self.hlc = 0
        self.cursor = ""
        self.token = ""
        self.open_session()

    def now(self) -> int:
        return self.services.clock() + self.skew

    def open_session(self) -> None:
        r = self.client.post("/v1/devices/challenge", content=encode({"device_id": self.device_id}), headers=MSGPACK)
        assert r.status_code == 200, r.text
        ch = challenge_decoder.decode(r.content)
        req = SessionRequest(device_id=self.device_id, nonce=ch.nonce, signature=self.key.sign(ch.nonce.encode()),
                             device_clock=self.now())
        r = self.client.post("/v1/devices/session", content=encode(req), headers=MSGPACK)
        assert r.status_code == 200, r.text
        self.token = session_decoder.decode(r.content).token

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Device {self.token}", **MSGPACK}

    def stamp(self) -> dict[str, Any]:
        """Fields every op needs: a fresh op id, the next HLC, the device time."""
        self.hlc = hlc.tick(self.hlc, self.now())
        return {"op_id": uuid.uuid4().hex, "hlc": self.hlc, "at": self.now()}

    def seal(self, ops: list[Op]) -> bytes:
        envelope, self.head = seal(self.key, self.device_id, self.head, ops, self.now())
        return envelope

    def send(self, envelope: bytes) -> Any:
        return self.client.post("/v1/sync/push", content=envelope, headers=self.headers)

    def push(self, ops: list[Op]) -> Receipt:
        r = self.send(self.seal(ops))
        assert r.status_code == 200, r.text
        signed = signed_decoder.decode(r.content)
        assert verify_signature(self.enrollment.server_public_key, signed.signature, signed.body)
        return receipt_decoder.decode(signed.body)

    def pull(self, limit: int = 500) -> list[Change]:
        """Every record after the cursor, as plain data; each page is also decoded into typed records."""
        out: list[Change] = []
        while True:
            r = self.client.post("/v1/sync/pull", content=encode(PullRequest(cursor=self.cursor, limit=limit)),
                                 headers=self.headers)
            assert r.status_code == 200, r.text
            signed = signed_decoder.decode(r.content)
            assert verify_signature(self.enrollment.server_public_key, signed.signature, signed.body)
            page = pull_page_decoder.decode(signed.body)  # every record decodes into its typed record
            out += loose_page_decoder.decode(signed.body).changes  # as plain data, for the tests' lookups
            self.cursor = page.cursor
            if not page.more:
                return out

    def jobs(self) -> dict[str, dict[str, Any]]:
        """Jobs in scope after pulling everything from the start (removed ones dropped)."""
        jobs: dict[str, dict[str, Any]] = {}
        saved, self.cursor = self.cursor, ""
        for ch in self.pull():
            if ch.kind == "job":
                jobs[ch.id] = ch.data
            elif ch.kind == "job_removed":
                jobs.pop(ch.id, None)
        self.cursor = saved
        return jobs


#: an instant exactly as the back-office API writes it (``schemas.instant.rfc3339``)
API_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def iso(ms: int) -> str:
    """Epoch ms as the RFC 3339 string the API takes and writes."""
    return rfc3339(ms)


def epoch_doc(doc: Any) -> Any:
    """An API JSON document with every instant (RFC 3339 as the API writes it) read back as epoch ms.

    For tests that reason in epoch ms about what the server computed; the conversion is exact (milliseconds).
    """
    if isinstance(doc, dict):
        return {k: epoch_doc(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [epoch_doc(v) for v in doc]
    if isinstance(doc, str) and API_INSTANT.match(doc):
        from datetime import datetime

        from schemas.instant import epoch_ms
        return epoch_ms(datetime.fromisoformat(doc))
    return doc
