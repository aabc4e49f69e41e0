"""Benchmark: import synthetic FHIR bundles, against json.load + raw sqlite3 executemany.

Prints figures, not pass/fail. Usage::

    .venv/bin/python tests/bench/bench_import.py [--patients 1000] [--workers N] [--rounds 3]

All paths read the same files (one Bundle per patient, about 50 resources each) into a fresh
database with the same schema, one transaction per file. The baseline is the issue's: for each
file ``json.load``, then raw sqlite3 ``executemany`` of the same rows Oncoboard writes (computed
beforehand, outside the timing: no validation, no unit conversion, no checks, plain INSERT).
A thinner baseline is printed too: ``json.load`` and a hand-picked tuple of a few columns per
resource (the figure of the first version of this benchmark). Oncoboard validates every
resource with fhir.resources, converts units with pint, checks dates and references, and
upserts; with ``--workers`` it also runs the parallel reader (the default of
``oncoboard import patients`` from 100 files on). Rounds are interleaved, so that a busy spell
of the machine hits every path; medians are shown.

Memory: tracemalloc peak while importing the first N files and then 4N more files (flat = the
peak does not grow with the number of files), and the process RSS (psutil) after 10 % and
after 100 % of the files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import psutil

from oncoboard.patients import fhir_build as fb
from oncoboard.patients import import_pool, importer
from oncoboard.patients.import_pool import import_files
from oncoboard.patients.importer import import_file
from oncoboard.store import open_store

LABS = [("neutrophils", 1.5, 9.0, "10*9/L"), ("lymphocytes", 0.5, 3.0, "10*9/L"),
        ("ldh", 120, 600, "U/L"), ("albumin", 25, 48, "g/L"), ("crp", 1, 120, "mg/L"),
        ("haemoglobin", 8.5, 16, "g/dL"), ("creatinine", 50, 180, "umol/L"),
        ("leukocytes", 2, 14, "10*3/uL"), ("platelets", 90, 450, "10*9/L"),
        ("weight", 45, 110, "kg"), ("temperature", 36, 39.5, "Cel")]


def patient_resources(rng: random.Random, i: int) -> list[dict[str, Any]]:
    """Return about 50 resources for synthetic patient `i`."""
    r, day0 = f"bench-{i:05d}", dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 300))

    def d(n: int) -> str:
        return (day0 + dt.timedelta(days=n)).isoformat()

    res = [fb.patient(r, f"BENCH-{i:05d}", "Bench", "Synthetic", f"19{rng.randint(30, 80)}-0"
                      f"{rng.randint(1, 9)}-1{rng.randint(0, 9)}", rng.choice(["female",
                                                                                "male"])),
           fb.condition(f"{r}-dx", r, "C34.1", "Lung cancer", d(0), morphology="8140/3",
                        laterality="left", stage="IIIA")]
    for k, (key, lo, hi, unit) in enumerate(LABS):
        for visit in range(3):
            res.append(fb.observation(f"{r}-{key}-{visit}", r, key, d(7 + 14 * visit),
                                      value=round(rng.uniform(lo, hi), 2), unit=unit,
                                      ref_low=lo if k < 9 else None,
                                      ref_high=hi if k < 9 else None))
    res.append(fb.observation(f"{r}-ecog", r, "ecog", d(5), value=rng.randint(0, 2)))
    for key, value in (("clinical_t", "T2"), ("clinical_n", "N2"), ("clinical_m", "M0"),
                       ("clinical_stage", "IIIA")):
        res.append(fb.observation(f"{r}-{key.replace('_', '-')}", r, key, d(5),
                                  coded=(None, value)))
    res.append(fb.observation(f"{r}-pdl1", r, "pdl1_tps", d(3), value=rng.randint(0, 90),
                              unit="%"))
    res.append(fb.observation(f"{r}-ki67", r, "ki67", d(3), value=rng.randint(5, 60), unit="%"))
    res.append(fb.procedure(f"{r}-surg", r, "surgery", "Lobectomy", d(20)))
    res.append(fb.procedure(f"{r}-rt", r, "radiotherapy", "Thoracic RT", d(50), end=d(92),
                            dose_gy=60, fractions=30))
    for agent in ("carboplatin", "pemetrexed"):
        res.append(fb.medication(f"{r}-{agent}", r, agent, d(50), regimen="carbo-pem",
                                 group=f"{r}-reg", cycles=4, dose_intensity=0.8))
    for n in range(3):
        res.append(fb.document(f"{r}-note-{n}", r, "consultation", d(10 + 20 * n),
                               f"Consultation {n}: pas de fièvre, asthénie grade {n}. "
                               "Tolérance correcte, poursuite du traitement.", "fr",
                               "oncologist"))
    res.append(fb.encounter(f"{r}-hosp", r, d(60), d(64), "Neutropénie fébrile"))
    return res


def write_files(folder: Path, patients: int) -> tuple[list[Path], int]:
    """Write one bundle per patient; return the paths and the number of resources."""
    rng = random.Random(7)
    folder.mkdir(parents=True, exist_ok=True)
    paths, total = [], 0
    for i in range(patients):
        resources = patient_resources(rng, i)
        total += len(resources)
        path = folder / f"patient-{i:05d}.json"
        path.write_text(json.dumps(fb.bundle(resources)), encoding="utf-8")
        paths.append(path)
    return paths, total


def _baseline_rows(data: dict[str, Any], name: str) -> dict[str, list[tuple[Any, ...]]]:
    """Pick columns straight from the JSON: what a minimal hand-written importer does."""
    now = "2026-01-01T00:00:00"
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in (
        "patients", "conditions", "observations", "treatments", "notes", "outcomes")}
    pid = None
    for entry in data["entry"]:
        res = entry["resource"]
        kind, rid = res["resourceType"], res["id"]
        if kind == "Patient":
            pid = res["identifier"][0]["value"]
            rows["patients"].append((pid, rid, res["name"][0]["family"],
                                     res["name"][0]["given"][0], res["birthDate"],
                                     res["gender"], 1, name, now))
            continue
        key = (f"{pid}/{kind}/{rid}", pid, f"{kind}/{rid}", name)
        if kind == "Condition":
            rows["conditions"].append((*key, res["code"]["coding"][0]["code"],
                                       res.get("onsetDateTime")))
        elif kind == "Observation":
            q = res.get("valueQuantity") or {}
            rows["observations"].append((*key, "laboratory", res["code"]["coding"][0]["code"],
                                         q.get("value"), q.get("unit"),
                                         res.get("effectiveDateTime")))
        elif kind in ("Procedure", "MedicationStatement"):
            rows["treatments"].append((*key, "other", res.get("status")))
        elif kind == "DocumentReference":
            att = res["content"][0]["attachment"]
            import base64

            rows["notes"].append((*key, att.get("language"), res.get("date"),
                                  base64.b64decode(att["data"]).decode("utf-8")))
        elif kind == "Encounter":
            rows["outcomes"].append((*key, "hospitalisation", res["period"]["start"]))
    return rows


_BASELINE_SQL = {
    "patients": "INSERT INTO patients (id, source_id, family_name, given_name, birth_date, sex, "
                "synthetic, source_file, imported_at) VALUES (?,?,?,?,?,?,?,?,?)",
    "conditions": "INSERT INTO conditions (id, patient_id, source_id, source_file, code, "
                  "diagnosis_date) VALUES (?,?,?,?,?,?)",
    "observations": "INSERT INTO observations (id, patient_id, source_id, source_file, "
                    "category, code, value_num, unit, effective) VALUES (?,?,?,?,?,?,?,?,?)",
    "treatments": "INSERT INTO treatments (id, patient_id, source_id, source_file, kind, "
                  "status) VALUES (?,?,?,?,?,?)",
    "notes": "INSERT INTO notes (id, patient_id, source_id, source_file, language, date, "
             "text) VALUES (?,?,?,?,?,?,?)",
    "outcomes": "INSERT INTO outcomes (id, patient_id, source_id, source_file, kind, date) "
                "VALUES (?,?,?,?,?,?)",
}


def same_rows(paths: list[Path], db_path: Path) -> list[list[tuple[str, list[list[Any]]]]]:
    """Return, per file, the (INSERT statement, parameters) of the rows Oncoboard writes."""
    store = open_store(db_path)
    out = []
    for path in paths:
        batch = importer.read_file(store, path)
        importer._check_dates(store, batch)
        importer._fold_into_conditions(store, batch)
        per_file = []
        for table in importer.TABLES:
            if batch.rows[table]:
                plan = importer._upsert_plan(store, table)
                sql = (f"INSERT INTO {table} ({', '.join(plan.columns)}) "
                       f"VALUES ({', '.join('?' * len(plan.columns))})")
                per_file.append((sql, importer._values(plan, batch.rows[table])))
        out.append(per_file)
    store.close()
    return out


def run_baseline(paths: list[Path], rows: list[list[tuple[str, list[list[Any]]]]],
                 db_path: Path) -> tuple[float, float]:
    """The issue's baseline: json.load + executemany of the same rows; (wall, CPU) seconds."""
    open_store(db_path).close()  # same schema, migrated
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    started, cpu = time.perf_counter(), time.process_time()
    for path, statements in zip(paths, rows, strict=True):
        with path.open(encoding="utf-8") as f:
            json.load(f)
        with conn:
            for sql, values in statements:
                conn.executemany(sql, values)
    elapsed = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    return elapsed


def run_thin_baseline(paths: list[Path], db_path: Path) -> tuple[float, float]:
    """json.load + executemany of a few hand-picked columns; return (wall, CPU) seconds."""
    open_store(db_path).close()  # same schema, migrated
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    started, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
        rows = _baseline_rows(data, str(path))
        with conn:
            for table, values in rows.items():
                conn.executemany(_BASELINE_SQL[table], values)
    elapsed = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    return elapsed


def run_oncoboard(paths: list[Path], db_path: Path,
                  workers: int) -> tuple[tuple[float, float], list[int]]:
    """Import with Oncoboard; return (wall, CPU) seconds and RSS before, after 10 % and 100 %.

    CPU time is this process's only: with workers, most of the work is in the pool.
    """
    store = open_store(db_path)
    proc = psutil.Process()
    rss = [proc.memory_info().rss]
    tenth = max(1, len(paths) // 10)
    started, cpu = time.perf_counter(), time.process_time()
    if workers:
        for k, _ in enumerate(import_files(store, paths, workers=workers), 1):
            if k == tenth:
                rss.append(proc.memory_info().rss)
    else:
        for k, path in enumerate(paths, 1):
            import_file(store, path)
            if k == tenth:
                rss.append(proc.memory_info().rss)
    elapsed = time.perf_counter() - started, time.process_time() - cpu
    rss.append(proc.memory_info().rss)
    store.close()
    return elapsed, rss


def run_validation_only(paths: list[Path]) -> tuple[float, float]:
    """Time json.load + fhir.resources validation of every resource (what the import costs
    at least); return (wall, CPU) seconds."""
    from oncoboard.patients.fhir_import import _validate

    started, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
        for i, entry in enumerate(data["entry"]):
            _validate(path, f"entry {i}", entry["resource"])
    return time.perf_counter() - started, time.process_time() - cpu


def memory_profile(paths: list[Path], db_path: Path, first: int) -> tuple[int, int]:
    """Return tracemalloc peaks (bytes) importing `first` files, then 4x as many more."""
    store = open_store(db_path)
    import_file(store, paths[0])  # imports and caches warm before measuring
    tracemalloc.start()
    for path in paths[1:first + 1]:
        import_file(store, path)
    _, peak_small = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    for path in paths[first + 1:5 * first + 1]:
        import_file(store, path)
    _, peak_large = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    store.close()
    return peak_small, peak_large


def _median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))


def _report(label: str, total: int, runs: list[tuple[float, float]],
            base: tuple[float, float] | None, cpu: bool = True) -> tuple[float, float]:
    """Print the median of `runs` (and its ratio to `base`); return the median."""
    wall, cpu_s = _median(runs)
    spread = f" [{min(r[0] for r in runs):.2f}-{max(r[0] for r in runs):.2f}]" \
        if len(runs) > 1 else ""
    line = f"{label:<40} wall {wall:6.2f} s{spread} {total / wall:7.0f} res/s"
    if base is not None:
        line += f" = {base[0] / wall:5.1%} of baseline"
    if cpu:
        line += f" | CPU {cpu_s:6.2f} s {total / cpu_s:7.0f} res/s"
        if base is not None:
            line += f" = {base[1] / cpu_s:5.1%} of baseline"
    print(line)
    return wall, cpu_s


def breakeven(workers: int, rounds: int) -> int:
    """Print the import time of N files without and with `workers` pool processes."""
    print(f"{os.cpu_count()} CPUs; pool of {workers} + this process; medians of {rounds} "
          f"rounds; automatic from {import_pool.AUTO_WORKERS_MIN_FILES} files")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths, _ = write_files(root / "fhir", 800)
        import_file(open_store(root / "warm.db"), paths[0])
        for n in (50, 100, 200, 400, 800):
            times: dict[int, list[float]] = {0: [], workers: []}
            for k in range(rounds):
                for w in times:
                    store = open_store(root / f"b-{n}-{w}-{k}.db")
                    started = time.perf_counter()
                    for _ in import_files(store, paths[:n], workers=w):
                        pass
                    times[w].append(time.perf_counter() - started)
                    store.close()
            seq, par = (statistics.median(times[w]) for w in times)
            print(f"{n:4d} files: {seq:6.2f} s without the pool, {par:6.2f} s with it "
                  f"({seq / par:.2f}x)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=0,
                        help="also run the process-pool importer with this many workers")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of baseline and imports, interleaved; medians are shown")
    parser.add_argument("--memory-files", type=int, default=50)
    parser.add_argument("--breakeven", action="store_true",
                        help="only compare the import of 50 to 800 files with and without "
                             "the pool (where the automatic choice switches)")
    args = parser.parse_args(argv)
    if args.breakeven:
        return breakeven(args.workers or import_pool.auto_workers(10**6), args.rounds)
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {args.rounds} rounds "
          "(medians, [min-max] wall)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        paths, total = write_files(root / "fhir", args.patients)
        print(f"generated {len(paths)} files, {total} resources "
              f"({sum(p.stat().st_size for p in paths) / 1e6:.1f} MB) in "
              f"{time.perf_counter() - started:.1f} s")
        import_file(open_store(root / "warm.db"), paths[0])  # library imports, pint registry
        rows = same_rows(paths, root / "rows.db")
        base_runs: list[tuple[float, float]] = []
        thin_runs: list[tuple[float, float]] = []
        seq_runs: list[tuple[float, float]] = []
        par_runs: list[tuple[float, float]] = []
        rss: list[int] = []
        for k in range(args.rounds):  # interleaved, so that a busy spell hits all of them
            base_runs.append(run_baseline(paths, rows, root / f"baseline-{k}.db"))
            thin_runs.append(run_thin_baseline(paths, root / f"thin-{k}.db"))
            times, rss = run_oncoboard(paths, root / f"oncoboard-{k}.db", 0)
            seq_runs.append(times)
            if args.workers:
                par_runs.append(run_oncoboard(paths, root / f"parallel-{k}.db",
                                              args.workers)[0])
            for db in root.glob(f"*-{k}.db*"):
                db.unlink()
        base = _report("baseline: json.load + executemany", total, base_runs, None)
        thin = _report("  thin: a few columns per resource", total, thin_runs, None)
        ours = _report("oncoboard import_file", total, seq_runs, base)
        print(f"  against the thin baseline: wall {thin[0] / ours[0]:.1%}, "
              f"CPU {thin[1] / ours[1]:.1%}")
        print(f"  RSS before {rss[0] / 2**20:.0f} MiB (this benchmark keeps the baseline's "
              f"rows), after 10 % of files {rss[1] / 2**20:.0f} MiB, after 100 % "
              f"{rss[2] / 2**20:.0f} MiB")
        valid = _report("  of which json.load + FHIR validation", total,
                        [run_validation_only(paths)], None)
        print(f"  validation share of the import: wall {valid[0] / ours[0]:.0%}, "
              f"CPU {valid[1] / ours[1]:.0%}")
        if args.workers:
            par = _report(f"oncoboard import_files, {args.workers} workers", total, par_runs,
                          base, cpu=False)
            print(f"  against the thin baseline: wall {thin[0] / par[0]:.1%}")
        n = min(args.memory_files, (len(paths) - 1) // 5)
        small, large = memory_profile(paths, root / "memory.db", n)
        print(f"tracemalloc peak: {n} files {small / 2**20:.1f} MiB, next {4 * n} files "
              f"{large / 2**20:.1f} MiB (ratio {large / small:.2f})")
        cli_memory(paths, root, args.rounds)
    return 0


_CLI = """
import os, sys
from oncoboard.cli import main
sys.stdout = open(os.devnull, "w", encoding="utf-8")  # printed, then dropped
code = main(["import", "patients", *sys.argv[2:]])
sys.stdout = sys.__stdout__
# VmHWM: this process's peak (ru_maxrss would start from the parent's, kept across exec)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print("RSS", code, hwm)
"""


def cli_memory(paths: list[Path], root: Path, rounds: int) -> None:
    """Peak RSS of `oncoboard import patients` (text and --json) on a tenth and on all files:
    flat when reports are printed as they come instead of kept."""
    import subprocess

    tenth = max(1, len(paths) // 10)
    folders = {}
    for label, chosen in (("10 %", paths[:tenth]), ("100 %", paths)):
        folder = root / f"cli-{label[:-2]}"
        folder.mkdir()
        for p in chosen:
            (folder / p.name).symlink_to(p)
        folders[label] = folder
    peaks: dict[tuple[str, str], list[int]] = {}
    for k in range(rounds):
        for mode in ("text", "json"):
            for label, folder in folders.items():
                data = root / f"cli-data-{k}-{mode}-{label[:-2]}"
                args = [str(folder), "--data-dir", str(data), "--workers", "0"]
                if mode == "json":
                    args.append("--json")
                out = subprocess.run([sys.executable, "-c", _CLI, mode, *args],
                                     capture_output=True, text=True, check=False)
                line = next((x for x in out.stdout.splitlines() if x.startswith("RSS")), None)
                if line is None:
                    print(f"  cli {mode} {label}: failed: {out.stderr[-300:]}")
                    return
                peaks.setdefault((mode, label), []).append(int(line.split()[2]) * 1024)
    print(f"CLI `oncoboard import patients DIR` peak RSS (median of {rounds}; reports printed "
          "as they come, flat = the same for 10x the files):")
    for mode in ("text", "json"):
        small = statistics.median(peaks[(mode, "10 %")])
        large = statistics.median(peaks[(mode, "100 %")])
        print(f"  {'--json' if mode == 'json' else 'text  '}: {tenth} files "
              f"{small / 2**20:.0f} MiB, {len(paths)} files {large / 2**20:.0f} MiB "
              f"(ratio {large / small:.2f})")


if __name__ == "__main__":
    sys.exit(main())
