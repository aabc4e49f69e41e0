"""The virtual patient list: first page at once, count after it, outdated queries stopped."""

from __future__ import annotations

import pytest

from oncoboard.patients import browse
from oncoboard.store import open_store
from oncoboard.ui.patient_table import PatientTableModel, _Answer, _Latest, _Query


@pytest.fixture
def big_store(tmp_path):
    s = open_store(tmp_path / "data")
    with s.conn:
        s.conn.executemany(
            "INSERT INTO patients (id, family_name, given_name, sex, imported_at) "
            "VALUES (?,?,?,?,?)", [(f"H{i:05d}", "Martin" if i % 3 else "Durand", "Anne",
                                    "female", "2026-01-01") for i in range(2 * browse.PAGE + 50)])
    yield s
    s.close()


def test_first_page_then_the_count(app, qtbot, big_store):  # noqa: ANN001
    model = PatientTableModel(big_store)
    model.reload()
    totals = []
    model.total_changed.connect(totals.append)
    model.set_query("Ma")  # more than a page of Martins: shown first, counted after
    qtbot.waitUntil(lambda: model.total is not None and model.query == "Ma", timeout=5000)
    martins = sum(1 for i in range(2 * browse.PAGE + 50) if i % 3)
    assert totals == [-1, martins] and model.total == martins
    assert model.rowCount() == browse.PAGE and model.canFetchMore()
    while model.canFetchMore():
        model.fetchMore()
    assert model.rowCount() == martins
    model.set_query("Durand")  # one page: its size is the count, no second query
    totals.clear()
    qtbot.waitUntil(lambda: model.query == "Durand", timeout=5000)
    assert totals == [(2 * browse.PAGE + 50 + 2) // 3] and not model.canFetchMore()
    model.wait_idle()


def test_an_outdated_query_answers_nothing(app, qtbot, big_store):  # noqa: ANN001
    answer, latest = _Answer(), _Latest()
    got = []
    answer.answered.connect(lambda *a: got.append(a))
    answer.counted.connect(lambda *a: got.append(a))
    latest.value = 2
    _Query(big_store.path, 1, "Ma", answer, latest).run()  # a newer keystroke came: dropped
    _Query(big_store.path, 2, "Ma", answer, latest).run()
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    assert [a[0] for a in got] == [2, 2]


def test_a_count_past_the_cap_shows_more_than(app, qtbot, big_store, monkeypatch):  # noqa: ANN001
    from oncoboard.ui import patient_table

    monkeypatch.setattr(patient_table, "COUNT_CAP", 100)
    model = PatientTableModel(big_store)
    totals = []
    model.total_changed.connect(totals.append)
    model.set_query("Ma")  # 300 Martins: more than the cap
    qtbot.waitUntil(lambda: len(totals) == 2, timeout=5000)
    assert totals == [-1, -1] and model.total is None and model.more_than == 100
    assert model.rowCount() == browse.PAGE and model.canFetchMore()
    while model.canFetchMore():  # read to the end: then the total is known
        model.fetchMore()
    martins = sum(1 for i in range(2 * browse.PAGE + 50) if i % 3)
    assert model.rowCount() == model.total == martins and totals[-1] == martins
    assert model.more_than is None
    model.set_query("Durand")  # under the cap: counted exactly
    qtbot.waitUntil(lambda: model.query == "Durand", timeout=5000)
    assert model.total == (2 * browse.PAGE + 50 + 2) // 3 and model.more_than is None
    model.wait_idle()
    model.query = "Ma"
    model.reload()  # on this thread, capped too
    assert model.total is None and model.more_than == 100
    model.query = ""
    model.reload()  # no filter: every patient, counted in full
    assert model.total == 2 * browse.PAGE + 50 and model.more_than is None
    totals.clear()
    model.set_query("")  # the same, off the screen's thread
    qtbot.waitUntil(lambda: bool(totals) and totals[-1] >= 0, timeout=5000)
    model.wait_idle()
    assert totals == [-1, 2 * browse.PAGE + 50] and model.more_than is None
