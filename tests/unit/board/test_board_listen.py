"""The change feed on PostgreSQL: LISTEN/NOTIFY wakes another workstation at the commit."""

from __future__ import annotations

import threading
import time

import pytest

from oncoboard.board import changes, decisions
from oncoboard.identity import User
from oncoboard.store import open_store

pytestmark = pytest.mark.parametrize("backend", ["postgresql"])


@pytest.fixture
def other(store):
    second = open_store(store.location)
    second.user = User("bob", workstation="ws-bob")
    yield second
    second.close()


def test_a_commit_elsewhere_wakes_the_waiter_within_a_second(store, other, meeting):
    token = changes.change_token(store)
    got: dict = {}

    def wait() -> None:
        # the polling interval is 30 s: only the notification can end the wait in time
        got["found"] = changes.wait_for_change(store, token, 30, interval_s=30)
        got["at"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)  # the waiter is listening
    decisions.record_decision(other, meeting.id, "BRC-001", plan="Surgery", rationale="R")
    committed = time.monotonic()
    waiter.join(5)
    assert not waiter.is_alive()
    assert got["at"] - committed < 1.0
    assert got["found"].meetings[meeting.id][0] == "bob"
    assert got["found"].token == changes.change_token(other)


def test_a_rolled_back_write_notifies_nobody_and_the_wait_times_out(store, other, meeting):
    token = changes.change_token(store)
    assert store.wait_notify(changes.CHANNEL, 0.01) is False  # listening now, nothing pending

    class Undo(Exception):
        pass

    with pytest.raises(Undo), other.transaction():
        changes.note_change(other, meeting.id, "bob", "2026-12-01T10:00:00+00:00")
        raise Undo
    started = time.monotonic()
    assert store.wait_notify(changes.CHANNEL, 0.3) is False
    assert time.monotonic() - started >= 0.25
    assert not changes.wait_for_change(store, token, 0.2, interval_s=0.1)


def test_the_waiter_survives_a_dropped_connection(store, other, meeting, pg_server_running):
    """The server ends the listening session: the next wait listens again on a new one."""
    assert store.wait_notify(changes.CHANNEL, 0.01) is False
    other.db.execute("SELECT pg_terminate_backend(?)", [store.db.raw.info.backend_pid])
    with pytest.raises(Exception):  # noqa: B017,PT011 - the dropped session's error
        store.wait_notify(changes.CHANNEL, 0.2)
    token = changes.change_token(store)  # reconnects
    decisions.record_decision(other, meeting.id, "BRC-002", plan="Chemo", rationale="R")
    assert changes.wait_for_change(store, token, 2, interval_s=2).meetings
