"""NULLs and blobs bind through identity adapters (no adaptation miss) and are stored exactly as before."""

from __future__ import annotations

import sqlite3

import client_sdk.store  # noqa: F401 - installs the adapters, as the tablet does
import sync.storage.sqlite  # noqa: F401 - and as the server does


def test_the_sdk_and_the_server_install_identity_adapters_for_none_and_bytes() -> None:
    for kind in (type(None), bytes):
        adapter = sqlite3.adapters[(kind, sqlite3.PrepareProtocol)]
        sample = None if kind is type(None) else b"\x00bytes\xff"
        assert adapter(sample) is sample


def test_values_are_stored_exactly_as_without_adapters() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (v)")
    values = [None, b"", b"\x00\x01\xff", bytes(range(256)), bytearray(b"ba"), memoryview(b"mv"), "text", 7, 2.5]
    conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    rows = conn.execute("SELECT typeof(v), v FROM t ORDER BY rowid").fetchall()
    assert [t for t, _ in rows] == ["null", "blob", "blob", "blob", "blob", "blob", "text", "integer", "real"]
    assert [v for _, v in rows] == [None, b"", b"\x00\x01\xff", bytes(range(256)), b"ba", b"mv", "text", 7, 2.5]
