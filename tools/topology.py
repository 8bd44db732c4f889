"""The deployment topology with local processes: PostgreSQL, two ``fieldsync serve`` processes, nginx for TLS.

What ``compose.yaml`` runs in containers, for a machine that cannot run them
(and for CI, ``tests/integration/test_topology.py``)::

    python -m tools.topology --dir /tmp/fieldsync-topology [--https-port 8443]

1. creates a fresh database on the local PostgreSQL server (``--pg``, default
   ``postgresql://postgres@127.0.0.1:5432/postgres``; dropped again at the end
   unless ``--keep-db``) and migrates it once (``fieldsync admin migrate``);
2. starts two ``fieldsync serve`` processes on two loopback ports sharing it,
   trusting proxy headers from ``127.0.0.0/30`` only (nginx connects from
   ``127.0.0.1``; ``FIELDSYNC_TRUSTED_PROXIES``),
   logging JSON lines to ``DIR/app-1.log`` and ``DIR/app-2.log``, with the
   signing key sealed under a key file made for the run (``DIR/kek``,
   ``FIELDSYNC_KEY_FILE``);
3. writes a self-signed certificate for ``localhost``/``127.0.0.1``
   (``DIR/tls/``) and starts nginx in the foreground with its prefix, pid,
   logs and temporary files in ``DIR`` (no system configuration is read),
   from ``deploy/nginx/fieldsync.conf.template``, the file compose uses too.

It prints one JSON line (addresses, ports, pids, database, certificate) when
everything answers, then waits; SIGINT or SIGTERM stops nginx and both
servers and drops the database.  Each serve process elects the SLA scheduler's
leader through a PostgreSQL advisory lock, so only one of them schedules and
delivers webhooks (``fieldsync_sla_scheduler_leader`` in each one's
``/metrics``).

``python -m tools.topology cert --out DIR`` only writes the certificate (the
compose file's ``certs`` service runs it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "fieldsync.conf.template"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
_PLACEHOLDER = re.compile(r"\$\{(FIELDSYNC_[A-Z0-9_]+)\}")


def render_template(text: str, values: Mapping[str, str]) -> str:
    """Fill ``${FIELDSYNC_*}`` placeholders (as the nginx image's envsubst does); nginx's ``$vars`` stay."""
    def fill(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"no value for ${{{m.group(1)}}} in {TEMPLATE.name}")
        return values[m.group(1)]
    return _PLACEHOLDER.sub(fill, text)


def write_certificate(out: Path, names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> tuple[Path, Path]:
    """A self-signed ECDSA certificate for ``names`` (DNS names or IP addresses), valid 30 days: (cert, key)."""
    out.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for n in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = out / "fieldsync.crt", out / "fieldsync.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url(server_url: str, name: str) -> str:
    """``server_url`` with its database path replaced by ``name``."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@dataclass
class Topology:
    """The running processes and where they answer."""

    workdir: Path
    pg: str = DEFAULT_PG
    https_port: int = 0
    keep_db: bool = False
    env: dict[str, str] = field(default_factory=dict)
    db_name: str = ""
    db_url: str = ""
    app_ports: list[int] = field(default_factory=list)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    cert: Path | None = None

    def up(self) -> dict[str, object]:
        """Create the database, start both servers and nginx; the description printed as JSON."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_name = self.db_name or f"fieldsync_topology_{secrets.token_hex(4)}"
        with psycopg.connect(self.pg, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self.db_url = database_url(self.pg, self.db_name)
        kek = self.workdir / "kek"
        if not kek.exists():
            kek.write_text(secrets.token_urlsafe(32) + "\n")
            kek.chmod(0o600)
        subprocess.run([sys.executable, "-m", "fieldsync", "admin", "migrate", "--db", self.db_url],
                       check=True, stdout=subprocess.DEVNULL, env=self._env())
        self.app_ports = [free_port(), free_port()]
        for n, port in enumerate(self.app_ports, 1):
            log = open(self.workdir / f"app-{n}.log", "ab")  # noqa: SIM115 - the process owns it
            self.procs[f"app-{n}"] = subprocess.Popen(
                [sys.executable, "-m", "fieldsync", "serve", "--db", self.db_url, "--host", "127.0.0.1",
                 "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=self._env())
        for n, port in enumerate(self.app_ports, 1):
            self._wait(f"app-{n}", f"http://127.0.0.1:{port}/health/ready", None)
        self.cert, key = write_certificate(self.workdir / "tls")
        self.https_port = self.https_port or free_port()
        self._start_nginx(key)
        ctx = ssl.create_default_context(cafile=str(self.cert))
        self._wait("nginx", f"https://127.0.0.1:{self.https_port}/health/ready", ctx)
        return self.describe()

    def describe(self) -> dict[str, object]:
        return {"url": f"https://127.0.0.1:{self.https_port}", "ca_cert": str(self.cert), "db_url": self.db_url,
                "apps": [{"name": f"app-{n}", "url": f"http://127.0.0.1:{p}", "pid": self.procs[f"app-{n}"].pid,
                          "log": str(self.workdir / f"app-{n}.log")} for n, p in enumerate(self.app_ports, 1)],
                "nginx_pid": self.procs["nginx"].pid, "workdir": str(self.workdir),
                "key_file": str(self.workdir / "kek")}

    def _env(self) -> dict[str, str]:
        return {**os.environ, "FIELDSYNC_TRUSTED_PROXIES": "127.0.0.0/30", "FIELDSYNC_LOG_FORMAT": "json",
                "FIELDSYNC_KEY_FILE": str(self.workdir / "kek"),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                **self.env}

    def _start_nginx(self, key: Path) -> None:
        nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                               if os.access(p, os.X_OK)), None)
        if nginx is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        w = self.workdir
        for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (w / "tmp" / d).mkdir(parents=True, exist_ok=True)
        assert self.cert is not None
        site = render_template(TEMPLATE.read_text(), {
            "FIELDSYNC_UPSTREAM_1": f"127.0.0.1:{self.app_ports[0]}",
            "FIELDSYNC_UPSTREAM_2": f"127.0.0.1:{self.app_ports[1]}",
            "FIELDSYNC_HTTPS_LISTEN": f"127.0.0.1:{self.https_port}",
            "FIELDSYNC_TLS_CERT": str(self.cert), "FIELDSYNC_TLS_KEY": str(key)})
        (w / "fieldsync.conf").write_text(site)
        # as root, nginx would hand its workers to `nobody`, who cannot write the temporary directories here
        user = "user root;\n" if os.geteuid() == 0 else ""
        (w / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {w}/nginx.pid;\nerror_log {w}/nginx-error.log warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    access_log {w}/nginx-access.log;\n"
            f"    client_body_temp_path {w}/tmp/client_body;\n    proxy_temp_path {w}/tmp/proxy;\n"
            f"    fastcgi_temp_path {w}/tmp/fastcgi;\n    uwsgi_temp_path {w}/tmp/uwsgi;\n"
            f"    scgi_temp_path {w}/tmp/scgi;\n"
            f"    include {w}/fieldsync.conf;\n}}\n")
        log = open(w / "nginx.out", "ab")  # noqa: SIM115 - the process owns it
        self.procs["nginx"] = subprocess.Popen(
            [nginx, "-p", str(w), "-c", str(w / "nginx.conf"), "-e", str(w / "nginx-error.log"),
             "-g", "daemon off;"], stdout=log, stderr=subprocess.STDOUT)

    def _wait(self, name: str, url: str, ctx: ssl.SSLContext | None) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.workdir}")
            try:
                if httpx.get(url, timeout=2, verify=ctx if ctx is not None else True).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not answer at {url}")

    def down(self) -> None:
        """Stop nginx, then both servers (SIGTERM, then SIGKILL), then drop the database unless kept."""
        for name in ("nginx", *[n for n in self.procs if n != "nginx"]):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGQUIT if name == "nginx" else signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self.db_name and not self.keep_db:
            with psycopg.connect(self.pg, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.topology", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command")
    c = sub.add_parser("cert", help="only write a self-signed certificate (fieldsync.crt, fieldsync.key)")
    c.add_argument("--out", required=True)
    c.add_argument("--name", action="append", help="DNS name or IP address (default: localhost, 127.0.0.1)")
    p.add_argument("--dir", help="working directory (config, logs, certificate); default: a new one in /tmp")
    p.add_argument("--pg", default=os.environ.get("FIELDSYNC_TOPOLOGY_PG", DEFAULT_PG),
                   help=f"PostgreSQL server to create the database on (default {DEFAULT_PG})")
    p.add_argument("--https-port", type=int, default=0, help="nginx's HTTPS port (default: a free one)")
    p.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    args = p.parse_args(argv)
    if args.command == "cert":
        cert, key = write_certificate(Path(args.out), tuple(args.name or ("localhost", "127.0.0.1")))
        print(json.dumps({"cert": str(cert), "key": str(key)}))
        return 0
    import tempfile

    workdir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="fieldsync-topology-"))
    topo = Topology(workdir.resolve(), pg=args.pg, https_port=args.https_port, keep_db=args.keep_db)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        print(json.dumps(topo.up()), flush=True)
        while not stopping:
            time.sleep(0.2)
    finally:
        topo.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
