"""Several processes on one data folder: writers wait their turn, migrations race safely."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from oncoboard.patients import fhir_build as fb
from oncoboard.patients.importer import import_file
from oncoboard.store import open_store


def _bundle(folder: Path, name: str, pids: list[str]) -> Path:
    resources = []
    for i, pid in enumerate(pids):
        resources.append(fb.patient(pid, f"MRN-{pid}", "Test", "Anna", "1950-02-03", "female"))
        resources.append(fb.observation(f"{pid}-hb", pid, "haemoglobin", "2020-01-05",
                                        value=120 + i, unit="g/L"))
    path = folder / f"{name}.json"
    path.write_text(json.dumps(fb.bundle(resources)), encoding="utf-8")
    return path


def _env(data: Path) -> dict[str, str]:
    env = dict(os.environ, ONCOBOARD_HOME=str(data))
    env["ONCOBOARD_SITE_CONFIG"] = str(data.parent / "site.toml")
    env["ONCOBOARD_USER_CONFIG"] = str(data.parent / "user.toml")
    return env


def _oncoboard(data: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "oncoboard", *args], env=_env(data),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_writer_waits_for_another_writer_instead_of_failing(tmp_path):
    """A read-then-write transaction (an import) while another connection writes and commits:
    with a deferred BEGIN it failed at once with "database is locked"."""
    data = tmp_path / "data"
    first = open_store(data)
    path = _bundle(tmp_path, "a", ["p1"])
    result: list[object] = []

    def other_writer() -> None:
        second = open_store(data)
        try:
            result.append(import_file(second, path))
        except Exception as exc:  # noqa: BLE001 - asserted below
            result.append(exc)
        second.close()
    with first.transaction() as db:
        db.execute("INSERT INTO patients (id, imported_at) VALUES ('other', 'x')")
        worker = threading.Thread(target=other_writer)
        worker.start()
        time.sleep(0.5)  # the importer is now waiting for the lock
        assert worker.is_alive() and not result
    worker.join(30)
    assert result and not isinstance(result[0], Exception), result
    assert result[0].written["patients"] == 1  # type: ignore[attr-defined]
    count = first.db.execute("SELECT count(*) FROM patients").fetchone()[0]
    assert count == 2
    first.close()


def test_two_import_processes_into_one_fresh_folder_both_succeed(tmp_path):
    """Real processes: both race on the migrations of a fresh folder, then on the writes."""
    for attempt in range(2):
        data = tmp_path / f"data{attempt}"
        files = [[_bundle(tmp_path, f"{w}-{attempt}-{i}", [f"{w}{attempt}-{i}-{k}"
                                                           for k in range(5)])
                  for i in range(15)] for w in ("a", "b", "c")]
        procs = [_oncoboard(data, "import", "patients", "--workers", "0", *map(str, f))
                 for f in files]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "Traceback" not in err
        store = open_store(data)
        assert store.db.execute("SELECT count(*) FROM patients").fetchone()[0] == 3 * 15 * 5
        assert store.db.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(
            store.applied_migrations())
        store.close()


def test_import_and_reads_work_while_another_process_holds_a_long_write(tmp_path):
    """Like an import while `predict` writes: the import waits, `patients list` reads at once."""
    data = tmp_path / "data"
    open_store(data).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom oncoboard.store import open_store\n"
         "s = open_store(sys.argv[1])\n"
         "with s.transaction() as db:\n"
         "    db.execute(\"INSERT INTO patients (id, imported_at) VALUES ('held', 'x')\")\n"
         "    print('locked', flush=True)\n"
         "    time.sleep(3)\n", str(data)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    start = time.monotonic()
    reader = _oncoboard(data, "patients", "list")
    importer = _oncoboard(data, "import", "patients", str(_bundle(tmp_path, "x", ["p1"])))
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    out, err = importer.communicate(timeout=60)
    assert importer.returncode == 0, err
    assert time.monotonic() - start >= 1.5  # it waited for the holder
    holder.wait(30)
    store = open_store(data)
    ids = {r[0] for r in store.db.execute("SELECT id FROM patients")}
    assert ids == {"held", "MRN-p1"}
    store.close()


def test_predictions_and_an_import_run_side_by_side(tmp_path):
    """`predict` stores its results (and audit entries) while another process imports: both
    finish, nothing is refused, and the audit trail stays intact."""
    data = tmp_path / "data"
    demo = subprocess.run([sys.executable, "-m", "oncoboard", "demo", "--no-imaging"],
                          env=_env(data), capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr[-2000:]
    bundles = [_bundle(tmp_path, f"b{i}", [f"c{i}-{j}" for j in range(15)]) for i in range(4)]
    importing = _oncoboard(data, "import", "patients", "--workers", "0",
                           *(str(b) for b in bundles))
    predicting = [_oncoboard(data, "predict", pid, "--json")
                  for pid in ("DEMO-LU-001", "DEMO-BR-001", "DEMO-CH-001")]
    for proc in (importing, *predicting):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    listed = subprocess.run([sys.executable, "-m", "oncoboard", "patients", "list", "--json"],
                            env=_env(data), capture_output=True, text=True, timeout=60)
    assert len(json.loads(listed.stdout)) == 33 + 60  # the demo cohort and the imported ones
    check = subprocess.run([sys.executable, "-m", "oncoboard", "audit", "verify"],
                           env=_env(data), capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
