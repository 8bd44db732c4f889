"""The storage conformance suite: every adapter must pass it unchanged (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time

import msgspec
import pytest

from server.feed import emit, read_feed
from sync.storage import Database, open_database
from sync.storage.schema import MIGRATIONS, latest_version


def test_migrations_are_recorded_and_idempotent(db: Database, db_url: str) -> None:
    with db.read() as tx:
        versions = [r["version"] for r in tx.query("SELECT version FROM schema_migrations")]
    declared = [v for v, _ in MIGRATIONS]  # every migration declared, in order (numbers are handed out per change)
    assert declared == sorted(set(declared)) and sorted(versions) == declared and declared[-1] == latest_version()
    again = open_database(db_url)  # a second process opening the same database migrates nothing
    with again.read() as tx:
        assert len(tx.query("SELECT version FROM schema_migrations")) == len(declared)
    again.close()


def test_write_commits_and_error_rolls_back_everything(db: Database) -> None:
    with db.write() as tx:
        tx.execute("INSERT INTO customers (id, name) VALUES (?, ?)", ("c1", "One"))
    with pytest.raises(RuntimeError), db.write() as tx:
        tx.execute("INSERT INTO customers (id, name) VALUES (?, ?)", ("c2", "Two"))
        tx.execute("UPDATE customers SET name = ? WHERE id = ?", ("Changed", "c1"))
        raise RuntimeError("crash in the middle of a write")
    with db.read() as tx:
        rows = tx.query("SELECT id, name FROM customers ORDER BY id")
    assert rows == [{"id": "c1", "name": "One"}]


def test_binary_and_big_integers_round_trip(db: Database) -> None:
    blob = bytes(range(256)) * 4
    with db.write() as tx:
        tx.execute("INSERT INTO server_keys (id, private_key, public_key, created_at) VALUES (?, ?, ?, ?)",
                   ("k", blob, b"\x00\x01", 2**62))
    with db.read() as tx:
        row = tx.one("SELECT * FROM server_keys WHERE id = ?", ("k",))
    assert row is not None
    assert bytes(row["private_key"]) == blob and row["created_at"] == 2**62


def test_sql_looking_strings_are_stored_verbatim(db: Database) -> None:
    nasty = "Robert'); DROP TABLE customers;-- 100% ?"
    with db.write() as tx:
        tx.execute("INSERT INTO customers (id, name) VALUES (?, ?)", ("c1", nasty))
    with db.read() as tx:
        assert tx.one("SELECT name FROM customers WHERE name LIKE '%100%'")["name"] == nasty  # type: ignore[index]


def test_primary_key_conflict_is_an_error_and_changes_nothing(db: Database) -> None:
    with db.write() as tx:
        tx.execute("INSERT INTO customers (id, name) VALUES (?, ?)", ("c1", "One"))
    with pytest.raises(Exception), db.write() as tx:  # noqa: B017 - driver-specific integrity error
        tx.execute("INSERT INTO customers (id, name) VALUES (?, ?)", ("c9", "Nine"))
        tx.execute("INSERT INTO customers (id, name) VALUES (?, ?)", ("c1", "Again"))
    with db.read() as tx:
        assert [r["id"] for r in tx.query("SELECT id FROM customers ORDER BY id")] == ["c1"]


def test_feed_pages_in_commit_order_and_respects_scope(db: Database) -> None:
    for i in range(7):
        with db.write() as tx:
            emit(tx, "eng:a" if i % 2 == 0 else "eng:b", "job", f"j{i}", {"n": i})
    seen, cursor = [], ""
    while True:
        changes, cursor, more = read_feed(db, ["all", "eng:a"], cursor, 2)
        seen += [msgspec.msgpack.decode(c.data)["n"] for c in changes]
        if not more:
            break
    assert seen == [0, 2, 4, 6]
    changes, cursor2, more = read_feed(db, ["all", "eng:a"], cursor, 2)
    assert changes == [] and cursor2 == cursor and not more


def test_feed_keeps_only_the_newest_state_of_a_record_in_a_page(db: Database) -> None:
    with db.write() as tx:
        emit(tx, "all", "job", "j1", {"v": 1})
        emit(tx, "all", "job", "j2", {"v": 1})
        emit(tx, "all", "job", "j1", {"v": 2})
    changes, _, _ = read_feed(db, ["all"], "", 10)
    assert [(c.id, msgspec.msgpack.decode(c.data)["v"]) for c in changes] == [("j2", 1), ("j1", 2)]


def test_leader_lock_is_held_by_one_process(db: Database, db_url: str) -> None:
    assert db.try_leader_lock("sla")
    other = open_database(db_url)
    try:
        if db.dialect == "postgresql":
            assert not other.try_leader_lock("sla")
            db.close()  # the leader's connection goes away ...
            # ... and another process takes over (on a later try: the server ends the leader's backend,
            # and so frees its lock, a moment after the client closed the connection)
            deadline = time.monotonic() + 10
            while not other.try_leader_lock("sla") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert other.try_leader_lock("sla")
        else:
            assert other.try_leader_lock("sla")  # one file, one server process
    finally:
        other.close()


def test_concurrent_writers_serialise_on_a_locked_row(db: Database) -> None:
    with db.write() as tx:
        tx.execute("INSERT INTO devices (id, engineer_id, name, public_key, enrolled_at) VALUES (?, ?, ?, ?, ?)",
                   ("d1", "e1", "t", b"k", 0))
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(20):
                with db.write() as tx:
                    row = tx.lock("SELECT last_seq FROM devices WHERE id = ?", ("d1",))
                    assert row is not None
                    tx.execute("UPDATE devices SET last_seq = ? WHERE id = ?", (row["last_seq"] + 1, "d1"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with db.read() as tx:
        assert tx.one("SELECT last_seq FROM devices WHERE id = ?", ("d1",))["last_seq"] == 80  # type: ignore[index]


def test_pull_cursor_never_skips_a_change_committed_out_of_order(pg_url: str) -> None:
    """Hold one transaction open while a later one commits: the pull must wait for both, skip neither."""
    db = open_database(pg_url)
    try:
        with db.write() as tx:
            emit(tx, "all", "job", "j0", {"n": 0})
        first_started, second_done, release = threading.Event(), threading.Event(), threading.Event()

        def slow_writer() -> None:
            with db.write() as tx:
                emit(tx, "all", "job", "j-slow", {"n": 1})  # takes its xid and sequence value first
                first_started.set()
                release.wait(10)

        t = threading.Thread(target=slow_writer)
        t.start()
        assert first_started.wait(10)
        with db.write() as tx:
            emit(tx, "all", "job", "j-fast", {"n": 2})  # later xid, commits first
        second_done.set()
        changes, cursor, _ = read_feed(db, ["all"], "", 100)
        assert [c.id for c in changes] == ["j0"]  # j-fast is held back while j-slow is in flight
        release.set()
        t.join()
        changes, cursor, _ = read_feed(db, ["all"], cursor, 100)
        assert sorted(c.id for c in changes) == ["j-fast", "j-slow"]
    finally:
        db.close()


def test_an_unrelated_long_transaction_does_not_hold_pulls_back(pg_url: str) -> None:
    """A psql session left open with a write elsewhere in the database must not stall every tablet's sync."""
    import psycopg

    from tests.conftest import PG_BASE

    db = open_database(pg_url)
    outsider = psycopg.connect(PG_BASE)
    try:
        outsider.execute("CREATE TEMP TABLE scratch (x int)")
        outsider.execute("INSERT INTO scratch VALUES (1)")
        outsider.execute("SELECT pg_current_xact_id()")  # holds an xid, never commits during the test
        with db.write() as tx:
            emit(tx, "all", "job", "j-after", {"n": 1})
        changes, _, _ = read_feed(db, ["all"], "", 100)
        assert [c.id for c in changes] == ["j-after"]
    finally:
        outsider.close()
        db.close()


def test_bulk_rows_come_back_as_plain_tuples_in_column_order(db: Database) -> None:
    with db.write() as tx:
        tx.executemany("INSERT INTO customers (id, name, phone) VALUES (?, ?, ?)",
                       [(f"c{i}", f"Name {i}", f"+{i}") for i in range(5)])
    with db.read() as tx:
        rows = tx.rows("SELECT id, name FROM customers WHERE id <> ? ORDER BY id", ("c2",))
    assert rows == [("c0", "Name 0"), ("c1", "Name 1"), ("c3", "Name 3"), ("c4", "Name 4")]


def test_appended_rows_read_back_exactly_and_a_duplicate_fails_the_whole_transaction(db: Database) -> None:
    awkward = "tab\there, newline\nthere, back\\slash, quote ' \" and ünïcode, %s ? \\N"
    rows = [(1, "all", "job", awkward, b"\x00\x01\\N\t\n\xff"), (1, "all", "job", "plain", b""),
            (2, "eng:e1", "answer", "j/k", bytes(range(256)))]
    with db.write() as tx:
        tx.append("changes", ("xid", "scope", "kind", "entity_id", "data"), rows)
        tx.append("changes", ("xid", "scope", "kind", "entity_id", "data"), [])  # nothing to do
        tx.append("ticket_events", ("id", "ticket_id", "job_id", "kind", "at", "device_time", "received_at",
                                    "source"), [("E-1", "T-1", None, "opened", 2**62, None, 5, "server")])
    with db.read() as tx:
        back = [(x, s, k, e, bytes(d)) for x, s, k, e, d in
                tx.rows("SELECT xid, scope, kind, entity_id, data FROM changes ORDER BY seq")]
        event = tx.rows("SELECT id, job_id, at, device_time, data FROM ticket_events")
    assert back == rows
    assert event == [("E-1", None, 2**62, None, "{}")]  # columns not given take their defaults
    with pytest.raises(Exception), db.write() as tx:  # noqa: B017 - each driver raises its own error
        tx.append("customers", ("id", "name"), [("c-new", "New")])
        tx.append("ticket_events", ("id", "ticket_id", "kind", "at", "received_at", "source"),
                  [("E-1", "T-1", "opened", 1, 1, "server")])
    with db.read() as tx:
        assert tx.rows("SELECT id FROM customers WHERE id = ?", ("c-new",)) == []


def test_appends_are_in_place_for_the_next_statement_in_the_order_made(db: Database) -> None:
    # the transaction's next statement sees every row appended before it, in the order appended
    feed = ("xid", "scope", "kind", "entity_id", "data")
    with db.write() as tx:
        for batch in range(3):
            tx.append("changes", feed, [(0, "all", "job", f"{batch}-{i}", b"") for i in range(200)])
            tx.append("customers", ("id", "name"), [(f"c{batch}", f"Batch {batch}")])
        for i in range(40):
            tx.append("changes", feed, [(0, "all", "job", f"small-{i}", b"")])
        counted = tx.rows("SELECT COUNT(*) FROM changes")
        tx.execute("UPDATE customers SET phone = ? WHERE id = ?", ("+1", "c2"))
    assert counted == [(640,)]
    with db.read() as tx:
        entities = [e for (e,) in tx.rows("SELECT entity_id FROM changes ORDER BY seq")]
        phones = tx.rows("SELECT id, phone FROM customers ORDER BY id")
    assert entities == [f"{b}-{i}" for b in range(3) for i in range(200)] + [f"small-{i}" for i in range(40)]
    assert phones == [("c0", ""), ("c1", ""), ("c2", "+1")]


def test_a_failed_append_leaves_nothing_of_its_transaction(db: Database) -> None:
    with db.write() as tx:
        tx.execute("INSERT INTO customers (id, name) VALUES (?, ?)", ("c1", "One"))
    # the duplicate is the transaction's last statement: it fails, and nothing of the transaction stays
    with pytest.raises(Exception), db.write() as tx:  # noqa: B017 - each driver raises its own error
        tx.execute("UPDATE customers SET name = ? WHERE id = ?", ("Changed", "c1"))
        tx.append("changes", ("xid", "scope", "kind", "entity_id", "data"), [(0, "all", "job", "j", b"")])
        tx.append("customers", ("id", "name"), [("c2", "Two"), ("c1", "Again")])
    # an error in the caller after a large append: the caller's error is the one raised
    with pytest.raises(RuntimeError, match="caller"), db.write() as tx:
        tx.append("customers", ("id", "name"), [(f"n{i}", "N") for i in range(500)])
        raise RuntimeError("caller")
    with db.read() as tx:
        assert tx.rows("SELECT id, name FROM customers") == [("c1", "One")]
        assert tx.rows("SELECT COUNT(*) FROM changes") == [(0,)]
    with db.write() as tx:  # the connection is fit for the next transaction
        tx.append("customers", ("id", "name"), [("c3", "Three")])
    with db.read() as tx:
        assert tx.rows("SELECT id FROM customers ORDER BY id") == [("c1",), ("c3",)]


def test_upsert_inserts_new_rows_and_overwrites_existing_ones_whole(db: Database) -> None:
    cols = ("job_id", "item_key", "value", "note", "na_reason", "hlc", "device_id", "at", "template_version",
            "deleted")
    with db.write() as tx:
        tx.upsert("answers", cols, ("job_id", "item_key"), [("J-1", "a", '"x"', "n", None, 1, "D-1", 10, 1, 0),
                                                             ("J-1", "b", None, None, None, 2, "D-1", 11, 1, 0)])
    with db.write() as tx:
        tx.upsert("answers", cols, ("job_id", "item_key"), [
            ("J-1", "b", "2.5", None, "not_applicable", 2**62, "D-2", 12, 3, 1),  # replaces every other column
            ("J-2", "a", None, None, None, 3, "D-2", 13, 1, 0)])
        tx.upsert("answers", cols, ("job_id", "item_key"), [])
        tx.upsert("customers", ("id", "name"), ("id",), [("c1", "Only name")])  # other columns keep defaults
    with db.read() as tx:
        rows = tx.rows(f"SELECT {', '.join(cols)} FROM answers ORDER BY job_id, item_key")
        customer = tx.rows("SELECT id, name, phone FROM customers")
    assert rows == [("J-1", "a", '"x"', "n", None, 1, "D-1", 10, 1, 0),
                    ("J-1", "b", "2.5", None, "not_applicable", 2**62, "D-2", 12, 3, 1),
                    ("J-2", "a", None, None, None, 3, "D-2", 13, 1, 0)]
    assert customer == [("c1", "Only name", "")]


def test_insert_new_adds_missing_rows_and_leaves_existing_ones_untouched(db: Database) -> None:
    cols = ("id", "kind", "body", "created_at", "next_attempt_at")
    with db.write() as tx:
        tx.insert_new("webhook_outbox", cols, ("id",), [("ev-1", "job_signed_off", '{"n":1}', 10, 10)])
    with db.write() as tx:
        tx.execute("UPDATE webhook_outbox SET delivered_at = 20 WHERE id = 'ev-1'")
        tx.insert_new("webhook_outbox", cols, ("id",), [
            ("ev-1", "job_signed_off", '{"n":"changed"}', 30, 30),  # written before: kept as it was
            ("ev-2", "ticket_opened", '{"n":2}', 31, 31)])
        tx.insert_new("webhook_outbox", cols, ("id",), [])
    with db.read() as tx:
        rows = tx.rows("SELECT id, kind, body, created_at, next_attempt_at, delivered_at FROM webhook_outbox "
                       "ORDER BY id")
    assert rows == [("ev-1", "job_signed_off", '{"n":1}', 10, 10, 20),
                    ("ev-2", "ticket_opened", '{"n":2}', 31, 31, None)]


def test_large_values_are_compressed_with_lz4_on_postgresql(pg_url: str) -> None:
    """Sign-off strokes and receipts are written compressed with lz4, the cheaper codec, not pglz."""
    db = open_database(pg_url)
    try:
        strokes = msgspec.json.encode([[x % 997, (x * 7) % 293] * 30 for x in range(400)]).decode()
        assert len(strokes) > 20_000  # well past the size PostgreSQL compresses at
        with db.write() as tx:
            tx.append("signoffs", ("job_id", "signer_name", "signer_role", "signed_at", "report_digest", "strokes",
                                   "device_id", "device_signature", "content", "received_at"),
                      [("J-1", "Pat", "customer", 1, "0" * 64, strokes, "D-1", b"s" * 64, "{}", 2)])
        with db.read() as tx:
            assert tx.rows("SELECT pg_column_compression(strokes), strokes = ? FROM signoffs",
                           (strokes,)) == [("lz4", True)]
    finally:
        db.close()
