"""Search tokens: the words a full-text index holds for a text, and the words a query asks for.

One rule for every store that searches (the server on SQLite and on
PostgreSQL, the tablet's SQLite), so each gives the same verdict: the engines
only match whole tokens made here, they neither stem nor split them further.

- Text is NFKC-normalised (full-width ``ＡＢＣ１２３`` reads as ``abc123``) and
  lower-cased.
- A run of CJK characters (Han, kana, Hangul) has no spaces between its words,
  so it is indexed as every single character and every overlapping pair of
  characters (``风机异响`` -> ``风 风机 机 机异 异 异响 响``).  A query's run of
  one character asks for that character, a longer run for its pairs
  (``异响`` -> ``异响``; ``风机异响`` -> ``风机 机异 异响``), so any run of one or
  more characters of an indexed text finds it, whatever its length.
- Other words (letters and digits; ``_`` and punctuation separate) are reduced
  to their Snowball English stem (``fans`` and ``fan`` -> ``fan``), with no stop
  words: every word of a query must match.

A query is only ever turned into these tokens, never into search syntax.

A store records the :func:`fingerprint` of the tokens it indexed with and
indexes its cases anew when the code's differs (this rule changed, or the
stemmer stems a probe word differently: ``snowballstemmer`` uses PyStemmer
when it is installed, and versions differ), so index and query tokens always
come from the same rule.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Final

import snowballstemmer

#: CJK scripts written without spaces between words: Han (with 々 and 〇), kana, Hangul
CJK: Final = ("\u3005\u3007\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
              "\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff\U00020000-\U0003134f")
#: a run of CJK characters, or a word of other letters and digits
TOKEN: Final = re.compile(f"([{CJK}]+)|[^\\W_{CJK}]+")
#: a query asks for at most this many tokens (the rest of a very long query is not required)
MAX_QUERY_TOKENS: Final = 32
#: the version of this module's rule: bump it with any change to what tokens a text or a query gives
RULE: Final = 1
#: words whose stems name the stemmer in use (suffix rules of the Snowball English algorithm)
PROBE: Final = """caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated troubled sized
hopping tanned falling hissing fizzed failing filing happy sky relational conditional rational valency hesitancy
digitizer conformably radically differently vilely analogously vietnamization predication operator feudalism
decisiveness hopefulness callousness formality sensitivity sensibility triplicate formative formalize electricity
electrical hopeful goodness revival allowance inference airliner gyroscopic adjustable defensible irritant
replacement adjustment dependent adoption homologous communism activate angularity effective bowdlerize probate
rate cease controlling rolling generous news skies dying lying tying idly gently ugly early only singly inning
outing canning herring earring proceed exceed succeed fans noisy noisier bearings leaking leaks replaced ignition
ignites electrodes running pumps valves pressure cooling heater overheating tripped thermostats"""
#: a longer word is left out of index and query alike (PostgreSQL does not index a word of more than 2047 bytes)
MAX_WORD: Final = 200
#: how many words' stems :func:`stem` remembers (the same few words recur across a knowledge base)
STEM_CACHE: Final = 16_384


def stem(word: str) -> str:
    """The Snowball English stem of ``word``.

    A word of ASCII digits is its own stem (every rule of the algorithm
    removes or changes letters) and is not remembered: numbers seldom recur
    and would push words out of :func:`_stem_word`'s memory.
    """
    if word.isdigit() and word.isascii():
        return word
    return _stem_word(word)


@lru_cache(maxsize=STEM_CACHE)
def _stem_word(word: str) -> str:
    """The stem of ``word``, remembered: stemming is ~70 us a word in pure Python and a bootstrap stems the same
    words again and again.  A stemmer per call (it keeps state while it stems, so one shared across threads would
    not be safe), made only for a word not remembered."""
    return str(snowballstemmer.stemmer("english").stemWord(word))


def _runs(text: str) -> list[tuple[bool, str]]:
    """(is CJK, run or word) of ``text``, normalised and lower-cased, in order."""
    folded = unicodedata.normalize("NFKC", text or "").lower()
    return [(m.group(1) is not None, m.group(0)) for m in TOKEN.finditer(folded) if len(m.group(0)) <= MAX_WORD]


def index_tokens(text: str) -> list[str]:
    """The tokens an index holds for ``text``, in text order (repeats kept: they weigh in ranking)."""
    tokens: list[str] = []
    for cjk, run in _runs(text):
        if not cjk:
            tokens.append(stem(run))
            continue
        for i, char in enumerate(run):
            tokens.append(char)
            if i + 1 < len(run):
                tokens.append(run[i:i + 2])
    return tokens


def query_tokens(text: str) -> list[str]:
    """The tokens a query asks for, each once, in query order: a case must hold every one of them."""
    tokens: list[str] = []
    for cjk, run in _runs(text):
        if not cjk:
            tokens.append(stem(run))
        elif len(run) == 1:
            tokens.append(run)
        else:
            tokens.extend(run[i:i + 2] for i in range(len(run) - 1))
    return list(dict.fromkeys(tokens))[:MAX_QUERY_TOKENS]


def index_text(*texts: str) -> str:
    """The index tokens of ``texts`` as one space-separated string, what the engines index."""
    return " ".join(token for text in texts for token in index_tokens(text))


def kb_index_text(symptom: str, cause: str, fix: str, parts: Sequence[str], model: str, equipment_type: str) -> str:
    """What a knowledge-base case is found by: its symptom, cause, fix, parts, model and equipment type."""
    return index_text(symptom, cause, fix, *parts, model, equipment_type)


def customer_index_text(name: str, external_ref: str | None, contacts: Sequence[str]) -> str:
    """What a customer is found by -- its name, ERP reference and contacts' names -- as tokens padded with a
    space on each side, so a store matches a whole token with ``LIKE '% token %'``."""
    return f" {index_text(name, external_ref or '', *contacts)} "


@cache
def fingerprint() -> str:
    """Names the tokens this code makes: the rule's version and a digest of the probe words' tokens."""
    return f"{RULE}:{hashlib.sha256(index_text(PROBE).encode()).hexdigest()[:16]}"
