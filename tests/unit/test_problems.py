"""Every problem code the server raises has its text in every locale; a problem's texts follow the locale."""

from __future__ import annotations

import ast
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import i18n
from server import errors
from server.errors import BadRequest, Msg, NotFound
from server.http_locale import request_locale

ROOT = Path(__file__).resolve().parents[2]
RAISERS = {"BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict", "PayloadTooLarge", "RateLimited",
           "PreconditionFailed", "Unprocessable", "PreconditionRequired", "UnsupportedMediaType",
           "DomainError", "ChangeSetError", "problem"}


def _calls() -> list[ast.Call]:
    found = []
    for package in ("server", "sync"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    found.append(node)
    return found


def _name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


CALLS = _calls()


def _raised_codes() -> set[str]:
    codes = set(errors.CHANGESET_STATUS)
    for call in CALLS:
        if _name(call) in RAISERS:
            for arg in call.args[:2]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.isidentifier():
                    codes.add(arg.value)
                    break
    return codes


def test_every_code_the_server_raises_has_a_text_in_every_locale() -> None:
    codes = _raised_codes()
    assert {"unknown_ticket", "invalid_parameter", "chain_gap", "storage_unavailable"} <= codes
    for locale in i18n.LOCALES:
        catalog = i18n.catalog(locale, "problems")
        missing = sorted(c for c in codes if f"code.{c}" not in catalog)
        assert not missing, (locale, missing)


def test_every_msg_key_raised_has_its_detail_text() -> None:
    keys = {call.args[0].value for call in CALLS if _name(call) == "Msg" and call.args
            and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)}
    assert keys
    for key in keys:
        assert f"detail.{key}" in i18n.catalog("en", "problems"), key


def test_english_texts_are_those_the_raise_site_wrote() -> None:
    exc = NotFound("unknown_ticket", "no ticket 'T-1'")
    assert exc.detail == str(exc) == exc.detail_in("en") == "no ticket 'T-1'"
    assert exc.detail_in("zh_CN") == "工单不存在。"
    assert errors.title("en", 404) == errors.TITLES[404] == "Not Found"
    assert errors.title("zh_CN", 418) == "错误"


def test_a_msg_detail_is_english_in_the_exception_and_translated_in_the_problem() -> None:
    exc = BadRequest("invalid_parameter", Msg("format_json_or_csv"))
    assert exc.detail == "format is json or csv"
    body = msgspec.json.decode(errors.problem(exc.status, exc.code, exc.detail, locale="zh_CN", msg=exc.msg).content)
    assert body == {"type": "https://fieldsync.dev/problems/invalid_parameter", "title": "请求无效", "status": 400,
                    "detail": "format 参数只能是 json 或 csv", "code": "invalid_parameter"}


def test_extension_members_fill_the_codes_placeholders_and_stay_in_the_body() -> None:
    body = msgspec.json.decode(errors.problem(409, "offset_mismatch", "resume at offset 42", locale="zh_CN",
                                              received=42).content)
    assert body["detail"] == "请从第 42 字节继续上传。" and body["received"] == 42


@pytest.mark.parametrize(("header", "locale"), [
    (None, "en"), ("", "en"), ("  ", "en"), ("fr", "en"), ("zh-CN", "zh_CN"), ("zh-TW;q=0.8, en;q=0.9", "en"),
    ("en-GB, zh;q=0.5", "en"), ("zh", "zh_CN"), ("de, zh-Hans;q=0.3", "zh_CN"),
])
def test_the_request_locale_falls_back_to_english(header: str | None, locale: str) -> None:
    assert request_locale(header) == locale


@given(st.text(max_size=200))
def test_any_accept_language_header_gives_a_supported_locale(header: str) -> None:
    assert request_locale(header) in i18n.LOCALES


class _Request:
    """What the mapper reads of a request: its headers, its query and its path."""

    def __init__(self, accept_language: str | None) -> None:
        self.headers = {} if accept_language is None else {"accept-language": accept_language}
        self.query_params: dict[str, str] = {}
        self.url = type("U", (), {"path": "/v1/x"})()


def test_a_decoder_error_names_the_body_path_in_chinese_and_is_the_decoders_sentence_in_english() -> None:
    try:
        msgspec.json.decode(b'{"qty": "x"}', type=dict[str, int])
    except msgspec.ValidationError as exc:
        error = exc
    zh = msgspec.json.decode(errors.handle_exception(_Request("zh-CN"), error).content)  # type: ignore[arg-type]
    en = msgspec.json.decode(errors.handle_exception(_Request(None), error).content)  # type: ignore[arg-type]
    assert zh["code"] == en["code"] == "invalid_body"
    assert zh["detail"] == "请求内容中 $[...] 处的值无效。"
    assert en["detail"] == "Expected `int`, got `str` - at `$[...]`"


def test_an_unexpected_error_is_a_500_in_the_request_language_without_internals() -> None:
    body = msgspec.json.decode(errors.handle_exception(_Request("zh"), KeyError("secret")).content)  # type: ignore[arg-type]
    assert body == {"type": "https://fieldsync.dev/problems/server_error", "title": "服务器内部错误", "status": 500,
                    "detail": "服务器内部错误。", "code": "server_error"}


CODES = sorted(k.removeprefix("code.") for k in i18n.catalog("en", "problems") if k.startswith("code."))


@given(st.text(max_size=120), st.sampled_from(CODES), st.sampled_from([400, 401, 403, 404, 409, 413, 429]))
def test_whatever_the_header_the_code_and_status_stay_and_the_texts_are_one_locales(header: str, code: str,
                                                                                     status: int) -> None:
    exc = errors.DomainError(code, "as written")
    exc.status = status
    body = msgspec.json.decode(errors.handle_exception(_Request(header), exc).content)  # type: ignore[arg-type]
    locale = request_locale(header)
    assert (body["code"], body["status"], body["type"]) == (code, status, f"https://fieldsync.dev/problems/{code}")
    assert body["title"] == errors.title(locale, status)
    assert body["detail"] == ("as written" if locale == "en" else i18n.text(locale, "problems", f"code.{code}"))
