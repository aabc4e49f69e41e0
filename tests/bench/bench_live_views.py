"""Benchmark: from another workstation's commit to each open view showing it, SQLite and PostgreSQL.

Prints figures and ratios, not pass/fail. Usage::

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_live_views.py [--rounds 8]

One process plays this workstation (the real views, offscreen: the board view, the presenter
window on a 10-case meeting, the main window's patient screen with the predictions view) and a
second connection signed in as bob plays the other workstation. Each round bob commits a change
at a random moment, then the screen thread runs its event loop until each view shows it:

* ``decision``: bob amends the decision of the case on the presenter's screen, the patient
  open on the patient screen: time until the board view's case text, the presenter's case and
  the patient screen's decision line show the new plan;
* ``predictions``: bob stores a prediction for that patient (what ``oncoboard predict`` does):
  time until the patient screen's predictions view shows it.

Anchor (same run, same backend): the board view, which already followed the feed; the ratios say
what the presenter and the patient screen add to it (their reads run on a worker thread with its
own connection). On SQLite the views ask the feed every 1.5 s, so a change shows 0-1.5 s later
plus the read; on PostgreSQL ``LISTEN``/``NOTIFY`` wakes the watcher at the commit.
PostgreSQL is a server started in a temporary folder over loopback (tests/unit/pg_server.py).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "unit"), str(ROOT / "tests" / "unit" / "board"),
                str(ROOT / "app")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CASES = 10


def _setup(target: Any) -> tuple[Any, Any, int, list[str]]:
    from board_helpers import add_patient

    from oncoboard.board import decisions, meetings
    from oncoboard.identity import User
    from oncoboard.store import open_store

    store = open_store(target)
    m = meetings.create_meeting(store, date="2026-12-10", specialty="sein", title="Bench",
                                attendees=["Dr Roy (oncologist)"])
    pids = [f"LV-{i:02d}" for i in range(CASES)]
    for pid in pids:
        add_patient(store, pid, "Test", "Patient", "1960-01-01", "female", "C50.4", "IIA")
        meetings.add_case(store, m.id, pid, question="Plan?")
        decisions.record_decision(store, m.id, pid, plan="first", rationale="R")
    other = open_store(target)
    other.user = User("bob", workstation="ws-bob")
    return store, other, int(m.id), pids


def _until(app: Any, done: Any, timeout_s: float = 10.0) -> float:
    """Run the event loop until `done()`; return the seconds it took (inf on timeout)."""
    began = time.perf_counter()
    while not done():
        app.processEvents()
        if time.perf_counter() - began > timeout_s:
            return float("inf")
        time.sleep(0.001)
    return time.perf_counter() - began


def run(target: Any, data_dir: Path, rounds: int) -> dict[str, list[float]]:
    """Return, per view, the seconds from bob's commit to the view showing it."""
    from test_board_case_view import _store_prediction

    from oncoboard.board.caseview import meeting_case_views
    from oncoboard.board.decisions import amend_decision
    from oncoboard.config import load_settings
    from oncoboard.ui.app import application
    from oncoboard.ui.board_view import BoardView
    from oncoboard.ui.main_window import MainWindow

    app = application()
    store, other, meeting_id, pids = _setup(target)
    ctx = SimpleNamespace(store=store, settings=load_settings(data_dir), log_file=None)
    window = MainWindow(ctx)
    board = BoardView(ctx)
    board.refresh(select=meeting_id)
    board._on_case_views_ready(meeting_case_views(store, meeting_id, with_image=False))
    presenter = board.presenter
    assert presenter is not None
    index = CASES // 2
    pid = pids[index]
    presenter.show_case(index)
    board.cases.setCurrentRow(index)
    window.open_patient(pid)
    predictions: Any = window.show_view("predictions")
    _until(app, lambda: False, 1.0)  # the watchers are listening, the plugin list is read
    out: dict[str, list[float]] = {"board view": [], "presenter": [], "patient screen": [],
                                   "predictions view": []}
    def settle() -> None:
        """Let the views finish what they were doing, then wait a random phase of the polling
        (the screen's event loop runs all along, as on a workstation)."""
        _until(app, lambda: not (board.presenter_refresher.busy
                                 or window.patient_refresher.busy), 30.0)
        _until(app, lambda: False, random.uniform(0.2, 1.7))  # noqa: S311

    for r in range(rounds):
        settle()
        plan = f"plan {r} (bob)"
        amend_decision(other, meeting_id, pid, reason=f"round {r}", plan=plan)
        began = time.perf_counter()
        seen: dict[str, float] = {}

        def shown(plan: str = plan, seen: dict[str, float] = seen, began: float = began
                  ) -> bool:
            checks = {"board view": lambda: plan in board.detail.toPlainText(),
                      "presenter": lambda: presenter.views[index].decision is not None
                      and presenter.views[index].decision.plan == plan,
                      "patient screen": lambda: plan in window.patient_view.card.decision.text()}
            for name, check in checks.items():
                if name not in seen and check():
                    seen[name] = time.perf_counter() - began
            return len(seen) == len(checks)

        _until(app, shown)
        for name in ("board view", "presenter", "patient screen"):
            out[name].append(seen.get(name, float("inf")))
        settle()
        before = set(predictions.shown)
        _store_prediction(other, pid, "bench-model")
        out["predictions view"].append(_until(
            app, lambda before=before: bool(set(predictions.shown) - before)))
    board.watcher.stop()
    window.watcher.stop()
    presenter.close()
    window.close()
    other.close()
    store.close()
    return out


def _line(name: str, values: list[float], anchor: list[float]) -> str:
    p50, worst = statistics.median(values), max(values)
    ratio = p50 / statistics.median(anchor)
    return (f"  {name:<17} p50 {p50 * 1000:7.0f} ms   max {worst * 1000:7.0f} ms   "
            f"ratio to the board view (p50) {ratio:5.2f}")


def main() -> None:
    import pg_server

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-views-"))
    os.environ["ONCOBOARD_USER_CONFIG"] = str(tmp / "user.toml")  # not the user's own
    os.environ["ONCOBOARD_SITE_CONFIG"] = str(tmp / "site.toml")
    results = {"SQLite (polled every 1.5 s)": run(tmp / "sqlite", tmp / "sqlite", args.rounds)}
    if pg_server.bindir() is not None:
        server = pg_server.start_server()
        try:
            server.sql("CREATE DATABASE bench_live")
            results["PostgreSQL (LISTEN/NOTIFY)"] = run(server.url("bench_live"), tmp / "pg",
                                                        args.rounds)
        finally:
            pg_server.remove(server)
    else:
        print("PostgreSQL is not installed: its figures are left out")
    print(f"From another workstation's commit to the view showing it ({args.rounds} rounds, "
          f"{CASES}-case meeting):")
    for backend, out in results.items():
        print(backend)
        for name, values in out.items():
            print(_line(name, values, out["board view"]))


if __name__ == "__main__":
    main()
