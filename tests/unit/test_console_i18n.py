"""The console's language: which locale a request gets, display names, and Babel formatting per locale and zone."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.console.i18n import Lang, choose_locale
from server.domain.sla.policy import PolicyError, default_policies, policies_from_dict
from server.settings import SettingsError, get_settings

ZH = Lang("zh_CN", "Asia/Shanghai")
EN = Lang("en", "Asia/Shanghai")
# 2026-10-10 01:00 UTC = Saturday 09:00 in Shanghai
SATURDAY_MS = 1_791_594_000_000


@pytest.mark.parametrize(("stored", "cookie", "header", "default", "locale"), [
    ("zh_CN", "en", "en-US", "en", "zh_CN"),         # the user's choice wins over everything
    (None, "zh-CN", "en-US", "en", "zh_CN"),         # then the cookie (sign-in page, staff tokens)
    (None, None, "zh-CN,zh;q=0.9", "en", "zh_CN"),   # then the browser
    (None, None, "en-US,en;q=0.9", "zh_CN", "en"),
    (None, None, "fr-FR, de;q=0.5", "zh_CN", "zh_CN"),  # a browser asking for neither: the server's setting
    (None, None, "fr-FR, de;q=0.5", "en", "en"),
    (None, None, None, "en", "en"),
    (None, "xx", "", "zh_CN", "zh_CN"),              # an unknown cookie is ignored
])
def test_a_request_is_shown_in_the_users_then_the_browsers_then_the_servers_language(
        stored: str | None, cookie: str | None, header: str | None, default: str, locale: str) -> None:
    assert choose_locale(stored, cookie, header, default) == locale


def test_dates_are_in_the_configured_zone_with_the_locales_pattern_and_weekday() -> None:
    assert EN.when(SATURDAY_MS) == "2026-10-10 09:00"
    assert ZH.when(SATURDAY_MS) == "2026年10月10日 09:00"
    assert Lang("en", "UTC").when(SATURDAY_MS) == "2026-10-10 01:00"
    assert ZH.short(SATURDAY_MS) == "10月10日 09:00"
    due = datetime(2026, 10, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert EN.local(due) == "Sat 2026-10-10 09:00"
    assert ZH.local(due) == "2026年10月10日 周六 09:00"
    assert ZH.when(None) == "—"
    for absurd in (-(2**63), 10**15, 2**63 - 1):  # stored before device times were bounded
        assert (EN.when(absurd), ZH.short(absurd)) == ("invalid time", "无效时间")


def test_durations_numbers_and_money_per_locale() -> None:
    three_days = (3 * 86400 + 4 * 3600) * 1000
    assert (EN.dur(three_days), ZH.dur(three_days)) == ("3d 4h", "3天4小时")
    assert (EN.left(-5 * 60_000), ZH.left(-5 * 60_000)) == ("5m 00s over", "超时 5分00秒")
    assert (EN.span("3wd"), ZH.span("3wd"), ZH.span("1h30m")) == ("3wd", "3个工作日", "1小时30分钟")
    assert ZH.span("soon") == "soon", "a text that is no duration stays as it is"
    assert (EN.number(12345.5), ZH.number(12345.5)) == ("12,345.5", "12,345.5")
    assert (EN.percent(0.873), ZH.percent(None)) == ("87%", "—")
    assert "1,234.50" in ZH.money(Decimal("1234.5")) and any(sign in ZH.money(1) for sign in "¥￥")


@given(st.integers(min_value=0, max_value=10**12))
def test_every_duration_reads_in_chinese_without_latin_units(ms: int) -> None:
    text = ZH.dur(ms)
    assert text and not any("a" <= ch.lower() <= "z" for ch in text)


def test_priorities_and_categories_have_names_the_policy_file_may_override() -> None:
    assert [ZH.priority(p) for p in ("P1", "P2", "P3", "complaint")] == ["重大故障", "紧急故障", "一般故障", "投诉"]
    assert ZH.name("status", "on_hold") == "挂起" and EN.name("status", "on_hold") == "on hold"
    assert ZH.name("status", "something_new") == "something new", "an unknown code shows as it is"
    config = {"category_names": {"fault": {"zh-CN": "故障报修"}},
              "policies": {p: {"targets": {"resolve": {"duration": "1h", "start": ["opened"], "stop": ["completed"]}}}
                           for p in ("P1", "P2", "P3", "complaint")}}
    config["policies"]["P3"]["names"] = {"zh_CN": "三级", "en": "Normal"}  # type: ignore[index]
    names = policies_from_dict(config).display_names()
    zh, en = Lang("zh_CN", overrides=names), Lang("en", overrides=names)
    assert (zh.priority("P3"), en.priority("P3"), zh.priority("P1")) == ("三级", "Normal", "重大故障")
    assert (zh.category("fault"), en.category("fault")) == ("故障报修", "fault"), "a locale not named: the catalog"
    assert default_policies().display_names() == {}


@pytest.mark.parametrize("names", [{"fr": "Normale"}, {"zh_CN": ""}, {"zh_CN": 3}, "一般故障"])
def test_a_policy_file_with_unusable_names_is_refused(names: object) -> None:
    config = {"policies": {p: {"targets": {"resolve": {"duration": "1h", "start": ["opened"], "stop": ["completed"]}}}
                           for p in ("P1", "P2", "P3", "complaint")}}
    config["policies"]["P2"]["names"] = names  # type: ignore[index]
    with pytest.raises(PolicyError, match="policies.P2.names"):
        policies_from_dict(config)


def test_fieldsync_locale_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIELDSYNC_LOCALE", raising=False)
    assert get_settings().locale == "en"
    monkeypatch.setenv("FIELDSYNC_LOCALE", "zh-CN")
    assert get_settings().locale == "zh_CN"
    monkeypatch.setenv("FIELDSYNC_LOCALE", "fr")
    with pytest.raises(SettingsError, match="FIELDSYNC_LOCALE"):
        get_settings()
