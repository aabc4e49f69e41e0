"""Benchmark: command start-up, `oncoboard predict PATIENT` and `patients list` end to end.

Prints figures, not pass/fail. Usage::

    .venv/bin/python tests/bench/bench_start.py [--data-dir DIR] [--repeat 7]

On the demo cohort (``oncoboard demo --no-imaging`` in a temporary folder unless ``--data-dir``
names one that has it), each figure is the median of `repeat` fresh processes, interleaved with
its anchor so that the machine's load moves both alike:

* ``predict``: the whole command (``python -m oncoboard predict PATIENT``, plugin checks cache
  warm); anchor: importing what the command needs (the CLI, the store, the engine, onnxruntime)
  in a fresh process, plus one warm ``predict_patient`` measured inside one process (median of
  several calls after a first one). Target: figure <= 2x anchor.
* ``predict, cold cache``: the same command with the data folder's plugin-checks cache removed
  first (every plugin checked in full, as before the cache).
* ``patients list``: the command; anchor ``python -c pass``. Target <= 0.25 s.

Bytecode: the processes write their compiled modules to a temporary ``PYTHONPYCACHEPREFIX``
(as an installed application has its ``.pyc``), whatever ``PYTHONDONTWRITEBYTECODE`` says.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATIENT = "DEMO-BR-001"

_IMPORTS = ("import oncoboard.cli, oncoboard.store, oncoboard.inference.engine, "
            "oncoboard.inference.record_access, oncoboard.inference.prediction_store; "
            "from oncoboard.inference.runtime import load_onnxruntime; load_onnxruntime()")

_WARM = """
import statistics, sys, time
from oncoboard.config import load_settings
from oncoboard.store import open_store
from oncoboard.inference.engine import predict_patient
settings = load_settings(sys.argv[1]); store = open_store(settings.db_path)
predict_patient(store, settings, sys.argv[2])
times = []
for _ in range(9):
    t0 = time.perf_counter(); predict_patient(store, settings, sys.argv[2])
    times.append(time.perf_counter() - t0)
print(statistics.median(times))
"""


def _env(prefix: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(prefix)
    env["PYTHONPATH"] = str(ROOT / "app") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, help="data folder holding the demo cohort")
    ap.add_argument("--repeat", type=int, default=7, help="runs of each (median shown)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-start-"))
    env = _env(tmp / "pycache")
    py = sys.executable
    data = args.data_dir or tmp / "data"
    if not (data / "oncoboard.db").is_file():
        print(f"creating the demo cohort in {data} (oncoboard demo --no-imaging)...", flush=True)
        subprocess.run([py, "-m", "oncoboard", "demo", "--no-imaging", "--data-dir", str(data)],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    predict = [py, "-m", "oncoboard", "predict", PATIENT, "--data-dir", str(data)]
    cache = data / "cache" / "plugin-checks.json"
    for _ in range(2):  # bytecode written, cache filled, page cache warm
        _wall(predict, env)
    runs: dict[str, list[float]] = {k: [] for k in
                                    ("pass", "imports", "predict", "cold", "list")}
    warm: list[float] = []
    for _ in range(args.repeat):
        runs["pass"].append(_wall([py, "-c", "pass"], env))
        runs["imports"].append(_wall([py, "-c", _IMPORTS], env))
        runs["predict"].append(_wall(predict, env))
        cache.unlink(missing_ok=True)
        runs["cold"].append(_wall(predict, env))
        runs["list"].append(_wall([py, "-m", "oncoboard", "patients", "list", "--data-dir",
                                   str(data)], env))
    for _ in range(max(1, args.repeat // 3)):
        out = subprocess.run([py, "-c", _WARM, str(data), PATIENT], env=env, check=True,
                             capture_output=True, text=True).stdout
        warm.append(float(out.strip().splitlines()[-1]))
    med = {k: statistics.median(v) for k, v in runs.items()}
    w = statistics.median(warm)
    anchor = med["imports"] + w
    print(f"start-up, demo cohort, median of {args.repeat} interleaved fresh processes "
          f"(2-core machine shared with other jobs: expect +-20 %)")
    print(f"  anchor: python -c pass                         {med['pass'] * 1e3:7.0f} ms")
    print(f"  anchor: imports of predict (CLI, store, engine, onnxruntime) "
          f"{med['imports'] * 1e3:5.0f} ms")
    print(f"  anchor: one warm predict_patient ({PATIENT})     {w * 1e3:7.1f} ms")
    print(f"  oncoboard predict {PATIENT}, checks cached     {med['predict'] * 1e3:7.0f} ms  "
          f"= {med['predict'] / anchor:.2f}x (imports + warm predict = {anchor * 1e3:.0f} ms; "
          f"target <= 2x)")
    print(f"  oncoboard predict {PATIENT}, no cache file     {med['cold'] * 1e3:7.0f} ms  "
          f"= {med['cold'] / anchor:.2f}x")
    print(f"  oncoboard patients list                       {med['list'] * 1e3:7.0f} ms  "
          f"= {med['list'] / med['pass']:.1f}x python -c pass (target <= 250 ms)")


if __name__ == "__main__":
    main()
