"""Bytes on a weak link: gzip negotiated both ways, compression bombs refused, and resumable change-set uploads.

The in-process tests run the Litestar app on both backends (raw protocol bodies through the test client);
the live ones put ``tools/linkproxy.py`` between the Python SDK and a real ``fieldsync serve`` and cut the
connection in the middle of an upload.
"""

from __future__ import annotations

import gzip
import hashlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client_sdk import FieldClient
from schemas.codec import encode, receipt_decoder, signed_decoder
from schemas.wire import Attach, PullRequest, SetField, SetStatus
from server.domain.devices.service import issue_enroll_token
from server.services import Services
from server.settings import get_settings
from sync.storage import open_database
from sync.transport.base import Offline
from sync.transport.encoding import gzip_encode
from sync.transport.http import HttpTransport
from tests.livesrv import LiveServer
from tests.support import RawDevice
from tools.demo_data import seed_demo
from tools.linkproxy import LinkProxy


def count(services: Services, table: str, where: str = "", params: tuple[Any, ...] = ()) -> int:
    with services.db.read() as tx:
        row = tx.one(f"SELECT COUNT(*) AS n FROM {table} {where}", params)
    assert row is not None
    return int(row["n"])


def snapshot(services: Services) -> dict[str, int]:
    return {t: count(services, t) for t in ("changesets", "answers", "movements", "changes", "ticket_events",
                                            "changeset_uploads", "changeset_upload_chunks")}


@pytest.fixture
def ana(app_client: Any, services: Services, seeded: Any) -> RawDevice:
    return RawDevice(app_client, services, "e-ana")


def job_id(dev: RawDevice) -> str:
    return str(next(iter(dev.jobs())))


def noisy_ops(dev: RawDevice, n: int, seed: int = 1, chars: int = 8000) -> list[Any]:
    """Ops whose text does not compress much (hex of random bytes): a change-set of ~n * chars bytes."""
    rng = random.Random(seed)
    job = job_id(dev)
    return [SetField(**dev.stamp(), job_id=job, field="notes", value=rng.randbytes(chars // 2).hex())
            for _ in range(n)]


def receipt_of(content: bytes) -> Any:
    return receipt_decoder.decode(signed_decoder.decode(content).body)


# -- negotiation ---------------------------------------------------------------------------------------


def test_the_server_says_it_takes_gzip_and_answers_gzip_only_when_asked(ana: RawDevice, app_client: Any) -> None:
    r = app_client.post("/v1/devices/challenge", content=encode({"device_id": ana.device_id}),
                        headers={"content-type": "application/msgpack"})
    ana.open_session()
    page_plain = app_client.post("/v1/sync/pull", content=encode(PullRequest()),
                                 headers={**ana.headers, "accept-encoding": "identity"})
    assert page_plain.status_code == 200
    assert "content-encoding" not in page_plain.headers  # an old tablet that asks for nothing gets it as before
    assert page_plain.headers["accept-encoding"] == "gzip"  # and learns that the server takes gzip pushes
    page_gz = app_client.post("/v1/sync/pull", content=encode(PullRequest()),
                              headers={**ana.headers, "accept-encoding": "gzip"})
    assert page_gz.headers["content-encoding"] == "gzip" and "Accept-Encoding" in page_gz.headers["vary"]
    assert int(page_gz.headers["content-length"]) < len(page_gz.content)  # httpx decoded what travelled smaller
    signed_plain, signed_gz = signed_decoder.decode(page_plain.content), signed_decoder.decode(page_gz.content)
    assert signed_gz.body == signed_plain.body and signed_gz.signature == signed_plain.signature
    refused = app_client.post("/v1/sync/pull", content=encode(PullRequest()),
                              headers={**ana.headers, "accept-encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers
    assert r.status_code == 200


def test_a_gzip_push_is_verified_over_the_decoded_bytes_and_applies_once(ana: RawDevice, app_client: Any,
                                                                         services: Services) -> None:
    envelope = ana.seal([SetStatus(**ana.stamp(), job_id=job_id(ana), status="accepted")] + noisy_ops(ana, 3))
    coded = gzip_encode(envelope)
    r = app_client.post("/v1/sync/push", content=coded, headers={**ana.headers, "content-encoding": "gzip"})
    assert r.status_code == 200, r.text
    first = receipt_of(r.content)
    assert [x.result for x in first.results] == ["applied"] * 4
    assert first.changeset_hash == ana.head.hash  # the chain's hash of the change-set as signed, not as sent
    again = app_client.post("/v1/sync/push", content=envelope, headers=ana.headers)  # the same bytes, plain
    assert again.status_code == 200 and receipt_of(again.content) == first
    assert count(services, "changesets") == 1


def test_bad_codings_are_refused_and_change_nothing(ana: RawDevice, app_client: Any, services: Services) -> None:
    envelope = ana.seal([SetStatus(**ana.stamp(), job_id=job_id(ana), status="accepted")])
    before = snapshot(services)
    r = app_client.post("/v1/sync/push", content=envelope, headers={**ana.headers, "content-encoding": "br"})
    assert r.status_code == 415 and r.json()["code"] == "unsupported_encoding"
    r = app_client.post("/v1/sync/push", content=gzip_encode(envelope)[:-6],
                        headers={**ana.headers, "content-encoding": "gzip"})
    assert r.status_code == 400 and r.json()["code"] == "bad_encoding"
    r = app_client.post("/v1/sync/push", content=gzip_encode(envelope) + b"tail",
                        headers={**ana.headers, "content-encoding": "gzip"})
    assert r.status_code == 400 and r.json()["code"] == "bad_encoding"
    r = app_client.post("/v1/sync/push", content=b"not gzip at all", headers={**ana.headers,
                                                                               "content-encoding": "gzip"})
    assert r.status_code == 400 and r.json()["code"] == "bad_encoding"
    assert snapshot(services) == before


def test_a_compression_bomb_is_refused_with_413_by_its_decoded_size(ana: RawDevice, app_client: Any,
                                                                   services: Services) -> None:
    limit = services.settings.max_body_bytes
    bomb = gzip.compress(b"\0" * (limit + 1), 9)
    assert len(bomb) < limit // 100
    before = snapshot(services)
    r = app_client.post("/v1/sync/push", content=bomb, headers={**ana.headers, "content-encoding": "gzip"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    # the same bomb as a resumable upload: the chunks are stored, the commit refuses it and forgets it
    sha = hashlib.sha256(bomb).hexdigest()
    put = app_client.put(f"/v1/sync/uploads/{sha}", params={"offset": 0, "size": len(bomb), "encoding": "gzip"},
                         content=bomb, headers={**ana.headers, "content-type": "application/octet-stream"})
    assert put.status_code == 200 and put.json()["received"] == len(bomb)
    r = app_client.post(f"/v1/sync/uploads/{sha}/commit", headers=ana.headers)
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert snapshot(services) == before
    # an upload may not declare more than a push may carry
    r = app_client.put(f"/v1/sync/uploads/{'0' * 64}", params={"offset": 0, "size": limit + 1},
                       content=b"x", headers={**ana.headers, "content-type": "application/octet-stream"})
    assert r.status_code == 413


# -- resumable uploads (in-process, both backends) -----------------------------------------------------


def put_chunk(client: Any, dev: RawDevice, sha: str, body: bytes, offset: int, n: int, encoding: str) -> Any:
    return client.put(f"/v1/sync/uploads/{sha}", params={"offset": offset, "size": len(body), "encoding": encoding},
                      content=body[offset:offset + n],
                      headers={**dev.headers, "content-type": "application/octet-stream"})


def test_an_upload_resumes_at_the_servers_offset_and_commits_exactly_once(ana: RawDevice, app_client: Any,
                                                                         services: Services) -> None:
    envelope = ana.seal(noisy_ops(ana, 20))
    body = gzip_encode(envelope)
    sha = hashlib.sha256(body).hexdigest()
    assert app_client.get(f"/v1/sync/uploads/{sha}", headers=ana.headers).json()["code"] == "unknown_upload"
    assert put_chunk(app_client, ana, sha, body, 0, 30_000, "gzip").json()["received"] == 30_000
    r = app_client.post(f"/v1/sync/uploads/{sha}/commit", headers=ana.headers)
    assert r.status_code == 409 and r.json()["code"] == "upload_incomplete" and r.json()["received"] == 30_000
    # a chunk sent again after a lost answer is refused with where to go on
    r = put_chunk(app_client, ana, sha, body, 0, 30_000, "gzip")
    assert r.status_code == 409 and r.json() == {**r.json(), "code": "offset_mismatch", "received": 30_000}
    status = app_client.get(f"/v1/sync/uploads/{sha}", headers=ana.headers).json()
    assert status == {"sha256": sha, "size": len(body), "received": 30_000, "complete": False}
    assert put_chunk(app_client, ana, sha, body, 30_000, len(body), "gzip").json()["received"] == len(body)
    assert count(services, "changesets") == 0  # nothing is applied before the commit
    first = app_client.post(f"/v1/sync/uploads/{sha}/commit", headers=ana.headers)
    assert first.status_code == 200, first.text
    receipt = receipt_of(first.content)
    assert [x.result for x in receipt.results] == ["applied"] * 20
    again = app_client.post(f"/v1/sync/uploads/{sha}/commit", headers=ana.headers)
    assert again.status_code == 200 and again.content == first.content  # the same signed receipt, byte for byte
    assert app_client.get(f"/v1/sync/uploads/{sha}", headers=ana.headers).json()["complete"] is True
    assert count(services, "changesets") == 1 and count(services, "changeset_upload_chunks") == 0
    plain = ana.send(envelope)  # and the one-shot push of the same change-set gets the same receipt too
    assert plain.status_code == 200 and receipt_of(plain.content) == receipt


def test_an_upload_with_wrong_bytes_is_refused_and_forgotten(ana: RawDevice, app_client: Any,
                                                            services: Services) -> None:
    body = ana.seal(noisy_ops(ana, 2))
    sha = hashlib.sha256(b"other bytes").hexdigest()
    assert put_chunk(app_client, ana, sha, body, 0, len(body), "identity").status_code == 200
    r = app_client.post(f"/v1/sync/uploads/{sha}/commit", headers=ana.headers)
    assert r.status_code == 400 and r.json()["code"] == "digest_mismatch"
    assert count(services, "changesets") == 0 and count(services, "changeset_uploads") == 0


def test_an_upload_belongs_to_its_device(ana: RawDevice, app_client: Any, services: Services) -> None:
    other = RawDevice(app_client, services, "e-ana")
    body = ana.seal(noisy_ops(ana, 2))
    sha = hashlib.sha256(body).hexdigest()
    put_chunk(app_client, ana, sha, body, 0, 1000, "identity")
    assert app_client.get(f"/v1/sync/uploads/{sha}", headers=other.headers).status_code == 404
    r = app_client.post(f"/v1/sync/uploads/{sha}/commit", headers=other.headers)
    assert r.status_code == 404 and r.json()["code"] == "unknown_upload"


# -- the SDK through a real server and a link that is cut ----------------------------------------------


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, Services]]:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    services = Services(db=open_database(url), settings=get_settings(db_url=url, run_scheduler=False))
    seed_demo(services)
    server = LiveServer(url, tmp_path).start()
    try:
        yield server, services
    finally:
        server.stop()
        services.db.close()


def tablet(path: Path, url: str, services: Services, **transport: Any) -> FieldClient:
    client = FieldClient.open(path, transport=HttpTransport(url, **transport))
    token, _ = issue_enroll_token(services, "e-ana")
    client.enroll(token)
    return client


def write_noisy_notes(client: FieldClient, n: int, seed: int) -> None:
    rng = random.Random(seed)
    job = client.jobs()[0].id
    with client.batch():
        for _ in range(n):
            client.set_field(job, "notes", rng.randbytes(4000).hex())


def test_a_cut_mid_upload_resumes_and_yields_one_receipt_and_one_application(
        live: tuple[LiveServer, Services], tmp_path: Path) -> None:
    server, services = live
    # a link slow enough that the server reads the body as it arrives, as on a real weak link
    with LinkProxy("127.0.0.1", server.port, rate_bps=8_000_000, rtt_ms=2, cut_mean_bytes=None, seed=7) as proxy:
        client = tablet(tmp_path / "a.db", proxy.url, services, upload_chunk=64 * 1024)
        try:
            assert client.sync().ok
            write_noisy_notes(client, 40, seed=3)
            sealed_size = 40 * 8000
            before = proxy.stats.up_bytes
            proxy.cut_after(100_000)  # in the second 64 KiB chunk of ~185 KB of gzip
            report = client.sync()
            assert proxy.stats.cuts == 1
            assert report.ok and report.applied == 40 and not client.pending(), report
            sent = proxy.stats.up_bytes - before
        finally:
            client.close()
    device_id = client_device(services)
    with services.db.read() as tx:
        size = int(tx.one("SELECT size FROM changeset_uploads")["size"])  # type: ignore[index]
    # gzip halves the hex; the server kept what it had read before the cut, so the upload's bytes crossed
    # the link about once: what else went up is the requests' headers and at most the PUT in flight
    assert size < sealed_size * 0.6 and size < sent < size + 64 * 1024 + 16_000, (size, sent)
    assert count(services, "changesets", "WHERE device_id = ?", (device_id,)) == 1
    with services.db.read() as tx:
        row = tx.one("SELECT op_count FROM changesets WHERE device_id = ?", (device_id,))
        upload = tx.one("SELECT encoding, changeset_hash FROM changeset_uploads WHERE device_id = ?", (device_id,))
    assert row is not None and row["op_count"] == 40
    assert upload is not None and upload["encoding"] == "gzip" and upload["changeset_hash"]


def client_device(services: Services) -> str:
    with services.db.read() as tx:
        row = tx.one("SELECT id FROM devices ORDER BY enrolled_at DESC LIMIT 1")
    assert row is not None
    return str(row["id"])


class DroppingTransport(HttpTransport):
    """The SDK's transport on a link that goes down for good after ``puts`` upload chunks."""

    def __init__(self, url: str, puts: int) -> None:
        super().__init__(url, upload_chunk=64 * 1024)
        self.puts_left: int | None = puts

    def _send(self, method: str, path: str, **kw: Any) -> Any:
        if self.puts_left is not None and method == "PUT" and "/uploads/" in path:
            if self.puts_left == 0:
                raise Offline("the link is down")
            self.puts_left -= 1
        return super()._send(method, path, **kw)


def test_an_upload_survives_a_server_restart(live: tuple[LiveServer, Services], tmp_path: Path) -> None:
    server, services = live
    with LinkProxy("127.0.0.1", server.port, rate_bps=50_000_000, rtt_ms=2, cut_mean_bytes=None, seed=7) as proxy:
        transport = DroppingTransport(proxy.url, puts=2)
        client = FieldClient.open(tmp_path / "a.db", transport=transport)
        token, _ = issue_enroll_token(services, "e-ana")
        client.enroll(token)
        try:
            assert client.sync().ok
            write_noisy_notes(client, 40, seed=4)
            report = client.sync()
            assert report.offline and client.pending()
            with services.db.read() as tx:
                held = tx.one("SELECT received, size FROM changeset_uploads")
            assert held is not None and int(held["received"]) == 2 * 64 * 1024 < int(held["size"])
            server.stop()
            server.start()
            transport.puts_left = None  # the link is back
            before = proxy.stats.up_bytes
            report = client.sync()
            assert report.ok and report.applied == 40 and not client.pending(), report
            # what the server had received before it stopped is not sent again
            assert proxy.stats.up_bytes - before < int(held["size"]) - int(held["received"]) + 8_000
        finally:
            client.close()
    assert count(services, "changesets") == 1


def test_an_old_tablet_without_compression_or_uploads_still_syncs(live: tuple[LiveServer, Services],
                                                                  tmp_path: Path) -> None:
    server, services = live
    with LinkProxy("127.0.0.1", server.port, rate_bps=50_000_000, rtt_ms=2, cut_mean_bytes=None, seed=7) as proxy:
        client = tablet(tmp_path / "old.db", proxy.url, services, compress=False, resumable=False)
        try:
            assert client.sync().ok
            write_noisy_notes(client, 10, seed=5)
            before = proxy.stats.up_bytes
            report = client.sync()
            assert report.ok and report.applied == 10
            assert proxy.stats.up_bytes - before > 10 * 8000  # sent as it was sealed
        finally:
            client.close()
    assert count(services, "changeset_uploads") == 0 and count(services, "changesets") == 1


def test_blob_downloads_are_gzip_coded_unless_the_type_is_compressed_already(
        ana: RawDevice, app_client: Any, staff: dict[str, dict[str, str]]) -> None:
    job = job_id(ana)
    text = b"inspection log line\n" * 500
    jpeg = b"\xff\xd8\xff" + random.Random(2).randbytes(5000)
    shas = {}
    for data, ctype in ((text, "text/plain"), (jpeg, "image/jpeg")):
        sha = hashlib.sha256(data).hexdigest()
        shas[ctype] = sha
        ana.push([Attach(**ana.stamp(), job_id=job, sha256=sha, size=len(data), content_type=ctype)])
        r = app_client.put(f"/v1/blobs/{sha}", params={"offset": 0, "size": len(data)}, content=data,
                           headers={**ana.headers, "content-type": "application/octet-stream"})
        assert r.status_code == 200 and r.json()["complete"], r.text
    auth = staff["backoffice"]
    coded = app_client.get(f"/v1/blobs/{shas['text/plain']}", headers={**auth, "accept-encoding": "gzip"})
    assert coded.status_code == 200 and coded.headers["content-encoding"] == "gzip" and coded.content == text
    assert int(coded.headers["content-length"]) < len(text) // 10
    plain = app_client.get(f"/v1/blobs/{shas['text/plain']}", headers={**auth, "accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == text
    photo = app_client.get(f"/v1/blobs/{shas['image/jpeg']}", headers={**auth, "accept-encoding": "gzip"})
    assert "content-encoding" not in photo.headers and photo.content == jpeg
