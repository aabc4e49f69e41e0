"""The SQLite store: migrations once and in order, WAL, schema version, transactions."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from oncoboard.errors import StorageError
from oncoboard.store import open_store
from oncoboard.store.db import Migration, Store, discover_migrations


def test_migrations_are_numbered_uniquely_and_sorted():
    found = discover_migrations()
    numbers = [m.number for m in found]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert found[0].name == "m0001_clinical_record"


def test_fresh_database_is_fully_migrated(tmp_path):
    store = open_store(tmp_path)
    assert store.path == tmp_path / "oncoboard.db"
    expected = [m.name for m in discover_migrations()]
    assert store.applied_migrations() == expected
    assert store.schema_version() == discover_migrations()[-1].number
    for table in ("patients", "conditions", "observations", "treatments", "notes", "notes_fts",
                  "outcomes", "record_sources"):
        assert table in store.db.table_names()
    assert store.integrity_check() == ["ok"]
    store.close()


def test_migrations_apply_once(tmp_path):
    open_store(tmp_path).close()
    store = open_store(tmp_path)
    assert store.migrate() == []
    rows = store.db.execute("SELECT count(*) FROM _migrations").fetchone()[0]
    assert rows == len(discover_migrations())
    store.close()


def test_migrations_apply_in_order_and_only_new_ones(tmp_path):
    calls: list[int] = []

    def step(n: int):
        def apply(db: sqlite_utils.Database) -> None:
            calls.append(n)
            db.execute(f"CREATE TABLE t{n} (x)")
        return Migration(n, f"m{n:04d}_t", apply)

    store = Store(sqlite_utils.Database(tmp_path / "x.db"), tmp_path / "x.db")
    assert store.migrate([step(1), step(2)]) == ["m0001_t", "m0002_t"]
    assert store.migrate([step(1), step(2), step(5)]) == ["m0005_t"]
    assert calls == [1, 2, 5] and store.schema_version() == 5


def test_failed_migration_leaves_nothing(tmp_path):
    def good(db):
        db.execute("CREATE TABLE ok (x)")

    def bad(db):
        db.execute("CREATE TABLE half (x)")
        db.execute("THIS IS NOT SQL")

    store = Store(sqlite_utils.Database(tmp_path / "x.db"), tmp_path / "x.db")
    with pytest.raises(StorageError, match="migration m0002_bad failed"):
        store.migrate([Migration(1, "m0001_ok", good), Migration(2, "m0002_bad", bad)])
    assert store.applied_migrations() == ["m0001_ok"]
    assert "half" not in store.db.table_names() and store.schema_version() == 1


def test_wal_mode_and_foreign_keys(tmp_path):
    store = open_store(tmp_path)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    store.close()


def _patient(db, pid: str) -> None:
    db.execute("INSERT INTO patients (id, imported_at) VALUES (?, '2026-01-01')", [pid])


def test_transaction_rollback_leaves_nothing(tmp_path):
    store = open_store(tmp_path)
    with pytest.raises(RuntimeError):
        with store.transaction() as db:
            _patient(db, "A")
            raise RuntimeError("boom")
    assert store.db["patients"].count == 0
    with pytest.raises(StorageError, match="database write failed"):
        with store.transaction() as db:
            _patient(db, "B")
            _patient(db, "B")  # primary key violation
    assert store.db["patients"].count == 0
    with store.transaction() as db:
        _patient(db, "C")
    assert [r["id"] for r in store.db["patients"].rows] == ["C"]
    store.close()


def test_nested_transaction_is_a_savepoint(tmp_path):
    store = open_store(tmp_path)
    with store.transaction() as db:
        _patient(db, "outer")
        with pytest.raises(RuntimeError):
            with store.transaction() as inner:
                _patient(inner, "inner")
                raise RuntimeError
    assert [r["id"] for r in store.db["patients"].rows] == ["outer"]
    store.close()


def test_committed_data_is_visible_to_another_connection(tmp_path):
    store = open_store(tmp_path)
    with store.transaction() as db:
        _patient(db, "A")
    other = sqlite3.connect(store.path)
    assert other.execute("SELECT id FROM patients").fetchall() == [("A",)]
    other.close()
    store.close()


def test_unopenable_path_is_a_storage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot open the database"):
        open_store(blocker / "sub" / "oncoboard.db")


def test_memory_store(tmp_path):
    store = open_store(None)
    assert store.path is None and store.schema_version() >= 1
    store.close()


def test_notes_fts_follows_inserts_updates_and_deletes(tmp_path):
    store = open_store(tmp_path)
    db = store.db
    _patient(db, "A")
    db.execute("INSERT INTO notes (id, patient_id, source_id, text) VALUES "
               "('n1', 'A', 's1', 'Fièvre à 39')")

    def hits(word):
        return db.execute("SELECT count(*) FROM notes_fts WHERE notes_fts MATCH ?",
                          [word]).fetchone()[0]

    assert hits("fievre") == 1
    db.execute("UPDATE notes SET text = 'Apyrétique' WHERE id = 'n1'")
    assert hits("fievre") == 0 and hits("apyretique") == 1
    db.execute("DELETE FROM notes WHERE id = 'n1'")
    assert hits("apyretique") == 0
    store.close()
