"""Benchmark: the cost of concurrent-work bookkeeping on SQLite (access log, change feed, versions).

Prints figures, not pass/fail. Usage::

    .venv/bin/python tests/bench/bench_board_sync.py [--n 2000] [--repeat 5]

On a fresh data folder with 1,000 access rows and 200 board changes already written, each
figure is the median over `repeat` runs of the mean of `n` calls, each beside an anchor measured
in the same run:

* ``access-log insert``: ``record_access`` (a chained row: one indexed read, one insert, its own
  write transaction); anchor: a plain one-row ``INSERT`` in its own write transaction on the same
  connection (the least any durable write costs).
* ``access-log insert, own connection``: what the GUI pays off the screen thread (open the
  database, write, close); anchor: open and close alone.
* ``change-feed tick``: ``changes_since`` with nothing new (what the board view's QTimer does
  every 1.5 s); anchor: ``SELECT 1``. Also per tick as a share of the polling period.
* ``versioned write``: what this adds to each board write: the conditional ``UPDATE ... WHERE
  version = ?`` of a case and the change-feed note, in one write transaction; anchor: the plain
  insert. ``amend_decision`` end to end (audit entry and head checkpoint included) is printed
  beside it for scale.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "app"))

from oncoboard.audit.access import record_access  # noqa: E402
from oncoboard.board import decisions, meetings, versions  # noqa: E402
from oncoboard.board.changes import change_token, changes_since, note_change  # noqa: E402
from oncoboard.store import open_store  # noqa: E402

POLL_S = 1.5


def _mean_s(fn: Callable[[int], object], n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t0) / n


def _pair(fn: Callable[[int], object], anchor: Callable[[int], object], n: int,
          repeat: int) -> tuple[float, float]:
    """Return the medians of `fn` and `anchor`, measured alternately (load moves both alike)."""
    a, b = [], []
    for _ in range(repeat):
        a.append(_mean_s(fn, n))
        b.append(_mean_s(anchor, n))
    return statistics.median(a), statistics.median(b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n, repeat = args.n, args.repeat
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "data")
        store.conn.execute("CREATE TABLE anchor (id INTEGER PRIMARY KEY, v TEXT)")
        for i in range(50):
            store.db["patients"].insert({"id": f"P{i:03d}", "source_system": "bench",
                                         "source_id": f"P{i}", "synthetic": 1,
                                         "imported_at": "2026-01-01T00:00:00+00:00"})
        m = meetings.create_meeting(store, date="2026-12-01", specialty="sein", title="bench",
                                    attendees=["Dr A (oncologist)"])
        for i in range(50):
            meetings.add_case(store, m.id, f"P{i:03d}", question="Q?")
        for i in range(1000):
            record_access(store, f"P{i % 50:03d}", "board.case")
        decisions.record_decision(store, m.id, "P000", plan="p0", rationale="r")
        for i in range(200 - 52):
            decisions.amend_decision(store, m.id, "P000", reason="r", plan=f"warm {i}")

        def plain_insert(i: int) -> None:
            with store.transaction():
                store.conn.execute("INSERT INTO anchor (v) VALUES (?)", [f"P{i % 50:03d}"])

        access, anchor = _pair(lambda i: record_access(store, f"P{i % 50:03d}", "gui.patient"),
                               plain_insert, n, repeat)
        print(f"access-log insert:            {access * 1e6:8.1f} us   anchor plain insert "
              f"{anchor * 1e6:8.1f} us   ratio {access / anchor:5.2f}")

        path = store.path
        few = max(n // 10, 20)

        def own_connection(i: int) -> None:
            s = open_store(path, migrate=False)
            try:
                record_access(s, f"P{i % 50:03d}", "gui.patient")
            finally:
                s.close()

        def open_close(_i: int) -> None:
            open_store(path, migrate=False).close()

        own, oc = _pair(own_connection, open_close, few, repeat)
        print(f"access-log insert, own conn.: {own * 1e6:8.1f} us   anchor open+close "
              f"{oc * 1e6:8.1f} us   ratio {own / oc:5.2f}")

        token = change_token(store)
        tick, select1 = _pair(lambda _i: changes_since(store, token),
                              lambda _i: store.conn.execute("SELECT 1").fetchone(), n * 5, repeat)
        print(f"change-feed tick:             {tick * 1e6:8.1f} us   anchor SELECT 1 "
              f"{select1 * 1e6:8.1f} us   ratio {tick / select1:5.2f}   "
              f"{tick / POLL_S * 100:.5f} % of a {POLL_S} s polling period")

        case = meetings.get_case(store, m.id, "P001")
        seen = [case.version]

        def versioned(_i: int) -> None:
            with store.transaction():
                versions.update_case(store, case.id, seen[0], {"presenter": "x"}, "bench",
                                     "2026-12-01T00:00:00+00:00")
                note_change(store, m.id, "bench", "2026-12-01T00:00:00+00:00")
            seen[0] += 1

        cas, anchor = _pair(versioned, plain_insert, n, repeat)
        print(f"versioned write:              {cas * 1e6:8.1f} us   anchor plain insert "
              f"{anchor * 1e6:8.1f} us   ratio {cas / anchor:5.2f}")
        amend = statistics.median(_mean_s(lambda i: decisions.amend_decision(
            store, m.id, "P000", reason="r", plan=f"bench {i}"), max(n // 20, 10))
            for _ in range(repeat))
        print(f"  (amend_decision end to end: {amend * 1e3:.1f} ms)")
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
