"""Benchmark: ``oncoboard validate`` on 1,000, 5,000 and 10,000 patients with outcomes.

Each size runs in its own process (so its peak RSS is its own): import the synthetic cohort
(GBSG2 covariates, times from a known model; ``tests/unit/validation/cohorts.py``), then time
``validation.validate`` of relapse-gbsg2 with 200 bootstrap replicates. Target: <= 30 s for
10,000 patients on 2 cores, memory flat (the cohort is run in chunks of 256 patients; the
bootstrap works on blocks of 512 rows).

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


def one(n: int) -> dict[str, float]:
    sys.path.insert(0, str(HERE.parent / "unit" / "validation"))
    import cohorts

    from oncoboard.config import Settings
    from oncoboard.inference import validation
    from oncoboard.patients import importer
    from oncoboard.store import open_store

    tmp = Path(tempfile.mkdtemp())
    csv = cohorts.write_csv(tmp / "c.csv", cohorts.synthetic_rows(n, seed=n))
    store = open_store(tmp / "data")
    t0 = time.perf_counter()
    importer.import_file(store, csv)
    t_import = time.perf_counter() - t0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    settings = Settings(data_dir=tmp / "data", providers=("CPUExecutionProvider",))
    t0 = time.perf_counter()
    r = validation.validate(store, settings, "relapse-gbsg2", n_boot=200)
    wall = time.perf_counter() - t0
    return {"n": n, "validated": r["counts"]["validated"],
            "events": r["counts_outcome"]["events"], "import_s": round(t_import, 2),
            "validate_s": round(wall, 2),
            "peak_rss_mb_before_validate": round(rss_before, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "harrell": round(r["harrell"]["value"], 4)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return 0
    worst = 0.0
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], check=True,
                             capture_output=True, text=True, env=os.environ).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(f"{row['n']:>6} patients ({row['validated']} validated, {row['events']} events): "
              f"validate {row['validate_s']:6.2f} s, peak RSS {row['peak_rss_mb']:.0f} MB "
              f"(before validate {row['peak_rss_mb_before_validate']:.0f} MB); import "
              f"{row['import_s']:.1f} s; Harrell's C {row['harrell']}", flush=True)
        if n >= 10000:
            worst = max(worst, row["validate_s"])
    if worst > LIMIT_S:
        print(f"SLOWER than {LIMIT_S:g} s for 10,000 patients")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
