"""Eight workstations on one meeting at once: no lost update, one audit chain, counts that add up.

Each workstation is a process of its own (multiprocessing spawn) with its own connection: it
imports its share of the demo cohort's FHIR files, puts each patient on the shared meeting, runs
a model on them, records their decisions, amends its own decisions in later rounds, and all the
while amends the one decision every workstation amends (read-modify-write, reload and redo when
refused as stale). Each reports what it did; the database must hold exactly that. Before that,
all of them import one more file at the same moment: one writes it, the others find it already
imported, and its rows are those of one import alone.

It runs ``ONCOBOARD_WORKSTATION_TEST_S`` seconds (default 20, in the suite; CI runs it once more,
alone, for the full two minutes: 120) with ``ONCOBOARD_WORKSTATIONS`` processes (default 8). The
figures are printed (``-s``).
"""

from __future__ import annotations

import collections
import datetime
import multiprocessing
import os
import statistics
import time

from workstation_worker import HOT, workstation

from oncoboard import cli
from oncoboard.board import agenda, decisions, meetings
from oncoboard.board.trail import verify_trail
from oncoboard.demo import write_bundles
from oncoboard.identity import User
from oncoboard.patients.demo_cohort import generate
from oncoboard.patients.importer import import_file
from oncoboard.store import open_store

SECONDS = float(os.environ.get("ONCOBOARD_WORKSTATION_TEST_S", "20"))
COUNT = int(os.environ.get("ONCOBOARD_WORKSTATIONS", "8"))
DAY = "2026-11-23"
SHARED = "DEMO-LU-010"  # imported by every workstation at once
RECORD_TABLES = ("conditions", "observations", "treatments", "notes", "outcomes")


def _setup(target, folder):
    """The coordinator: the first patient imported, the meeting, its first case decided."""
    import datetime as dt

    files = write_bundles(generate(date=DAY), folder)
    hot = next(f for f in files if f.stem == HOT)
    store = open_store(target)
    store.user = User("coordinator", workstation="ws-coordinator")
    import_file(store, hot, dt.date.fromisoformat(DAY))
    meeting = meetings.create_meeting(store, date=DAY, specialty="sein", title="Many workstations",
                                    attendees=["Dr Roy (medical oncologist)"])
    agenda.add_case(store, meeting.id, HOT, question="Shared case")
    decisions.record_decision(store, meeting.id, HOT, plan="coordinator #0", rationale="first")
    store.close()
    shared = next(f for f in files if f.stem == SHARED)
    return meeting.id, [str(f) for f in files if f not in (hot, shared)], str(shared)


def _run(target, data_dir, meeting_id, files, shared):
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(COUNT + 1), ctx.Queue()
    names = [f"ws{i + 1}" for i in range(COUNT)]
    procs = [ctx.Process(target=workstation,
                         args=(str(target), str(data_dir), name, files[i::COUNT], meeting_id,
                               SECONDS, start, results, shared))
             for i, name in enumerate(names)]
    for p in procs:
        p.start()
    start.wait(timeout=180)  # every workstation has started and opened the database
    began = time.monotonic()
    reports = [results.get(timeout=SECONDS + 300) for _ in procs]
    elapsed = time.monotonic() - began
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return sorted(reports, key=lambda r: r["name"]), elapsed


def _rows_of(store, pid):
    """Return a patient's record rows, table by table, without the import's own stamps."""
    found = {}
    for table in RECORD_TABLES:
        rows = store.db.query(f"SELECT * FROM {table} WHERE patient_id = ?", [pid])
        found[table] = sorted(str(sorted((k, v) for k, v in r.items()
                                         if k not in ("imported_at", "source_file"))) for r in rows)
    return found


def _audit_counts(store):
    rows = store.conn.execute("SELECT event_type, count(*) FROM audit_log "
                              "GROUP BY event_type").fetchall()
    return {r[0]: int(r[1]) for r in rows}


def test_eight_workstations_on_one_meeting(db_target, backend, tmp_path, capsys):
    meeting_id, files, shared = _setup(db_target, tmp_path / "fhir")
    reports, elapsed = _run(db_target, tmp_path / "ws-data", meeting_id, files, shared)
    assert [r["error"] for r in reports] == [None] * COUNT

    total = collections.Counter()
    for r in reports:
        for key in ("cases", "predictions", "recorded", "own_amended", "stale"):
            total[key] += r[key]
        total["hot"] += len(r["hot"])
    store = open_store(db_target)
    try:
        # the shared decision: every accepted amendment once, in each workstation's order,
        # versions consecutive, each superseding the one before
        history = decisions.decision_history(store, meeting_id, HOT)
        assert [d.version for d in history] == list(range(1, total["hot"] + 2))
        assert all(b.supersedes == a.id for a, b in zip(history, history[1:], strict=False))
        plans = [d.plan for d in history[1:]]
        assert sorted(plans) == sorted(p for r in reports for p in r["hot"])
        assert len(set(plans)) == len(plans)
        for r in reports:
            assert [p for p in plans if p.startswith(r["name"] + " ")] == r["hot"]
            assert {d.recorded_by for d in history[1:] if d.plan in r["hot"]} <= {r["name"]}
        # the counts of rows and of audit entries are what the workstations said they did
        imported = sorted(p for r in reports for p in r["patients"])
        assert len(imported) == len(set(imported))  # each file by one workstation, once
        assert set(imported) <= {os.path.basename(f)[:-5] for f in files}
        assert store.db["patients"].count == len(imported) + 2  # + the first and the shared
        # the file imported by all at once: written by one, the same rows as one import alone
        assert sum(r["shared_written"] for r in reports) == 1
        alone = open_store(tmp_path / "alone")
        import_file(alone, shared, datetime.date.fromisoformat(DAY))
        rows = _rows_of(store, SHARED)
        assert rows == _rows_of(alone, SHARED) and rows["observations"]
        alone.close()
        assert len(meetings.list_cases(store, meeting_id)) == total["cases"] + 1
        assert store.db["predictions"].count == total["predictions"]
        assert store.db["board_decisions"].count == (
            1 + total["recorded"] + total["own_amended"] + total["hot"])
        expected = {"board.meeting.created": 1, "board.meeting.status": 1,
                    "board.case.added": 1 + total["cases"],
                    "board.decision.recorded": 1 + total["recorded"],
                    "board.decision.amended": total["own_amended"] + total["hot"],
                    "prediction.created": total["predictions"]}
        assert _audit_counts(store) == {k: v for k, v in expected.items() if v}
        assert verify_trail(store).ok
    finally:
        store.close()
    where = (["--data-dir", str(db_target)] if backend == "sqlite"
             else ["--data-dir", str(tmp_path / "cli"), "--database", str(db_target)])
    assert cli.main(["audit", "verify", *where]) == 0
    latency = sorted(x for r in reports for x in r["hot_latency"])
    with capsys.disabled():
        print(f"\n{backend}: {COUNT} workstations, {SECONDS:.0f} s (ran {elapsed:.1f} s): "
              f"{len(imported)} patients imported, {total['cases']} cases added, "
              f"{total['predictions']} predictions, {total['recorded']} decisions recorded, "
              f"{total['own_amended']} own amendments, {total['hot']} amendments of the shared "
              f"decision ({total['stale']} refused as stale and redone), "
              f"{sum(expected.values())} audit entries in one valid chain; shared amendment "
              f"p50 {statistics.median(latency) * 1000:.0f} ms, "
              f"p95 {latency[int(0.95 * (len(latency) - 1))] * 1000:.0f} ms")
