"""The store on both backends (SQLite file, PostgreSQL server): migrations, schema versions,
transactions, the SQL translation, and what happens when the server goes away."""

from __future__ import annotations

import threading
import time

import pytest

from oncoboard.errors import StorageError
from oncoboard.store import open_store
from oncoboard.store.db import Migration, discover_migrations


def _patient(db, pid: str) -> None:
    db.execute("INSERT INTO patients (id, imported_at) VALUES (?, '2026-01-01')", [pid])


def _ids(store) -> list[str]:
    return [r["id"] for r in store.db.query("SELECT id FROM patients ORDER BY id")]


def test_fresh_database_is_fully_migrated(db_target):
    store = open_store(db_target)
    expected = [m.name for m in discover_migrations()]
    assert store.applied_migrations() == expected
    assert store.schema_version() == discover_migrations()[-1].number
    for table in ("patients", "conditions", "notes", "audit_log", "predictions",
                  "board_meetings", "board_sent", "dicom_instances", "lesions"):
        assert table in store.db.table_names()
    assert store.migrate() == [] and store.integrity_check() == ["ok"]
    store.close()


def test_transactions_all_or_nothing_and_savepoints(db_target):
    store = open_store(db_target)
    with pytest.raises(RuntimeError), store.transaction() as db:
        _patient(db, "A")
        raise RuntimeError("boom")
    with pytest.raises(StorageError, match="database write failed"), \
            store.transaction() as db:
        _patient(db, "B")
        _patient(db, "B")  # primary key violation
    with store.transaction() as db:
        _patient(db, "outer")
        with pytest.raises(RuntimeError), store.transaction() as inner:
            _patient(inner, "inner")
            raise RuntimeError
    assert _ids(store) == ["outer"] and store.db["patients"].count == 1
    store.close()


def test_queries_written_once_run_on_both(db_target):
    """Placeholders, LIKE ignoring case, INSERT OR IGNORE/REPLACE, julianday, a literal %."""
    store = open_store(db_target)
    with store.transaction() as db:
        for pid, name in (("P1", "Durand"), ("P2", "dupont"), ("P3", "Martin")):
            db.execute("INSERT INTO patients (id, family_name, imported_at) VALUES (?, ?, 'x')",
                       [pid, name])
        db.execute("INSERT OR IGNORE INTO patients (id, family_name, imported_at) "
                   "VALUES ('P1', 'Other', 'x')")
        db.execute("INSERT OR REPLACE INTO record_sources (sha256, path, format, imported_at) "
                   "VALUES ('h', 'a.json', 'fhir', 'x')")
        db.execute("INSERT OR REPLACE INTO record_sources (sha256, path, format, imported_at) "
                   "VALUES ('h', 'b.json', 'fhir', 'x')")
    found = [r[0] for r in store.db.execute(
        "SELECT id FROM patients WHERE family_name LIKE ? ORDER BY id", ["DU%"])]
    assert found == ["P1", "P2"]
    assert store.db.execute("SELECT family_name FROM patients WHERE id = 'P1'"
                            ).fetchone()[0] == "Durand"
    assert store.db.execute("SELECT path FROM record_sources").fetchall() == [("b.json",)]
    days = store.db.execute("SELECT julianday('2024-03-01') - julianday('2024-02-01'), "
                            "julianday('not a date'), '100%' || ?", ["!"]).fetchone()
    assert tuple(days) == (29.0, None, "100%!")
    store.close()


def test_newer_schema_is_read_but_never_written(db_target):
    store = open_store(db_target)
    newest = discover_migrations()[-1].number
    with store.transaction() as db:
        _patient(db, "A")
        db.execute("INSERT INTO _migrations (number, name, applied_at) VALUES (?, ?, ?)",
                   [newest + 100, f"m{newest + 100:04d}_future", "2030-01-01"])
        store.dialect.set_schema_version(db, newest + 100)
    store.close()
    older = open_store(db_target)  # this workstation knows `newest` only
    assert _ids(older) == ["A"]  # reading is fine
    with pytest.raises(StorageError) as err, older.transaction() as db:
        _patient(db, "B")
    assert f"schema version {newest + 100}" in str(err.value)
    assert f"(schema version {newest})" in str(err.value)
    assert _ids(older) == ["A"]
    older.close()


def test_failed_migration_leaves_nothing(db_target):
    store = open_store(db_target)

    def bad(db):
        db.execute("CREATE TABLE half (x INTEGER)")
        db.execute("THIS IS NOT SQL")

    with pytest.raises(StorageError, match="migration m0999_bad failed"):
        store.migrate([*discover_migrations(), Migration(999, "m0999_bad", bad, bad)])
    assert "half" not in store.db.table_names()
    assert store.applied_migrations()[-1] == discover_migrations()[-1].name
    store.close()


def test_two_writers_take_turns(db_target):
    """A second connection's write waits for the first one's transaction (the write lock)."""
    first = open_store(db_target)
    order: list[str] = []

    def other() -> None:
        second = open_store(db_target)  # (a SQLite connection stays in its thread)
        with second.transaction() as db:
            order.append("second")
            _patient(db, "S")
        second.close()

    with first.transaction() as db:
        _patient(db, "F")
        worker = threading.Thread(target=other)
        worker.start()
        time.sleep(0.3)
        order.append("first done")
    worker.join(10)
    assert order == ["first done", "second"] and _ids(first) == ["F", "S"]
    first.close()


# -- PostgreSQL only: the server, its password, and losing it -------------------------------

def test_wrong_password_is_a_clear_message(pg_server_running, monkeypatch, tmp_path):
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{pg_server_running.port}:*:*:not-the-password\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    with pytest.raises(StorageError) as err:
        open_store(pg_server_running.url("postgres"))
    text = str(err.value)
    assert f"database server 127.0.0.1:{pg_server_running.port}/postgres" in text
    assert "password authentication failed" in text and "keyring" in text
    assert "not-the-password" not in text


def test_a_password_in_the_url_is_refused(monkeypatch, tmp_path):
    from oncoboard.config import load_settings
    from oncoboard.errors import ConfigError

    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(tmp_path / "site.toml"))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "user.toml"))
    (tmp_path / "site.toml").write_text(
        '[database]\nurl = "postgresql://bob:secret@db.example/oncoboard"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path)
    assert "carries a password" in str(err.value) and "secret" not in str(err.value)


def test_site_database_setting_is_locked_and_gets_tls(monkeypatch, tmp_path):
    from oncoboard.config import load_settings

    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(tmp_path / "site.toml"))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "user.toml"))
    (tmp_path / "site.toml").write_text(
        '[database]\nurl = "postgresql://db.example/oncoboard"\nca = "/etc/ssl/site-ca.pem"\n')
    monkeypatch.setenv("ONCOBOARD_DATABASE", "postgresql://elsewhere/x")
    settings = load_settings(tmp_path)
    assert settings.store_target == ("postgresql://db.example/oncoboard?sslmode=verify-full"
                                     "&sslrootcert=/etc/ssl/site-ca.pem")
    assert any("database_url" in r for r in settings.refused)


def test_server_stopped_mid_transaction(tmp_path):
    """A clear error naming the server, nothing half-written, and work goes on once it is back."""
    import pg_server

    if pg_server.bindir() is None:
        pytest.skip("PostgreSQL is not installed")
    server = pg_server.start_server()
    try:
        pg_server.make_template(server)
        url = server.fresh_database("faults")
        store = open_store(url)
        with store.transaction() as db:
            _patient(db, "before")
        with pytest.raises(StorageError) as err, store.transaction() as db:
            _patient(db, "half")
            server.stop("fast")
            _patient(db, "never")
        text = str(err.value)
        assert f"database server 127.0.0.1:{server.port}/faults" in text
        assert "connection to the server was lost" in text
        with pytest.raises(StorageError, match=f"127.0.0.1:{server.port}/faults"):
            with store.transaction() as db:
                _patient(db, "while down")
        server.start()
        with store.transaction() as db:  # the store connects again by itself
            _patient(db, "after")
        assert _ids(store) == ["after", "before"]
        store.close()
    finally:
        pg_server.remove(server)


def test_doctor_checks_either_database(db_target, monkeypatch, tmp_path):
    from oncoboard.config import load_settings
    from oncoboard.doctor import check_database

    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(tmp_path / "site.toml"))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "user.toml"))
    open_store(db_target).close()
    if isinstance(db_target, str):
        monkeypatch.setenv("ONCOBOARD_DATABASE", db_target)
        settings = load_settings(tmp_path / "other")
    else:
        settings = load_settings(db_target)
    check = check_database(settings)
    assert check.status == "ok", check.message
    assert check.data["schema"] == discover_migrations()[-1].number
    assert ("url" in check.data) == isinstance(db_target, str)


def test_concurrent_audit_appends_stay_one_chain(db_target):
    """Four connections appending at once: one valid chain, no entry lost (the write lock)."""
    from oncoboard import audit
    from oncoboard.board.trail import verify_trail

    open_store(db_target).close()
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        store = open_store(db_target)
        try:
            for i in range(15):
                audit.append(store, "test.concurrent", {"writer": k, "i": i})
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    store = open_store(db_target)
    entries = audit.entries(store)
    assert [e.seq for e in entries] == list(range(1, 61))
    assert sorted((e.payload["writer"], e.payload["i"]) for e in entries) == [
        (k, i) for k in range(4) for i in range(15)]
    assert verify_trail(store).ok
    store.close()


def test_workstations_migrating_an_empty_site_database_at_once(pg_server_running):
    """The first start of four workstations on a new database: each migration applied once."""
    server = pg_server_running
    server.sql('DROP DATABASE IF EXISTS "empty_race" WITH (FORCE)')
    server.sql('CREATE DATABASE "empty_race"')
    url, errors = server.url("empty_race"), []

    def start() -> None:
        try:
            open_store(url).close()
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    store = open_store(url)
    assert store.applied_migrations() == [m.name for m in discover_migrations()]
    store.close()
    server.drop_database("empty_race")


def test_note_search_ignores_accents_and_case_and_marks_the_match(db_target):
    from oncoboard.patients.note_search import search_notes

    store = open_store(db_target)
    with store.transaction() as db:
        _patient(db, "A")
        db.execute("INSERT INTO notes (id, patient_id, source_id, language, title, text) VALUES "
                   "('n1', 'A', 's1', 'fr', 'Consultation', 'Patiente vue ce jour. Fièvres à "
                   "39 depuis hier, toux sèche.')")
        db.execute("INSERT INTO notes (id, patient_id, source_id, language, text) VALUES "
                   "('n2', 'A', 's2', 'en', 'Patient reports coughing at night.')")
    [hit] = search_notes(store, "FIEVRES toux")
    assert hit.note_id == "n1" and "[Fièvres]" in hit.snippet and "[toux]" in hit.snippet
    assert [h.note_id for h in search_notes(store, "cough*")] == ["n2"]
    if store.backend == "postgresql":  # French and English stemming
        assert [h.note_id for h in search_notes(store, "fièvre")] == ["n1"]
        assert [h.note_id for h in search_notes(store, "coughs")] == ["n2"]
    store.close()
