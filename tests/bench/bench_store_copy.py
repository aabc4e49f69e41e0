"""Benchmark: `oncoboard store copy` of a workstation's SQLite file into a PostgreSQL site
database over loopback, one run. Prints figures and a ratio, not pass/fail. Usage::

    .venv/bin/python tests/bench/bench_store_copy.py [--patients 5000] [--batch 2000]

The source is bench_browser's generator (--patients patients, 20 observations and 5 notes
each, same seed). A PostgreSQL server is started in a temporary folder (tests/unit/pg_server.py).

* copy: rows copied per second into an empty database, then the second run (nothing new:
  every row read back from the target and skipped, none sent) against the first;
* anchor: the same rows read from the SQLite file (every copied table, in the copy's order),
  in the same run: the copy's cost over only reading its source.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "unit"), str(ROOT / "tests" / "bench"), str(ROOT / "app")]

import bench_browser  # noqa: E402
import pg_server  # noqa: E402


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()

    from oncoboard.store import open_store
    from oncoboard.store.copy import _in_dependency_order, _sqlite_tables, copy_store

    folder = Path(tempfile.gettempdir()) / "oncoboard-bench-copy"
    built = bench_browser.build(folder, args.patients)
    source = open_store(folder)
    server = pg_server.start_server()
    try:
        server.sql("CREATE DATABASE bench_copy")
        target = open_store(server.url("bench_copy"))
        tables = _in_dependency_order(source, _sqlite_tables(source))
        t0 = time.perf_counter()
        rows = 0
        for table in tables:
            for _ in source.conn.execute(f"SELECT * FROM {table}"):  # noqa: S608
                rows += 1
        read_s = time.perf_counter() - t0
        first = copy_store(source, target, batch_rows=args.batch)
        second = copy_store(source, target, batch_rows=args.batch)
        target.close()
    finally:
        source.close()
        pg_server.remove(server)
    print(f"source: {args.patients} patients, {first.source_rows} rows in {len(tables)} tables"
          + (f" (built in {built:.1f} s)" if built else ""))
    print(f"copy into an empty site database: {first.copied} rows in {first.seconds:.2f} s "
          f"= {first.copied / first.seconds:,.0f} rows/s (batches of {args.batch})")
    print(f"second run (nothing new): {second.copied} new rows sent, "
          f"{sum(t.present for t in second.tables)} already there skipped, "
          f"{second.differing_rows} differing, in {second.seconds:.2f} s = "
          f"{second.seconds / first.seconds:.3f}x the first run ({first.seconds:.2f} s)")
    print(f"anchor, reading the same rows from SQLite: {rows} rows in {read_s:.2f} s "
          f"= {rows / read_s:,.0f} rows/s; copy / read = {first.seconds / read_s:.1f}x")
    for t in sorted(first.tables, key=lambda t: -t.copied)[:5]:
        print(f"  {t.table:<20} {t.copied:>9} rows")


if __name__ == "__main__":
    main()
