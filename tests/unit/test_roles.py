"""Users and roles: the signed-in user is a value; the core refuses an action without its role;
packaging/site/roles.sql grants exactly the real tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from oncoboard import identity
from oncoboard.errors import RoleError
from oncoboard.identity import PERMISSIONS, ROLES, User
from oncoboard.store import open_store

ROLES_SQL = Path(__file__).resolve().parents[2] / "packaging" / "site" / "roles.sql"
APPEND_ONLY = {"audit_log", "access_log", "board_decisions", "lesions", "lesion_measurements",
               "viewer_measurements",
               "predictions"}


def test_the_local_user_holds_every_role_and_a_database_login_its_memberships():
    me = identity.local_user()
    assert me.roles == frozenset(ROLES) and me.source == "os" and me.workstation
    site = identity.database_user("bmartin", ["oncoboard_clinician", "oncoboard_radiologist",
                                              "pg_read_all_stats", "oncoboard_nosuch"], "ws1")
    assert site == User("bmartin", frozenset({"clinician", "radiologist"}), "ws1", "database")
    assert set(PERMISSIONS.values()) == set(ROLES)


def test_the_store_carries_its_user(tmp_path):
    store = open_store(tmp_path / "data")
    try:
        first = identity.user_of(store)
        assert identity.user_of(store) is first  # read once, then carried
        store.user = User("carol", frozenset({"coordinator"}))
        assert identity.user_of(store).login == "carol"
    finally:
        store.close()


@pytest.fixture
def board_store(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "board"))
    from board_helpers import PATIENTS, add_patient

    store = open_store(tmp_path / "data")
    for row in PATIENTS:
        add_patient(store, *row)
    yield store
    store.close()


def test_the_core_refuses_an_action_without_its_role(board_store):
    from oncoboard.audit import entries
    from oncoboard.audit.access import record_access
    from oncoboard.board import decisions, meetings

    store = board_store
    store.user = User("dupont", frozenset({"clinician"}))
    with pytest.raises(RoleError, match="user dupont needs role coordinator to change a meeting"):
        meetings.create_meeting(store, date="2026-12-01", specialty="sein", title="RCP")
    store.user = User("carol", frozenset({"coordinator"}))
    m = meetings.create_meeting(store, date="2026-12-01", specialty="sein", title="RCP",
                                attendees=["Dr A (oncologist)"])
    meetings.add_case(store, m.id, "BRC-001", question="Adjuvant?")
    written = len(entries(store))
    with pytest.raises(RoleError, match="needs role clinician") as caught:
        decisions.record_decision(store, m.id, "BRC-001", plan="Chemo", rationale="R")
    assert caught.value.exit_code == 7 and caught.value.role == "clinician"
    with pytest.raises(RoleError, match="needs role clinician to open a patient's record"):
        record_access(store, "BRC-001", "board.case")
    assert len(entries(store)) == written  # nothing half-written
    assert decisions.current_decision(store, m.id, "BRC-001") is None
    store.user = User("dupont", frozenset({"clinician"}))
    d = decisions.record_decision(store, m.id, "BRC-001", plan="Chemo", rationale="R")
    assert d.recorded_by == "dupont" and entries(store)[-1].actor == "dupont"
    assert meetings.get_meeting(store, m.id).status == "held"  # no coordinator role needed


def _statements(sql: str) -> list[str]:
    body = re.sub(r"--[^\n]*", "", sql)
    return [" ".join(s.split()) for s in body.split(";") if s.strip()]


def _real_tables(store) -> set[str]:
    rows = store.db.execute("SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")
    return {r[0] for r in rows}


def test_roles_sql_grants_every_real_table_and_never_rewrites_append_only_ones(pg_server_running):
    # roles.sql runs on PostgreSQL: its tables are the migrations' PostgreSQL schema
    store = open_store(pg_server_running.reset_database("t_tests"))
    try:
        tables = _real_tables(store)
    finally:
        store.close()
    grants = [s for s in _statements(ROLES_SQL.read_text()) if s.upper().startswith("GRANT")]
    named: dict[str, set[str]] = {}
    for g in grants:
        found = re.match(r"GRANT (.+?) ON (?!SCHEMA|ALL )(.+?) TO (.+)$", g)
        if not found:
            continue
        privileges, on, _to = found.groups()
        for t in (x.strip() for x in on.split(",")):
            named.setdefault(t, set()).update(p.strip().split(" ")[0]
                                              for p in privileges.split(","))
    assert set(named) <= tables, f"roles.sql names tables no migration creates: " \
                                 f"{sorted(set(named) - tables)}"
    assert tables <= set(named), f"tables without a grant: {sorted(tables - set(named))}"
    for t in APPEND_ONLY:
        assert not named[t] & {"UPDATE", "DELETE"}, t
    text = ROLES_SQL.read_text()
    for role in ROLES:
        assert f"'oncoboard_{role}'" in text  # created
    for t in ("audit_log", "access_log", "board_decisions"):
        assert f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY" in text
