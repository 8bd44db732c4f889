"""Server key rotation seen by the tablet app's engine (JavaScript, in Node) against a real ``fieldsync serve``.

Node runs ``client_sdk/web/test/rotation_live.test.js``: it enrolls under the server's first key and syncs;
here the key is rotated (``fieldsync admin rotate-key``) while the server runs, and the engine's next sync
trusts the new key because the old one endorsed it; then a key that no trusted key endorsed is put in the
database, and the engine's next sync refuses the server's signature.  The two sides hand over through files.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from fieldsync.cli import main
from server.domain.devices.service import issue_enroll_token
from server.keys import key_chain, key_id_for
from server.services import Services
from server.settings import get_settings
from sync.core.signoff import key_rotation_message
from sync.storage import open_database
from tests.livesrv import LiveServer
from tests.tablet_node import WEB, ensure_node_modules, write_rules
from tools.demo_data import seed_demo


def _wait_for(path: Path, node: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert node.poll() is None, node.communicate()[0][-4000:]
        assert time.monotonic() < deadline, f"node never wrote {path.name}"
        time.sleep(0.05)


def test_the_engine_follows_an_endorsed_rotation_and_refuses_an_unendorsed_key(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'live.db'}"
    services = Services(db=open_database(db_url), settings=get_settings(db_url=db_url, run_scheduler=False))
    seed_demo(services)
    server = LiveServer(db_url, tmp_path, env={"FIELDSYNC_KEY_REFRESH_S": "0"}).start()
    handover = tmp_path / "handover"
    handover.mkdir()
    ensure_node_modules()

    node = subprocess.Popen(["node", "--test", "test/rotation_live.test.js"], cwd=WEB, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={
                                **os.environ, "FIELDSYNC_LIVE_URL": server.url,
                                "FIELDSYNC_LIVE_TOKEN": issue_enroll_token(services, "e-ana")[0],
                                "FIELDSYNC_LIVE_HANDOVER": str(handover),
                                "FIELDSYNC_RULES": str(write_rules(tmp_path / "rules.json"))})
    try:
        _wait_for(handover / "enrolled", node)
        assert main(["admin", "rotate-key", "--db", db_url]) == 0
        (handover / "rotated").touch()

        _wait_for(handover / "synced", node)
        chain = key_chain(services.db)
        stranger, forged = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        public = forged.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        stranger_public = stranger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        with services.db.write() as tx:
            tx.execute("INSERT INTO server_keys (id, private_key, public_key, created_at, sealed, previous_id, "
                       "endorsement) VALUES (?, ?, ?, ?, 0, ?, ?)",
                       (key_id_for(public), forged.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
                        public, chain[-1].created_at + 1, chain[-1].key_id,
                        stranger.sign(key_rotation_message(stranger_public, public))))
        (handover / "forged").touch()
        out, _ = node.communicate(timeout=300)
        assert node.returncode == 0 and "# pass 1" in out, out[-6000:]
    finally:
        if node.poll() is None:
            node.kill()
        server.stop()
        services.db.close()
