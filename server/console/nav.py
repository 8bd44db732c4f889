"""The console's navigation: one list of pages, grouped by desk, with the roles that see each.

``base.html`` draws the navigation from :data:`NAV` only, so a new page is one
line here (and its label in the ``console`` catalogs), never a template edit.
A desk with no page a user may open is not shown to them.  The crawl test
(``tests/browser/test_console_crawl.py``) follows exactly these links, so a page
added here is crawled as every role.

Roles as in the API: ``()`` is every signed-in user; admin sees everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class NavItem:
    """One link: its desk, address, catalog label key, the roles that see it, and the paths it is "on" for."""

    desk: str
    path: str
    label: str
    roles: tuple[str, ...] = ()
    #: path prefixes (beyond ``path``) under which this link is shown as the current page
    also: tuple[str, ...] = ()

    def visible_to(self, role: str) -> bool:
        return not self.roles or role == "admin" or role in self.roles

    def is_on(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in (self.path, *self.also))


#: desks in the order the navigation shows them (catalog ``nav.desk.<desk>``)
DESKS: Final = ("dispatch", "service", "parts", "management", "review")

NAV: Final[tuple[NavItem, ...]] = (
    # -- Dispatch desk: plan the day, open tickets, tablets
    NavItem("dispatch", "/dispatch", "nav.dispatch", ("dispatcher",)),
    NavItem("dispatch", "/tickets", "nav.tickets", (), ("/jobs",)),
    NavItem("dispatch", "/devices", "nav.devices", ("dispatcher",)),
    # -- Service desk: every ticket, follow-up calls, complaints, inspection plans, surveys, customers and assets
    NavItem("service", "/all-tickets", "nav.all_tickets"),
    NavItem("service", "/followups", "nav.followups", ("dispatcher", "backoffice")),
    NavItem("service", "/complaints", "nav.complaints"),
    NavItem("service", "/plans", "nav.plans"),
    NavItem("service", "/surveys", "nav.surveys"),
    NavItem("service", "/customers", "nav.customers", (), ("/assets",)),
    # -- Parts desk: stock per warehouse and van, the catalog, the movement ledger, transfers, warranty claims
    NavItem("parts", "/parts/stock", "parts.tab.stock", ("backoffice",)),
    NavItem("parts", "/parts", "parts.tab.catalog", ("backoffice",)),
    NavItem("parts", "/parts/ledger", "parts.tab.ledger", ("backoffice",)),
    NavItem("parts", "/parts/transfers", "parts.tab.transfers", ("backoffice",)),
    NavItem("parts", "/parts/warranty", "parts.tab.warranty", ("backoffice",)),
    # -- Management desk: KPIs against targets, certifications, checklist templates, engineers, console users
    #    and staff tokens (the last two: admin only)
    NavItem("management", "/manage/kpis", "mgmt.tab.kpis"),
    NavItem("management", "/manage/certifications", "mgmt.tab.certifications"),
    NavItem("management", "/manage/templates", "mgmt.tab.templates", (), ("/manage/template-new",)),
    NavItem("management", "/manage/engineers", "mgmt.tab.engineers"),
    NavItem("management", "/manage/users", "mgmt.tab.users", ("admin",)),
    NavItem("management", "/manage/tokens", "mgmt.tab.tokens", ("admin",)),
    NavItem("management", "/sla", "nav.sla"),
    # -- Review: what the tablets' data left for the office to decide
    NavItem("review", "/conflicts", "nav.conflicts", ("backoffice",)),
    NavItem("review", "/reconciliation", "nav.reconciliation", ("backoffice",)),
)


def nav_for(role: str, path: str, items: tuple[NavItem, ...] = NAV) -> list[dict[str, object]]:
    """The desks ``role`` sees, each with its links (``label`` key, ``path``, ``on``), in :data:`DESKS` order."""
    out: list[dict[str, object]] = []
    for desk in DESKS:
        links = [{"path": i.path, "label": i.label, "on": i.is_on(path)} for i in items
                 if i.desk == desk and i.visible_to(role)]
        if links:
            out.append({"desk": desk, "label": f"nav.desk.{desk}", "links": links})
    return out
