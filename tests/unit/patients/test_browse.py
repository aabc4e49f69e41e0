"""Browsing pages: both plans of a short filter give the same pages; queries can be stopped."""

from __future__ import annotations

import random

import pytest

from oncoboard.patients import browse
from oncoboard.store import open_store

FAMILY = ["Martin", "Dubois", "Durand", "Müller", "Hélou", "du_Pont", "Ma%ri"]
GIVEN = ["Marie", "Hélène", "Jean", "Émile", "Luc"]
CODES = ["C50.4", "C34.1", "C61", "D05.1"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = open_store(tmp_path_factory.mktemp("browse"))
    rng = random.Random(3)
    with s.conn:
        for i in range(900):
            pid = f"{rng.choice('HMC')}{i:05d}"
            s.conn.execute("INSERT INTO patients (id, family_name, given_name, sex, imported_at) "
                           "VALUES (?,?,?,?,?)", [pid, rng.choice(FAMILY), rng.choice(GIVEN),
                                                  "female", "2026-01-01"])
            if i % 7:
                s.conn.execute("INSERT INTO conditions (id, patient_id, source_id, "
                               "is_primary_cancer, code, diagnosis_date) VALUES (?,?,?,?,?,?)",
                               [f"c{i}", pid, "c", int(i % 5 != 0), rng.choice(CODES),
                                "2020-01-01"])
    yield s
    s.close()


def _index_plan(store, query, after=None):
    where, params = browse.where_clause(query)
    sql = f"SELECT p.id FROM patients p WHERE {where}"
    if after:
        sql += " AND p.id > ?"
        params = [*params, after]
    return [r[0] for r in store.conn.execute(sql + " ORDER BY p.id LIMIT 50", params)]


@pytest.mark.parametrize("query", ["H", "M", "C", "c5", "Ma", "hé", "Hé", "D0", "du", "_",
                                   "%", "Ma%", "zz", "C6", "H000", "Martin", "C50"])
def test_pages_are_those_of_the_index_plan(store, query, monkeypatch):
    for after in (None, "H00300", "M00500"):
        got = [r.id for r in browse.patient_page(store, query, after=after, limit=50)]
        assert got == _index_plan(store, query, after), (query, after)
    monkeypatch.setattr(browse, "DENSE_BUDGET_S", 0.0)  # walk gives up at once: same pages
    assert [r.id for r in browse.patient_page(store, query, limit=50)] == \
        _index_plan(store, query)


def test_count_matches_the_pages(store):
    for query in ("", "H", "Ma", "C34", "Hélène"):
        ids, after = [], None
        while page := browse.patient_page(store, query, after=after, limit=100):
            ids += [r.id for r in page]
            after = page[-1].id
        assert len(ids) == len(set(ids)) == browse.count_patients(store, query)
        assert ids == sorted(ids)


def test_row_carries_the_latest_primary_cancer(store):
    (row,) = browse.patient_page(store, "H00001")
    assert row.id == "H00001" and (row.diagnosis is None or row.diagnosis in CODES)


def test_a_cancelled_query_raises_cancelled(store):
    with pytest.raises(browse.Cancelled):
        browse.count_patients(store, "H", cancelled=lambda: True)
    with pytest.raises(browse.Cancelled):
        browse.patient_page(store, "Mar", cancelled=lambda: True)
    assert browse.count_patients(store, "H", cancelled=lambda: False) > 0


def test_count_after_a_patient_is_removed(tmp_path):
    s = open_store(tmp_path)
    with s.conn:
        for i in range(5):
            s.conn.execute("INSERT INTO patients (id, family_name, imported_at) VALUES (?,?,?)",
                           [f"P{i}", "Martin", "2026-01-01"])
        s.conn.execute("DELETE FROM patients WHERE id = 'P2'")
    assert browse.count_patients(s, "Martin") == 4 == len(browse.patient_page(s, "Martin"))
    s.close()


@pytest.mark.parametrize("cap", [0, 5, 50, 10_000])
def test_a_capped_count_stops_past_the_cap(store, cap):
    for query in ("", "H", "M", "C", "c5", "C6", "D0", "Ma", "hé", "du", "zz", "Martin",
                  "C50", "H000", "Hélène"):
        exact = browse.count_patients(store, query)
        expected = exact if not query else min(exact, cap + 1)  # no filter: always in full
        assert browse.count_patients(store, query, cap=cap) == expected, (query, cap)


def test_a_short_filter_over_the_cap_is_not_counted_in_full(store):
    seen = []
    store.conn.set_trace_callback(seen.append)
    try:
        assert browse.count_patients(store, "C", cap=10) == 11
    finally:
        store.conn.set_trace_callback(None)
    # one part alone (the C IDs) is over the cap: the union of the parts is never counted
    assert seen and all("LIMIT" in sql for sql in seen)
