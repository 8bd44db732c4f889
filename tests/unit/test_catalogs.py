"""Message catalogs: every locale holds every key with the same placeholders; lookups never fail a page."""

from __future__ import annotations

import pytest

from schemas import i18n


def test_every_locale_holds_every_domain_with_the_same_keys_and_placeholders() -> None:
    for domain in i18n.domains():
        base = i18n.catalog(i18n.FALLBACK, domain)
        assert base, domain
        for locale in i18n.LOCALES:
            other = i18n.catalog(locale, domain)
            assert set(other) == set(base), (locale, domain, sorted(set(base) ^ set(other))[:20])
            for key, value in base.items():
                assert i18n.placeholders(other[key]) == i18n.placeholders(value), (locale, domain, key)
                assert other[key].strip(), (locale, domain, key)


def test_a_text_fills_its_placeholders_and_falls_back_instead_of_failing() -> None:
    assert i18n.text("en", "no-such-domain", "some.key") == "some.key"
    assert i18n.text("xx", "tablet", "app.title") == i18n.text("en", "tablet", "app.title")
    assert i18n.text("zh_CN", "tablet", "checklist.missing", n=3) == "还有 3 个必填项未完成。"
    assert i18n.text("zh_CN", "tablet", "checklist.missing") == "还有 {n} 个必填项未完成。"


@pytest.mark.parametrize(("header", "locale"), [
    (None, "zh_CN"), ("", "zh_CN"), ("en-US,en;q=0.9", "en"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
    ("de-DE, en;q=0.5", "en"), ("fr", "zh_CN"), ("en;q=0.2, zh-TW;q=0.8", "zh_CN"), ("en;q=abc, zh", "zh_CN"),
])
def test_accept_language_picks_a_supported_locale(header: str | None, locale: str) -> None:
    assert i18n.negotiate(header) == locale


def test_locale_names_are_normalised() -> None:
    assert i18n.normalise("zh-CN") == "zh_CN"
    assert i18n.normalise("EN-us") == "en"
    assert i18n.normalise("fr") is None
