"""The search tokens of sync/core/search.py: Chinese found by any part of a word, English by its stem.

An engine finds a text when the text's index tokens hold every query token
(that is all SQLite FTS5, PostgreSQL and the tablet are asked to do), so the
properties are stated on the tokens themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import snowballstemmer
from hypothesis import given, settings
from hypothesis import strategies as st

from client_sdk import lifecycle
from client_sdk.store import LocalStore
from client_sdk.testing import kb_case
from sync.core.search import (
    MAX_QUERY_TOKENS,
    fingerprint,
    index_text,
    index_tokens,
    kb_index_text,
    query_tokens,
    stem,
)

VECTORS = Path(__file__).resolve().parents[2] / "schemas" / "vectors"

HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
KANA_HANGUL = st.sampled_from("あいうアイウーガ가나다한국々〇")
CJK_RUN = st.text(st.one_of(HAN, KANA_HANGUL), min_size=1, max_size=12)
LATIN_WORD = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789éü"), min_size=1, max_size=12)
SEPARATORS = [" ", "，", "。", ", ", "-", "_", "\n", "/", "、", "（", "）"]
#: (is CJK, word) and what follows it; with no separator, neighbouring pieces of one script make one word
PIECES = st.lists(st.tuples(st.one_of(CJK_RUN.map(lambda w: (True, w)), LATIN_WORD.map(lambda w: (False, w))),
                            st.sampled_from([*SEPARATORS, ""])), min_size=1, max_size=8)
SEPARATED = st.lists(st.tuples(st.one_of(CJK_RUN.map(lambda w: (True, w)), LATIN_WORD.map(lambda w: (False, w))),
                               st.sampled_from(SEPARATORS)), min_size=1, max_size=8)
Pieces = list[tuple[tuple[bool, str], str]]


def found(query: str, text: str) -> bool:
    """What every engine is asked: does ``text``'s index hold every token of ``query``?"""
    return set(query_tokens(query)) <= set(index_tokens(text))


def join(pieces: Pieces) -> str:
    return "".join(word + sep for (_, word), sep in pieces)


@settings(max_examples=300)
@given(PIECES, st.data())
def test_any_run_of_cjk_characters_of_a_text_finds_it(pieces: Pieces, data: st.DataObject) -> None:
    text = join(pieces)
    for run in [word for (cjk, word), _ in pieces if cjk]:
        start = data.draw(st.integers(0, len(run) - 1))
        end = data.draw(st.integers(start + 1, len(run)))
        part = run[start:end]  # one character, two, or the whole run
        assert query_tokens(part), part
        assert found(part, text), (part, text)


@given(SEPARATED)
def test_every_word_of_a_text_finds_it_in_any_case(pieces: Pieces) -> None:
    text = join(pieces)
    for (_, word), _ in pieces:
        assert found(word, text) and found(word.upper(), text) and found(word.lower(), text)
    assert found(text, text)  # the whole text finds itself


@given(st.lists(st.one_of(CJK_RUN, LATIN_WORD), min_size=1, max_size=40))
def test_a_query_is_only_ever_plain_tokens_and_never_too_many(words: list[str]) -> None:
    query = "\" OR * NEAR( ) ^ : ' -- ".join(words)
    tokens = query_tokens(query)
    assert len(tokens) <= MAX_QUERY_TOKENS and len(tokens) == len(set(tokens))
    assert all(t.isalnum() for t in tokens)  # no quote, star, colon, bracket or space: never search syntax


INFLECTIONS = [("fan", "fans"), ("bearing", "bearings"), ("leak", "leaking"), ("leaks", "leaked"),
               ("replace", "replaced"), ("ignite", "ignites"), ("ignition", "ignitions"),
               ("pump", "pumping"), ("run", "running"), ("valve", "valves"), ("electrode", "electrodes")]


@given(SEPARATED, st.sampled_from(INFLECTIONS), st.booleans(), st.integers(0, 8))
def test_an_english_word_finds_its_other_forms_anywhere_in_a_text(
        pieces: Pieces, pair: tuple[str, str], swap: bool, at: int) -> None:
    indexed, asked = pair[::-1] if swap else pair
    words = [word + sep for (_, word), sep in pieces]
    text = "".join([*words[:at], f" {indexed.capitalize()} ", *words[at:]])
    assert found(asked, text) and found(asked.upper(), text)


@given(st.one_of(st.text(st.sampled_from("0123456789"), min_size=1, max_size=30), LATIN_WORD,
                 st.text(st.sampled_from("0123456789sedingly"), min_size=1, max_size=12)))
def test_the_remembered_stem_and_the_digits_shortcut_are_the_stemmers(word: str) -> None:
    word = word.lower()
    assert stem(word) == snowballstemmer.stemmer("english").stemWord(word)
    assert stem(word) == stem(word)  # asked again: from memory


def test_chinese_examples() -> None:
    assert index_tokens("风机异响") == ["风", "风机", "机", "机异", "异", "异响", "响"]
    assert query_tokens("异响") == ["异响"] and query_tokens("风机异响") == ["风机", "机异", "异响"]
    assert query_tokens("异") == ["异"]
    text = "风机异响，运行时有摩擦声"
    assert found("异响", text) and found("风机", text) and found("异", text) and found("摩擦声", text)
    assert not found("响异", text)  # the characters in another order are another word
    assert not found("异响 点火", text)  # every part of a query must match
    assert found("E3", "故障码E3风机停转") and found("风机", "故障码E3风机停转")  # scripts split where they meet
    assert found("ＦＡＮ１２", "fan12 风机")  # full-width letters and digits read as ASCII


def test_english_words_match_their_stems() -> None:
    text = "Fans noisy at start; worn bearing replaced"
    for query in ("fan", "fans", "Noisy", "bearings", "replace", "replacing", "worn fans"):
        assert found(query, text), query
    assert not found("pump", text) and not found("fan pump", text)


def test_a_case_is_found_by_every_field() -> None:
    text = kb_index_text("风机异响", "轴承磨损", "更换轴承", ["P-BRG"], "Vitodens 200", "boiler")
    assert text == index_text("风机异响", "轴承磨损", "更换轴承", "P-BRG", "Vitodens 200", "boiler")
    for query in ("异响", "磨损", "更换", "brg", "vitodens 200", "boilers"):
        assert found(query, text), query
    assert query_tokens("") == [] and query_tokens("，。!?") == [] and index_text("") == ""


def test_the_tablet_store_finds_exactly_the_pairs_of_the_vectors(tmp_path: Path) -> None:
    """SQLite FTS5 over the tokens gives the verdicts ``schemas/vectors/search_tokens.json`` states."""
    vectors = json.loads((VECTORS / "search_tokens.json").read_text(encoding="utf-8"))
    assert vectors["fingerprint"] == fingerprint()
    texts = [t["text"] for t in vectors["texts"]]
    store = LocalStore(tmp_path / "tablet.db")
    try:
        with store.write() as tx:
            for i, text in enumerate(texts):
                lifecycle.apply_kb(tx, kb_case(f"KB-{i}", symptom=text))
        for q in vectors["queries"]:
            assert query_tokens(q["query"]) == q["query_tokens"]
            if not q["query_tokens"]:
                continue
            hits = {texts[int(c.id[3:])] for c in lifecycle.search(store.read, q["query"], None, 200)}
            assert hits == {f["text"] for f in vectors["found"] if f["query"] == q["query"]}, q["query"]
    finally:
        store.close()
