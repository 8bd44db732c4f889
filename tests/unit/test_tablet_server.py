"""``/tablet/``: the app's files, headers, service worker shell, rules document and catalogs, in-process.

The app must come whole from this server (no outside asset), with types a browser accepts for ES modules,
a strict CSP, revalidated caching, and a service worker whose precache list names every file the app
loads and whose version follows their contents.  The rules document holds the limits the server's push
checks use, and both catalogs carry every key the app's code asks for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from schemas.rules import REASONS
from server.app import create_app
from server.services import Services
from server.tablet import (
    LOCALES,
    catalog_path,
    rules_document,
    service_worker_source,
    shell_files,
    shell_manifest,
    web_root,
)

WEB = web_root()
SHELL_RE = re.compile(r"/\*SHELL\*/(.*?)/\*SHELL\*/", re.S)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(services=services, scheduler=False)) as c:
        yield c


def test_the_app_is_served_with_module_types_a_strict_csp_and_revalidation(client: TestClient[Any]) -> None:
    index = client.get("/tablet/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    csp = index.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "connect-src 'self'", "object-src 'none'",
                      "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in csp
    assert "unsafe" not in csp and "http" not in csp, "nothing from outside the server, no inline script"
    assert index.headers["cache-control"] == "no-cache" and index.headers["x-content-type-options"] == "nosniff"
    for path in ("/tablet/ui/main.js", "/tablet/engine/wire.js", "/tablet/vendor/msgpack/index.mjs",
                 "/tablet/vendor/idb/index.js"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"] == "text/javascript; charset=utf-8", path
    assert client.get("/tablet/manifest.webmanifest").headers["content-type"].startswith("application/manifest+json")
    assert client.get("/tablet/icons/icon-192.png").headers["content-type"] == "image/png"
    assert client.get("/tablet", follow_redirects=False).headers["location"] == "/tablet/"


def test_an_unchanged_file_is_answered_304_from_its_etag(client: TestClient[Any]) -> None:
    first = client.get("/tablet/app.css")
    again = client.get("/tablet/app.css", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize("path", ["/tablet/package.json", "/tablet/tools/vendor.js", "/tablet/test/support.js",
                                  "/tablet/node_modules/idb/build/index.js", "/tablet/vendor/msgpack/index.d.ts",
                                  "/tablet/..%2F..%2Fpyproject.toml", "/tablet/engine/../../client.py",
                                  "/tablet/i18n/de/tablet.json", "/tablet/i18n/en/console.json"])
def test_files_outside_the_app_shell_are_not_served(client: TestClient[Any], path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_the_service_worker_precaches_every_file_the_app_loads(client: TestClient[Any]) -> None:
    r = client.get("/tablet/sw.js")
    assert r.status_code == 200
    assert r.headers["service-worker-allowed"] == "/tablet/"
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    shell = json.loads(SHELL_RE.search(r.text).group(1))  # type: ignore[union-attr]
    assert re.fullmatch(r"[0-9a-f]{16}", shell["version"])
    files = set(shell["files"])
    for url in files:
        assert client.get(url).status_code == 200, url
    # every module the app imports, every catalog and the rules are in the shell
    imported: set[str] = set()
    for path in [*WEB.joinpath("engine").glob("*.js"), *WEB.joinpath("ui").rglob("*.js")]:
        for spec in re.findall(r'from "(\.[^"]+)"', path.read_text()):
            imported.add("/tablet/" + (path.parent / spec).resolve().relative_to(WEB).as_posix())
    assert imported <= files
    assert {"/tablet/", "/tablet/rules.json", "/tablet/app.css", "/tablet/manifest.webmanifest",
            "/tablet/icons/icon-192.png", *(f"/tablet/i18n/{loc}/tablet.json" for loc in LOCALES)} <= files
    assert "/tablet/sw.js" not in files and not any(f.endswith(".d.ts") for f in files)


def test_the_shell_version_follows_the_contents_of_its_files(tmp_path: Path) -> None:
    copy = tmp_path / "web"
    for url, path in shell_files().items():
        target = copy / url.removeprefix("/tablet/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    (copy / "sw.js").write_bytes((WEB / "sw.js").read_bytes())
    before = shell_manifest(copy)
    assert before == shell_manifest(WEB), "the same files give the same version"
    (copy / "engine" / "hlc.js").write_text((copy / "engine" / "hlc.js").read_text() + "\n// changed\n")
    after = shell_manifest(copy)
    assert after["version"] != before["version"] and after["files"] == before["files"]
    assert after["version"].encode() in service_worker_source(copy)


def test_the_rules_document_is_the_one_the_server_checks_by() -> None:
    """``/tablet/rules.json`` is ``schemas/json/rules.json``: the rules of schemas/rules.py, which the push checks."""
    from schemas.export import JSON_DIR, RULES_FILE

    assert rules_document() == json.loads((JSON_DIR / RULES_FILE).read_text(encoding="utf-8"))


def test_rules_and_catalogs_are_served_for_the_app(client: TestClient[Any]) -> None:
    assert client.get("/tablet/rules.json").json() == rules_document()
    for locale in LOCALES:
        r = client.get(f"/tablet/i18n/{locale}/tablet.json")
        assert r.status_code == 200 and r.json() == json.loads(catalog_path(locale).read_text())


def _keys_used_by_the_app() -> tuple[set[str], set[str]]:
    """Literal catalog keys in the UI code, and the prefixes of keys it builds (``status.${...}``)."""
    literal: set[str] = set()
    prefixes: set[str] = set()
    for path in WEB.joinpath("ui").rglob("*.js"):
        text = path.read_text()
        literal |= set(re.findall(r'\bt\("([a-z0-9_.]+)"', text))
        prefixes |= set(re.findall(r"t\(`([a-z_.]+)\.\$\{", text))
        key = r'"([a-z][a-z0-9_]*\.[a-z0-9_.]+)"'
        literal |= {k for pair in re.findall(rf"\?\s*{key}\s*:\s*{key}", text) for k in pair}  # cond ? "a.b" : "c.d"
    return literal, prefixes


def test_both_catalogs_hold_every_key_the_app_uses_and_the_same_placeholders() -> None:
    catalogs = {loc: json.loads(catalog_path(loc).read_text(encoding="utf-8")) for loc in LOCALES}
    assert catalogs["en"].keys() == catalogs["zh_CN"].keys()
    literal, prefixes = _keys_used_by_the_app()
    assert literal - catalogs["en"].keys() == set()
    for key in catalogs["en"]:
        assert sorted(re.findall(r"\{(\w+)\}", catalogs["en"][key])) == sorted(
            re.findall(r"\{(\w+)\}", catalogs["zh_CN"][key])), key
    rules = rules_document()
    reachable = {t for targets in rules["transitions"].values() for t in targets}
    built = {"status": rules["job_statuses"], "status.do": [s for s in rules["device_statuses"] if s in reachable],
             "hold": rules["hold_reasons"],
             "field": list(rules["job_fields"]), "priority": ["P1", "P2", "P3", "complaint"],
             "sla": ["respond", "on_site", "resolve", "follow_up"], "result": ["applied", "merged", "rejected",
                                                                                "needs_review", "missing"],
             "job.tab": ["work", "checklist", "parts", "notes", "report"],
             "sync.state": ["offline", "syncing", "waiting", "synced", "error"],
             "op": ["job.status", "job.field", "checklist.answer", "part.move", "signoff", "attachment", "delete"],
             "conflict": ["open", "resolved"], "conflict.kind": ["status", "field", "signoff", "late_work"],
             "reason": []}  # reason codes: the next test
    assert prefixes <= set(built), f"keys built from prefixes the test does not know: {prefixes - set(built)}"
    missing = [f"{p}.{v}" for p, values in built.items() for v in values if f"{p}.{v}" not in catalogs["en"]]
    assert missing == []


def test_every_reason_the_server_gives_a_device_has_words_in_both_catalogs() -> None:
    """The codes in the server's receipts (``rejected(reason)``) and the rules' own codes, as the app shows them."""
    outcome = r'Outcome\("(?:rejected|needs_review|merged)", (?:False|True), "([a-z_]+)"'
    returned = r'return "([a-z_]+)"'
    refused = r'WriteRefused\("([a-z_]+)"'
    sources = {"server/domain/sync/push.py": [outcome], "sync/core/merge.py": [outcome],
               "sync/core/checklist.py": [returned], "sync/core/rules.py": [returned],
               "client_sdk/web/engine/rules.js": [returned], "client_sdk/web/engine/writes.js": [refused]}
    root = Path(__file__).resolve().parents[2]
    codes: set[str] = set()
    for source, patterns in sources.items():
        text = (root / source).read_text()
        for pattern in patterns:
            codes |= set(re.findall(pattern, text))
    codes |= set(REASONS)  # every refusal code of the rules document
    codes -= {"applied"}
    assert len(codes) > 30
    for locale in LOCALES:
        catalog = json.loads(catalog_path(locale).read_text(encoding="utf-8"))
        assert sorted(c for c in codes if f"reason.{c}" not in catalog) == [], locale


def test_an_installed_package_carries_the_whole_app() -> None:
    """``pip install`` + ``fieldsync serve`` serves a working app: the package data covers every shell file."""
    import glob
    import tomllib

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    packaged = {Path(f).resolve() for package, patterns in data.items() for pattern in patterns
                for f in glob.glob(str(root / package / pattern), recursive=True)}
    needed = {p.resolve() for p in shell_files().values()} | {(WEB / "sw.js").resolve()}
    needed |= {catalog_path(loc).resolve() for loc in LOCALES}
    assert sorted(str(p) for p in needed - packaged) == []
