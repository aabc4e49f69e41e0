"""No lost update: two workstations (two connections, two processes) editing the same board."""

from __future__ import annotations

import multiprocessing
import re

import pytest
from concurrency_worker import amend_in_rounds

from oncoboard import cli
from oncoboard.board import agenda, changes, decisions, meetings
from oncoboard.board.trail import verify_trail
from oncoboard.errors import StaleWriteError
from oncoboard.identity import User
from oncoboard.store import open_store

STALE = re.compile(r"changed by (\S+) at (\S+) .*: reload$")


@pytest.fixture
def other(store):
    """A second workstation: another connection to the same file, signed in as another user."""
    second = open_store(store.location)
    second.user = User("bob", workstation="ws-bob")
    yield second
    second.close()


def _decide(store, meeting, pid="BRC-001", **kw):
    return decisions.record_decision(store, meeting.id, pid, plan="Surgery", rationale="R",
                                     **kw)


def test_a_stale_amendment_is_refused_and_nothing_is_lost(store, other, meeting):
    store.user = User("alice", workstation="ws-alice")
    first = _decide(store, meeting)
    read_by_alice = decisions.current_decision(store, meeting.id, "BRC-001")
    read_by_bob = decisions.current_decision(other, meeting.id, "BRC-001")
    assert read_by_alice.version == read_by_bob.version == first.version == 1
    bobs = decisions.amend_decision(other, meeting.id, "BRC-001", reason="new scan",
                                    plan="Chemotherapy", expected_version=read_by_bob.version)
    with pytest.raises(StaleWriteError) as caught:
        decisions.amend_decision(store, meeting.id, "BRC-001", reason="mine", plan="Radiotherapy",
                                 expected_version=read_by_alice.version)
    found = STALE.search(caught.value.message)
    assert found and found.group(1) == "bob" and found.group(2) == bobs.decided_at
    assert "BRC-001" in caught.value.message and "Bernard" not in caught.value.message
    assert caught.value.exit_code == 6
    history = decisions.decision_history(store, meeting.id, "BRC-001")
    assert [(d.version, d.plan, d.recorded_by) for d in history] == [
        (1, "Surgery", "alice"), (2, "Chemotherapy", "bob")]
    # after a reload the amendment goes through on top of bob's
    again = decisions.amend_decision(store, meeting.id, "BRC-001", reason="mine",
                                     plan="Radiotherapy", expected_version=2)
    assert (again.version, again.supersedes) == (3, bobs.id)
    assert verify_trail(store).ok


def test_two_first_decisions_cannot_both_be_recorded(store, other, meeting):
    assert decisions.current_decision(store, meeting.id, "BRC-001") is None  # both read none
    _decide(other, meeting)
    with pytest.raises(StaleWriteError, match="changed by bob at .*: reload"):
        _decide(store, meeting, expected_version=0)
    assert len(decisions.decision_history(store, meeting.id, "BRC-001")) == 1


def test_the_compare_and_set_holds_inside_the_transaction(store, other, meeting):
    """Even when the version read in Python is not stated, the UPDATE re-checks it."""
    _decide(store, meeting)
    stale = decisions.current_decision(store, meeting.id, "BRC-001")
    decisions.amend_decision(other, meeting.id, "BRC-001", reason="r", plan="Other")
    with pytest.raises(StaleWriteError, match="changed by bob"):
        decisions._write(store, meeting.id, "BRC-001", plan="Late", rationale="R", options=(),
                         attendees=stale.attendees, prediction_ids=None,
                         departs_from_model=None, previous=stale, reason="late",
                         read_version=stale.version)
    assert [d.plan for d in decisions.decision_history(store, meeting.id, "BRC-001")] == [
        "Surgery", "Other"]
    assert verify_trail(store).ok


def test_meeting_and_case_edits_state_their_version(store, other, meeting):
    read = meetings.get_meeting(store, meeting.id)
    meetings.set_attendees(other, meeting.id, ["Dr Neuf (surgeon)"],
                           expected_version=read.version)
    with pytest.raises(StaleWriteError, match=f"meeting {meeting.id} was changed by bob"):
        meetings.set_status(store, meeting.id, "held", expected_version=read.version)
    assert meetings.get_meeting(store, meeting.id).status == "planned"
    now = meetings.get_meeting(store, meeting.id)
    assert (now.version, now.updated_by) == (read.version + 1, "bob")

    case = meetings.get_case(store, meeting.id, "BRC-002")
    agenda.edit_case(other, meeting.id, "BRC-002", question="Surgery first?",
                     expected_version=case.version)
    for write in (lambda: agenda.edit_case(store, meeting.id, "BRC-002", question="Mine?",
                                           expected_version=case.version),
                  lambda: agenda.move_case(store, meeting.id, "BRC-002", 1,
                                           expected_version=case.version),
                  lambda: agenda.remove_case(store, meeting.id, "BRC-002",
                                             expected_version=case.version)):
        with pytest.raises(StaleWriteError, match="patient BRC-002 in meeting .* changed by bob"):
            write()
    kept = meetings.get_case(store, meeting.id, "BRC-002")
    assert (kept.question, kept.position, kept.updated_by) == ("Surgery first?", 2, "bob")
    assert verify_trail(store).ok


def test_a_reorder_based_on_an_old_agenda_is_refused(store, other, meeting):
    read = meetings.list_cases(store, meeting.id)
    agenda.move_case(other, meeting.id, "BRC-002", 1)
    with pytest.raises(StaleWriteError):
        agenda.reorder_cases(store, meeting.id, ["BRC-001", "BRC-002"], read=read)
    assert [c.patient_id for c in meetings.list_cases(store, meeting.id)] == [
        "BRC-002", "BRC-001"]
    assert verify_trail(store).ok


def test_every_board_write_moves_the_change_feed(store, other, meeting):
    token = changes.change_token(store)
    assert not changes.changes_since(store, token)
    _decide(other, meeting)
    seen = changes.changes_since(store, token)
    assert seen.token > token and seen.meetings[meeting.id][0] == "bob"
    assert not changes.changes_since(store, seen.token)
    quick = changes.wait_for_change(store, seen.token, 0.05, interval_s=0.01)
    assert not quick  # nothing more: the wait ends at its timeout, empty


def test_two_processes_amending_in_lockstep_lose_nothing(store, meeting):
    _decide(store, meeting)
    store.close()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    rounds = 5
    procs = [ctx.Process(target=amend_in_rounds,
                         args=(str(store.location), name, rounds, barrier,
                               results)) for name in ("alice", "bob")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    got = _drain(results)
    ok = [plan for _name, kind, plan in got if kind == "ok"]
    stale = [msg for _name, kind, msg in got if kind == "stale"]
    assert len(ok) == 2 * rounds
    # both read the same version each round: one of the two writes was refused every round
    assert len(stale) >= rounds and all(STALE.search(m) for m in stale)
    reopened = open_store(store.location)
    try:
        history = decisions.decision_history(reopened, meeting.id, "BRC-001")
        assert [d.version for d in history] == list(range(1, 2 * rounds + 2))
        assert sorted(d.plan for d in history[1:]) == sorted(ok)  # every intended plan, once
        assert verify_trail(reopened).ok
    finally:
        reopened.close()


def _drain(queue):
    items = []
    while True:
        try:
            items.append(queue.get(timeout=2))
        except Exception:  # noqa: BLE001 - queue.Empty: all read
            return items


def test_the_cli_refuses_a_stale_write_with_exit_6(store, meeting, capsys, tmp_path):
    _decide(store, meeting)
    other = open_store(store.location)
    other.user = User("bob")
    decisions.amend_decision(other, meeting.id, "BRC-001", reason="r", plan="Chemotherapy")
    other.close()
    where = (["--data-dir", str(store.path.parent)] if store.path is not None
             else ["--data-dir", str(tmp_path / "ws"), "--database", store.url])
    code = cli.main(["board", "decide", str(meeting.id), "BRC-001", "--amend", "mine",
                     "--plan", "Radiotherapy", "--if-version", "1", *where])
    err = capsys.readouterr().err
    assert code == 6
    assert "changed by bob at" in err and err.strip().endswith("reload")
    assert [d.plan for d in decisions.decision_history(store, meeting.id, "BRC-001")] == [
        "Surgery", "Chemotherapy"]
    code = cli.main(["board", "edit-case", str(meeting.id), "BRC-002", "--question", "New?",
                     "--if-version", "1", *where])
    assert code == 0, capsys.readouterr().err
    assert meetings.get_case(store, meeting.id, "BRC-002").question == "New?"


def test_an_existing_board_gets_its_versions_from_the_migration(tmp_path):
    from oncoboard.store.db import discover_migrations

    store = open_store(tmp_path / "old", migrate=False)
    store.migrate([m for m in discover_migrations() if m.number < 320])
    store.db["patients"].insert({"id": "P1", "source_system": "t", "source_id": "P1",
                                 "synthetic": 1, "imported_at": "2026-01-01T00:00:00+00:00"})
    at = "2026-11-01T10:00:00+00:00"
    store.conn.execute("INSERT INTO board_meetings (id, uid, date, specialty, title, status, "
                       "created_at, created_by, updated_at) VALUES (1, 'u1', '2026-11-02', "
                       "'sein', 'RCP', 'held', ?, 'carol', ?)", [at, at])
    store.conn.execute("INSERT INTO board_cases (id, meeting_id, patient_id, position, question,"
                       " added_at, added_by) VALUES (1, 1, 'P1', 1, 'Q?', ?, 'carol')", [at])
    for v in (1, 2):
        store.conn.execute("INSERT INTO board_decisions (case_id, version, plan, rationale, "
                           "attendees, decided_at, recorded_by) VALUES (1, ?, 'p', 'r', "
                           "'[{\"name\": \"Dr A\", \"role\": \"\"}]', ?, 'dupont')", [v, at])
    store.conn.commit()
    assert "m0320_board_versions" in store.migrate()
    m = meetings.get_meeting(store, 1)
    c = meetings.get_case(store, 1, "P1")
    assert (m.version, m.updated_by) == (1, "carol")
    assert (c.version, c.updated_by, c.updated_at, c.decision_version) == (1, "carol", at, 2)
    assert changes.change_token(store) == 0
    with pytest.raises(StaleWriteError, match="changed by dupont at 2026-11-01T10:00:00"):
        decisions.amend_decision(store, 1, "P1", reason="r", plan="new", expected_version=1)
    store.close()
