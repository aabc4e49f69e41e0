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

#: "Within a few seconds" (the issue); the figures: tests/bench/bench_live_views.py.
FEW_SECONDS_MS = 5000


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


def test_the_board_view_refreshes_at_another_workstations_commit(pg_url, qtbot,
                                                                  monkeypatch):  # noqa: ANN001
    from board_helpers import PATIENTS, add_patient

    from oncoboard.board import meetings
    from oncoboard.board.decisions import record_decision
    from oncoboard.identity import User
    from oncoboard.store import open_store
    from oncoboard.ui.board_view import BoardView

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
        opened_on = _connections_opened_on(monkeypatch)
        record_decision(other, m.id, "BRC-001", plan="Tamoxifen (bob)", rationale="ER+")
        # no polling timer runs on a site database: the notification did it (its speed:
        # tests/bench/bench_live_views.py; a timer here would be flaky on a loaded machine)
        qtbot.waitUntil(lambda: "Tamoxifen (bob)" in view.detail.toPlainText(),
                        timeout=FEW_SECONDS_MS)
        assert not view.watcher.timer.isActive()
        assert "bob" in view.notice.text()
        assert opened_on and not any(opened_on)  # read on a worker's own connection
        assert view.patient_id == "BRC-001" and view.cases.currentRow() == 0
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


def _site_board(pg_url, title):  # noqa: ANN001, ANN202
    """A site database with two breast cases on a meeting; this workstation's and bob's stores."""
    from board_helpers import PATIENTS, add_patient

    from oncoboard.board import meetings
    from oncoboard.identity import User
    from oncoboard.store import open_store

    store = open_store(pg_url)
    for row in PATIENTS:
        if store.db.execute("SELECT 1 FROM patients WHERE id = ?", [row[0]]).fetchone() is None:
            add_patient(store, *row)
    m = meetings.create_meeting(store, date="2026-12-10", specialty="sein", title=title,
                                attendees=["Dr Roy (oncologist)"])
    meetings.add_case(store, m.id, "BRC-001", question="Adjuvant chemotherapy?")
    meetings.add_case(store, m.id, "BRC-002", question="Neoadjuvant strategy?")
    other = open_store(pg_url)
    other.user = User("bob", workstation="ws-bob")
    return store, other, m


def _connections_opened_on(monkeypatch):  # noqa: ANN001, ANN202
    """Record, for each extra connection, whether the screen's thread opened it."""
    import threading

    from oncoboard.store.db import Store

    opened_on: list[bool] = []
    original = Store.another_connection

    def another(self):  # noqa: ANN001, ANN202
        opened_on.append(threading.current_thread() is threading.main_thread())
        return original(self)

    monkeypatch.setattr(Store, "another_connection", another)
    return opened_on


def test_the_presenter_refreshes_at_another_workstations_commit(pg_url, qtbot, monkeypatch,
                                                                tmp_path):  # noqa: ANN001
    from oncoboard.board import meetings
    from oncoboard.board.caseview import meeting_case_views
    from oncoboard.board.decisions import record_decision
    from oncoboard.ui.board_view import BoardView

    store, other, m = _site_board(pg_url, "Site database presenter")
    view = BoardView(SimpleNamespace(store=store, settings=None))
    qtbot.addWidget(view)
    try:
        view.refresh(select=m.id)
        view._on_case_views_ready(meeting_case_views(store, m.id, with_image=False))
        presenter = view.presenter
        assert presenter is not None
        qtbot.addWidget(presenter)
        presenter.show_case(1)
        opened_on = _connections_opened_on(monkeypatch)
        time.sleep(0.3)  # the worker is listening
        record_decision(other, m.id, "BRC-002", plan="Neoadjuvant EC (bob)", rationale="cT3")
        qtbot.waitUntil(lambda: presenter.views[1].decision is not None,
                        timeout=FEW_SECONDS_MS)
        assert not view.watcher.timer.isActive()  # the notification, not a polling period
        assert presenter.index == 1 and "bob" in presenter.notice.text()
        assert opened_on and not any(opened_on)  # read on a worker's own connection
        presenter.grab().save(str(tmp_path / "presenter-site-database.png"))
        meetings.add_case(other, m.id, "LUN-001", question="Stereotactic radiotherapy?")
        qtbot.waitUntil(lambda: presenter.stack.count() == 3, timeout=FEW_SECONDS_MS)
        assert presenter.views[presenter.index].case.patient_id == "BRC-002"
    finally:
        view.watcher.stop()
        other.close()
        store.close()


def test_the_patient_screen_refreshes_at_another_workstations_commit(pg_url, qtbot, monkeypatch,
                                                                     tmp_path):  # noqa: ANN001
    from test_board_case_view import _store_prediction

    from oncoboard.board.decisions import record_decision
    from oncoboard.config import load_settings
    from oncoboard.ui.main_window import MainWindow

    store, other, m = _site_board(pg_url, "Site database patient screen")
    window = MainWindow(SimpleNamespace(store=store, settings=load_settings(tmp_path / "data"),
                                        log_file=None))
    qtbot.addWidget(window)
    try:
        window.open_patient("BRC-001")
        assert window.watcher.listening
        view = window.patient_view
        opened_on = _connections_opened_on(monkeypatch)
        time.sleep(0.3)  # the worker is listening
        with qtbot.waitSignal(view.record_refreshed, timeout=FEW_SECONDS_MS):
            record_decision(other, m.id, "BRC-001", plan="Adjuvant TC (bob)", rationale="pN1")
        assert "Adjuvant TC (bob)" in view.card.decision.text()
        drawn = view.timeline.item_count
        with qtbot.waitSignal(view.record_refreshed, timeout=FEW_SECONDS_MS):
            _store_prediction(other, "BRC-001", "relapse-model")
        assert view.timeline.item_count > drawn  # the new prediction on the timeline
        assert opened_on and not any(opened_on)
        assert "bob" in window.statusBar().currentMessage()
    finally:
        window.watcher.stop()
        other.close()
        store.close()
