"""The board batch (``inference.batch.predict_many``) stores what patient by patient stores.

The demo cohort (records only) with the bundled plugins: the same patients predicted patient by
patient (``engine.predict_patient``, one batch per plugin and patient) and as one board (one
batch per plugin for every patient, on worker threads, one transaction) give the same stored
documents, byte for byte, apart from what differs between any two runs (ids, times, durations,
audit entries); the board makes fewer model calls, and the audit trail stays valid.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oncoboard import audit
from oncoboard.board.trail import verify_trail
from oncoboard.config import Settings
from oncoboard.demo import run_demo
from oncoboard.inference import batch, engine, runtime
from oncoboard.inference.discovery import discover_plugins
from oncoboard.store import open_store

PLUGINS = Path(__file__).resolve().parents[3] / "plugins"
DAY = "2026-11-30"
#: Differ between any two runs of the same prediction.
VOLATILE = ("id", "created_at", "duration_ms", "record_sha256", "audit_seq", "audit_hash")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("board-batch")
    mp = pytest.MonkeyPatch()
    mp.setenv("ONCOBOARD_BUNDLED_PLUGINS", str(PLUGINS))
    mp.setenv("ONCOBOARD_SITE_CONFIG", str(folder / "no-site.toml"))
    mp.setenv("ONCOBOARD_USER_CONFIG", str(folder / "no-user.toml"))
    mp.setenv("ONCOBOARD_PLUGIN_PATH", "")
    settings = Settings(data_dir=folder / "data", providers=("CPUExecutionProvider",))
    store = open_store(settings.data_dir)
    run_demo(store, settings, imaging=False, date=DAY)
    ids = [r[0] for r in store.conn.execute("SELECT id FROM patients ORDER BY id")]
    yield store, settings, ids
    store.close()
    mp.undo()


def _rows(store, ids):
    cur = store.conn.execute(
        f"SELECT * FROM predictions WHERE id IN ({','.join('?' * len(ids))})", ids)
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for r in rows:
        for k in VOLATILE:
            r.pop(k)
    return sorted(rows, key=lambda r: (r["patient_id"], r["plugin_id"]))


def _counting(monkeypatch):
    calls = []
    real = runtime.run_session

    def spy(ms, feeds, names, opts=None):
        calls.append(len(next(iter(feeds.values()))))
        return real(ms, feeds, names, opts)

    monkeypatch.setattr(runtime, "run_session", spy)
    return calls


def test_board_stores_the_same_documents_as_patient_by_patient(demo, monkeypatch):
    store, settings, ids = demo
    discover_plugins(settings)  # the plugin checks' own runs are not counted
    calls = _counting(monkeypatch)
    one_by_one = [p for pid in ids for p in engine.predict_patient(store, settings, pid,
                                                                   date=DAY)]
    alone = list(calls)
    calls.clear()
    checkpoints = []
    real_checkpoint = audit.checkpoint
    monkeypatch.setattr(audit, "checkpoint",
                        lambda s: (checkpoints.append(1), real_checkpoint(s))[1])
    runs = batch.predict_many(store, settings, ids, date=DAY)
    assert [r.patient_id for r in runs] == ids and not any(r.error for r in runs)
    board = [p for r in runs for p in r.predictions]
    assert len(board) == len(one_by_one) > len(ids)
    assert sum(p.ok for p in board) == sum(p.ok for p in one_by_one) > 0
    # the documents as stored: every JSON column, byte for byte
    assert _rows(store, [p.id for p in board]) == _rows(store, [p.id for p in one_by_one])
    # and as returned
    for a, b in zip(board, one_by_one, strict=True):
        da, db = a.to_dict(audit=False), b.to_dict(audit=False)
        for k in ("id", "created_at", "duration_ms"):
            da.pop(k), db.pop(k)
        assert da == db
    # the same rows in fewer model calls; one head checkpoint for the whole board
    assert sum(calls) == sum(alone) and len(calls) < len(alone) / 3
    assert checkpoints == [1]
    seqs = sorted(p.audit.seq for p in board)
    assert seqs == list(range(seqs[0], seqs[0] + len(board)))
    assert verify_trail(store).ok


def test_a_patient_that_cannot_be_run_does_not_stop_the_board(demo):
    store, settings, ids = demo
    runs = batch.predict_many(store, settings, [ids[0], "NO-SUCH", ids[1]], date=DAY)
    assert [r.error is None for r in runs] == [True, False, True]
    assert "NO-SUCH" in runs[1].error.message and not runs[1].predictions
    assert runs[0].predictions and all(p.id and p.audit for p in runs[0].predictions)


def test_a_failed_batch_is_run_again_case_by_case(demo, monkeypatch):
    store, settings, ids = demo
    real = batch.run_rows

    def shapes_differ(manifest, path, providers, rows, job=None):
        if len({id(r) for r in rows}) > 40:  # the board's batch: as stacking images of two
            raise ValueError("all input arrays must have the same shape")  # shapes would
        return real(manifest, path, providers, rows, job)

    monkeypatch.setattr(batch, "run_rows", shapes_differ)
    monkeypatch.setattr(batch, "CHUNK_ROWS", 10_000)
    runs = batch.predict_many(store, settings, ids[:8], date=DAY, save=False)
    alone = [p for pid in ids[:8]
             for p in engine.predict_patient(store, settings, pid, date=DAY, save=False)]
    got = [p for r in runs for p in r.predictions]
    assert [(p.plugin.id, p.status, p.outputs) for p in got] == \
        [(p.plugin.id, p.status, p.outputs) for p in alone]


def test_the_slowest_model_runs_while_the_other_inputs_are_read(demo, monkeypatch):
    store, settings, ids = demo
    plugins = [p for p in discover_plugins(settings) if p.enabled]
    monkeypatch.setattr(batch, "_COST", {})  # a first run: no model's cost is known yet
    first = batch.predict_many(store, settings, ids, date=DAY, plugins=plugins, save=False)
    slow = "relapse-gbsg2"
    monkeypatch.setattr(batch, "WORKERS", 2)
    monkeypatch.setattr(batch, "_COST", {str(p.model_path): 1.0 if p.id == slow else 1e-6
                                         for p in plugins})
    events = []
    real_assemble, real_start = engine.assemble_safely, batch._Calls.start

    def assemble(store_, plugin, *args):
        events.append(("assemble", plugin.id))
        return real_assemble(store_, plugin, *args)

    def start(self, cases, **kw):
        events.append(("start", {c.plugin.id for c in cases}))
        return real_start(self, cases, **kw)

    monkeypatch.setattr(engine, "assemble_safely", assemble)
    monkeypatch.setattr(batch._Calls, "start", start)
    runs = batch.predict_many(store, settings, ids, date=DAY, plugins=plugins, save=False)
    # the slow model's cases first, its batch started, then everyone else's inputs
    started = events.index(("start", {slow}))
    assert started > 0 and all(e == ("assemble", slow) for e in events[:started])
    rest = events[started + 1:]
    assert rest[-1][0] == "start" and slow not in rest[-1][1]
    assert {e for e in rest[:-1]} and all(e[0] == "assemble" and e[1] != slow
                                          for e in rest[:-1])
    # the same results, in the same order, as when nothing started early
    for a, b in zip(runs, first, strict=True):
        assert [(p.plugin.id, p.status, p.outputs, p.scenarios, p.explanation)
                for p in a.predictions] == \
            [(p.plugin.id, p.status, p.outputs, p.scenarios, p.explanation)
             for p in b.predictions]


def test_the_cycle_collector_is_paused_during_a_board_only(demo, monkeypatch):
    import gc

    store, settings, ids = demo
    seen = []
    real = engine.assemble_safely

    def assemble(*args):
        seen.append(gc.isenabled())
        return real(*args)

    monkeypatch.setattr(engine, "assemble_safely", assemble)
    assert gc.isenabled()
    batch.predict_many(store, settings, ids[:3], date=DAY, save=False)
    assert seen and not any(seen) and gc.isenabled()
    # paused by someone else before: left paused
    gc.disable()
    try:
        batch.predict_many(store, settings, ids[:1], date=DAY, save=False)
        assert not gc.isenabled()
    finally:
        gc.enable()
    # and started again when the board fails
    monkeypatch.setattr(engine, "assemble_safely", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        batch.predict_many(store, settings, ids[:1], date=DAY, save=False)
    assert gc.isenabled()


def test_a_board_reads_each_plugins_recalibration_once(demo, monkeypatch):
    from oncoboard.inference import recalibration

    store, settings, ids = demo
    reads = []
    real = recalibration._current

    def counting(settings_, plugin):
        reads.append(plugin.id)
        return real(settings_, plugin)

    monkeypatch.setattr(recalibration, "_current", counting)
    runs = batch.predict_many(store, settings, ids[:8], date=DAY, save=False)
    results = [p for r in runs for p in r.predictions]
    assert len(results) > len(set(reads))  # several results per plugin on this board
    assert sorted(reads) == sorted(set(reads))  # but one reading per plugin
    reads.clear()
    [one] = [p for p in discover_plugins(settings) if p.id == results[0].plugin.id]
    recalibration.current(settings, one)
    recalibration.current(settings, one)
    assert reads == [one.id, one.id]  # outside a board: the folder is read each time


def test_prediction_ids_are_new_random_and_not_shared_with_a_fork():
    import os

    from oncoboard.inference.prediction_store import _new_id

    ids = [_new_id() for _ in range(2000)]  # more than one draw from the OS
    assert len(set(ids)) == 2000
    assert all(i.startswith("pred-") and len(i) == 25 and int(i[5:], 16) >= 0 for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id must not be the parent's next one
        os.write(write, _new_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    assert child != _new_id() and child not in ids


def test_stored_documents_read_back_as_the_predictions_made(demo):
    """The parts written once (the inputs' text hashed by the engine, a scenario's output made
    from the prediction's own output) give the documents the typed round trip gives."""
    from dataclasses import replace

    from oncoboard.inference import prediction_store
    from oncoboard.inference.prediction import Prediction
    from oncoboard.inference.prediction_parts import OutputResult, whole_output

    store, settings, ids = demo
    runs = batch.predict_many(store, settings, ids, date=DAY)
    made = [p for r in runs for p in r.predictions]
    with_scenarios = [p for p in made if p.scenarios]
    assert with_scenarios and any(p.text_of("inputs") for p in made)
    for p in made:
        doc = p.to_dict()
        assert Prediction.from_dict(doc) == p and Prediction.from_dict(doc).to_dict() == doc
        stored = prediction_store.get(store, p.id)
        assert stored == p and stored.to_dict() == doc
        assert p.text_of("inputs") in (None, audit.canonical_json(doc["inputs"]))
    for p in with_scenarios:  # each scenario output as the document's reader makes it
        base = p.to_dict()["outputs"]
        for sc in p.scenarios:
            for name, out in sc.outputs.items():
                whole = whole_output(out.to_dict(), base[name])
                read = OutputResult.from_dict(name, whole, scenario=True)
                assert read == out and read.keys == out.keys and read.to_dict() == out.to_dict()
    # a prediction whose inputs were replaced is encoded from its new inputs
    other = replace(made[0], inputs={})
    assert other.text_of("inputs") is None
    assert prediction_store.prepare(other, settings)[1]["inputs"] == "{}"


def test_a_board_s_log_pages_reach_the_database_file_off_its_thread(demo, tmp_path,
                                                                     monkeypatch):
    """After the board's commit, a background checkpoint copies the write-ahead log into the
    database file: the file alone (no -wal beside it) holds the board."""
    import shutil
    import sqlite3
    import threading

    from oncoboard.store import wal

    store, settings, ids = demo
    threads = []
    real = wal._checkpoint
    monkeypatch.setattr(wal, "_checkpoint",
                        lambda path: (threads.append(threading.current_thread().name),
                                      real(path))[1])
    runs = batch.predict_many(store, settings, ids[:6], date=DAY)
    assert wal.wait_idle(10)
    assert threads and all(t == "oncoboard-wal" for t in threads)
    made = [p.id for r in runs for p in r.predictions]
    copy = tmp_path / "alone.db"
    shutil.copyfile(store.path, copy)  # the database file without its log
    conn = sqlite3.connect(copy)
    try:
        found = conn.execute(f"SELECT count(*) FROM predictions WHERE id IN "
                             f"({','.join('?' * len(made))})", made).fetchone()[0]
    finally:
        conn.close()
    assert found == len(made) > 0


def test_a_checkpoint_never_makes_a_database_again(tmp_path):
    from oncoboard.store import wal

    gone = tmp_path / "gone" / "oncoboard.db"
    gone.parent.mkdir()
    wal._checkpoint(str(gone))  # the file was removed after the write: nothing is created
    assert list(gone.parent.iterdir()) == []


def _stored_counts(store):
    return tuple(store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                 for t in ("predictions", "audit_log"))


def test_a_board_whose_storage_fails_midway_stores_nothing(demo, monkeypatch):
    """Results are written while the slower models still run, a few at a time, in one
    transaction: a write refused after several of them leaves nothing stored."""
    from oncoboard.errors import StorageError
    from oncoboard.inference import prediction_store

    store, settings, ids = demo
    monkeypatch.setattr(batch, "WRITE_ROWS", 2)  # many small writes before the refusal
    adds = []
    real_add = prediction_store.Writer.add
    monkeypatch.setattr(prediction_store.Writer, "add",
                        lambda self, ready: (adds.append(len(ready)), real_add(self, ready))[1])
    before = _stored_counts(store)
    last = ids[7]
    store.conn.execute(f"CREATE TEMP TRIGGER refuse BEFORE INSERT ON predictions "
                       f"WHEN NEW.patient_id = '{last}' BEGIN "
                       f"SELECT RAISE(ABORT, 'database or disk is full'); END")
    try:
        runs = batch.predict_many(store, settings, ids[:8], date=DAY)
    finally:
        store.conn.execute("DROP TRIGGER temp.refuse")
    assert len(adds) > 1 and sum(adds) > 2  # some were written before the refusal
    assert _stored_counts(store) == before
    failed = [r for r in runs if r.error is not None]
    assert failed and all(isinstance(r.error, StorageError) and not r.predictions
                          for r in failed)
    assert "full" in str(failed[0].error.reason)
    assert verify_trail(store).ok
    # and the next board stores as usual
    runs = batch.predict_many(store, settings, ids[:2], date=DAY)
    assert not any(r.error for r in runs) and _stored_counts(store)[0] > before[0]


def test_a_board_for_a_user_without_the_role_runs_no_model(demo, monkeypatch):
    from oncoboard.errors import RoleError
    from oncoboard.identity import User

    store, settings, ids = demo
    calls = _counting(monkeypatch)
    before = _stored_counts(store)
    monkeypatch.setattr(store, "user", User("carol", frozenset({"coordinator"})))
    runs = batch.predict_many(store, settings, ids[:4], date=DAY)
    assert calls == [] and _stored_counts(store) == before
    assert all(isinstance(r.error, RoleError) and r.error.role == "clinician" for r in runs)
