"""The device key at rest: encrypted with a passphrase, plain PKCS#8 without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from client_sdk import FieldClient
from client_sdk.errors import BadPassphrase
from client_sdk.keys import dump_private_key, generate_key, load_private_key, public_bytes
from client_sdk.store import LocalStore
from client_sdk.testing import FakeSyncServer


def test_passphrase_round_trip_and_wrong_passphrase() -> None:
    key = generate_key()
    pem = dump_private_key(key, "correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert public_bytes(load_private_key(pem, "correct horse")) == public_bytes(key)
    with pytest.raises(BadPassphrase):
        load_private_key(pem, "wrong")
    with pytest.raises(BadPassphrase):
        load_private_key(pem, None)


def test_no_passphrase_stores_unencrypted_pkcs8() -> None:
    pem = dump_private_key(generate_key(), None)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_reopen_needs_the_same_passphrase(tmp_path: Path) -> None:
    server = FakeSyncServer()
    db = tmp_path / "tablet.db"
    with FieldClient.open(db, passphrase="s3cret", transport=server) as c:
        c.enroll(server.issue_token())
    store = LocalStore(db)
    row = store.read.one("SELECT private_key, key_encrypted FROM device")
    store.close()
    assert row is not None and row["key_encrypted"] == 1 and b"ENCRYPTED" in row["private_key"]
    with pytest.raises(BadPassphrase):
        FieldClient.open(db, passphrase="nope", transport=server)
    with pytest.raises(BadPassphrase):
        FieldClient.open(db, transport=server)
    with FieldClient.open(db, passphrase="s3cret", transport=server) as c:
        assert c.enrolled
        assert c.sync().ok
