"""`oncoboard store copy --to URL` on a real PostgreSQL server: every table copied with the same
audit hashes, idempotent, resumable after a failure half-way, refused onto another chain."""

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
    assert code == 0 and "0 rows copied" in out and "nothing new to copy" in out


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
