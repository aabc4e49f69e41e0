"""Benchmark: ``oncoboard validate`` on 1,000, 5,000 and 10,000 patients with outcomes.

Each size imports the synthetic cohort (GBSG2 covariates, times from a known model;
``tests/unit/validation/cohorts.py``) in one process, then times ``validation.validate`` of
relapse-gbsg2 with 200 bootstrap replicates in a fresh one, so that the peak RSS printed is the
validation's own. Target: <= 30 s for 10,000 patients on 2 cores, memory flat (cohort, record
and graph run in chunks of 256 patients; C-indexes in O(n log n) per replicate, replicates in
bounded batches). The machine's other load shows in the times: run it twice and compare.

    PYTHONPATH=app .venv/bin/python tests/bench/bench_validate.py [--sizes 1000 5000 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIMIT_S = 30.0


def prepare(n: int, folder: Path) -> float:
    """Import n synthetic patients into a store under `folder`; return the seconds taken."""
    sys.path.insert(0, str(HERE.parent / "unit" / "validation"))
    import cohorts

    from oncoboard.patients import importer
    from oncoboard.store import open_store

    csv = cohorts.write_csv(folder / "c.csv", cohorts.synthetic_rows(n, seed=n))
    store = open_store(folder / "data")
    t0 = time.perf_counter()
    importer.import_file(store, csv)
    store.close()
    return time.perf_counter() - t0


def one(n: int, folder: Path) -> dict[str, float]:
    from oncoboard.config import Settings
    from oncoboard.inference import validation
    from oncoboard.store import open_store

    store = open_store(folder / "data")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    settings = Settings(data_dir=folder / "data", providers=("CPUExecutionProvider",))
    t0 = time.perf_counter()
    r = validation.validate(store, settings, "relapse-gbsg2", n_boot=200)
    wall = time.perf_counter() - t0
    return {"n": n, "validated": r["counts"]["validated"],
            "events": r["counts_outcome"]["events"], "validate_s": round(wall, 2),
            "peak_rss_mb_before_validate": round(rss_before, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "harrell": round(r["harrell"]["value"], 4)}


def _child(folder: Path, *extra: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, *extra, "--folder", str(folder)],
                         check=True, capture_output=True, text=True, env=os.environ).stdout
    row: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return row


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--prepare", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.prepare:
        print(json.dumps({"import_s": prepare(args.prepare, args.folder)}))
        return 0
    if args.one:
        print(json.dumps(one(args.one, args.folder)))
        return 0
    worst = 0.0
    rss = []
    for n in args.sizes:
        folder = Path(tempfile.mkdtemp())
        imported = _child(folder, "--prepare", str(n))
        row = _child(folder, "--one", str(n))
        rss.append(row["peak_rss_mb"])
        print(f"{row['n']:>6} patients ({row['validated']} validated, {row['events']} events): "
              f"validate {row['validate_s']:6.2f} s, peak RSS {row['peak_rss_mb']:.0f} MB "
              f"(after imports, before validate {row['peak_rss_mb_before_validate']:.0f} MB); "
              f"import {imported['import_s']:.1f} s; Harrell's C {row['harrell']}", flush=True)
        if n >= 10000:
            worst = max(worst, row["validate_s"])
    if len(rss) > 1:
        print(f"peak RSS from {args.sizes[0]} to {args.sizes[-1]} patients: "
              f"{rss[0]:.0f} -> {rss[-1]:.0f} MB ({rss[-1] - rss[0]:+.0f} MB)")
    if worst > LIMIT_S:
        print(f"SLOWER than {LIMIT_S:g} s for 10,000 patients")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
