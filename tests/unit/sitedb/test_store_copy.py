"""`oncoboard store copy --to URL` on a real PostgreSQL server: every table copied with the same
audit hashes, idempotent (a second run sends no row), resumable after a failure or the server
stopping half-way, a row that differs on the target reported and kept, refused onto another
chain."""

from __future__ import annotations

import json

import pytest

from oncoboard.store import open_store

COUNTED = ["patients", "conditions", "observations", "notes", "treatments", "record_sources",
           "audit_log", "access_log", "board_meetings", "board_cases", "board_decisions"]


@pytest.fixture
def source(run, tmp_path):
    """A workstation's SQLite data: the demo's records, a meeting with a decision, accesses."""
    from oncoboard.audit.access import record_access
    from oncoboard.board import decisions, meetings

    code, _, err = run("demo", "--no-imaging")
    assert code == 0, err
    store = open_store(tmp_path / "home")
    m = meetings.create_meeting(store, date="2026-12-01", specialty="sein", title="RCP",
                                attendees=["Dr A (oncologist)"])
    meetings.add_case(store, m.id, "DEMO-BR-001", question="Adjuvant?")
    decisions.record_decision(store, m.id, "DEMO-BR-001", plan="Chemo", rationale="R")
    record_access(store, "DEMO-BR-001", "board.case")
    yield store
    store.close()


@pytest.fixture
def target(pg_server_running):
    server = pg_server_running
    server.drop_database("t_copy")
    server.sql("CREATE DATABASE t_copy")  # empty: the copy's own migrations make the schema
    yield server.url("t_copy")
    server.drop_database("t_copy")


def _counts(store, tables=COUNTED):
    return {t: int(store.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}


def _hashes(store, table):
    return [tuple(r) for r in store.db.execute(f"SELECT seq, hash FROM {table} ORDER BY seq")]


def test_copy_everything_with_the_same_chain_then_nothing(run, source, target):
    code, out, err = run("store", "copy", "--to", target, "--json")
    assert code == 0, err
    report = json.loads(out)
    site = open_store(target)
    try:
        assert _counts(site) == _counts(source)
        assert _hashes(site, "audit_log") == _hashes(source, "audit_log")
        assert _hashes(site, "access_log") == _hashes(source, "access_log")
        copied = {t["table"]: t["copied"] for t in report["tables"]}
        assert copied["observations"] == _counts(source)["observations"] > 100
        # the ids go on after the copied ones: a new decision, audited, on the site
        from oncoboard.board import meetings
        last = source.conn.execute("SELECT max(id) FROM board_meetings").fetchone()[0]
        m = meetings.create_meeting(site, date="2026-12-08", specialty="sein", title="RCP 2")
        assert m.id == last + 1
    finally:
        site.close()
    code, out, err = run("--database", target, "audit", "verify")
    assert code == 0 and "audit trail intact" in out, out + err
    code, out, _ = run("store", "copy", "--to", target)
    assert code == 0 and "0 new rows copied" in out and "nothing new to copy" in out


def test_screens_open_on_the_site_are_told_what_the_copy_brought(run, source, target):
    from oncoboard.identity import user_of
    from oncoboard.store import feed

    site = open_store(target)
    try:  # the site at work before the copy: its feed's numbers past the workstation's
        with site.transaction():
            for _ in range(feed.change_token(source) + 20):
                feed.bump(site, "bob", feed.now_utc())
        token = feed.change_token(site)
        login = user_of(site).login
    finally:
        site.close()
    assert token > feed.change_token(source)
    code, out, err = run("store", "copy", "--to", target, "--json")
    assert code == 0, err
    report = json.loads(out)
    patients = {r[0] for r in source.conn.execute("SELECT id FROM patients")}
    meetings = {r[0] for r in source.conn.execute("SELECT id FROM board_meetings")}
    assert report["patients_noted"] == len(patients) and report["meetings_noted"] == len(meetings)
    assert not {"board_changes", "record_changes"} & {t["table"] for t in report["tables"]}
    site = open_store(target)
    try:  # what a screen that saw `token` asks next: one number for the whole copy
        changes = feed.changes_since(site, token)
        assert changes.token == token + 1
        assert set(changes.patients) == patients and set(changes.meetings) == meetings
        assert {k for kinds in changes.patients.values() for k in kinds} == {"record"}
        assert {e.by for e in changes.entries} == {login}
    finally:
        site.close()
    code, out, err = run("store", "copy", "--to", target, "--json")
    assert code == 0 and json.loads(out)["patients_noted"] == 0, err
    site = open_store(target)
    try:  # nothing new: the feed did not move
        assert feed.change_token(site) == token + 1
    finally:
        site.close()


def _count_inserts(server, dbname, tables):
    """Count every row the target is sent from now on (a BEFORE INSERT trigger fires for a row
    even when ON CONFLICT then drops it)."""
    server.sql("CREATE TABLE sent_rows (tab text)", dbname)
    server.sql("CREATE FUNCTION count_sent() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "INSERT INTO sent_rows VALUES (TG_TABLE_NAME); RETURN NEW; END $$", dbname)
    for table in tables:
        server.sql(f"CREATE TRIGGER count_sent BEFORE INSERT ON {table} FOR EACH ROW "
                   "EXECUTE FUNCTION count_sent()", dbname)


def _sent(server, dbname):
    import psycopg

    with psycopg.connect(server.url(dbname), autocommit=True) as conn:
        return dict(conn.execute("SELECT tab, count(*) FROM sent_rows GROUP BY tab").fetchall())


def test_a_second_run_sends_no_row(run, source, target, pg_server_running):
    code, _, err = run("store", "copy", "--to", target)
    assert code == 0, err
    _count_inserts(pg_server_running, "t_copy", COUNTED)
    code, out, err = run("store", "copy", "--to", target, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["copied"] == 0 and report["differing_rows"] == 0
    present = {t["table"]: t["present"] for t in report["tables"]}
    assert all(present[t] == n for t, n in _counts(source).items()), present
    assert _sent(pg_server_running, "t_copy") == {}  # nothing sent, not even to be dropped


def test_a_row_that_differs_on_the_target_is_reported_not_overwritten(run, source, target,
                                                                      pg_server_running):
    code, _, err = run("store", "copy", "--to", target)
    assert code == 0, err
    pg_server_running.sql("UPDATE patients SET family_name = 'EDITED' WHERE id = 'DEMO-BR-001'",
                          "t_copy")
    with source.transaction() as db:
        db.execute("INSERT INTO patients (id, source_system, source_id, family_name, synthetic, "
                   "imported_at) VALUES ('NEW-1', 'test', 'n1', 'Neuf', 1, "
                   "'2026-12-01T00:00:00')")
    code, out, err = run("store", "copy", "--to", target)
    assert code == 1, out + err  # done with problems
    assert "1 new rows copied" in out
    assert "patients: 1 row(s) differ" in err and "DEMO-BR-001" in err and "kept as there" in err
    site = open_store(target)
    try:
        names = dict(site.db.execute("SELECT id, family_name FROM patients WHERE id IN "
                                     "('DEMO-BR-001', 'NEW-1')").fetchall())
        assert names == {"DEMO-BR-001": "EDITED", "NEW-1": "Neuf"}
    finally:
        site.close()


def _contents(store, tables):
    key = {t: store.db.primary_key(t) for t in tables}
    return {t: [tuple(r) for r in store.db.execute(f"SELECT * FROM {t} ORDER BY {key[t]}")]
            for t in tables}


def test_the_server_stopping_half_way_then_a_rerun_equals_one_copy(run, source, target,
                                                                   pg_server_running):
    from oncoboard.errors import StorageError
    from oncoboard.store.copy import copy_store

    server = pg_server_running
    site = open_store(target)
    stopped = []

    def stop_after_patients(done):
        if done.table == "patients":  # the server goes away between two tables' batches
            server.stop("fast")  # its sessions end (immediate would lose commits: the
            # test server runs with synchronous_commit off)
            stopped.append(done.copied)

    try:
        with pytest.raises(StorageError):
            copy_store(source, site, batch_rows=50, progress=stop_after_patients)
    finally:
        site.close()
        server.start()
    assert stopped == [_counts(source)["patients"]]
    site = open_store(target)
    try:
        assert 0 < _counts(site)["patients"] and _counts(site)["observations"] == 0
    finally:
        site.close()
    _count_inserts(server, "t_copy", ["patients"])
    code, out, err = run("store", "copy", "--to", target, "--batch", "50")
    assert code == 0, err
    assert _sent(server, "t_copy") == {}  # the patients copied before the stop: not sent again
    server.drop_database("t_once")
    server.sql("CREATE DATABASE t_once")
    code, _, err = run("store", "copy", "--to", server.url("t_once"))
    assert code == 0, err
    resumed, once = open_store(target), open_store(server.url("t_once"))
    try:
        assert _contents(resumed, COUNTED) == _contents(once, COUNTED)
        assert _counts(resumed) == _counts(source)
    finally:
        resumed.close()
        once.close()
        server.drop_database("t_once")
    code, out, err = run("--database", target, "audit", "verify")
    assert code == 0 and "audit trail intact" in out, out + err
    code, out, _ = run("store", "copy", "--to", target)
    assert code == 0 and "0 new rows copied" in out


def test_a_copy_failing_half_way_is_finished_by_the_next_run(run, source, target,
                                                            pg_server_running):
    open_store(target).close()  # the schema
    ids = [r[0] for r in source.conn.execute("SELECT id FROM observations ORDER BY id")]
    poison = ids[len(ids) // 2]
    # the server refuses one row half-way through a table (as a crash would stop the copy)
    pg_server_running.sql(
        "CREATE FUNCTION fail_copy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'disk full'; END $$", "t_copy")
    pg_server_running.sql(
        f"CREATE TRIGGER fail_copy BEFORE INSERT ON observations FOR EACH ROW "
        f"WHEN (NEW.id = '{poison}') EXECUTE FUNCTION fail_copy()", "t_copy")
    code, out, err = run("store", "copy", "--to", target, "--batch", "50")
    assert code == 3 and "store copy: table observations" in err and "disk full" in err
    site = open_store(target)
    try:
        half = _counts(site)["observations"]
        assert 0 < half < len(ids) and half % 50 == 0  # whole batches, nothing half-written
    finally:
        site.close()
    pg_server_running.sql("DROP TRIGGER fail_copy ON observations", "t_copy")
    code, out, err = run("store", "copy", "--to", target, "--batch", "50")
    assert code == 0, err
    site = open_store(target)
    try:
        assert _counts(site) == _counts(source)
    finally:
        site.close()
    code, out, err = run("--database", target, "audit", "verify")
    assert code == 0, out + err


def test_a_target_holding_another_chain_is_refused(run, source, target):
    from oncoboard import audit

    site = open_store(target)
    try:
        audit.append(site, "site.note", {"what": "the site's own history"})
    finally:
        site.close()
    code, out, err = run("store", "copy", "--to", target)
    assert code == 3
    assert "already holds a different audit_log chain: entry 1" in err and "nothing was copied" \
        in err
    site = open_store(target)
    try:
        assert _counts(site)["patients"] == 0
    finally:
        site.close()


def test_copy_needs_a_site_database_url(run, source, tmp_path):
    code, _, err = run("store", "copy", "--to", str(tmp_path / "other.db"))
    assert code == 2 and "give a site database's URL" in err
