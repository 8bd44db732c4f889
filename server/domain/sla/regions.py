"""A region's public holidays and make-up working days, from the ``holidays`` package.

``region_days("CN")`` answers China's public holidays and its 调休 make-up
working days (e.g. Saturday 2026-10-10); ``"DE-BY"`` names a subdivision
(Bavaria) as ``<country>-<subdivision>``.  The package knows both: public
holidays are its entries, make-up working days its ``weekend_workdays``
(weekend dates that are worked).  Its data for a year is as good as the
installed version: each government announces the next year's schedule in the
autumn, so the package is upgraded yearly (README, "Working calendars").

Looked up once per (region, year) and kept for the life of the process, for
the years an event time may hold (``schemas.rules``: 2000 up to 2100), when a
calendar is built, never while one computes.  No I/O: the package's data is
code.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime
from typing import Final

from schemas.rules import EVENT_TIME_MAX_MS, EVENT_TIME_MIN_MS
from server.domain.sla.calendar import RegionDays

__all__ = ["REGION_YEARS", "UnknownRegion", "region_days"]

#: the years whose days a region calendar holds: those of every event time the server accepts
REGION_YEARS: Final = range(datetime.fromtimestamp(EVENT_TIME_MIN_MS / 1000, UTC).year,
                            datetime.fromtimestamp(EVENT_TIME_MAX_MS / 1000, UTC).year + 1)
_CODE: Final = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z0-9]{1,10}))?$")


class UnknownRegion(ValueError):
    """A region code the ``holidays`` package does not know (the message says which part)."""


def region_days(code: str) -> RegionDays:
    """Public holidays and make-up working days of ``code`` (``CN``, ``DE-BY`` ...) over ``REGION_YEARS``."""
    country, subdiv = _parse(code)
    closed: set[date] = set()
    working: set[date] = set()
    for year in REGION_YEARS:
        year_closed, year_working = _year(country, subdiv, year)
        closed |= year_closed
        working |= year_working
    name = country if subdiv is None else f"{country}-{subdiv}"
    return RegionDays(code=name, closed=frozenset(closed), working=frozenset(working))


@functools.lru_cache(maxsize=64)
def _parse(code: str) -> tuple[str, str | None]:
    import holidays

    match = _CODE.match(code.strip())
    if match is None:
        raise UnknownRegion(f"bad region {code!r}: a country code such as CN, or country-subdivision such as DE-BY")
    country, subdiv = match.group(1).upper(), match.group(2)
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise UnknownRegion(f"unknown region {code!r}: the holidays package has no country {country!r}")
    if subdiv is not None:
        known = {s.upper(): s for s in supported[country]}
        if subdiv.upper() not in known:
            raise UnknownRegion(f"unknown region {code!r}: {country} has no subdivision {subdiv!r}; "
                                f"known: {', '.join(sorted(known.values()))}")
        subdiv = known[subdiv.upper()]
    return country, subdiv


@functools.lru_cache(maxsize=4096)
def _year(country: str, subdiv: str | None, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """One year's (public holidays, make-up working days) of a region."""
    import holidays

    # A make-up day can fall in the year before its holiday (a Saturday in December for New Year),
    # so the next year is asked too; only this year's dates are kept.
    days = holidays.country_holidays(country, subdiv=subdiv, years=(year, year + 1))
    closed = frozenset(d for d in days if d.year == year)
    working = frozenset(d for d in days.weekend_workdays if d.year == year)
    return closed, working
