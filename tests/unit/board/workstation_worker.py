"""One workstation of the many-workstations test, in its own process (multiprocessing spawn).

It imports its share of the patient files, adds each patient to the shared meeting, runs the
model on them, records their decisions, and all the while amends the one decision every
workstation amends (read, amend what was read, reload and redo when refused as stale). It
reports what it did: the oracle the test checks the database against.
"""

from __future__ import annotations

import time
from typing import Any

HOT = "DEMO-BR-001"  # the case every workstation amends
PLUGIN = "relapse-gbsg2"


def workstation(target: str, data_dir: str, name: str, files: list[str], meeting_id: int,
                seconds: float, start: Any, results: Any, shared_file: str) -> None:
    """Work for `seconds` after `start` (a barrier); put the report dict on `results`.

    First, every workstation imports `shared_file` at the same moment (one writes it, the
    others find it already imported).
    """
    from pathlib import Path

    from oncoboard.board import agenda, decisions
    from oncoboard.board.changes import note_change
    from oncoboard.board.meetings import get_meeting, now_utc
    from oncoboard.config import Settings
    from oncoboard.errors import StaleWriteError
    from oncoboard.identity import User
    from oncoboard.inference.batch import predict_many
    from oncoboard.patients.importer import import_file
    from oncoboard.store import open_store

    store = open_store(target)
    store.user = User(name, workstation=f"ws-{name}")
    settings = Settings(data_dir=Path(data_dir))
    date = get_meeting(store, meeting_id).date
    report: dict[str, Any] = {"name": name, "patients": [], "cases": 0, "predictions": 0,
                              "recorded": 0, "own_amended": 0, "hot": [], "stale": 0,
                              "hot_latency": [], "error": None}
    mine: list[str] = []
    todo = list(files)
    try:
        start.wait(timeout=120)
        report["shared_written"] = not import_file(store, shared_file, _day(date)).already_imported
        deadline = time.monotonic() + seconds  # (the first import also warmed the process up)
        n = 0
        while time.monotonic() < deadline:
            n += 1
            if todo:  # a new patient: import, on the agenda, predict, decide
                path = todo.pop(0)
                pid = Path(path).stem
                import_file(store, path, _day(date))
                report["patients"].append(pid)
                agenda.add_case(store, meeting_id, pid, question=f"Plan for {pid}? ({name})")
                report["cases"] += 1
                report["predictions"] += _predict(store, settings, pid, date, predict_many,
                                                  note_change, meeting_id, now_utc)
                decisions.record_decision(store, meeting_id, pid, plan=f"{name} plan for {pid}",
                                          rationale="discussed")
                report["recorded"] += 1
                mine.append(pid)
            elif mine:  # later rounds: amend one of its own cases, now and then run again
                pid = mine[n % len(mine)]
                decisions.amend_decision(store, meeting_id, pid, reason=f"round {n}",
                                         plan=f"{name} plan for {pid}, round {n}")
                report["own_amended"] += 1
                if n % 4 == 0:
                    report["predictions"] += _predict(store, settings, pid, date, predict_many,
                                                      note_change, meeting_id, now_utc)
            # the shared decision: read, amend what was read, on refusal reload and redo
            plan = f"{name} #{n}"
            began = time.monotonic()
            read = decisions.current_decision(store, meeting_id, HOT)
            while True:
                try:
                    decisions.amend_decision(store, meeting_id, HOT, reason=f"{name} {n}",
                                             plan=plan, expected_version=read.version)
                    break
                except StaleWriteError:
                    report["stale"] += 1
                    read = decisions.current_decision(store, meeting_id, HOT)
            report["hot"].append(plan)
            report["hot_latency"].append(time.monotonic() - began)
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
        report["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        store.close()
        results.put(report)


def _day(date: str) -> Any:
    import datetime as dt

    return dt.date.fromisoformat(date)


def _predict(store: Any, settings: Any, pid: str, date: str, predict_many: Any,
             note_change: Any, meeting_id: int, now_utc: Any) -> int:
    """Run the model on one case (as the board's Run models does) and tell the others."""
    runs = predict_many(store, settings, [pid], date=date, plugin_ids=[PLUGIN])
    with store.transaction():
        note_change(store, meeting_id, store.user.login, now_utc())
    return sum(len(r.predictions) for r in runs)
