"""Fuzz test over the hostile-input corpus (tests/data/hostile, made by make_corpus.py).

Each file goes through the command line in this process: no traceback, no internal error
(exit 70), no hang, a message of bounded length, and nothing stored from a refused file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from oncoboard.store import open_store

CORPUS = Path(__file__).resolve().parents[1] / "data" / "hostile"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
RECORDS = sorted(name for name in EXPECTED if not name.startswith("dicom/"))
#: Seconds one file may take, start-up of the store included.
BOUND_S = 10


def _count(data: Path, table: str) -> int:
    store = open_store(data)
    try:
        return int(store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        store.close()


def _no_crash(code: int, out: str, err: str) -> None:
    assert code != 70 and "internal error" not in err, err
    assert "Traceback" not in out + err
    assert len(err) < 2000, f"a {len(err)}-character message"


@pytest.mark.parametrize("name", RECORDS)
def test_record_file(run, tmp_path, name):
    data = tmp_path / "home"
    start = time.monotonic()
    code, out, err = run("import", "patients", CORPUS / name)
    assert time.monotonic() - start < BOUND_S
    _no_crash(code, out, err)
    if EXPECTED[name] == "ok":
        assert code == 0, err
        assert _count(data, "patients") == 1
    else:
        assert code in (1, 2) and err.startswith("oncoboard: error: "), (code, err)
        assert err.count("\n") == 1  # one line
        for table in ("patients", "observations", "notes", "record_sources"):
            assert _count(data, table) == 0, table


def test_header_less_csv_does_not_echo_its_first_line(run):
    code, out, err = run("import", "patients", CORPUS / "csv_no_header.csv")
    assert code == 2 and "not a header" in err
    for cell in ("jeanne", "exemple", "1952-04-17"):
        assert cell not in err


def test_dicom_folder_with_damaged_files(run, tmp_path, caplog):
    """The good series is indexed, each bad file skipped with its reason: exit 1, no abort."""
    start = time.monotonic()
    code, out, err = run("import", "dicom", CORPUS / "dicom", "--json")
    assert time.monotonic() - start < BOUND_S
    _no_crash(code, out, err)
    assert "Warning" not in err  # library warnings go to the log
    assert code == 1, err
    report = json.loads(out)
    skipped = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    bad = {n.split("/")[1] for n, outcome in EXPECTED.items() if outcome == "skipped"}
    assert set(skipped) == bad, skipped
    assert report["instances_indexed"] == 3
    for name in ("spacing_zero.dcm", "orientation_zero.dcm", "slope_inf.dcm", "slope_nan.dcm"):
        assert skipped[name].startswith("invalid geometry"), skipped[name]
    data = tmp_path / "home"
    assert _count(data, "dicom_instances") == 3


def test_corpus_script_lists_what_it_writes(tmp_path):
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.warns(UserWarning):  # pydicom on the NaN slope it is made to write
        module.main(tmp_path)
    written = json.loads((tmp_path / "expected.json").read_text(encoding="utf-8"))
    assert written == EXPECTED
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) < 256 * 1024
