"""The server signing key: created once, stored in the database, shared by every process."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from sync.storage import Database


@dataclass(slots=True)
class ServerKey:
    """The server's Ed25519 key that signs receipts, pull pages and device certificates."""

    key_id: str
    private: Ed25519PrivateKey
    public: bytes

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


def key_id_for(public: bytes) -> str:
    """A short fingerprint naming a public key."""
    return hashlib.sha256(public).hexdigest()[:16]


def load_or_create_server_key(db: Database, now_ms: int) -> ServerKey:
    """Load the newest server key, creating it on first start (race-safe across processes)."""
    with db.write() as tx:
        # processes starting together queue here: the second waits on this row until the first commits,
        # then reads the key the first created instead of creating a second one (which would leave each
        # process signing with its own key, and devices enrolled by one rejecting the other's signatures)
        tx.execute("INSERT INTO meta (key, value) VALUES ('server_key_lock', '') ON CONFLICT (key) DO NOTHING")
        row = tx.one("SELECT id, private_key, public_key FROM server_keys ORDER BY created_at DESC LIMIT 1")
        if row is None:
            private = Ed25519PrivateKey.generate()
            public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
            kid = key_id_for(public)
            tx.execute("INSERT INTO server_keys (id, private_key, public_key, created_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (id) DO NOTHING", (kid, raw, public, now_ms))
            row = tx.one("SELECT id, private_key, public_key FROM server_keys ORDER BY created_at DESC LIMIT 1")
        assert row is not None
    return ServerKey(row["id"], Ed25519PrivateKey.from_private_bytes(bytes(row["private_key"])),
                     bytes(row["public_key"]))
