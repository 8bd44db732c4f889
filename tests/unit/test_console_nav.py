"""The console's navigation: every link is a page of the console, labelled in every locale, shown by role."""

from __future__ import annotations

from schemas import i18n
from server.console.nav import DESKS, NAV, nav_for
from server.console.routes import console_router


def _get_paths() -> set[str]:
    return {route.path for route in console_router().routes if "GET" in getattr(route, "methods", set())}


def test_every_link_is_a_console_page_with_a_label_in_every_locale() -> None:
    pages = _get_paths()
    for item in NAV:
        assert item.desk in DESKS, item
        assert item.path in pages, item
        for locale in i18n.LOCALES:
            catalog = i18n.catalog(locale, "console")
            assert item.label in catalog and f"nav.desk.{item.desk}" in catalog, (locale, item)


def test_links_follow_the_roles_and_mark_the_current_page() -> None:
    dispatcher = {link["path"] for desk in nav_for("dispatcher", "/") for link in desk["links"]}  # type: ignore[attr-defined]
    backoffice = {link["path"] for desk in nav_for("backoffice", "/") for link in desk["links"]}  # type: ignore[attr-defined]
    admin = {link["path"] for desk in nav_for("admin", "/") for link in desk["links"]}  # type: ignore[attr-defined]
    assert "/devices" in dispatcher and "/conflicts" not in dispatcher
    assert "/conflicts" in backoffice and "/devices" not in backoffice
    assert admin == {i.path for i in NAV}
    on = [link["path"] for desk in nav_for("admin", "/jobs/J-1") for link in desk["links"] if link["on"]]  # type: ignore[attr-defined]
    assert on == ["/tickets"]
