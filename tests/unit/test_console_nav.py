"""The console's navigation (every link a page, labelled in every locale, shown by role) and small view rules."""

from __future__ import annotations

from schemas import i18n
from server.console import management_desk, parts_desk
from server.console.nav import DESKS, NAV, nav_for
from server.console.routes import console_router


def _get_paths() -> set[str]:
    router = console_router(*parts_desk.ROUTES, *management_desk.ROUTES)
    return {route.path for route in router.routes if "GET" in getattr(route, "methods", set())}


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


def test_timelines_read_oldest_first_with_same_millisecond_steps_in_status_machine_order() -> None:
    from schemas.domain import TicketEvent
    from server.console.views import timeline_order

    def ev(kind: str, at: int, n: int) -> TicketEvent:
        return TicketEvent(id=f"E-{n}", ticket_id="T-1", kind=kind, at=at, received_at=n)

    events = [ev("on_site", 2000, 1), ev("en_route", 2000, 2), ev("follow_up_done", 5000, 3), ev("opened", 1000, 4),
              ev("note", 2000, 5), ev("accepted", 2000, 6)]
    assert [e.kind for e in timeline_order(events)] == ["opened", "accepted", "en_route", "on_site", "note",
                                                        "follow_up_done"]


def test_a_tablet_named_tablet_is_not_called_tablet_twice() -> None:
    from server.console.i18n import Lang
    from server.console.views import _source_name

    assert _source_name("Tablet Ben", Lang()) == "Tablet Ben"
    assert _source_name("ben-1", Lang()) == "tablet ben-1"
    assert _source_name("ben-1", Lang(locale="zh_CN")) == "平板 ben-1"
