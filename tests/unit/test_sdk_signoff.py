"""Sign-off on the tablet: the digest of the report content, countersigned, write-once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from client_sdk import FieldClient
from client_sdk.errors import AlreadySignedOff, InvalidField, InvalidTransition, SignedContentLocked
from client_sdk.keys import public_bytes
from client_sdk.testing import FakeSyncServer, publish_demo_job
from schemas.signoff import SignOffBundle
from schemas.wire import SignOff
from sync.core.signoff import report_digest, verify_bundle
from tests.support import TickingClock

STROKES = [[10, 10, 20, 25, 30, 12], [40, 40, 41, 60]]




@pytest.fixture()
def client(tmp_path: Path) -> Iterator[FieldClient]:
    server = FakeSyncServer()
    publish_demo_job(server)
    c = FieldClient.open(tmp_path / "tablet.db", transport=server, clock=TickingClock(step=1000))
    c.enroll(server.issue_token())
    c.sync()
    c.set_status("job-1", "on_site")
    c.set_field("job-1", "diagnosis", "Igniter worn")
    c.answer("job-1", "gas_tight", True)
    c.answer("job-1", "pressure", 1.4)
    c.use_part("job-1", "P-100", returned_serial="OLD-7")
    c.attach("job-1", b"\x89PNG\r\n\x1a\n" + b"x" * 100)
    c.set_status("job-1", "completed")
    yield c
    c.close()


def test_report_content_reflects_local_state_and_digest_is_stable(client: FieldClient) -> None:
    content = client.report_content("job-1")
    assert content.diagnosis == "Igniter worn" and content.template_version == 2
    assert [(a.key, a.value) for a in content.answers] == [("gas_tight", True), ("pressure", 1.4)]
    assert [(p.kind, p.part_no, p.returned_serial) for p in content.parts] == [("consume", "P-100", "OLD-7")]
    assert len(content.photos) == 1 and set(content.times) == {"on_site", "completed"}
    assert report_digest(content) == report_digest(client.report_content("job-1"))


def test_sign_off_is_countersigned_and_verifiable(client: FieldClient) -> None:
    expected = report_digest(client.report_content("job-1"))
    signed = client.sign_off("job-1", "Ada Customer", STROKES, rating=5)
    assert signed.report_digest == expected
    [op] = [p.op for p in client.pending() if isinstance(p.op, SignOff)]
    assert op.report_digest == expected and op.strokes == STROKES and op.signed_at == signed.signed_at
    key = client._key
    assert key is not None
    bundle = SignOffBundle(
        content=client.report_content("job-1"),
        report_digest=op.report_digest,
        signer_name=op.signer_name,
        signer_role=op.signer_role,
        signed_at=op.signed_at,
        strokes=op.strokes,
        device_id=client.device_id or "",
        device_public_key=public_bytes(key),
        device_signature=op.device_signature,
    )
    assert verify_bundle(bundle) == []
    detail = client.job("job-1")
    assert detail.job.signed_off and detail.job.status == "signed_off"
    assert detail.signoff is not None and detail.signoff.strokes == STROKES


def test_sign_off_is_write_once(client: FieldClient) -> None:
    client.sign_off("job-1", "Ada", STROKES)
    before = client.pending()
    with pytest.raises(AlreadySignedOff):
        client.sign_off("job-1", "Bob", STROKES)
    assert client.pending() == before


def test_change_after_sign_off_changes_the_digest(client: FieldClient) -> None:
    signed = client.sign_off("job-1", "Ada", STROKES)
    with pytest.raises(SignedContentLocked):  # a plain edit of signed content is refused, nothing written
        client.set_field("job-1", "diagnosis", "Actually the valve")
    assert report_digest(client.report_content("job-1")) == signed.report_digest
    client.amend("job-1", "customer corrected the fault description", field="diagnosis", value="Actually the valve")
    assert report_digest(client.report_content("job-1")) != signed.report_digest
    assert [op.type for op in client.pending()][-2:] == ["job.field", "signoff.amend"]


def test_sign_off_input_validation(client: FieldClient) -> None:
    with pytest.raises(InvalidField):
        client.sign_off("job-1", " ", STROKES)
    with pytest.raises(InvalidField):
        client.sign_off("job-1", "Ada", [])
    with pytest.raises(InvalidField):
        client.sign_off("job-1", "Ada", [[1, "2"]])  # type: ignore[list-item]
    assert not client.job("job-1").job.signed_off


def test_sign_off_refused_before_arrival(tmp_path: Path) -> None:
    server = FakeSyncServer()
    publish_demo_job(server)
    with FieldClient.open(tmp_path / "t.db", transport=server) as c:
        c.enroll(server.issue_token())
        c.sync()
        with pytest.raises(InvalidTransition):
            c.sign_off("job-1", "Ada", STROKES)
