"""Pull pages over the change feed, on every storage backend: cursors inside a transaction, the byte budget,
and any feed paged by the rule (a property)."""

from __future__ import annotations

import uuid

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server import feed
from server.feed import emit, emit_many, read_feed
from sync.storage import Database


def _page_through(db: Database, scopes: list[str], limit: int, max_bytes: int | None = None) -> list[list[int]]:
    pages, cursor = [], ""
    while True:
        changes, cursor, more = read_feed(db, scopes, cursor, limit, max_bytes)
        pages.append([msgspec.msgpack.decode(c.data)["n"] for c in changes])
        if not more:
            return pages


def test_a_cursor_inside_a_transaction_resumes_at_its_next_row(db: Database) -> None:
    n = 0
    for size in (5, 1, 4):  # transactions of several feed rows: page boundaries fall inside them
        with db.write() as tx:
            emit_many(tx, [("eng:a" if (n + i) % 3 else "eng:b", "job", f"j{n + i}", {"n": n + i})
                           for i in range(size)])
        n += size
    pages = _page_through(db, ["all", "eng:a"], 2)
    assert [x for page in pages for x in page] == [i for i in range(10) if i % 3]
    assert all(len(page) <= 2 for page in pages)


def test_a_page_stops_at_the_byte_budget_and_the_next_one_goes_on_from_there(db: Database) -> None:
    with db.write() as tx:
        for i in range(6):
            emit(tx, "all", "job", f"j{i}", {"n": i, "pad": "x" * 100})
    pages = _page_through(db, ["all"], 100, max_bytes=250)
    assert pages == [[0, 1], [2, 3], [4, 5]]


def test_a_record_larger_than_the_budget_still_makes_a_page(db: Database) -> None:
    with db.write() as tx:
        emit(tx, "all", "job", "big", {"n": 0, "pad": "x" * 1000})
        emit(tx, "all", "job", "small", {"n": 1})
    assert _page_through(db, ["all"], 100, max_bytes=10) == [[0], [1]]


def test_a_page_read_in_slices_is_the_page_read_at_once(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 0
    for size in (3, 1, 6, 2):
        with db.write() as tx:
            emit_many(tx, [("all" if (n + i) % 4 else "eng:b", "job", f"j{n + i}", {"n": n + i, "pad": "x" * 20})
                           for i in range(size)])
        n += size
    whole = _page_through(db, ["all"], 5)
    budgeted = _page_through(db, ["all"], 5, max_bytes=100)
    monkeypatch.setattr(feed, "FEED_SLICE", 2)
    assert _page_through(db, ["all"], 5) == whole == [[1, 2, 3, 5, 6], [7, 9, 10, 11]]
    assert _page_through(db, ["all"], 5, max_bytes=100) == budgeted
    assert [x for page in budgeted for x in page] == [1, 2, 3, 5, 6, 7, 9, 10, 11]


def test_a_page_is_read_from_its_own_scopes_index_ranges_not_a_walk_over_the_feed(db: Database) -> None:
    """A fleet's pulls stay linear: each scope is one range of the (scope, xid, seq) index."""
    with db.write() as tx:
        emit_many(tx, [(f"eng:e{i % 50}", "job", f"j{i}", {"n": i}) for i in range(500)])
    sql, params = feed.page_query(db.dialect, ["eng:e7", "all"], 10**9)
    with db.read() as tx:
        if db.dialect == "postgresql":
            tx.execute("SET LOCAL enable_sort = off")
            plan = "\n".join(r[0] for r in tx.rows("EXPLAIN " + sql, params(0, 0, 100)))
            assert plan.count("Index Scan using changes_scope") == 2 and "Seq Scan" not in plan, plan
        else:
            plan = "\n".join(r[3] for r in tx.rows("EXPLAIN QUERY PLAN " + sql, params(0, 0, 100)))
            assert plan.count("USING INDEX changes_scope (scope=?") == 4 and "SCAN changes" not in plan, plan
    changes, _, _ = feed.read_feed(db, ["eng:e7", "all"], "", 100)
    assert [c.id for c in changes] == [f"j{i}" for i in range(7, 500, 50)]


def _reference_pages(records: list[tuple[str, int]], limit: int, max_bytes: int | None) -> list[list[int]]:
    """Pages by the rule, one feed row at a time: at most ``limit`` rows and ``max_bytes`` of data (one row at
    least); a record changed twice in a page is sent once, its last state in the place of its last change."""
    rows = [(entity, len(msgspec.msgpack.encode({"n": n, "pad": "x" * pad})), n)
            for n, (entity, pad) in enumerate(records)]
    pages, start = [], 0
    while start < len(rows):
        size, end = 0, start
        while end < len(rows) and end - start < limit:
            size += rows[end][1]
            if max_bytes is not None and size > max_bytes and end > start:
                break
            end += 1
        latest = {row[0]: i for i, row in enumerate(rows[start:end])}
        pages.append([rows[start + i][2] for i in sorted(latest.values())])
        start = end
    return pages or [[]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 60)), max_size=30),
       limit=st.integers(1, 8), max_bytes=st.none() | st.integers(1, 200), slice_=st.integers(1, 5))
def test_pages_follow_the_row_limit_the_byte_budget_and_keep_the_last_state(
    db: Database, monkeypatch: pytest.MonkeyPatch, records: list[tuple[str, int]], limit: int,
    max_bytes: int | None, slice_: int,
) -> None:
    scope = f"eng:{uuid.uuid4().hex}"  # one feed, a fresh scope per example
    with db.write() as tx:
        emit_many(tx, [(scope, "job", entity, {"n": n, "pad": "x" * pad}) for n, (entity, pad) in enumerate(records)])
    monkeypatch.setattr(feed, "FEED_SLICE", slice_)
    assert _page_through(db, [scope], limit, max_bytes) == _reference_pages(records, limit, max_bytes)
