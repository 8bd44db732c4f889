"""The server signing key at rest (sealed under FIELDSYNC_KEY_FILE) and its rotation, on both backends.

Sealed: the database holds no raw private key, a server without the key file
(or with another one) refuses to start with one clear line, and
``admin encrypt-key`` seals a database whose key was stored raw.  Rotated: new
receipts are signed by the new key, a tablet enrolled before the rotation
accepts it because the old key endorsed it (and refuses a key nobody
endorsed), a report sealed before the rotation still verifies, and its link
still opens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from client_sdk import FieldClient
from fieldsync.cli import main
from schemas.codec import signed_decoder
from server.domain.devices.service import issue_enroll_token
from server.domain.signed_reports.service import link_token
from server.keys import ServerKeyLocked, key_id_for, load_or_create_server_key, read_key_file
from server.services import Services
from sync.core.signoff import key_rotation_message, verify_signature
from tests.livesrv import free_port


def _key_file(tmp_path: Path, name: str = "kek") -> Path:
    path = tmp_path / name
    path.write_text(os.urandom(32).hex() + "\n")
    return path


def _rows(services: Services) -> list[dict[str, Any]]:
    with services.db.read() as tx:
        return [dict(r) for r in tx.query("SELECT id, private_key, public_key, sealed FROM server_keys")]


def _serve(db_url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``fieldsync serve`` that is expected to refuse to start (it would serve forever otherwise)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSYNC_")}
    return subprocess.run([sys.executable, "-m", "fieldsync", "serve", "--db", db_url, "--port", str(free_port())],
                          env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_a_sealed_key_is_not_in_the_database_and_needs_its_key_file(db_url: str, services: Services,
                                                                    tmp_path: Path, monkeypatch: Any) -> None:
    kek_file = _key_file(tmp_path)
    kek = read_key_file(kek_file)
    key = load_or_create_server_key(services.db, services.clock(), kek)
    raw = key.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    [row] = _rows(services)
    assert row["sealed"] == 1 and raw not in bytes(row["private_key"])
    # the same key opens again with the file; without it, or with another file, it does not
    assert load_or_create_server_key(services.db, services.clock(), kek).public == key.public
    with pytest.raises(ServerKeyLocked, match="FIELDSYNC_KEY_FILE"):
        load_or_create_server_key(services.db, services.clock(), None)
    with pytest.raises(ServerKeyLocked, match="does not open"):
        load_or_create_server_key(services.db, services.clock(), read_key_file(_key_file(tmp_path, "other")))
    services.db.close()
    refused = _serve(db_url, {})
    assert refused.returncode == 2 and "FIELDSYNC_KEY_FILE" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    wrong = _serve(db_url, {"FIELDSYNC_KEY_FILE": str(_key_file(tmp_path, "wrong"))})
    assert wrong.returncode == 2 and "does not open" in wrong.stderr, wrong.stderr


def test_a_short_key_file_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("too short\n")
    with pytest.raises(ServerKeyLocked, match="at least 32"):
        read_key_file(short)


def test_encrypt_key_seals_a_raw_key_in_place(db_url: str, services: Services, tmp_path: Path,
                                               capsys: Any) -> None:
    before = services.key
    raw = before.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    assert [r["sealed"] for r in _rows(services)] == [0]
    kek_file = _key_file(tmp_path)
    assert main(["admin", "encrypt-key", "--db", db_url, "--key-file", str(kek_file)]) == 0
    assert "1" in capsys.readouterr().out
    [row] = _rows(services)
    assert row["sealed"] == 1 and raw not in bytes(row["private_key"])
    after = load_or_create_server_key(services.db, services.clock(), read_key_file(kek_file))
    assert after.key_id == before.key_id and after.public == before.public
    assert after.link_secret == before.link_secret  # report links printed before still open
    # once more: nothing to do; under a new file with the old one given: re-sealed
    assert main(["admin", "encrypt-key", "--db", db_url, "--key-file", str(kek_file)]) == 0
    new_file = _key_file(tmp_path, "new")
    assert main(["admin", "encrypt-key", "--db", db_url, "--key-file", str(new_file)]) == 2  # old file not given
    assert main(["admin", "encrypt-key", "--db", db_url, "--key-file", str(new_file),
                 "--old-key-file", str(kek_file)]) == 0
    assert load_or_create_server_key(services.db, services.clock(), read_key_file(new_file)).public == before.public


def _field_day(tablet: FieldClient) -> str:
    job_id = tablet.jobs()[0].id
    for status in ("en_route", "on_site"):
        tablet.set_status(job_id, status)
    tablet.answer(job_id, "gas_tight", True)
    tablet.answer(job_id, "flue_co2", 9.1)
    tablet.answer(job_id, "pressure_bar", 1.5)
    tablet.answer(job_id, "condition", "good")
    tablet.set_status(job_id, "completed")
    tablet.sign_off(job_id, "Ada Customer", [[1, 2, 3, 4]])
    return job_id


def test_rotation_signs_with_the_new_key_and_everything_older_still_verifies(
        db_url: str, services: Services, app_client: Any, seeded: Any, staff: dict[str, dict[str, str]],
        tmp_path: Path, capsys: Any) -> None:
    old = services.key
    tablet = FieldClient.open(tmp_path / "tablet.db", transport=app_client, clock=lambda: services.clock())
    try:
        tablet.enroll(issue_enroll_token(services, "e-ana")[0])
        assert tablet.sync().ok
        job_id = _field_day(tablet)
        assert tablet.sync().ok and tablet.pending() == []
        old_pdf = app_client.get(f"/v1/jobs/{job_id}/report.pdf", headers=staff["backoffice"])
        assert old_pdf.status_code == 200
        old_link = link_token(services, job_id)

        assert main(["admin", "rotate-key", "--db", db_url, "--json"]) == 0
        rotated = json.loads(capsys.readouterr().out)
        assert rotated["previous_id"] == old.key_id
        services._key = None  # this process would look again within REFRESH_S; the test does not wait
        new = services.key
        assert new.key_id == rotated["id"] != old.key_id
        assert [k.key_id for k in new.chain] == [old.key_id, new.key_id]

        # the tablet enrolled under the old key takes the new one on its endorsement
        tablet.set_field(tablet.jobs()[1].id, "diagnosis", "after the rotation")
        report = tablet.sync()
        assert report.ok, report.errors
        assert tablet.pending() == []
        with services.db.read() as tx:  # the receipts stored before and after the rotation name their signers
            receipts = [signed_decoder.decode(bytes(r["receipt"])) for r in tx.query(
                "SELECT receipt FROM changesets WHERE device_id = ? ORDER BY seq", (tablet.device_id,))]
        assert [r.key_id for r in receipts] == [old.key_id, new.key_id]
        assert verify_signature(new.public, receipts[-1].signature, receipts[-1].body)

        # a report sealed before the rotation verifies with the old key, one sealed after with the new one
        new_pdf = app_client.get(f"/v1/jobs/{job_id}/report.pdf", headers=staff["backoffice"])
        (tmp_path / "old.pdf").write_bytes(old_pdf.content)
        (tmp_path / "new.pdf").write_bytes(new_pdf.content)
        keys = ["--server-key", old.public.hex(), "--server-key", new.public.hex()]
        assert main(["verify", str(tmp_path / "old.pdf"), *keys]) == 0
        assert main(["verify", str(tmp_path / "new.pdf"), *keys]) == 0
        assert main(["verify", str(tmp_path / "old.pdf"), "--server-key", new.public.hex()]) == 1
        # the public page behind a link printed before the rotation still opens
        assert link_token(services, job_id) == old_link
        assert app_client.get(f"/reports/{job_id}/{old_link}").status_code == 200
        capsys.readouterr()
        assert main(["admin", "keys", "--db", db_url, "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [k["public_key"] for k in listed] == [old.public.hex(), new.public.hex()]
    finally:
        tablet.close()


def test_a_tablet_refuses_a_key_its_trusted_key_did_not_endorse(
        services: Services, app_client: Any, seeded: Any, tmp_path: Path) -> None:
    services.key  # noqa: B018 - the first key, created
    tablet = FieldClient.open(tmp_path / "tablet.db", transport=app_client, clock=lambda: services.clock())
    try:
        tablet.enroll(issue_enroll_token(services, "e-ana")[0])
        assert tablet.sync().ok
        # a key slipped into the database (a restored backup of another server, a forger with write access):
        # endorsed, but by a key the tablet never trusted
        stranger, forged = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        public = forged.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        stranger_public = stranger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        raw = forged.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        with services.db.write() as tx:
            tx.execute("INSERT INTO server_keys (id, private_key, public_key, created_at, sealed, previous_id, "
                       "endorsement) VALUES (?, ?, ?, ?, 0, ?, ?)",
                       (key_id_for(public), raw, public, services.clock() + 1, services.key.key_id,
                        stranger.sign(key_rotation_message(stranger_public, public))))
        services._key = None
        assert services.key.public == public
        tablet.set_status(tablet.jobs()[0].id, "en_route")
        report = tablet.sync()
        assert not report.ok and any("bad_server_signature" in e for e in report.errors), report.errors
        assert tablet.pending()  # nothing was taken as acknowledged
    finally:
        tablet.close()
