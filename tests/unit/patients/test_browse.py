"""Browsing pages: both plans of a short filter give the same pages; queries can be stopped.

The module's store runs on SQLite and on PostgreSQL (the same rows: the same pages and counts on
both); on PostgreSQL a short filter's page and count read a bounded number of rows from their
indexes, not every patient.
"""

from __future__ import annotations

import random

import pg_server
import pytest

from oncoboard.patients import browse
from oncoboard.store import open_store

FAMILY = ["Martin", "Dubois", "Durand", "Müller", "Hélou", "du_Pont", "Ma%ri"]
GIVEN = ["Marie", "Hélène", "Jean", "Émile", "Luc"]
CODES = ["C50.4", "C34.1", "C61", "D05.1"]


def _fill(s, n=900):
    rng = random.Random(3)
    with s.transaction() as db:
        for i in range(n):
            pid = f"{rng.choice('HMC')}{i:05d}"
            db.execute("INSERT INTO patients (id, family_name, given_name, sex, imported_at) "
                       "VALUES (?,?,?,?,?)", [pid, rng.choice(FAMILY), rng.choice(GIVEN),
                                              "female", "2026-01-01"])
            if i % 7:
                db.execute("INSERT INTO conditions (id, patient_id, source_id, "
                           "is_primary_cancer, code, diagnosis_date) VALUES (?,?,?,?,?,?)",
                           [f"c{i}", pid, "c", int(i % 5 != 0), rng.choice(CODES),
                            "2020-01-01"])
            if i % 11 == 0:  # a second primary cancer: the patient is listed once
                db.execute("INSERT INTO conditions (id, patient_id, source_id, "
                           "is_primary_cancer, code, diagnosis_date) VALUES (?,?,?,?,?,?)",
                           [f"d{i}", pid, "d", 1, CODES[i % 4], "2019-01-01"])


def _open(backend, request, tmp_path_factory, name):
    if backend == "sqlite":
        return open_store(tmp_path_factory.mktemp(name))
    server = request.getfixturevalue("pg_server_running")
    return open_store(server.fresh_database(f"t_{name}"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request, tmp_path_factory):
    s = _open(request.param, request, tmp_path_factory, "browse")
    _fill(s)
    yield s
    s.close()


def _index_plan(store, query, after=None):
    where, params = browse.where_clause(query, store.backend)
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
    pg_server.sqlite_only(store, "a query stopped by SQLite's progress handler")
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


def test_a_short_filter_over_the_cap_is_not_counted_in_full(store, monkeypatch):
    seen = []
    if store.backend == "sqlite":
        store.conn.set_trace_callback(seen.append)
    else:
        execute = store.db.execute
        monkeypatch.setattr(store.db, "execute",
                            lambda sql, params=None, **kw: seen.append(sql) or execute(
                                sql, params, **kw))
    try:
        assert browse.count_patients(store, "C", cap=10) == 11
    finally:
        if store.backend == "sqlite":
            store.conn.set_trace_callback(None)
    # one part alone (the C IDs) is over the cap: the union of the parts is never counted
    assert seen and all("LIMIT" in sql for sql in seen)


QUERIES = ["", "H", "M", "C", "c5", "C6", "D0", "Ma", "hé", "Hé", "du", "_", "%", "Ma%", "zz",
           "Martin", "C50", "H000", "Hélène", "C34.1"]


def test_both_backends_give_the_same_pages_and_counts(request, tmp_path_factory):
    stores = {b: _open(b, request, tmp_path_factory, "browse_both")
              for b in ("sqlite", "postgresql")}
    try:
        for s in stores.values():
            _fill(s)
        for query in QUERIES:
            got = {}
            for b, s in stores.items():
                pages, after = [], None
                while page := browse.patient_page(s, query, after=after, limit=70):
                    pages.append(page)
                    after = page[-1].id
                got[b] = (pages, browse.count_patients(s, query),
                          browse.count_patients(s, query, cap=40))
            assert got["sqlite"] == got["postgresql"], query
    finally:
        for s in stores.values():
            s.close()


def _rows_read(plan):
    """Yield (relation, rows read) for each scan node of an EXPLAIN (ANALYZE, FORMAT JSON)."""
    if "Relation Name" in plan:
        read = (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)
                + plan.get("Rows Removed by Index Recheck", 0)) * plan["Actual Loops"]
        yield plan["Relation Name"], read
    for child in plan.get("Plans", []):
        yield from _rows_read(child)


def test_postgres_short_filters_read_a_page_not_every_patient(pg_server_running, monkeypatch):
    """20,000 patients all matching `C` (their diagnosis), a third `C6`, `M` or `Ma`: the first
    page, its rows and the capped count read a page or the cap (a few times over where a walk
    skips non-matching rows) from each index, never every patient (the filter's OR in one query
    read every patient's conditions: 0.2 s at 100,000)."""
    import json

    s = open_store(pg_server_running.fresh_database("t_browse_rows"))
    try:
        raw = s.db.raw
        with raw.transaction(), raw.cursor().copy(
                "COPY patients (id, family_name, given_name, imported_at) FROM STDIN") as cp:
            for i in range(20_000):
                cp.write_row((f"H{i:06d}", ["Martin", "Dubois", "Durand"][i % 3],
                              ["Marie", "Jean", "Luc"][i % 3], "2026-01-01"))
        with raw.transaction(), raw.cursor().copy(
                "COPY conditions (id, patient_id, source_id, is_primary_cancer, code) "
                "FROM STDIN") as cp:
            for i in range(20_000):
                cp.write_row((f"c{i}", f"H{i:06d}", "c", 1, ["C50.4", "C61", "C34.1"][i % 3]))
        raw.execute("ANALYZE")
        seen = []
        execute = s.db.execute
        monkeypatch.setattr(s.db, "execute", lambda sql, params=None, **kw: seen.append(
            (sql, params)) or execute(sql, params, **kw))
        for query in ("C", "C6", "M", "Ma", "H", "Zq"):
            seen.clear()
            page = browse.patient_page(s, query)
            count = browse.count_patients(s, query, cap=browse.COUNT_CAP)
            assert len(page) == (0 if query == "Zq" else browse.PAGE)
            assert count == (0 if query == "Zq" else browse.COUNT_CAP + 1)
            for sql, params in seen:
                result = execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()[0]
                (plan,) = json.loads(result) if isinstance(result, str) else result
                worst = max((n for _, n in _rows_read(plan["Plan"])), default=0)
                assert worst <= 5000, (query, sql, worst)  # a quarter of the patients at most
    finally:
        s.close()
