"""Benchmark: FHIR validation per resource, library classes against the import's shortcuts.

Prints figures, not pass/fail. Usage::

    .venv/bin/python tests/bench/bench_fhir_validation.py [--patients 200] [--rounds 7]
        [--import-files 100]

The same synthetic bundles as ``bench_import.py`` (about 50 resources per patient) are read
once; each round then validates every resource with each way, interleaved (so that a busy
spell of the machine hits all of them), and the medians are printed:

* ``library``: the fhir.resources class of the resource type, ``cls(**resource)``;
* ``memo``: the import's path (``fhir_import._validate``) with the planned checks off: the
  resource's complex elements validated first by their own library classes, the ones that
  repeat (codes, categories, subject references) once, from the element memo;
* ``memo+overrides``: the same, with fhir_core's two per-resource checks run from per-class
  plans (``patients/fhir_validation.py``), as the import does.

With ``--import-files N``, instead, each round imports N bundles one by one (``import_file``
into a fresh database) with the memo ways, and runs ``json.load`` + executemany of the same rows
(``bench_import.py``'s baseline): the share of the whole import the overrides save.

Each round starts with an empty element memo; classes and per-class plans are built once per way
(in the warm-up), as once per process in the import.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_import import patient_resources, run_baseline, same_rows, write_files  # noqa: E402

from oncoboard.patients import fhir_build as fb  # noqa: E402
from oncoboard.patients import fhir_import  # noqa: E402
from oncoboard.patients import fhir_validation as overrides  # noqa: E402

_caches: dict[bool, tuple[dict[Any, Any], ...]] = {}


def _reset(planned: bool) -> None:
    """Empty the element memo; swap in the class caches of a way (plans on or off).

    The classes (and their plans) are built once per process in the import too: each way
    keeps its own across rounds.
    """
    fhir_import._memo.clear()
    classes, by_base, plans = _caches.setdefault(planned, ({}, {}, {}))
    overrides._classes, overrides._planned_by_base = classes, by_base
    fhir_import._element_plans = plans
    overrides._enabled = None if planned else False


def _library(resources: list[dict[str, Any]]) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    classes: dict[str, Any] = {}
    for res in resources:
        kind = res["resourceType"]
        cls = classes.get(kind) or classes.setdefault(kind, get_fhir_model_class(kind))
        cls(**res)


def _import_way(resources: list[dict[str, Any]]) -> None:
    path = Path("bench.json")
    for i, res in enumerate(resources):
        fhir_import._validate(path, f"entry {i}", res)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--import-files", type=int, default=0)
    args = parser.parse_args(argv)
    if args.import_files:
        return _imports(args.import_files, args.rounds)
    rng = random.Random(7)
    resources: list[dict[str, Any]] = []
    for i in range(args.patients):  # JSON round trip: the dicts json.load gives the import
        bundle = json.loads(json.dumps(fb.bundle(patient_resources(rng, i))))
        resources.extend(entry["resource"] for entry in bundle["entry"])
    ways: dict[str, tuple[Callable[[list[dict[str, Any]]], None], bool]] = {
        "library": (_library, False), "memo": (_import_way, False),
        "memo+overrides": (_import_way, True)}
    for fn, planned in ways.values():  # warm: imports, class building
        _reset(planned)
        fn(resources[:200])
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, (fn, planned) in ways.items():
            _reset(planned)
            started = time.perf_counter()
            fn(resources)
            times[name].append(time.perf_counter() - started)
    n = len(resources)
    print(f"{n} resources, {args.rounds} interleaved rounds, medians [min-max]")
    lib = statistics.median(times["library"])
    for name, runs in times.items():
        med = statistics.median(runs)
        print(f"{name:<16} {med / n * 1e6:6.1f} us/resource [{min(runs) / n * 1e6:.1f}-"
              f"{max(runs) / n * 1e6:.1f}]  {lib / med:5.2f}x the library")
    return 0


def _imports(n_files: int, rounds: int) -> int:
    """Print the import time of `n_files` bundles per way, against the baseline, interleaved."""
    import tempfile

    from oncoboard.patients.importer import import_file
    from oncoboard.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths, total = write_files(root / "fhir", n_files)
        rows = same_rows(paths, root / "rows.db")
        ways = ["memo", "memo+overrides"]
        for way in ways:  # warm: imports, classes, pint
            _reset(way != "memo")
            import_file(open_store(root / f"warm-{way}.db"), paths[0])
        times: dict[str, list[float]] = {"baseline": [], **{way: [] for way in ways}}
        for k in range(rounds):
            times["baseline"].append(run_baseline(paths, rows, root / f"base-{k}.db")[0])
            for way in ways:
                _reset(way != "memo")
                store = open_store(root / f"{way}-{k}.db")
                started = time.perf_counter()
                for path in paths:
                    import_file(store, path)
                times[way].append(time.perf_counter() - started)
                store.close()
    base = statistics.median(times["baseline"])
    print(f"import_file of {n_files} files ({total} resources), {rounds} interleaved rounds, "
          "medians [min-max]")
    for name, runs in times.items():
        med = statistics.median(runs)
        print(f"{name:<16} {med:6.2f} s [{min(runs):.2f}-{max(runs):.2f}]  {total / med:7.0f} "
              f"res/s = {base / med:5.1%} of baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
