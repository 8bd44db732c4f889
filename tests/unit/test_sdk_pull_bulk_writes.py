"""A pulled page's rows go to SQLite as multi-row INSERTs, in order, and a new tablet's page looks nothing up:
the stored rows are those of the changes applied one by one."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client_sdk import apply
from client_sdk.apply import PUT_ANSWER, PUT_JOB, PUT_MOVEMENT, apply_changes, write_rows
from client_sdk.store import LocalStore
from client_sdk.testing import Change, record
from tests.unit.test_sdk_pull_apply import _dump, _two_stores, changes, pending_keys


@contextmanager
def _rows_per_insert(n: int) -> Iterator[None]:
    """Multi-row statements of ``n`` rows (the page sizes a property test draws are far below the real count)."""
    with mock.patch.object(apply, "ROWS_PER_INSERT", n):
        yield


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.lists(changes(), max_size=8), page=st.lists(changes(), min_size=3, max_size=20),
       pending=pending_keys, per_insert=st.integers(min_value=2, max_value=3))
def test_a_page_written_in_multi_row_inserts_equals_its_changes_one_by_one(
        before: list[Change], page: list[Change], pending: list[tuple[str, str]], per_insert: int) -> None:
    with _two_stores(before, pending) as (at_once, one_by_one):
        with _rows_per_insert(per_insert), at_once.write() as tx:
            apply_changes(tx, page)
        with one_by_one.write() as tx:
            for change in page:
                apply_changes(tx, [change])
        assert _dump(at_once) == _dump(one_by_one)


def _answer(job: str, key: str, value: int) -> tuple[Any, ...]:
    return (job, key, str(value), None, None, value, "D", 1, 0)


def test_write_rows_keeps_the_order_of_rows_with_one_key(tmp_path: Path) -> None:
    # 70 rows over 40 keys: two whole statements of 32 rows, then 6 one by one; the last row of a key wins
    rows = [_answer(f"J{i % 40:02}", "k", i) for i in range(70)]
    store = LocalStore(tmp_path / "t.db")
    with store.write() as tx:
        write_rows(tx.conn, PUT_ANSWER, rows)
    assert store.conn.execute("SELECT job_id, hlc FROM answers ORDER BY job_id").fetchall() == [
        (f"J{k:02}", max(i for i in range(70) if i % 40 == k)) for k in range(40)]
    store.close()


def test_write_rows_stores_what_executemany_stores(tmp_path: Path) -> None:
    jobs = [dict.fromkeys(apply.JOB_COLUMNS) | {"id": f"J{i % 40}", "ticket_id": "T", "engineer_id": "e",
                                                 "status": f"s{i}", "signed_off": 0, "changed_after_signoff": 0,
                                                 "ticket": "{}", "times": "{}", "notes": "", "diagnosis": "",
                                                 "resolution": "", "remote": 0, "field_hlc": "{}"}
            for i in range(75)]
    moves = [(f"M{i % 50}", "use", "P", i, None, None, "van", None, f"J{i % 7}", i, None) for i in range(100)]
    statements = [(PUT_JOB, [apply._JOB_ROW(j) for j in jobs]), (PUT_MOVEMENT, moves),
                  (PUT_ANSWER, [_answer(f"J{i % 9}", f"k{i % 4}", i) for i in range(200)])]
    with tempfile.TemporaryDirectory() as tmp:
        bulk, plain = LocalStore(Path(tmp) / "bulk.db"), LocalStore(Path(tmp) / "plain.db")
        for sql, rows in statements:
            with bulk.write() as tx:
                write_rows(tx.conn, sql, rows)
            with plain.write() as tx:
                tx.conn.executemany(sql, rows)
        # rowids too (the order rows went in), where the table has them
        for table, cols in (("jobs", "rowid, *"), ("movements", "rowid, *"), ("answers", "*")):
            assert bulk.conn.execute(f"SELECT {cols} FROM {table} ORDER BY 1, 2").fetchall() == \
                plain.conn.execute(f"SELECT {cols} FROM {table} ORDER BY 1, 2").fetchall()
        bulk.close()
        plain.close()


def _bootstrap_page() -> list[Change]:
    page: list[Change] = [record("template", "t@2")]
    for n in range(40):
        job = f"J{n}"
        page.append(record("job", job, ticket_id="T", template_version=2))
        page += [record("answer", f"{job}/k{k}", value=k)
                 for k in range(3)]
        page.append(record("movement", f"M{n}", kind="use", part_no="P", job_id=job))
        page.append(record("signoff", job, report_digest="d"))
    return page


def test_a_new_tablet_looks_up_no_local_row_and_stores_the_page(tmp_path: Path) -> None:
    page = _bootstrap_page()
    with _two_stores([], []) as (fresh, reference):
        seen: list[str] = []
        fresh.conn.set_trace_callback(seen.append)
        with fresh.write() as tx:
            assert apply_changes(tx, page) == len(page)
        fresh.conn.set_trace_callback(None)
        lookups = [sql for sql in seen if sql.startswith("SELECT") and "EXISTS" not in sql and "outbox" not in sql]
        assert lookups == []
        with reference.write() as tx:
            for change in page:
                apply_changes(tx, [change])
        assert _dump(fresh) == _dump(reference)
        signed = "SELECT COUNT(*) FROM jobs WHERE signed_off = 1 AND template_version = 2"
        assert fresh.conn.execute(signed).fetchone() == (40,)
        assert fresh.conn.execute("SELECT COUNT(*) FROM answers WHERE template_version = 2").fetchone() == (120,)


def test_a_page_after_a_removal_reads_the_rows_the_page_wrote_before_it(tmp_path: Path) -> None:
    # the view of a new tablet says "no row" without a look-up; once a removal has written through, it looks up
    page = [record("job", "J1", template_version=3),
            record("job", "J2", template_version=4),
            record("signoff", "J2", report_digest="d"),
            record("job_removed", "J1"),
            record("answer", "J2/k", value=1),
            record("signoff", "J2", report_digest="d")]
    store = LocalStore(tmp_path / "t.db")
    with store.write() as tx:
        apply_changes(tx, page)
    assert store.conn.execute("SELECT id, signed_off FROM jobs").fetchall() == [("J2", 1)]
    assert store.conn.execute("SELECT template_version FROM answers").fetchall() == [(4,)]
    store.close()
