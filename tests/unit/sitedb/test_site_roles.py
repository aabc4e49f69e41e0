"""Roles enforced by the site database itself, on a real PostgreSQL server: the signed-in user is
the database login, the core refuses an action without its role, and so do the server's grants
when the core is bypassed, with a message naming the role needed."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
import pytest
from site_helpers import login_url

from oncoboard import identity
from oncoboard.errors import RoleError, StorageError
from oncoboard.store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "board"))
from board_helpers import PATIENTS, add_patient  # noqa: E402


@pytest.fixture
def meeting(site_db):
    """Patients added by the owner; a meeting and a case made by the coordinator carol."""
    from oncoboard.board import meetings

    server, name = site_db
    owner = open_store(server.url(name))
    for row in PATIENTS:
        add_patient(owner, *row)
    owner.close()
    carol = open_store(login_url(server, name, "carol"))
    try:
        m = meetings.create_meeting(carol, date="2026-12-01", specialty="sein", title="RCP",
                                    attendees=["Dr A (oncologist)"])
        meetings.add_case(carol, m.id, "BRC-001", question="Adjuvant?")
    finally:
        carol.close()
    return m


def test_the_signed_in_user_is_the_database_login_with_its_site_roles(site_db):
    server, name = site_db
    store = open_store(login_url(server, name, "carol"))
    try:
        assert store.user.login == "carol" and store.user.source == "database"
        assert store.user.roles == frozenset({"coordinator"})
    finally:
        store.close()
    owner = open_store(server.url(name))  # the database's owner: every role
    try:
        assert owner.user.login == "oncoboard" and owner.user.roles == identity.local_user().roles
    finally:
        owner.close()
    # a login in no site role reaches nothing: a clear refusal, not a traceback
    with pytest.raises(RoleError, match="user nobody_in_particular: the database refused: "
                                        "permission denied for schema public; ask the site"):
        open_store(login_url(server, name, "nobody_in_particular"))


def test_a_coordinator_may_not_record_a_decision_nor_run_a_model(site_db, meeting):
    from oncoboard.audit import entries
    from oncoboard.board import decisions
    from oncoboard.inference import prediction_store

    server, name = site_db
    carol = open_store(login_url(server, name, "carol"))
    try:
        written = len(entries(carol))
        with pytest.raises(RoleError, match="user carol needs role clinician to record"):
            decisions.record_decision(carol, meeting.id, "BRC-001", plan="Chemo", rationale="R")
        with pytest.raises(RoleError, match="needs role clinician to run a model"):
            prediction_store.write(carol, [])
        # bypassing the core: the server's grants refuse, and the message names the role
        with pytest.raises(RoleError, match=r"the database refused: needs role clinician "
                                            r"\(database role oncoboard_clinician\) to write "
                                            r"to board_decisions") as caught:
            with carol.transaction() as db:
                db.execute("INSERT INTO board_decisions (case_id, version, plan, rationale, "
                           "decided_at, recorded_by) VALUES (1, 1, 'x', 'x', 'now', 'carol')")
        assert caught.value.role == "clinician" and caught.value.exit_code == 7
        with pytest.raises(RoleError, match="needs role clinician .* to write to predictions"):
            with carol.transaction() as db:
                db.execute("INSERT INTO predictions (id) VALUES ('p1')")
        with pytest.raises(RoleError, match="needs role radiologist"):
            with carol.transaction() as db:
                db.execute("INSERT INTO lesions (id) VALUES (1)")
        assert len(entries(carol)) == written  # nothing half-written
    finally:
        carol.close()
    # a raw connection, no Oncoboard at all: the server itself says no
    with psycopg.connect(login_url(server, name, "carol")) as raw:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            raw.execute("INSERT INTO predictions (id) VALUES ('p1')")


def test_a_clinician_records_a_decision_in_their_own_name(site_db, meeting):
    from oncoboard.audit import entries, verify
    from oncoboard.board import decisions

    server, name = site_db
    dupont = open_store(login_url(server, name, "dupont"))
    try:
        d = decisions.record_decision(dupont, meeting.id, "BRC-001", plan="Chemo",
                                      rationale="R")
        assert d.recorded_by == "dupont" and entries(dupont)[-1].actor == "dupont"
        # row security: a row naming another login is refused
        with pytest.raises(RoleError, match="must name the signed-in login"):
            with dupont.transaction() as db:
                db.execute("INSERT INTO board_decisions (case_id, version, plan, rationale, "
                           "decided_at, recorded_by) VALUES (?, 9, 'x', 'x', 'now', 'carol')",
                           [d.case_id])
        # a clinician may not change the agenda
        with pytest.raises(RoleError, match="needs role coordinator"):
            with dupont.transaction() as db:
                db.execute("DELETE FROM board_cases")
    finally:
        dupont.close()
    owner = open_store(server.url(name))
    try:
        assert verify(owner).ok
    finally:
        owner.close()


def test_a_wrong_password_is_a_clear_message(site_db):
    server, name = site_db
    with pytest.raises(StorageError, match="password authentication failed for user \"carol\"") \
            as caught:
        open_store(login_url(server, name, "carol", password="wrong"))
    assert "wrong" not in caught.value.message and "keyring" in caught.value.message


def test_reading_records_without_the_role_names_it(site_db, meeting, capsys, tmp_path,
                                                    monkeypatch):
    """A coordinator lists the patients: the server refuses the records' tables, and the user
    reads which role is needed (not an internal error)."""
    from site_helpers import remember_password

    from oncoboard import cli
    from oncoboard.patients import record

    server, name = site_db
    carol = open_store(login_url(server, name, "carol"))
    try:
        with pytest.raises(RoleError, match=r"the database refused: needs role clinician "
                                            r"\(database role oncoboard_clinician\) to read "
                                            r"conditions") as caught:
            record.list_patients(carol)
        assert caught.value.role == "clinician"
        with pytest.raises(RoleError, match="needs role clinician or radiologist"):
            carol.db.execute("SELECT count(*) FROM dicom_series").fetchone()
    finally:
        carol.close()
    remember_password(server, "carol")
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "no-user.toml"))
    url = f"postgresql://carol@127.0.0.1:{server.port}/{name}"
    code = cli.main(["patients", "list", "--data-dir", str(tmp_path / "data"), "--database", url])
    err = capsys.readouterr().err
    assert code == 7, err
    assert "needs role clinician" in err and "internal error" not in err
