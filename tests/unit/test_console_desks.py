"""The desks' shared pieces: the flash message a refused form sends back, months, and the charts' numbers."""

from __future__ import annotations

from typing import Any

from server.console import desks
from server.console.auth import ConsoleSession
from server.console.i18n import Lang
from server.security import Staff

SESSION = ConsoleSession(staff=Staff(name="ann", role="backoffice"), csrf="c" * 64, via="password")
OTHER = ConsoleSession(staff=Staff(name="bob", role="backoffice"), csrf="d" * 64, via="password")


class _Url:
    def __init__(self, path: str) -> None:
        self.path = path


class _Request:
    """What ``take_flash`` reads of a request: its cookies and path."""

    def __init__(self, path: str, cookie: str) -> None:
        self.cookies = {desks.FLASH_COOKIE: cookie}
        self.url = _Url(path)


def _cookie(redirect: Any) -> str:
    (cookie,) = redirect.cookies
    return str(cookie.value)


def test_a_refused_form_comes_back_once_to_its_own_page_for_its_own_session() -> None:
    sent = desks.back(SESSION, "/parts/transfers", "Choose a part.", {"csrf": "secret", "qty": "3", "part": "零件"})
    assert sent.status_code == 303
    raw = _cookie(sent)
    message, form = desks.take_flash(_Request("/parts/transfers", raw), SESSION)  # type: ignore[arg-type]
    assert (message, form) == ("Choose a part.", {"qty": "3", "part": "零件"}), "never the CSRF token"
    assert desks.take_flash(_Request("/parts/stock", raw), SESSION) == ("", {})  # type: ignore[arg-type]
    assert desks.take_flash(_Request("/parts/transfers", raw), OTHER) == ("", {})  # type: ignore[arg-type]
    payload, _, sig = raw.rpartition(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + sig
    assert desks.take_flash(_Request("/parts/transfers", forged), SESSION) == ("", {})  # type: ignore[arg-type]
    assert desks.take_flash(_Request("/parts/transfers", "garbage"), SESSION) == ("", {})  # type: ignore[arg-type]


def test_a_long_form_keeps_its_message() -> None:
    raw = _cookie(desks.back(SESSION, "/manage/templates/x", "Row 3: no label.", {f"label_{n}": "x" * 400
                                                                                   for n in range(40)}))
    assert len(raw) < 4000
    assert desks.take_flash(_Request("/manage/templates/x", raw), SESSION)[0] == "Row 3: no label."  # type: ignore[arg-type]


def test_months() -> None:
    assert desks.months_back("2026-02", 4) == ["2025-11", "2025-12", "2026-01", "2026-02"]
    start, end = desks.month_bounds("2026-12", "Asia/Shanghai")
    assert (end - start) == 31 * 86_400_000
    assert desks.this_month(start, "Asia/Shanghai") == "2026-12"
    assert desks.this_month(start - 1, "Asia/Shanghai") == "2026-11"


def test_charts_write_every_value_and_keep_negative_levels_apart() -> None:
    lang = Lang()
    chart = desks.bar_chart([("P-SEAL", 8), ("P-IGN", -2)], lang, "Stock")
    assert [(b["value"], b["neg"]) for b in chart["bars"]] == [("8", False), ("-2", True)]
    neg, pos = chart["bars"][1], chart["bars"][0]
    assert neg["x"] + neg["w"] <= chart["zero"] + 0.1 and pos["x"] == chart["zero"]
    line = desks.line_chart([("2026-10", 0.5, "50%"), ("2026-11", None, "—"), ("2026-12", 0.75, "75%")], lang,
                            "FTF", target=0.8, target_text="target 80%")
    assert len(line["lines"]) == 2, "a month without data is a gap, not a zero"
    assert [d["shown"] for d in line["dots"]] == ["50%", "—", "75%"]
    assert line["target_y"] is not None and not line["empty"]
