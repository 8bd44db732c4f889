"""Bulk SQLite writes as multi-row INSERTs store exactly what ``executemany`` stores, in the same order."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.storage import open_database
from sync.storage.base import upsert_sql
from sync.storage.sqlite_rows import is_multi_row_insert, multi_row, write_flat, write_rows

FEED = "CREATE TABLE feed (seq INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT NOT NULL, data BLOB)"
KV = "CREATE TABLE kv (k TEXT NOT NULL, j INTEGER NOT NULL, v TEXT, n INTEGER, PRIMARY KEY (k, j)) WITHOUT ROWID"
KV_UPSERT = upsert_sql("kv", ("k", "j", "v", "n"), ("k", "j"))
KV_REPLACE = "INSERT OR REPLACE INTO kv (k, j, v, n) VALUES (?, ?, ?, ?)"


def _conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(FEED)
    conn.execute(KV)
    return conn


def test_multi_row_repeats_the_values_tuple_and_keeps_the_conflict_clause() -> None:
    assert multi_row("INSERT INTO t (a, b) VALUES (?, ?)", 3) == "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)"
    assert multi_row(KV_UPSERT, 2) == KV_UPSERT.replace("VALUES (?, ?, ?, ?)", "VALUES (?, ?, ?, ?), (?, ?, ?, ?)")
    with pytest.raises(ValueError, match="one VALUES tuple"):
        multi_row("INSERT INTO t (a) SELECT a FROM u", 2)


rows_of_kv = st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 3), st.none() | st.text(max_size=3),
                                st.none() | st.integers(-2**63, 2**63 - 1)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(rows=rows_of_kv, per=st.integers(2, 5), sql=st.sampled_from([KV_UPSERT, KV_REPLACE]))
def test_rows_with_repeated_keys_end_as_executemany_leaves_them(rows: list[tuple[Any, ...]], per: int,
                                                                 sql: str) -> None:
    bulk, plain = _conn(), _conn()
    write_rows(bulk, sql, rows, per)
    plain.executemany(sql, rows)
    assert bulk.execute("SELECT * FROM kv ORDER BY k, j").fetchall() == \
        plain.execute("SELECT * FROM kv ORDER BY k, j").fetchall()


@settings(max_examples=100, deadline=None)
@given(rows=rows_of_kv, per=st.integers(2, 40))
def test_flat_values_go_in_as_the_rows_they_make(rows: list[tuple[Any, ...]], per: int) -> None:
    bulk, plain = _conn(), _conn()
    write_flat(bulk, KV_REPLACE, [v for row in rows for v in row], 4, per)
    plain.executemany(KV_REPLACE, rows)
    assert bulk.execute("SELECT * FROM kv ORDER BY k, j").fetchall() == \
        plain.execute("SELECT * FROM kv ORDER BY k, j").fetchall()


def test_flat_values_that_do_not_make_whole_rows_are_refused_before_any_write() -> None:
    conn = _conn()
    with pytest.raises(ValueError, match="do not make rows of 4"):
        write_flat(conn, KV_REPLACE, ["a", 1, "v", 2, "b"], 4)
    assert conn.execute("SELECT COUNT(*) FROM kv").fetchone() == (0,)


def test_only_an_insert_with_one_values_tuple_is_written_as_multi_row() -> None:
    assert is_multi_row_insert(KV_REPLACE) and is_multi_row_insert(KV_UPSERT)
    assert is_multi_row_insert("INSERT INTO movements (id, kind) VALUES (?, 'consume')")
    assert not is_multi_row_insert("UPDATE jobs SET status = ? WHERE id = ?")
    assert not is_multi_row_insert("UPDATE device SET hlc_last = ? WHERE id IN (SELECT id FROM t WHERE v IN (?))")
    assert not is_multi_row_insert("INSERT INTO t (a) SELECT a FROM u WHERE b = ?")


def test_an_autoincrement_table_gets_the_same_sequence_numbers_in_the_same_order() -> None:
    rows = [(f"s{i % 3}", bytes([i])) for i in range(70)]  # two statements of 32 rows, then 6 one by one
    bulk, plain = _conn(), _conn()
    write_rows(bulk, "INSERT INTO feed (scope, data) VALUES (?, ?)", rows)
    plain.executemany("INSERT INTO feed (scope, data) VALUES (?, ?)", rows)
    assert bulk.execute("SELECT * FROM feed ORDER BY seq").fetchall() == \
        plain.execute("SELECT * FROM feed ORDER BY seq").fetchall()
    assert bulk.execute("SELECT seq FROM sqlite_sequence").fetchall() == [(70,)]


def test_wide_rows_stay_under_sqlite_s_parameter_limit() -> None:
    conn = sqlite3.connect(":memory:")
    cols = [f"c{i}" for i in range(40)]  # 32 rows of 40 would be 1,280 parameters
    conn.execute(f"CREATE TABLE wide ({', '.join(cols)})")
    sql = f"INSERT INTO wide ({', '.join(cols)}) VALUES ({', '.join('?' * 40)})"
    write_rows(conn, sql, [tuple(range(i, i + 40)) for i in range(100)])
    assert conn.execute("SELECT COUNT(*), SUM(c0), SUM(c39) FROM wide").fetchone() == (100, 4950, 4950 + 3900)


def test_the_server_adapter_appends_and_upserts_in_multi_row_statements(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'server.db'}")
    statements: list[str] = []
    try:
        with db.write() as tx:
            tx.conn.set_trace_callback(statements.append)  # type: ignore[attr-defined]
            tx.execute("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL)")
            tx.append("t", ("id", "n"), [(f"r{i:03}", i) for i in range(100)])
            tx.upsert("t", ("id", "n"), ("id",), [(f"r{i % 50:03}", -i) for i in range(64)])
            tx.conn.set_trace_callback(None)  # type: ignore[attr-defined]
        with db.read() as tx:
            stored = dict(tx.rows("SELECT id, n FROM t"))
    finally:
        db.close()
    # the last of two writes to a key wins, as in order
    assert stored == {f"r{i:03}": (-(i + 50) if i < 14 else -i if i < 50 else i) for i in range(100)}
    inserts = [s for s in statements if s.startswith("INSERT INTO t ")]
    assert len(inserts) == 3 + 4 + 2  # 100 rows: 3 of 32 and 4 alone; 64 upserted: 2 of 32
