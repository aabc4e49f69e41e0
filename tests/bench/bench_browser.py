"""Benchmark: the patient browser and the record's queries at 100,000 patients.

Prints figures, not pass/fail. Usage::

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_browser.py [--patients 100000]
        [--folder DIR] [--repeat 5]

The data folder (default ``/tmp/oncoboard-bench-browser-<patients>``, kept for later runs) gets
`patients` synthetic patients, 20 observations and 5 notes each (2 million and 500,000 at the
default size) and one primary cancer, inserted with plain SQL through the store's connection so
that its triggers fill the patient search index and the notes' full-text index as an import
would. Then, with anchors measured in the same run:

* window usable: a fresh process from launch to the main window shown with the patients view
  painted (the filter accepts typing); anchors: a bare ``QMainWindow`` and the same with
  pyqtgraph imported; target <= 1.5 s;
* keystrokes: the filter typed a character at a time (``setText`` on the search field), each
  timed to the model's answer (its ``total_changed``), the view's debounce included; target
  <= 100 ms each;
* event-loop stall: a 5 ms ``QTimer`` heartbeat while typing and while scrolling through pages
  (``fetchMore``); the longest gap is printed; target <= 100 ms;
* queries, each <= 50 ms: filter by ID, name prefix and diagnosis code (first page, and the
  count the browser shows, which stops past ``browse.COUNT_CAP``: "1,000+"; beside it, the
  time to count every match, for comparison),
  note search with snippets, opening a patient (``record.get_summary``); anchor: a primary-key
  lookup of one patient row.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]

FAMILY = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
          "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David",
          "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "Andre", "Lefevre",
          "Mercier", "Dupont", "Lambert", "Bonnet", "Francois", "Martinez", "Smith", "Jones",
          "Müller", "Schmidt", "Rossi", "Russo", "Novak", "Kowalski", "Nielsen", "Jensen"]
GIVEN = ["Marie", "Jean", "Pierre", "Michel", "André", "Philippe", "Nathalie", "Isabelle",
         "Sylvie", "Catherine", "Françoise", "Anne", "Christine", "Monique", "Jacques", "Alain",
         "Bernard", "Louis", "Paul", "Claire", "Sophie", "Julie", "Hélène", "Émilie", "Luc"]
CANCERS = [("C50.4", "Malignant neoplasm of breast"), ("C50.2", "Malignant neoplasm of breast"),
           ("C34.1", "Malignant neoplasm of upper lobe, bronchus or lung"),
           ("C34.3", "Malignant neoplasm of lower lobe, bronchus or lung"),
           ("C18.7", "Malignant neoplasm of sigmoid colon"), ("C61", "Malignant neoplasm of "
                                                                      "prostate"),
           ("C25.0", "Malignant neoplasm of head of pancreas"), ("C56", "Malignant neoplasm "
                                                                       "of ovary")]
LABS = [("2532-0", "LDH", "U/L"), ("718-7", "Hemoglobin", "g/dL"),
        ("26499-4", "Neutrophils", "10*9/L"), ("2160-0", "Creatinine", "mg/dL"),
        ("1751-7", "Albumin", "g/dL")]
WORDS = ("patient patiente bilan consultation fièvre toux dyspnée douleur thoracique "
         "neutropénie chimiothérapie cycle tolérance nausées asthénie scanner progression "
         "réponse partielle stable radiothérapie séance mucite diarrhée grade examen clinique "
         "poids appétit traitement poursuivi reporté anémie transfusion plaquettes infection "
         "antibiotiques hospitalisation sortie domicile suivi oncologue réunion "
         "pluridisciplinaire décision the patient reports fatigue cough fever pain stable "
         "disease partial response treatment continued delayed").split()
RARE = ["hypercalcémie", "pneumopathie", "thrombose", "cardiotoxicité", "néphrotoxicité"]
VERSION = 1  # bump when the generated data changes


def build(folder: Path, n: int, obs_per: int = 20, notes_per: int = 5) -> float:
    """Generate the data folder unless already there; return the seconds spent (0 if kept)."""
    marker = folder / f"bench-browser-v{VERSION}-{n}.done"
    if marker.is_file():
        return 0.0
    import shutil

    from oncoboard.store import open_store

    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    store = open_store(folder)
    conn = store.conn
    rng = random.Random(18)
    now = "2026-11-30T08:00:00"
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    with conn:
        conn.executemany(
            "INSERT INTO patients (id, source_system, source_id, family_name, given_name, "
            "birth_date, sex, synthetic, imported_at) VALUES (?,?,?,?,?,?,?,1,?)",
            ((f"H{i:07d}", "bench", f"p{i}", rng.choice(FAMILY), rng.choice(GIVEN),
              f"{rng.randint(1930, 2000)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
              rng.choice(("female", "male")), now) for i in range(n)))
        conn.executemany(
            "INSERT INTO conditions (id, patient_id, source_id, is_primary_cancer, code_system, "
            "code, display, diagnosis_date) VALUES (?,?,?,1,'http://hl7.org/fhir/sid/icd-10',"
            "?,?,?)",
            ((f"c{i}", f"H{i:07d}", "c1", *rng.choice(CANCERS),
              f"{rng.randint(2015, 2026)}-{rng.randint(1, 12):02d}-01") for i in range(n)))
        conn.executemany(
            "INSERT INTO observations (id, patient_id, source_id, category, code_system, code, "
            "display, value_num, unit, effective) VALUES (?,?,?,'laboratory',"
            "'http://loinc.org',?,?,?,?,?)",
            ((f"o{i}-{k}", f"H{i:07d}", f"o{k}", *(lab := rng.choice(LABS))[:2],
              round(rng.uniform(0.5, 400.0), 1), lab[2],
              f"{rng.randint(2020, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
             for i in range(n) for k in range(obs_per)))

        def text() -> str:
            words = rng.choices(WORDS, k=rng.randint(30, 80))
            if rng.random() < 0.01:
                words.insert(rng.randrange(len(words)), rng.choice(RARE))
            return " ".join(words).capitalize() + "."

        conn.executemany(
            "INSERT INTO notes (id, patient_id, source_id, note_type, date, language, title, "
            "text) VALUES (?,?,?,?,?,?,?,?)",
            ((f"n{i}-{k}", f"H{i:07d}", f"n{k}", rng.choice(("consultation", "nursing")),
              f"{rng.randint(2020, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
              "fr", rng.choice(("Consultation", "Note infirmière", "Compte rendu")), text())
             for i in range(n) for k in range(notes_per)))
    conn.execute("INSERT INTO notes_fts (notes_fts) VALUES ('optimize')")
    conn.execute("INSERT INTO patient_search (patient_search) VALUES ('optimize')")
    conn.execute("ANALYZE")
    store.close()
    marker.write_text("ok\n")
    return time.perf_counter() - t0


BARE = """
import sys, time
t0 = time.perf_counter()
if sys.argv[1] == "pg":
    import pyqtgraph
from PySide6.QtWidgets import QApplication, QMainWindow, QLabel
app = QApplication([])
w = QMainWindow(); w.setCentralWidget(QLabel("hello")); w.resize(1600, 1000); w.show()
app.processEvents(); w.repaint()
print("READY", time.perf_counter() - t0)
"""

WINDOW = """
import sys, time
t0 = time.perf_counter()
from oncoboard.ui.app import application, create_window
from oncoboard.config import load_settings
from oncoboard.store import open_store
class Ctx:
    settings = load_settings(sys.argv[1]); store = open_store(settings.db_path); log_file = None
app = application()
w = create_window(Ctx()); w.resize(1600, 1000); w.show_view("patients"); w.show()
app.processEvents(); w.patients_view.repaint()
assert w.patients_view.search_edit.isEnabled() and w.patients_view.isVisible()
m = w.patients_view.model
print("READY", time.perf_counter() - t0, m.total if m.total is not None else f"{m.more_than}+",
      m.rowCount())
"""


def _spawn(code: str, *args: str) -> tuple[float, list[str]]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "oncoboard-bench-pycache")
    env["PYTHONPATH"] = str(ROOT / "app") + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    wall = time.perf_counter() - t0
    line = next((x for x in run.stdout.splitlines() if x.startswith("READY")), None)
    if line is None:
        raise RuntimeError(run.stderr[-2000:])
    return wall, line.split()[1:]


def bench_window(folder: Path, repeat: int) -> None:
    for _ in range(2):  # bytecode and page cache
        _spawn(WINDOW, str(folder))
    bare, pg, ours = [], [], []
    extra: list[str] = []
    for _ in range(repeat):
        bare.append(_spawn(BARE, "bare")[0])
        pg.append(_spawn(BARE, "pg")[0])
        wall, extra = _spawn(WINDOW, str(folder))
        ours.append(wall)
    b, p, o = (statistics.median(x) for x in (bare, pg, ours))
    print(f"window usable (launch to patients view painted, median of {repeat}, interleaved):")
    print(f"  anchor: bare QMainWindow               {b:6.2f} s")
    print(f"  anchor: bare QMainWindow + pyqtgraph   {p:6.2f} s")
    total = f"{int(extra[1]):,}" if extra[1].isdigit() else extra[1]
    print(f"  Oncoboard, {total} patients ({extra[2]} rows read) {o:6.2f} s  "
          f"= {o / b:.1f}x bare, {o / p:.2f}x with pyqtgraph (target <= 1.5 s)")


def _median_ms(fn: Any, n: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, out


def bench_queries(folder: Path, n: int, repeat: int) -> None:
    from oncoboard.patients import browse, note_search, record
    from oncoboard.store import open_store

    store = open_store(folder)
    conn = store.conn
    pid = f"H{n // 2:07d}"
    anchor, _ = _median_ms(lambda: conn.execute("SELECT * FROM patients WHERE id = ?",
                                                [pid]).fetchone(), 50 * repeat)

    filters = [("filter by ID, full", pid), ("filter by ID, 1 character", "H"),
               ("filter by ID, 3 characters", "H00"), ("filter by ID, 6 characters", pid[:6]),
               ("filter by name prefix 'M'", "M"), ("filter by name prefix 'Ma'", "Ma"),
               ("filter by name 'Mart'", "Mart"), ("filter by name 'Dubois'", "Dubois"),
               ("filter by name 'Hélène'", "Hélène"), ("filter by diagnosis 'C'", "C"),
               ("filter by diagnosis 'C6'", "C6"), ("filter by diagnosis 'C50'", "C50"),
               ("filter by diagnosis 'C34.1'", "C34.1"), ("no match 'Zq'", "Zq")]
    others = [
        ("note search 'fièvre' (common)", lambda: note_search.search_notes(store, "fièvre")),
        ("note search 'patient toux' (2 common)",
         lambda: note_search.search_notes(store, "patient toux")),
        ("note search 'neutrop*' (prefix)", lambda: note_search.search_notes(store, "neutrop*")),
        ("note search 'thrombose' (rare)", lambda: note_search.search_notes(store, "thrombose")),
        ("note search in one patient", lambda: note_search.search_notes(store, "fièvre",
                                                                         patient_id=pid)),
        ("open a patient (get_summary)", lambda: record.get_summary(store, pid)),
    ]
    k = 3 * repeat
    print(f"queries at {n:,} patients (median of {k}; anchor: one patient row by primary key "
          f"{anchor:.3f} ms; target <= 50 ms each). A filter shows its first page at once and "
          "counts its matches after it, off the screen's thread:")
    worst = 0.0
    cap = browse.COUNT_CAP
    for name, q in filters:
        browse.patient_page(store, q), browse.count_patients(store, q, cap=cap)  # warm
        page_ms, _ = _median_ms(lambda q=q: browse.patient_page(store, q), k)
        count_ms, total = _median_ms(lambda q=q: browse.count_patients(store, q, cap=cap), k)
        exact_ms, exact = _median_ms(lambda q=q: browse.count_patients(store, q), k)
        worst = max(worst, page_ms, count_ms)
        flag = "" if max(page_ms, count_ms) <= 50 else "  MISSES 50 ms"
        shown = f"{cap:,}+" if total > cap else f"{total:,}"
        print(f"  {name:32s} page {page_ms:6.2f} ms, count {count_ms:6.2f} ms ({shown:>6} "
              f"shown; every one of the {exact:,} counted: {exact_ms:6.2f} ms) = "
              f"{max(page_ms, count_ms) / anchor:6.0f}x anchor{flag}")
    for name, fn in others:
        fn()  # warm
        ms, out = _median_ms(fn, k)
        worst = max(worst, ms)
        size = f"{len(out):>3} hits" if isinstance(out, list) else " " * 8
        flag = "" if ms <= 50 else "  MISSES 50 ms"
        print(f"  {name:40s} {ms:7.2f} ms {size} = {ms / anchor:6.0f}x anchor{flag}")
    print(f"  slowest {worst:.1f} ms")
    store.close()


def bench_typing(folder: Path, repeat: int) -> None:
    from PySide6.QtCore import QElapsedTimer, QTimer

    from oncoboard.store import open_store
    from oncoboard.ui.app import application
    from oncoboard.ui.patients_view import PatientBrowserView

    app = application()
    store = open_store(folder)
    view = PatientBrowserView(store)
    view.resize(1200, 800)
    view.show()
    view.refresh()
    app.processEvents()
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def beat() -> None:
        t = clock.nsecsElapsed()
        gaps.append((t - last[0]) / 1e6)
        last[0] = t

    heart = QTimer(interval=5)
    heart.timeout.connect(beat)
    heart.start()
    answers: list[float] = []

    def wait_answer(text: str, timeout: float = 5.0) -> float:
        t0 = time.perf_counter()
        view.search_edit.setText(text)
        while True:
            app.processEvents()
            if view.model.query == text and not view._debounce.isActive():
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(text)
            time.sleep(0.0005)

    words = ["Martin", "Hélène", "C50.4", "H0012345", "Dubo", "C34"]
    per_word: dict[str, list[float]] = {}
    for _ in range(repeat):
        for word in words:
            view.search_edit.setText("")
            wait_answer("")
            for k in range(1, len(word) + 1):
                ms = wait_answer(word[:k]) * 1e3
                answers.append(ms)
                per_word.setdefault(word, []).append(ms)
    type_gap = max(gaps[3:]) if len(gaps) > 3 else 0.0
    gaps.clear()
    # scrolling: the whole list, then page down through it
    view.search_edit.setText("")
    wait_answer("")
    bar = view.table.verticalScrollBar()
    t0 = time.perf_counter()
    pages = 0
    while time.perf_counter() - t0 < 3.0:
        bar.setValue(bar.maximum())
        app.processEvents()
        pages += 1
    rows = view.model.rowCount()
    scroll_gap = max(gaps[3:]) if len(gaps) > 3 else 0.0
    heart.stop()
    print(f"patient filter typed one character at a time ({len(answers)} keystrokes; setText "
          f"to the model's answer, the view's 60 ms debounce included; target <= 100 ms):")
    for word, ms in per_word.items():
        print(f"  {word!r:12s} median {statistics.median(ms):6.1f} ms, max {max(ms):6.1f} ms")
    over = sum(a > 100 for a in answers)
    print(f"  all keystrokes: median {statistics.median(answers):.1f} ms, max "
          f"{max(answers):.1f} ms, {over} over 100 ms")
    print("event-loop stall (5 ms heartbeat; target <= 100 ms):")
    print(f"  longest gap while typing            {type_gap:7.1f} ms")
    print(f"  longest gap while scrolling          {scroll_gap:7.1f} ms  ({rows:,} rows read in "
          f"3 s of scrolling to the end, {pages} scroll steps)")
    view.close()
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--folder", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-window", action="store_true")
    args = ap.parse_args()
    folder = args.folder or Path(tempfile.gettempdir()) / f"oncoboard-bench-browser-{args.patients}"
    made = build(folder, args.patients)
    print(f"data folder {folder}: {args.patients:,} patients, {20 * args.patients:,} "
          f"observations, {5 * args.patients:,} notes"
          + (f" (generated in {made:.0f} s)" if made else " (kept from an earlier run)"))
    bench_queries(folder, args.patients, args.repeat)
    bench_typing(folder, max(1, args.repeat // 3))
    if not args.skip_window:
        bench_window(folder, args.repeat)


if __name__ == "__main__":
    main()
