"""The console's language switch over HTTP, on SQLite and PostgreSQL: what it stores, what it refuses.

The whole day in Chinese runs in Chromium (``tests/browser/test_console_zh.py``);
here the app runs in-process to check the switch's edges: a bad locale or a
missing CSRF token changes nothing, a staff-token session keeps its choice in a
cookie only, ``FIELDSYNC_LOCALE`` is the default when the browser names no
language the console speaks, and the switch only ever sends a person back to a
page of this site.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from server.console import auth
from server.services import Services

PASSWORD = "long enough pw"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _sign_in(client: Any, name: str) -> None:
    login = client.get("/login", headers={"accept-language": "en"})
    r = client.post("/login", data={"csrf": _csrf(login.text), "name": name, "password": PASSWORD, "next": "/sla"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def _stored(services: Services, name: str) -> str | None:
    with services.db.read() as tx:
        row = tx.one("SELECT locale FROM staff_users WHERE name = ?", (name,))
    return None if row is None else row["locale"]


def test_a_user_switches_and_the_choice_is_stored_with_them(app_client: Any, services: Services) -> None:
    auth.set_user(services, "mei", "dispatcher", PASSWORD)
    _sign_in(app_client, "mei")
    page = app_client.get("/sla", headers={"accept-language": "en-US"})
    assert '<html lang="en">' in page.text and _stored(services, "mei") is None
    r = app_client.post("/console/locale", data={"csrf": _csrf(page.text), "locale": "zh-CN", "next": "/sla?weeks=4"},
                        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/sla?weeks=4&done=language"
    assert _stored(services, "mei") == "zh_CN"
    app_client.cookies.clear()  # another browser: the stored choice still wins over its Accept-Language
    _sign_in(app_client, "mei")
    page = app_client.get("/sla", headers={"accept-language": "en-US"})
    assert '<html lang="zh-CN">' in page.text and "服务时限达成率" in page.text


@pytest.mark.parametrize(("form", "status"), [
    ({"locale": "fr"}, 400),           # not a language the console speaks
    ({"locale": ""}, 400),
    ({"locale": "en", "csrf": "forged"}, 403),  # a signed-in user's switch needs the session's token
])
def test_a_bad_switch_changes_nothing(app_client: Any, services: Services, form: dict[str, str], status: int) -> None:
    auth.set_user(services, "kai", "backoffice", PASSWORD)
    _sign_in(app_client, "kai")
    page = app_client.get("/sla")
    data = {"csrf": _csrf(page.text), "next": "/sla", **form}
    r = app_client.post("/console/locale", data=data, follow_redirects=False)
    assert r.status_code == status and "text/html" in r.headers["content-type"]
    assert _stored(services, "kai") is None and "fs_locale" not in r.cookies


def test_the_sign_in_page_switches_by_cookie_and_only_to_this_site(app_client: Any) -> None:
    r = app_client.post("/console/locale", data={"locale": "zh_CN", "next": "https://evil.example/x"},
                        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/tickets?done=language"
    assert r.cookies.get("fs_locale") == "zh_CN"
    assert "登录后台" in app_client.get("/login", headers={"accept-language": "en"}).text


@pytest.mark.parametrize(("default", "header", "lang"), [
    ("zh_CN", None, "zh-CN"), ("zh_CN", "fr-FR", "zh-CN"), ("zh_CN", "en-GB", "en"), ("en", "de", "en"),
    ("en", "zh-TW,zh;q=0.9", "zh-CN"),
])
def test_fieldsync_locale_is_the_default_when_the_browser_names_no_language_spoken(
        services: Services, default: str, header: str | None, lang: str) -> None:
    from litestar.testing import TestClient

    from server.app import create_app

    local = Services(db=services.db, settings=replace(services.settings, locale=default), clock=services.clock)
    with TestClient(create_app(services=local, scheduler=False)) as client:
        page = client.get("/login", headers={"accept-language": header} if header else {})
    assert f'<html lang="{lang}">' in page.text
