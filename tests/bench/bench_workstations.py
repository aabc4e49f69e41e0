"""Benchmark: workstations recording board decisions at once, on PostgreSQL and SQLite, one run.

Prints figures and ratios, not pass/fail. Usage::

    .venv/bin/python tests/bench/bench_workstations.py [--workstations 8] [--seconds 10]

Each workstation is a process of its own (multiprocessing spawn) with its own connection, signed
in as its own user, with its own cases on one shared meeting: it records decisions on them as
fast as it can (each one a new version of the case's decision: the compare-and-set of its
version, its audit entry on the one hash chain, the change-feed note and, on PostgreSQL, its
NOTIFY, in one transaction). Printed per backend: decisions per second over all workstations
and the latency of one decision (p50, p95). Anchor: one workstation alone on the same backend,
in the same run; the ratios say what sharing the database costs.

PostgreSQL is a server started in a temporary folder over loopback (tests/unit/pg_server.py:
``fsync`` and ``synchronous_commit`` off, as for the tests); SQLite is a data folder in WAL mode
(the default). Both serialise writers (SQLite's write lock; the site database's advisory write
lock), so the throughput is bounded by one writer at a time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "unit"), str(ROOT / "tests" / "unit" / "board"),
                str(ROOT / "app")]

CASES = 4  # per workstation


def _setup(target: Any, workstations: int) -> int:
    """A meeting with `CASES` cases per workstation, each with its first decision."""
    from board_helpers import add_patient

    from oncoboard.board import agenda, decisions, meetings
    from oncoboard.store import open_store

    store = open_store(target)
    m = meetings.create_meeting(store, date="2026-11-23", specialty="sein", title="Bench",
                                attendees=["Dr Roy (medical oncologist)"])
    for w in range(workstations):
        for c in range(CASES):
            pid = f"W{w:02d}-{c}"
            add_patient(store, pid, "Test", "Patient", "1960-01-01", "female", "C50.4", "IIA")
            agenda.add_case(store, m.id, pid, question="Plan?")
            decisions.record_decision(store, m.id, pid, plan="first", rationale="R")
    store.close()
    return int(m.id)


def _workstation(target: str, index: int, meeting_id: int, seconds: float, start: Any,
                 results: Any) -> None:
    from oncoboard.board import decisions
    from oncoboard.identity import User
    from oncoboard.store import open_store

    store = open_store(target)
    store.user = User(f"ws{index}", workstation=f"ws-{index}")
    pids = [f"W{index:02d}-{c}" for c in range(CASES)]
    latencies: list[float] = []
    start.wait(timeout=120)
    deadline = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < deadline:
        pid = pids[n % CASES]
        n += 1
        began = time.perf_counter()
        read = decisions.current_decision(store, meeting_id, pid)
        assert read is not None
        decisions.amend_decision(store, meeting_id, pid, reason=f"round {n}",
                                 plan=f"plan {n}", expected_version=read.version)
        latencies.append(time.perf_counter() - began)
    store.close()
    results.put(latencies)


def run(target: Any, workstations: int, seconds: float) -> dict[str, float]:
    """Run `workstations` processes for `seconds`; return throughput and latencies."""
    from oncoboard.board.trail import verify_trail
    from oncoboard.store import open_store

    meeting_id = _setup(target, workstations)
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(workstations + 1), ctx.Queue()
    procs = [ctx.Process(target=_workstation,
                         args=(str(target), i, meeting_id, seconds, start, results))
             for i in range(workstations)]
    for p in procs:
        p.start()
    start.wait(timeout=180)
    began = time.perf_counter()
    lat = sorted(x for _ in procs for x in results.get(timeout=seconds + 120))
    wall = time.perf_counter() - began
    for p in procs:
        p.join(60)
    store = open_store(target)
    ok = verify_trail(store).ok
    store.close()
    assert ok, "the audit chain does not verify"
    return {"decisions": len(lat), "per_s": len(lat) / wall,
            "p50": statistics.median(lat) * 1000,
            "p95": lat[int(0.95 * (len(lat) - 1))] * 1000}


def main() -> None:
    import pg_server

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workstations", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-workstations-"))
    server = pg_server.start_server()
    try:
        print(f"PostgreSQL server {server.url()} (loopback, a temporary cluster); "
              f"{args.seconds:.0f} s per configuration")
        figures: dict[tuple[str, int], dict[str, float]] = {}
        for backend in ("postgresql", "sqlite"):
            for count in (1, args.workstations):
                name = f"bench_ws_{count}"
                target: Any = tmp / f"sqlite-{count}"
                if backend == "postgresql":
                    server.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    server.sql(f'CREATE DATABASE "{name}"')
                    target = server.url(name)
                figures[backend, count] = run(target, count, args.seconds)
        print(f"\n{'backend':<11} {'workstations':>12} {'decisions':>9} {'per s':>7} "
              f"{'p50 ms':>7} {'p95 ms':>7}   vs one workstation (anchor)")
        for (backend, count), f in figures.items():
            one = figures[backend, 1]
            ratio = ("anchor" if count == 1 else
                     f"throughput x{f['per_s'] / one['per_s']:.2f}, "
                     f"p95 x{f['p95'] / one['p95']:.2f}")
            print(f"{backend:<11} {count:>12} {f['decisions']:>9.0f} {f['per_s']:>7.1f} "
                  f"{f['p50']:>7.1f} {f['p95']:>7.1f}   {ratio}")
        pg, lite = figures["postgresql", args.workstations], figures["sqlite", args.workstations]
        print(f"\n{args.workstations} workstations, PostgreSQL vs SQLite: throughput "
              f"x{pg['per_s'] / lite['per_s']:.2f}, p95 x{pg['p95'] / lite['p95']:.2f}")
    finally:
        pg_server.remove(server)


if __name__ == "__main__":
    main()
