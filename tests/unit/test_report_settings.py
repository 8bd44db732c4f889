"""The report's settings: company header and currency from FIELDSYNC_* variables (locale: FIELDSYNC_LOCALE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import SettingsError, get_settings


def test_company_header_currency_and_locale_come_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n")
    for name, value in (("NAME", "华东设备服务有限公司"), ("ADDRESS", "上海市浦东新区"), ("PHONE", "021-5555 0100"),
                        ("LOGO", str(logo))):
        monkeypatch.setenv(f"FIELDSYNC_COMPANY_{name}", value)
    monkeypatch.setenv("FIELDSYNC_CURRENCY", "¥")
    s = get_settings()
    assert (s.company_name, s.company_address) == ("华东设备服务有限公司", "上海市浦东新区")
    assert s.company_phone == "021-5555 0100"
    assert (s.company_logo, s.currency) == (str(logo), "¥")


def test_defaults_are_no_header_and_english(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COMPANY_NAME", "COMPANY_LOGO", "CURRENCY", "LOCALE"):
        monkeypatch.delenv(f"FIELDSYNC_{name}", raising=False)
    s = get_settings()
    assert (s.company_name, s.company_logo, s.currency, s.locale) == ("", None, "", "en")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("FIELDSYNC_COMPANY_LOGO", "/nonexistent/logo.png", "FIELDSYNC_COMPANY_LOGO: no readable file"),
])
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        get_settings()
