"""The deployment files agree with each other (compose cannot run on the CI machine; the local topology does).

``compose.yaml`` names files that exist, trusts exactly nginx's fixed address for proxy headers, gives
nginx a value for every placeholder of the template the local topology fills too, and the Dockerfile and
the systemd unit start ``fieldsync serve``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tools.topology import TEMPLATE, render_template

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\$\{(FIELDSYNC_[A-Z0-9_]+)\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text()))


def test_compose_runs_postgresql_two_servers_and_nginx(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"db", "migrate", "app1", "app2", "certs", "proxy"} <= set(services)
    proxy_ip = services["proxy"]["networks"]["backend"]["ipv4_address"]
    for app in ("app1", "app2"):
        env = services[app]["environment"]
        assert env["FIELDSYNC_TRUSTED_PROXIES"] == proxy_ip
        assert env["FIELDSYNC_DB"].startswith("postgresql://") and "@db:5432/" in env["FIELDSYNC_DB"]
        assert env["FIELDSYNC_KEY_FILE"] == "/run/secrets/fieldsync-kek"
        assert services[app]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["fieldsync", "admin", "migrate"]
    assert "fieldsync" in (ROOT / "Dockerfile").read_text().splitlines()[-1]


def test_nginx_gets_a_value_for_every_placeholder(compose: dict[str, Any]) -> None:
    proxy = compose["services"]["proxy"]
    mounted = [v.split(":")[0] for v in proxy["volumes"] if v.startswith("./")]
    assert all((ROOT / m).exists() for m in mounted)
    assert "./deploy/nginx/fieldsync.conf.template" in mounted
    needed = set(PLACEHOLDER.findall(TEMPLATE.read_text()))
    env = proxy["environment"]
    assert needed <= set(env)
    assert all(re.match(env["NGINX_ENVSUBST_FILTER"], name) for name in needed)
    upstreams = {env["FIELDSYNC_UPSTREAM_1"], env["FIELDSYNC_UPSTREAM_2"]}
    assert upstreams == {"app1:8000", "app2:8000"}
    rendered = render_template(TEMPLATE.read_text(), {k: str(env[k]) for k in needed})
    config = "\n".join(line for line in rendered.splitlines() if not line.lstrip().startswith("#"))
    assert "${" not in config and "$http_host" in config and "$proxy_add_x_forwarded_for" in config


def test_the_systemd_unit_serves_on_its_instance_port() -> None:
    unit = (ROOT / "deploy" / "systemd" / "fieldsync@.service").read_text()
    assert re.search(r"^ExecStart=\S*fieldsync serve .*--port %i$", unit, re.M)
    assert "EnvironmentFile=/etc/fieldsync/fieldsync.env" in unit
