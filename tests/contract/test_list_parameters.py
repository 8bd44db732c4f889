"""Conformance: values sent as arrays (upsert columns, ``= ANY(?)`` id lists) or by binary COPY arrive exactly.

The PostgreSQL adapter sends list parameters in binary format (see ``sync.storage.postgres.bind``), so
these tests pin what must not change with the encoding: text that looks like array syntax or NULL,
NULLs themselves, the 64-bit integer range, and statements mixing lists, scalars and literal ``%``.
"""

from __future__ import annotations

from typing import Any

import pytest

from sync.storage import Database, open_database

#: text an array literal would have to quote or escape, and the word NULL (not a NULL)
AWKWARD = ['say "hi"', "back\\slash", "{braces}", "a,b", "NULL", "null", "", " padded ", "tab\there",
           "line\nbreak", "ünïcödé ✓", "quote ' here", "%s and ?", "\\N"]
ANSWER_COLUMNS = ("job_id", "item_key", "value", "note", "na_reason", "hlc", "device_id", "at", "template_version",
                  "deleted")


def answer_rows(values: list[str], hlc: int) -> list[tuple[Any, ...]]:
    return [("J-1", f"k{i}", v, None if i % 2 else v, None, hlc - i, "D-1", -(2**63) + i, 2**31 - 1, i % 2)
            for i, v in enumerate(values)]


def test_upserted_text_nulls_and_64_bit_integers_read_back_exactly(db: Database) -> None:
    first = answer_rows(AWKWARD, 2**63 - 1)
    with db.write() as tx:
        tx.upsert("answers", ANSWER_COLUMNS, ("job_id", "item_key"), first)
    with db.read() as tx:
        assert tx.rows(f"SELECT {', '.join(ANSWER_COLUMNS)} FROM answers ORDER BY hlc DESC") == first
    # overwritten whole, a column of NULLs included
    second = [(j, k, None, v, "n/a", h, d, a, t, 1 - x) for j, k, v, _, _, h, d, a, t, x in
              answer_rows(list(reversed(AWKWARD)), 7)]
    with db.write() as tx:
        tx.upsert("answers", ANSWER_COLUMNS, ("job_id", "item_key"), second)
    with db.read() as tx:
        assert tx.rows(f"SELECT {', '.join(ANSWER_COLUMNS)} FROM answers ORDER BY hlc DESC") == second


@pytest.fixture
def pg(pg_url: str) -> Any:
    database = open_database(pg_url)
    yield database
    database.close()


def test_an_upsert_with_a_value_out_of_its_column_range_fails_and_writes_nothing(pg: Database) -> None:
    with pytest.raises(Exception), pg.write() as tx:  # noqa: B017 - each driver raises its own error
        tx.upsert("answers", ANSWER_COLUMNS, ("job_id", "item_key"),
                  [("J-1", "a", None, None, None, 1, "D-1", 1, 0, 0),
                   ("J-1", "b", None, None, None, 1, "D-1", 1, 2**31, 0)])  # template_version is a 32-bit integer
    with pg.read() as tx:
        assert tx.rows("SELECT item_key FROM answers") == []


def test_a_list_parameter_matches_exactly_the_texts_it_holds(pg: Database) -> None:
    with pg.write() as tx:
        tx.executemany("INSERT INTO customers (id, name) VALUES (?, ?)",
                       [(v, f"name {i}") for i, v in enumerate(AWKWARD)])
    wanted = AWKWARD[::2] + ["absent", "null ", "NULL "]
    with pg.read() as tx:
        assert sorted(r[0] for r in tx.rows("SELECT id FROM customers WHERE id = ANY(?)", [wanted])) == sorted(
            AWKWARD[::2])
        assert [r["id"] for r in tx.query("SELECT id FROM customers WHERE id = ANY(?) ORDER BY id",
                                          [["NULL", None]])] == ["NULL"]  # a NULL in the list matches nothing
        assert tx.rows("SELECT id FROM customers WHERE id = ANY(?)", [[]]) == []
        # a literal percent sign and scalars on either side of the list
        one = tx.one("SELECT count(*) AS n FROM customers WHERE name LIKE 'name 1%' AND id = ANY(?) AND id <> ?",
                     [AWKWARD, AWKWARD[1]])
        assert one == {"n": sum(1 for i in range(len(AWKWARD)) if str(i).startswith("1")) - 1}
    with pg.write() as tx:
        assert tx.execute("UPDATE customers SET name = ? WHERE id = ANY(?) AND name <> ?",
                          ["renamed 100%", AWKWARD[:3], "name 0"]) == 2
    with pg.read() as tx:
        assert sorted(tx.rows("SELECT id FROM customers WHERE name = ?", ["renamed 100%"])) == [
            (AWKWARD[1],), (AWKWARD[2],)]


def test_a_list_parameter_is_an_array_of_its_elements_type(pg: Database) -> None:
    """Sent typed (binary format), not as an untyped literal: it compares with columns of its type."""
    with pg.read() as tx:
        assert tx.rows("SELECT pg_typeof(?)::text, pg_typeof(?)::text, pg_typeof(?)::text",
                       [["a"], [1, 2**40], [b"\x00"]]) == [("text[]", "bigint[]", "bytea[]")]
    with pg.write() as tx:
        tx.append("changes", ("xid", "scope", "kind", "entity_id", "data"),
                  [(2**40, "all", "job", "j1", b"\x00"), (5, "all", "job", "j2", b"")])
        assert tx.rows("SELECT entity_id FROM changes WHERE xid = ANY(?) ORDER BY seq", [[2**40, 5, 7]]) == [
            ("j1",), ("j2",)]
        assert tx.rows("SELECT entity_id FROM changes WHERE data = ANY(?)", [[b"\x00"]]) == [("j1",)]


def test_appended_binary_values_read_back_exactly_whatever_buffer_holds_them(db: Database) -> None:
    """bytea columns in COPY go through the C dumper for bytes on PostgreSQL: any buffer, any bytes."""
    values = [bytes(range(256)) * 40, b"", b"\x00", bytearray(b"\\x00 not hex"), memoryview(b"\xff\xfe" * 3)]
    with db.write() as tx:
        tx.append("changes", ("xid", "scope", "kind", "entity_id", "data"),
                  [(i, "all", "job", f"j{i}", v) for i, v in enumerate(values)])
    with db.read() as tx:
        back = [bytes(d) for (d,) in tx.rows("SELECT data FROM changes ORDER BY seq")]
    assert back == [bytes(v) for v in values]
