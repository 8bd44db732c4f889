"""``fieldsync demo``: a fresh embedded database with demo data, then the server and console."""

from __future__ import annotations

import os
from pathlib import Path

from server.context import Services
from server.demo import seed_demo
from server.security import issue_staff_token
from server.settings import get_settings
from sync.storage import open_database


def run_demo(host: str, port: int, path: str, serve: bool = True) -> int:
    """Recreate the demo database, seed it, print how to sign in, and serve."""
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    services = Services(db=open_database(url), settings=get_settings(db_url=url))
    ids = seed_demo(services)
    token = issue_staff_token(services, "admin", "demo-admin")
    services.db.close()
    print(f"demo database: {path} ({len(ids['tickets'])} tickets, {len(ids['engineers'])} engineers)")
    print(f"console: http://{host}:{port}/")
    print(f"staff login token (admin): {token}")
    if not serve:
        return 0
    import uvicorn

    os.environ["FIELDSYNC_DB"] = url
    uvicorn.run("server.app:create_app", factory=True, host=host, port=port, log_level="warning")
    return 0
