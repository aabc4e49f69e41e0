"""The board view on a PostgreSQL site database follows another workstation through LISTEN."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

UNIT = Path(__file__).parents[1] / "unit"
sys.path.insert(0, str(UNIT))
sys.path.insert(0, str(UNIT / "board"))

import pg_server  # noqa: E402


@pytest.fixture(scope="module")
def pg_url():  # noqa: ANN201
    if pg_server.bindir() is None:
        if os.environ.get("ONCOBOARD_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is not installed (ONCOBOARD_REQUIRE_POSTGRES=1)")
        pytest.skip("PostgreSQL is not installed (no initdb/pg_ctl)")
    server = pg_server.start_server()
    try:
        server.sql("CREATE DATABASE ui_board")
        yield server.url("ui_board")
    finally:
        pg_server.remove(server)


def test_the_board_view_refreshes_at_another_workstations_commit(pg_url, qtbot):  # noqa: ANN001
    from board_helpers import PATIENTS, add_patient

    from oncoboard.board import meetings
    from oncoboard.board.decisions import record_decision
    from oncoboard.identity import User
    from oncoboard.store import open_store
    from oncoboard.ui.board_view import BoardView
    from oncoboard.ui.board_watch import POLL_MS

    store = open_store(pg_url)
    for row in PATIENTS[:1]:
        add_patient(store, *row)
    m = meetings.create_meeting(store, date="2026-12-10", specialty="sein",
                                title="Site database board", attendees=["Dr Roy (oncologist)"])
    meetings.add_case(store, m.id, "BRC-001", question="Adjuvant chemotherapy?")
    other = open_store(pg_url)
    other.user = User("bob", workstation="ws-bob")
    view = BoardView(SimpleNamespace(store=store, settings=None))
    qtbot.addWidget(view)
    try:
        view.refresh(select=m.id)
        assert view.watcher.listening and not view.watcher.timer.isActive()
        assert view.patient_id == "BRC-001"
        time.sleep(0.3)  # the worker is listening
        record_decision(other, m.id, "BRC-001", plan="Tamoxifen (bob)", rationale="ER+")
        committed = time.monotonic()
        # well within the SQLite polling period: the notification did it
        qtbot.waitUntil(lambda: "Tamoxifen (bob)" in view.detail.toPlainText(),
                        timeout=POLL_MS - 500)
        assert time.monotonic() - committed < 1.0
        assert "bob" in view.notice.text()
    finally:
        view.watcher.stop()
        assert view.watcher.worker is not None and not view.watcher.worker.is_alive()
        other.close()
        store.close()


def test_the_patient_list_queries_a_site_database_off_the_screens_thread(pg_url, qtbot,
                                                                           monkeypatch):  # noqa: ANN001
    """Filtering on a site database runs on a worker thread with its own connection."""
    import threading

    from oncoboard.patients import browse
    from oncoboard.store import open_store
    from oncoboard.store.db import Store
    from oncoboard.ui.patient_table import PatientTableModel

    store = open_store(pg_url)
    rows = [(f"ZQ{i:05d}", "Zorvek" if i % 3 else "Quillon", "Anne", "female", "2026-01-01")
            for i in range(2 * browse.PAGE + 50)]
    with store.transaction():
        store.conn.executemany("INSERT INTO patients (id, family_name, given_name, sex, "
                               "imported_at) VALUES (?,?,?,?,?)", rows)
    opened_on = []
    original = Store.another_connection

    def another(self):  # noqa: ANN001, ANN202
        opened_on.append(threading.current_thread() is threading.main_thread())
        return original(self)

    monkeypatch.setattr(Store, "another_connection", another)
    model = PatientTableModel(store)
    try:
        model.set_query("Quillon")
        qtbot.waitUntil(lambda: model.query == "Quillon", timeout=10000)
        assert model.total == (2 * browse.PAGE + 50 + 2) // 3
        assert opened_on == [False]  # a connection of its own, opened by the worker
        model.set_query("Zor")  # three letters: the pg_trgm index; more than a page
        qtbot.waitUntil(lambda: model.query == "Zor" and model.total is not None,
                        timeout=10000)
        assert model.total == sum(1 for i in range(2 * browse.PAGE + 50) if i % 3)
        assert opened_on and not any(opened_on)  # one per worker thread, never the screen's
    finally:
        model.wait_idle()
        store.close()
