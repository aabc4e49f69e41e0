"""Benchmark: the store on a PostgreSQL site database (over loopback) against SQLite, one run.

Prints figures and ratios, not pass/fail. Usage::

    .venv/bin/python tests/bench/bench_postgres.py [--patients 100000] [--repeat 3]
        [--url postgresql://...]   # an existing server instead of one started here
        [--keep DIR]               # the server's cluster kept in DIR and reused next time

A PostgreSQL server is started in a temporary folder (initdb + pg_ctl, as the tests do:
tests/unit/pg_server.py) unless ``--url`` names one (its database is emptied and migrated).
With ``--keep DIR`` the cluster is created in DIR and left there; a later run with the same DIR
starts it again and reuses the loaded patients (loading 100,000 takes minutes), so query changes
can be measured again at once (new migrations are applied to the kept database on opening).

* board: the 20-case board of bench_inference (the demo cohort, every plugin, warm: assembly,
  models, predictions saved with their audit entries), on a SQLite data folder and on the
  PostgreSQL database holding the same demo cohort, interleaved; anchor: the SQLite run;
  target <= 1.5x;
* at scale: bench_browser's 100,000 patients (2 million observations, 500,000 notes; the same
  generator and seed) loaded into PostgreSQL with COPY, then bench_browser's queries (patient
  filter, note search, open a patient), each against its anchor (one patient row by primary
  key on the same server); target <= 50 ms each.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "unit"), str(ROOT / "tests" / "bench"), str(ROOT / "app")]

import bench_browser  # noqa: E402
import bench_inference  # noqa: E402
import pg_server  # noqa: E402

from oncoboard.config import load_settings  # noqa: E402
from oncoboard.inference import discovery  # noqa: E402
from oncoboard.store import open_store  # noqa: E402


def _demo(data_dir: Path, url: str | None) -> None:
    args = [sys.executable, "-m", "oncoboard", "demo", "--data-dir", str(data_dir),
            "--date", bench_inference.REF_DATE]
    if url:
        args += ["--database", url]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "app"))
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env=env)


def bench_board(server: pg_server.Server, repeat: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-postgres-board-"))
    server.sql("DROP DATABASE IF EXISTS bench_board WITH (FORCE)")
    server.sql("CREATE DATABASE bench_board")
    url = server.url("bench_board")
    print("creating the demo cohort in SQLite and in PostgreSQL (oncoboard demo)...", flush=True)
    _demo(tmp / "sqlite", None)
    _demo(tmp / "pg", url)
    bench_inference._test_plugins(tmp / "plugins")
    os.environ["ONCOBOARD_PLUGIN_PATH"] = str(tmp / "plugins")
    stores = {"sqlite": open_store(tmp / "sqlite"), "postgresql": open_store(url)}
    settings = load_settings(tmp / "sqlite")
    plugins = [p for p in discovery.discover_plugins(settings) if p.enabled]
    boards = {k: bench_inference._board(s) for k, s in stores.items()}
    assert boards["sqlite"] == boards["postgresql"], "the two demo cohorts differ"
    times: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    for k, s in stores.items():  # cold: sessions, caches
        bench_inference._as_board(s, settings, boards[k], plugins)
    for _ in range(repeat):
        for k, s in stores.items():  # the board's path: inference.batch.predict_many
            times[k].append(bench_inference._timed(bench_inference._as_board, s, settings,
                                                   boards[k], plugins))
    med = {k: {"total": sorted(v)[len(v) // 2]} for k, v in times.items()}
    lite, pg = med["sqlite"], med["postgresql"]
    print(f"\nboard of {len(boards['sqlite'])} cases, {len(plugins)} plugins, warm (median of "
          f"{repeat}, interleaved; `board predict`'s path, storage and audit included):")
    for name, r in (("anchor: SQLite file", lite), ("PostgreSQL, loopback", pg)):
        print(f"  {name:22s} {r['total'] * 1000:7.0f} ms")
    ratio = pg["total"] / lite["total"]
    print(f"  PostgreSQL / SQLite = {ratio:.2f}x (target <= 1.5x: "
          f"{'met' if ratio <= 1.5 else 'NOT met'})")
    for s in stores.values():
        s.close()


def _copy(conn: Any, table: str, cols: str, rows: Any) -> None:
    with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def build_pg(url: str, n: int, obs_per: int = 20, notes_per: int = 5) -> float:
    """Load bench_browser's data set (same generator, same seed) into `url`; return seconds."""
    from bench_browser import CANCERS, FAMILY, GIVEN, LABS, RARE, WORDS

    store = open_store(url)
    conn = store.db.raw  # type: ignore[attr-defined]
    if store.db["patients"].count == n:
        store.close()
        return 0.0
    t0 = time.perf_counter()
    rng = random.Random(18)
    now = "2026-11-30T08:00:00"
    with conn.transaction():
        _copy(conn, "patients", "id, source_system, source_id, family_name, given_name, "
              "birth_date, sex, synthetic, imported_at",
              ((f"H{i:07d}", "bench", f"p{i}", rng.choice(FAMILY), rng.choice(GIVEN),
                f"{rng.randint(1930, 2000)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                rng.choice(("female", "male")), 1, now) for i in range(n)))
        _copy(conn, "conditions", "id, patient_id, source_id, is_primary_cancer, code_system, "
              "code, display, diagnosis_date",
              ((f"c{i}", f"H{i:07d}", "c1", 1, "http://hl7.org/fhir/sid/icd-10",
                *rng.choice(CANCERS), f"{rng.randint(2015, 2026)}-{rng.randint(1, 12):02d}-01")
               for i in range(n)))
        _copy(conn, "observations", "id, patient_id, source_id, category, code_system, code, "
              "display, value_num, unit, effective",
              ((f"o{i}-{k}", f"H{i:07d}", f"o{k}", "laboratory", "http://loinc.org",
                *(lab := rng.choice(LABS))[:2], round(rng.uniform(0.5, 400.0), 1), lab[2],
                f"{rng.randint(2020, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
               for i in range(n) for k in range(obs_per)))

        def text() -> str:
            words = rng.choices(WORDS, k=rng.randint(30, 80))
            if rng.random() < 0.01:
                words.insert(rng.randrange(len(words)), rng.choice(RARE))
            return " ".join(words).capitalize() + "."

        _copy(conn, "notes", "id, patient_id, source_id, note_type, date, language, title, text",
              ((f"n{i}-{k}", f"H{i:07d}", f"n{k}", rng.choice(("consultation", "nursing")),
                f"{rng.randint(2020, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "fr", rng.choice(("Consultation", "Note infirmière", "Compte rendu")), text())
               for i in range(n) for k in range(notes_per)))
    conn.execute("VACUUM ANALYZE")
    store.close()
    return time.perf_counter() - t0


def _exists(server: pg_server.Server, name: str) -> bool:
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            [name]).fetchone() is not None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--url", help="an existing PostgreSQL server's database (emptied)")
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="keep the server's cluster in DIR and reuse it (and its data) next time")
    ap.add_argument("--skip-board", action="store_true")
    ap.add_argument("--skip-scale", action="store_true")
    args = ap.parse_args()
    server = pg_server.start_server(args.keep)
    try:
        pg_server.make_template(server)
        print(f"PostgreSQL server {server.url()} (loopback, "
              + (f"the cluster kept in {args.keep})" if args.keep else "a temporary cluster)"))
        if not args.skip_board:
            bench_board(server, args.repeat)
        if not args.skip_scale:
            name = f"bench_scale_{args.patients}"
            url = args.url or (server.url(name) if args.keep and _exists(server, name)
                               else server.fresh_database(name))
            spent = build_pg(url, args.patients)
            if spent:
                print(f"\nloaded {args.patients:,} patients into PostgreSQL in {spent:.0f} s "
                      "(COPY; triggers fill the search tables, notes indexed)")
            else:
                print(f"\nthe {args.patients:,} patients loaded by an earlier run (--keep)")
            bench_browser.bench_queries(url, args.patients, args.repeat)  # type: ignore[arg-type]
    finally:
        if args.keep:
            server.stop()
            print(f"server stopped; its cluster is kept in {args.keep}")
        else:
            pg_server.remove(server)


if __name__ == "__main__":
    io.DEFAULT_BUFFER_SIZE = 1 << 16
    main()
