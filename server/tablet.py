"""The engineer's tablet app at ``/tablet/``: its files, its rules document, its catalogs, its service worker.

The app (``client_sdk/web``) is plain ES modules with no build step, served as they are in the repository.
Every response carries a strict Content-Security-Policy (nothing from outside this server) and
``Cache-Control: no-cache`` with an ETag: the browser revalidates, while the app's service worker keeps
the whole shell for offline use.  The service worker is served with the shell's file list and a version
(a digest of every file it precaches) written into it, so any change to the app makes browsers install
the new shell; nothing has to be rebuilt or committed for that.

``/tablet/rules.json`` is the rules document every device write is checked against on the tablet: the
rules of :mod:`schemas.rules`, which the server checks on push (:mod:`sync.core.rules`).
``/tablet/api/sla`` gives an enrolled tablet the SLA due times of its engineer's jobs, shown in the job
list (informational; not part of the signed protocol).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any, Final

from litestar import Request, Response, Router, get
from litestar.response import Redirect

from schemas import rules as schemas_rules
from server.domain.tickets.service import get_ticket
from server.errors import NotFound
from server.http import in_thread
from server.security import DeviceAuth
from server.services import Services

PREFIX: Final = "/tablet"
LOCALES: Final = ("en", "zh_CN")
I18N_DOMAIN: Final = "tablet"
#: what may be served from the app folder, and as what
CONTENT_TYPES: Final = {
    ".html": "text/html",  # Litestar adds "; charset=utf-8" to text/*
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json; charset=utf-8",
    ".webmanifest": "application/manifest+json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
#: the folders and files of ``client_sdk/web`` that make the app (tests, tools, node_modules are not served)
SHELL_DIRS: Final = ("engine", "ui", "vendor", "icons")
SHELL_FILES: Final = ("index.html", "app.css", "manifest.webmanifest")
SECURITY_HEADERS: Final = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                               "media-src 'self' blob:; connect-src 'self'; worker-src 'self'; "
                               "manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "permissions-policy": "camera=(self), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
    "cache-control": "no-cache",
}
#: where the server writes the shell into the service worker: ``/*SHELL*/{...}/*SHELL*/``
SHELL_MARK: Final = re.compile(r"/\*SHELL\*/.*?/\*SHELL\*/", re.S)

# -- the rules document ------------------------------------------------------------------------------

#: ``/tablet/rules.json``: the rules of schemas/rules.py, the same document as schemas/json/rules.json
rules_document = schemas_rules.rules_document


# -- where the files are -----------------------------------------------------------------------------


def _package_dir(name: str) -> Path:
    # found without importing the package: production code never imports a client
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {name} not found")
    return Path(next(iter(spec.submodule_search_locations)))


def web_root() -> Path:
    """The app's folder (``client_sdk/web``)."""
    return _package_dir("client_sdk") / "web"


def catalog_path(locale: str, domain: str = I18N_DOMAIN) -> Path:
    """A message catalog: ``schemas/i18n/<locale>/<domain>.json``."""
    return _package_dir("schemas") / "i18n" / locale / f"{domain}.json"


def shell_files(root: Path | None = None) -> dict[str, Path]:
    """URL path -> file for every file of the app shell."""
    root = root or web_root()
    found: dict[str, Path] = {}
    for name in SHELL_FILES:
        found[f"{PREFIX}/{name}"] = root / name
    for folder in SHELL_DIRS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix in CONTENT_TYPES and not path.name.endswith(".d.ts"):
                found[f"{PREFIX}/{path.relative_to(root).as_posix()}"] = path
    return found


def shell_manifest(root: Path | None = None) -> dict[str, Any]:
    """What the service worker precaches: every URL of the shell and a version that changes with any of them."""
    entries: dict[str, bytes] = {url: path.read_bytes() for url, path in shell_files(root).items()}
    entries[f"{PREFIX}/"] = entries.pop(f"{PREFIX}/index.html")
    entries[f"{PREFIX}/rules.json"] = _rules_bytes()
    for locale in LOCALES:
        entries[f"{PREFIX}/i18n/{locale}/{I18N_DOMAIN}.json"] = catalog_path(locale).read_bytes()
    h = hashlib.sha256()
    for url in sorted(entries):
        h.update(url.encode() + b"\0" + hashlib.sha256(entries[url]).digest())
    return {"version": h.hexdigest()[:16], "files": sorted(entries)}


def service_worker_source(root: Path | None = None) -> bytes:
    """``sw.js`` with the shell manifest written in."""
    source = ((root or web_root()) / "sw.js").read_text(encoding="utf-8")
    shell = json.dumps(shell_manifest(root), separators=(",", ":"))
    return SHELL_MARK.sub(lambda _: f"/*SHELL*/{shell}/*SHELL*/", source, count=1).encode()


def _rules_bytes() -> bytes:
    return json.dumps(rules_document(), ensure_ascii=False, separators=(",", ":")).encode()


# -- HTTP --------------------------------------------------------------------------------------------


def _asset(request: Request[Any, Any, Any], content: bytes, media_type: str,
           extra: dict[str, str] | None = None) -> Response[bytes]:
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    headers = {**SECURITY_HEADERS, "etag": etag, **(extra or {})}
    if etag in request.headers.get("if-none-match", ""):
        return Response(content=b"", status_code=304, headers=headers)
    return Response(content=content, media_type=media_type, headers=headers)


@get("/", include_in_schema=False)
async def tablet_index(request: Request[Any, Any, Any]) -> Response[bytes] | Redirect:
    if not bytes(request.scope.get("raw_path") or b"/").endswith(b"/"):  # Litestar strips the slash from "path"
        # the app's relative URLs and its service worker's scope are under /tablet/
        return Redirect(path=f"{PREFIX}/", status_code=308)
    return _asset(request, (web_root() / "index.html").read_bytes(), CONTENT_TYPES[".html"])


@get("/sw.js", include_in_schema=False)
async def service_worker(request: Request[Any, Any, Any]) -> Response[bytes]:
    source = await in_thread(service_worker_source)
    return _asset(request, source, CONTENT_TYPES[".js"], {"service-worker-allowed": f"{PREFIX}/"})


@get("/rules.json", include_in_schema=False)
async def rules(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _asset(request, _rules_bytes(), CONTENT_TYPES[".json"])


@get("/i18n/{locale:str}/{name:str}", include_in_schema=False)
async def catalog(request: Request[Any, Any, Any], locale: str, name: str) -> Response[bytes]:
    if locale not in LOCALES or name != f"{I18N_DOMAIN}.json":
        raise NotFound("unknown_catalog", f"no catalog {locale}/{name}")
    return _asset(request, catalog_path(locale).read_bytes(), CONTENT_TYPES[".json"])


@get("/{path:path}", include_in_schema=False)
async def asset(request: Request[Any, Any, Any], path: str) -> Response[bytes]:
    file = shell_files().get(f"{PREFIX}/{path.lstrip('/')}")
    if file is None or file.name in ("sw.js",):
        raise NotFound("unknown_asset", f"no such file in the tablet app: {path}")
    return _asset(request, file.read_bytes(), CONTENT_TYPES[file.suffix])


@get("/api/sla", include_in_schema=False, sync_to_thread=True)
def sla_due(services: Services, device: DeviceAuth) -> Response[dict[str, Any]]:
    """The SLA targets of the tickets of the device engineer's open jobs: ticket id -> target -> due."""
    with services.db.read() as tx:
        rows = tx.query("SELECT DISTINCT ticket_id FROM jobs WHERE engineer_id = ? "
                        "AND status NOT IN ('closed', 'cancelled')", (device.engineer_id,))
    out: dict[str, Any] = {}
    for row in rows:
        ticket = get_ticket(services, row["ticket_id"])
        out[ticket.id] = {name: {"due_at": t.due_at, "met_at": t.met_at, "state": t.state, "breached": t.breached}
                          for name, t in ticket.sla.items()}
    return Response(out, headers={"cache-control": "no-store"})


def tablet_router() -> Router:
    """The app's routes under ``/tablet``."""
    return Router(path=PREFIX, route_handlers=[tablet_index, service_worker, rules, catalog, sla_due, asset],
                  include_in_schema=False)
