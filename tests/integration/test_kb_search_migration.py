"""Migrations that re-index the knowledge base: cases stored before them are found by Chinese queries after them.

The server's migration 11 (SQLite and PostgreSQL) and the tablet store's
``0005_kb_search_tokens`` rebuild the index from the cases already held.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client_sdk import lifecycle, migrations
from client_sdk.store import LocalStore
from client_sdk.testing import kb_case
from server.domain.kb import service as kb
from server.services import Services
from server.settings import get_settings
from sync.core.search import fingerprint, kb_index_text
from sync.storage import open_database, schema

OLD_CASES = [("KB-old-zh", "风机异响，运行时有摩擦声", "风机轴承磨损", "更换风机轴承", ["P-BRG"]),
             ("KB-old-en", "Fan noisy at start", "Fan bearing worn", "Replace the fan bearing", [])]


def test_server_migration_11_indexes_the_cases_stored_before_it(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "MIGRATIONS", [m for m in schema.MIGRATIONS if m[0] < 11])
    db = open_database(db_url)
    with db.write() as tx:  # what the server before migration 11 stored: the fields' text, as it was
        for cid, symptom, cause, fix, parts in OLD_CASES:
            text = " ".join([symptom, cause, fix, " ".join(parts), "Vitodens 200", "boiler"])
            tx.execute("INSERT INTO kb_cases (id, model, equipment_type, symptom, cause, fix, parts, search_text, "
                       "created_at) VALUES (?, 'Vitodens 200', 'boiler', ?, ?, ?, ?, ?, 1)",
                       (cid, symptom, cause, fix, json.dumps(parts), text))
            if tx.dialect == "sqlite":
                tx.execute("INSERT INTO kb_fts (case_id, body) VALUES (?, ?)", (cid, text))
    db.close()
    monkeypatch.undo()

    db = open_database(db_url)
    try:
        with db.read() as tx:
            assert 11 in [r["version"] for r in tx.query("SELECT version FROM schema_migrations")]
        services = Services(db=db, settings=get_settings(db_url=db_url, run_scheduler=False))
        for query, expected in (("异响", ["KB-old-zh"]), ("风机", ["KB-old-zh"]), ("磨", ["KB-old-zh"]),
                                ("bearings", ["KB-old-en"]), ("Vitodens", ["KB-old-en", "KB-old-zh"]),
                                ("响异", [])):
            assert sorted(c.id for c in kb.search(services, query)) == expected, query
        with db.read() as tx:  # each case indexed once
            if tx.dialect == "sqlite":
                assert tx.query("SELECT COUNT(*) AS n FROM kb_fts")[0]["n"] == len(OLD_CASES)
    finally:
        db.close()


def test_tablet_migration_0005_indexes_the_cases_it_already_held(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tablet.db"
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in migrations.MIGRATIONS if m[0] < "0005"])
    old = LocalStore(path)
    with old.write() as tx:  # what an older SDK stored: the fields' text in its porter-stemmed index
        for cid, symptom, cause, fix, parts in OLD_CASES:
            tx.execute("INSERT INTO kb_cases (id, model, symptom, cause, fix, parts) VALUES (?, 'Vitodens 200', ?, ?, "
                       "?, ?)", (cid, symptom, cause, fix, json.dumps(parts)))
            tx.execute("INSERT INTO kb_fts (case_id, body) VALUES (?, ?)",
                       (cid, " ".join([symptom, cause, fix, *parts, "Vitodens 200"])))
    # the bug: a part of a Chinese word found nothing (asked of that index directly: today's search reads 0008's)
    assert old.read.query("SELECT case_id FROM kb_fts WHERE kb_fts MATCH ?", ['"异响"']) == []
    old.close()
    monkeypatch.undo()

    store = LocalStore(path)
    try:
        assert "0005_kb_search_tokens" in store.applied_migrations()
        for query, expected in (("异响", ["KB-old-zh"]), ("风机", ["KB-old-zh"]), ("磨", ["KB-old-zh"]),
                                ("bearings", ["KB-old-en"]), ("响异", [])):
            assert sorted(c.id for c in lifecycle.search(store.read, query, None, 20)) == expected, query
        assert store.read.query("SELECT COUNT(*) AS n FROM kb_fts")[0]["n"] == len(OLD_CASES)
    finally:
        store.close()


def test_server_indexes_its_cases_anew_when_the_search_tokens_changed(db_url: str) -> None:
    db = open_database(db_url)
    services = Services(db=db, settings=get_settings(db_url=db_url, run_scheduler=False))
    try:
        kb.add_case(services, kb.KbCaseIn(symptom="风机异响", cause="Fan bearing worn", model="Vitodens 200"), "t")
        with db.write() as tx:  # what another stemmer (or an older rule) left: tokens this code never asks for
            tx.execute("UPDATE kb_cases SET search_text = 'stale'")
            if tx.dialect == "sqlite":
                tx.execute("UPDATE kb_fts SET body = 'stale'")
            tx.execute("UPDATE meta SET value = '0:stale' WHERE key = ?", (schema.KB_TOKENS_KEY,))
        assert kb.search(services, "异响") == []
    finally:
        db.close()
    db = open_database(db_url)  # the next start sees the fingerprint differ and indexes anew
    services = Services(db=db, settings=get_settings(db_url=db_url, run_scheduler=False))
    try:
        assert [c.symptom for c in kb.search(services, "异响")] == ["风机异响"]
        assert [c.symptom for c in kb.search(services, "bearings")] == ["风机异响"]
        with db.read() as tx:
            assert tx.one("SELECT value FROM meta WHERE key = ?", (schema.KB_TOKENS_KEY,)) == {
                "value": fingerprint()}
    finally:
        db.close()


def test_tablet_indexes_its_cases_anew_when_the_search_tokens_changed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "tablet.db")
    with store.write() as tx:
        lifecycle.apply_kb(tx, kb_case("KB-1", symptom="风机异响", cause="Fan bearing worn", model="Vitodens 200"))
        tx.execute("UPDATE kb_fts SET body = 'stale'")
        tx.execute("UPDATE kb_tokens SET fingerprint = '0:stale'")
    assert lifecycle.search(store.read, "异响", None, 20) == []
    store.close()
    store = LocalStore(tmp_path / "tablet.db")
    try:
        assert [c.id for c in lifecycle.search(store.read, "异响", None, 20)] == ["KB-1"]
        assert [c.id for c in lifecycle.search(store.read, "bearings", None, 20)] == ["KB-1"]
        assert store.read.query("SELECT fingerprint FROM kb_tokens") == [{"fingerprint": fingerprint()}]
    finally:
        store.close()


def test_tablet_migration_0008_keys_the_index_by_the_case_and_keeps_every_case_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tablet.db"
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in migrations.MIGRATIONS if m[0] < "0008"])
    old = LocalStore(path)
    with old.write() as tx:  # what the SDK before 0008 stored: the case id in the index's UNINDEXED column
        for cid, symptom, cause, fix, parts in OLD_CASES:
            tx.execute("INSERT INTO kb_cases (id, model, equipment_type, symptom, cause, fix, parts, created_at) "
                       "VALUES (?, 'Vitodens 200', 'boiler', ?, ?, ?, ?, 1)", (cid, symptom, cause, fix,
                                                                             json.dumps(parts)))
            tx.execute("INSERT INTO kb_fts (case_id, body) VALUES (?, ?)",
                       (cid, " ".join([symptom, cause, fix, *parts, "Vitodens 200"])))
    old.close()
    monkeypatch.undo()

    store = LocalStore(path)
    try:
        assert store.applied_migrations()[-1] == "0008_kb_fts_rowid"
        for query, expected in (("异响", ["KB-old-zh"]), ("bearings", ["KB-old-en"]),
                                ("Vitodens", ["KB-old-en", "KB-old-zh"]), ("响异", [])):
            assert sorted(c.id for c in lifecycle.search(store.read, query, None, 20)) == expected, query
        # every case indexed once, under its own rid
        assert store.read.query("SELECT c.id FROM kb_fts f JOIN kb_cases c ON c.rid = f.rowid ORDER BY c.id") == [
            {"id": "KB-old-en"}, {"id": "KB-old-zh"}]
        with store.write() as tx:  # the same case pulled again, changed: it keeps its rid and one index row
            lifecycle.apply_kb(tx, kb_case("KB-old-en", symptom="Pump leaking", cause="Seal worn",
                                           model="Vitodens 200"))
        assert store.read.query("SELECT COUNT(*) AS n FROM kb_fts")[0]["n"] == len(OLD_CASES)
        assert [c.id for c in lifecycle.search(store.read, "leaks", None, 20)] == ["KB-old-en"]
        assert lifecycle.search(store.read, "bearings", None, 20) == []  # its old tokens are gone
    finally:
        store.close()


def test_tablet_case_pulled_again_leaves_one_index_row(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "tablet.db")
    try:
        with store.write() as tx:
            lifecycle.apply_kb(tx, kb_case("KB-1", symptom="Fan noisy", model="Vitodens 200"))
            lifecycle.apply_kb(tx, kb_case("KB-2", symptom="Fan noisy", model="Vitodens 100"))
        for symptom in ("风机异响", "Igniter cracked"):
            with store.write() as tx:
                lifecycle.apply_kb(tx, kb_case("KB-1", symptom=symptom, model="Vitodens 200"))
        rid = store.read.scalar("SELECT rid FROM kb_cases WHERE id = 'KB-1'")
        assert store.read.query("SELECT rowid AS r, body FROM kb_fts WHERE rowid = ?", (rid,)) == [
            {"r": rid, "body": kb_index_text("Igniter cracked", "", "", [], "Vitodens 200", "")}]
        assert store.read.query("SELECT COUNT(*) AS n FROM kb_fts")[0]["n"] == 2
        assert [c.id for c in lifecycle.search(store.read, "igniters", None, 20)] == ["KB-1"]
        assert [c.id for c in lifecycle.search(store.read, "fan", None, 20)] == ["KB-2"]
        assert lifecycle.search(store.read, "异响", None, 20) == []
    finally:
        store.close()
