"""Many rows into SQLite as multi-row ``INSERT`` statements: the same rows, in the same order.

``executemany`` runs its statement once per row, and each run has a cost beside the row itself: the
statement is reset and re-bound, Python's ``sqlite3`` hands the interpreter lock over around it, and
an ``AUTOINCREMENT`` table updates its counter in ``sqlite_sequence``.  A statement with its
``VALUES`` tuple repeated :data:`ROWS_PER_INSERT` times pays that once per that many rows.  On the
server that speeds up writing a push's change feed, answers and parts movements; on the tablet, a
pulled page's answers and a ``batch()`` of SDK writes (whose queued rows are kept as flat lists of
values: :func:`write_flat`); ``fieldsync bench`` measures both.

SQLite inserts a multi-row ``VALUES`` one row after the other, as ``executemany`` does, so a row
meets the rows before it exactly as it would have: ``INSERT OR REPLACE`` and ``ON CONFLICT``
clauses resolve against them in order, and rowids are given in the same order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import Any, Final

#: rows per multi-row statement (more saves little: 64 was within a few per cent of 32)
ROWS_PER_INSERT: Final = 32
#: SQLite's historic limit of parameters per statement (newer builds allow 32,766)
MAX_PARAMETERS: Final = 999


@lru_cache(maxsize=512)
def multi_row(sql: str, rows: int) -> str:
    """``INSERT ... VALUES (?, ...) [ON CONFLICT ...]`` with its one ``VALUES`` tuple repeated ``rows`` times."""
    head, sep, rest = sql.partition(" VALUES (")
    marks, close, tail = rest.partition(")")
    if not sep or not close or "(" in marks or not head.lstrip().upper().startswith("INSERT"):
        raise ValueError(f"not an INSERT with one VALUES tuple: {sql[:80]}")
    return f"{head} VALUES " + ", ".join([f"({marks})"] * rows) + tail


@lru_cache(maxsize=512)
def is_multi_row_insert(sql: str) -> bool:
    """Whether :func:`multi_row` can repeat the ``VALUES`` tuple of ``sql``."""
    try:
        multi_row(sql, 1)
    except ValueError:
        return False
    return True


def write_rows(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]],
               per_statement: int = ROWS_PER_INSERT) -> None:
    """``conn.executemany(sql, rows)`` for an ``INSERT ... VALUES (?, ...)``, as multi-row statements."""
    if rows:
        write_flat(conn, sql, list(chain.from_iterable(rows)), len(rows[0]), per_statement)


def write_flat(conn: sqlite3.Connection, sql: str, values: list[Any], width: int,
               per_statement: int = ROWS_PER_INSERT) -> None:
    """:func:`write_rows` for rows given as one flat list of values, ``width`` to a row."""
    if not values:
        return
    if width < 1 or len(values) % width:
        raise ValueError(f"{len(values)} values do not make rows of {width}")
    n = len(values) // width
    per = min(per_statement, MAX_PARAMETERS // width)
    whole = n - n % per if per > 1 else 0
    step = width * per
    if whole:
        conn.executemany(multi_row(sql, per), [values[i:i + step] for i in range(0, whole * width, step)])
    if whole < n:
        rest = iter(values[whole * width:])
        conn.executemany(sql, zip(*[rest] * width, strict=True))
