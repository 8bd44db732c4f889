"""The server signing keys: stored in the database (encrypted at rest under the operator's key), rotated, endorsed.

The newest key signs receipts, pull pages, device certificates and report seals;
every process of one deployment loads the same one.  Older keys stay in
``server_keys`` (public halves published to tablets in the session answer), so
what they signed still verifies.

**At rest.** With ``FIELDSYNC_KEY_FILE`` (a file outside the database holding at
least 32 bytes of secret text, e.g. ``openssl rand -base64 32``), a private key
is stored sealed: AES-256-GCM under a key-encryption key derived from the
file (HKDF-SHA256), with the key's id as associated data, so a database
backup alone cannot sign anything.  A database whose key is sealed refuses to
start without the file, or with another file (:class:`ServerKeyLocked`).
``fieldsync admin encrypt-key`` seals the keys of a database that has raw ones
(or re-seals them under a new file).  Without the file, keys are stored raw
and ``serve`` warns.

**Rotation.** ``fieldsync admin rotate-key`` makes a new key that the current
one endorses: it signs :func:`sync.core.signoff.key_rotation_message` (the
previous and the new public key).  Tablets trust their enrolled key and
each key endorsed by one they trust (``sync.core.signoff.endorsed_keys``).
Running processes pick up the new key within ``FIELDSYNC_KEY_REFRESH_S`` seconds (30).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from sync.core.signoff import key_rotation_message
from sync.storage import Database
from sync.storage.base import Tx

#: the least secret a key file must hold, in bytes (after surrounding white space is stripped)
MIN_KEK_BYTES: Final = 32
_SEALED_PREFIX: Final = b"fsk1"
_HKDF_INFO: Final = b"fieldsync server key encryption v1"


class ServerKeyLocked(Exception):
    """The signing key cannot be opened: sealed and no key file, the wrong key file, or a bad key file."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class KeyLink:
    """One public key of the chain, oldest first: the key before it signed ``endorsement`` (None for the first)."""

    key_id: str
    public: bytes
    created_at: int
    endorsement: bytes | None
    sealed: bool


@dataclass(slots=True)
class ServerKey:
    """The server's current Ed25519 key, and the chain of every public key it had, oldest first."""

    key_id: str
    private: Ed25519PrivateKey
    public: bytes
    chain: list[KeyLink] = field(default_factory=list)
    #: the secret of report links (from the first key: links printed before a rotation keep working)
    link_secret: bytes = b""

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


def key_id_for(public: bytes) -> str:
    """A short fingerprint naming a public key."""
    return hashlib.sha256(public).hexdigest()[:16]


def read_key_file(path: str | os.PathLike[str] | None) -> bytes | None:
    """The key-encryption key derived from the file at ``path`` (None: no file given)."""
    if path is None or str(path) == "":
        return None
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ServerKeyLocked(f"cannot read the key file {path}: {exc.strerror or exc}") from exc
    if len(secret) < MIN_KEK_BYTES:
        raise ServerKeyLocked(f"the key file {path} holds {len(secret)} bytes; it needs at least {MIN_KEK_BYTES} "
                              "(e.g. `openssl rand -base64 32 > FILE`)")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)


def _raw(private: Ed25519PrivateKey) -> bytes:
    return private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def seal(kek: bytes, key_id: str, raw: bytes) -> bytes:
    """``raw`` encrypted under ``kek`` (AES-256-GCM, random nonce, the key id as associated data)."""
    nonce = os.urandom(12)
    return _SEALED_PREFIX + nonce + AESGCM(kek).encrypt(nonce, raw, key_id.encode())


def unseal(kek: bytes | None, key_id: str, stored: bytes, sealed: bool) -> bytes:
    """The raw private key of a ``server_keys`` row; :class:`ServerKeyLocked` when it cannot be opened."""
    if not sealed:
        return stored
    if kek is None:
        raise ServerKeyLocked("the server signing key is encrypted and no key file is given: set FIELDSYNC_KEY_FILE "
                              "to the key-encryption key file this database was sealed with")
    if not stored.startswith(_SEALED_PREFIX):
        raise ServerKeyLocked(f"server key {key_id} is marked sealed but is not in the sealed format")
    try:
        return AESGCM(kek).decrypt(stored[4:16], stored[16:], key_id.encode())
    except InvalidTag:
        raise ServerKeyLocked("FIELDSYNC_KEY_FILE does not open the server signing key (a different key file than "
                              "the one the key was sealed with)") from None


def _rows(tx: Tx) -> list[dict[str, Any]]:
    return [dict(r) for r in tx.query(
        "SELECT id, private_key, public_key, created_at, sealed, previous_id, endorsement FROM server_keys "
        "ORDER BY created_at, id")]


def _lock(tx: Tx) -> None:
    # processes starting together queue here: the second waits on this row until the first commits,
    # then reads the key the first created instead of creating a second one (which would leave each
    # process signing with its own key, and devices enrolled by one rejecting the other's signatures)
    tx.execute("INSERT INTO meta (key, value) VALUES ('server_key_lock', '') ON CONFLICT (key) DO NOTHING")
    tx.execute("UPDATE meta SET value = value WHERE key = 'server_key_lock'")


def _insert(tx: Tx, private: Ed25519PrivateKey, now_ms: int, kek: bytes | None,
            previous: tuple[str, Ed25519PrivateKey, bytes] | None) -> None:
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = key_id_for(public)
    stored = seal(kek, kid, _raw(private)) if kek is not None else _raw(private)
    endorsement = None if previous is None else previous[1].sign(key_rotation_message(previous[2], public))
    tx.execute("INSERT INTO server_keys (id, private_key, public_key, created_at, sealed, previous_id, endorsement) "
               "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
               (kid, stored, public, now_ms, 1 if kek is not None else 0,
                None if previous is None else previous[0], endorsement))


def _build(rows: list[dict[str, Any]], kek: bytes | None) -> ServerKey:
    chain = [KeyLink(str(r["id"]), bytes(r["public_key"]), int(r["created_at"]),
                     None if r["endorsement"] is None else bytes(r["endorsement"]),
                     bool(r["sealed"])) for r in rows]
    newest, first = rows[-1], rows[0]
    private = Ed25519PrivateKey.from_private_bytes(
        unseal(kek, str(newest["id"]), bytes(newest["private_key"]), bool(newest["sealed"])))
    first_raw = unseal(kek, str(first["id"]), bytes(first["private_key"]), bool(first["sealed"]))
    return ServerKey(str(newest["id"]), private, bytes(newest["public_key"]), chain,
                     hashlib.sha256(b"fieldsync-report-link:v1:" + first_raw).digest())


def load_or_create_server_key(db: Database, now_ms: int, kek: bytes | None = None) -> ServerKey:
    """Load the newest server key, creating it on first start (race-safe across processes)."""
    with db.write() as tx:
        _lock(tx)
        rows = _rows(tx)
        if not rows:
            _insert(tx, Ed25519PrivateKey.generate(), now_ms, kek, None)
            rows = _rows(tx)
    return _build(rows, kek)


def newest_key_id(db: Database) -> str | None:
    """The id of the key that signs now (a cheap look for a rotation done by another process)."""
    with db.read() as tx:
        row = tx.one("SELECT id FROM server_keys ORDER BY created_at DESC, id DESC LIMIT 1")
    return None if row is None else str(row["id"])


def rotate_server_key(db: Database, now_ms: int, kek: bytes | None) -> ServerKey:
    """A new signing key, endorsed by the current one (which must open), sealed when ``kek`` is given."""
    with db.write() as tx:
        _lock(tx)
        rows = _rows(tx)
        if not rows:
            raise ServerKeyLocked("this database has no server key yet (start `fieldsync serve` once)")
        current = _build(rows, kek)
        created = max(now_ms, max(link.created_at for link in current.chain) + 1)  # strictly the newest
        _insert(tx, Ed25519PrivateKey.generate(), created, kek, (current.key_id, current.private, current.public))
        rows = _rows(tx)
    return _build(rows, kek)


def encrypt_server_keys(db: Database, kek: bytes, old_kek: bytes | None = None) -> int:
    """Seal every key under ``kek`` (raw ones, and sealed ones opened with ``old_kek``); how many were written."""
    written = 0
    with db.write() as tx:
        _lock(tx)
        for r in _rows(tx):
            kid, sealed = str(r["id"]), bool(r["sealed"])
            stored = bytes(r["private_key"])
            if sealed:
                try:
                    unseal(kek, kid, stored, True)
                    continue  # already sealed under this key file
                except ServerKeyLocked:
                    if old_kek is None:
                        raise
            raw = unseal(old_kek, kid, stored, sealed)
            tx.execute("UPDATE server_keys SET private_key = ?, sealed = 1 WHERE id = ?", (seal(kek, kid, raw), kid))
            written += 1
    return written


def key_chain(db: Database) -> list[KeyLink]:
    """Every public key, oldest first (no private key is opened)."""
    with db.read() as tx:
        rows = _rows(tx)
    return [KeyLink(str(r["id"]), bytes(r["public_key"]), int(r["created_at"]),
                    None if r["endorsement"] is None else bytes(r["endorsement"]),
                    bool(r["sealed"])) for r in rows]
