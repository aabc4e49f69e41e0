"""``oncoboard lesions add|measure|list|withdraw`` and ``oncoboard recist`` on a synthetic CT."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from oncoboard.cli import main
from oncoboard.imaging import synth

PID = "LUN-CLI"


@pytest.fixture
def ct(tmp_path: Any, data_dir: Any, capsys: Any) -> dict[str, Any]:
    """Two CTs of PID (baseline, follow-up) with one sphere each: 30 mm, then 18 mm."""
    from oncoboard.store import open_store

    store = open_store(data_dir)
    store.db["patients"].insert({"id": PID, "family_name": "Cli", "birth_date": "1950-01-01",
                                 "sex": "male", "synthetic": 1,
                                 "imported_at": "2026-01-01T00:00:00+00:00"})
    store.close()
    uids = {}
    for tag, date, diameter in (("base", "20260105", 30.0), ("fu", "20260310", 18.0)):
        n, rows, cols, sp = 9, 64, 64, 1.0
        k, r, c = np.mgrid[0:n, 0:rows, 0:cols]
        hu = np.where(((r - 32) * sp) ** 2 + ((c - 30) * sp) ** 2 + ((k - 4) * 2.0) ** 2
                      <= (diameter / 2) ** 2, 40, -800)
        positions = synth.grid_positions([-32.0, -32.0, 0.0], [0, 0, 2.0], n)
        ids = {"study": synth.make_uid(PID, tag, "study"),
               "series": synth.make_uid(PID, tag, "series")}
        ds = synth.slice_datasets((hu + 1024).astype(np.uint16), positions,
                                  [1, 0, 0, 0, 1, 0], (sp, sp), uids=ids, modality="CT",
                                  header={"PatientID": PID, "StudyDate": date,
                                          "PatientBirthDate": "19500101"})
        synth.write_datasets(ds, tmp_path / tag)
        uids[tag] = ids["series"]
    assert main(["--data-dir", str(data_dir), "import", "dicom", str(tmp_path / "base"),
                 str(tmp_path / "fu")]) == 0
    capsys.readouterr()
    return uids


def _run(data_dir: Any, capsys: Any, *args: Any) -> tuple[int, str, str]:
    code = main(["--data-dir", str(data_dir), *[str(a) for a in args]])
    out, err = capsys.readouterr()
    return code, out, err


def test_record_by_points_and_by_click_then_recist(ct, data_dir, capsys):
    code, out, _ = _run(data_dir, capsys, "lesions", "add", PID, "--label", "lung RUL",
                        "--series", ct["base"], "--slice", 4, "--p1", "15,32", "--p2", "45,32",
                        "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["lesion"]["number"] == 1 and doc["measurement"]["long_axis_mm"] == 30.0
    assert doc["measurement"]["timepoint"] == "2026-01-05"
    assert doc["measurement"]["long_axis_index"] == [[4.0, 32.0, 15.0], [4.0, 32.0, 45.0]]
    code, out, _ = _run(data_dir, capsys, "lesions", "measure", PID, "1", "--series", ct["fu"],
                        "--slice", 4, "--auto", "30,32", "--json")
    assert code == 0
    m = json.loads(out)
    assert m["method"] == "proposed" and abs(m["long_axis_mm"] - 18.0) <= 1.0
    code, out, _ = _run(data_dir, capsys, "recist", PID)
    assert code == 0
    assert "2026-03-10" in out and "PR" in out
    code, out, _ = _run(data_dir, capsys, "recist", PID, "--json")
    table = json.loads(out)
    assert table["criteria"] == "RECIST 1.1" and table["baseline"]["sum_mm"] == 30.0
    assert table["timepoints"][0]["overall"] == "PR"
    code, out, _ = _run(data_dir, capsys, "lesions", "list", PID)
    assert code == 0 and "#1 lung RUL" in out and "2026-03-10" in out
    code, out, _ = _run(data_dir, capsys, "lesions", "withdraw", PID, m["id"], "--reason",
                        "wrong slice")
    assert code == 0
    _code, out, _ = _run(data_dir, capsys, "recist", PID, "--json")
    assert json.loads(out)["timepoints"] == []  # the follow-up's only reading is gone
    code, out, _ = _run(data_dir, capsys, "audit", "verify")
    assert code == 0


def test_status_readings_and_errors(ct, data_dir, capsys):
    assert _run(data_dir, capsys, "lesions", "add", PID, "--label", "pleura", "--non-target",
                "--status", "present", "--date", "2026-01-05")[0] == 0
    assert _run(data_dir, capsys, "lesions", "measure", PID, "1", "--status", "progression",
                "--date", "2026-03-10")[0] == 0
    _code, out, _ = _run(data_dir, capsys, "recist", PID, "--json")
    assert json.loads(out)["timepoints"][0]["overall"] == "PD"
    for args, where in (
            (("lesions", "measure", PID, "1", "--series", ct["fu"], "--slice", 99, "--p1", "1,1",
              "--p2", "3,3"), "slice"),
            (("lesions", "measure", PID, "1", "--series", ct["fu"], "--slice", 2, "--p1", "1,1"),
             "--p1/--p2"),
            (("lesions", "measure", PID, "7", "--status", "absent", "--date", "2026-03-10"),
             "lesion"),
            (("lesions", "add", "NOBODY", "--label", "x", "--date", "2026-01-01",
              "--status", "present"), "NOBODY"),
            (("recist", "NOBODY"), "NOBODY"),
            (("lesions", "list", "NOBODY"), "NOBODY: no such patient")):
        code, out, err = _run(data_dir, capsys, *args)
        assert code != 0 and where in err and len(err.strip().splitlines()) == 1, (args, err)
    with pytest.raises(SystemExit):  # a usage error: argparse's one line, exit 2
        _run(data_dir, capsys, "lesions", "measure", PID, "1", "--p1", "1;1")
    assert "expected x,y" in capsys.readouterr().err
