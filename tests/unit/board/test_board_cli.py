"""``oncoboard board ...`` end to end through the command line."""

from __future__ import annotations

import json

import pypdf
import pytest
from board_helpers import PATIENTS, add_patient, count

from oncoboard import cli
from oncoboard.board.trail import verify_trail
from oncoboard.store import open_store


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    store = open_store(folder)
    for row in PATIENTS:
        add_patient(store, *row)
    store.close()
    return folder


def main(*argv):
    return cli.main(list(argv))


def run(data_dir, *argv):
    return main("board", *argv, "--data-dir", str(data_dir))


def test_hold_a_meeting_from_the_command_line(data_dir, tmp_path, capsys):
    assert run(data_dir, "create", "--date", "2026-11-23", "--specialty", "thorax",
               "--title", "RCP thorax", "--attendee", "Dr Lee (thoracic surgeon)") == 0
    assert run(data_dir, "add-case", "1", "LUN-001", "--question", "Lobectomy?") == 0
    assert run(data_dir, "add-case", "1", "BRC-002", "--question", "Lung nodule?",
               "--position", "1") == 0
    assert run(data_dir, "move-case", "1", "LUN-001", "1") == 0
    assert run(data_dir, "decide", "1", "LUN-001", "--plan", "lobectomy",
               "--rationale", "cT2 N0, fit", "--option", "lobectomy", "--option", "SBRT") == 0
    assert run(data_dir, "decide", "1", "LUN-001", "--amend", "after PET",
               "--plan", "lobectomy and mediastinal dissection") == 0
    capsys.readouterr()
    assert run(data_dir, "show", "1", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["patient"]["id"] for c in doc["cases"]] == ["LUN-001", "BRC-002"]
    assert doc["cases"][0]["decision"]["version"] == 2
    assert doc["cases"][0]["decision"]["attendees"] == [{"name": "Dr Lee",
                                                         "role": "thoracic surgeon"}]
    assert run(data_dir, "list") == 0
    assert "RCP thorax" in capsys.readouterr().out
    pdf, js = tmp_path / "r.pdf", tmp_path / "r.json"
    assert run(data_dir, "export", "1", "--pdf", str(pdf), "--json", str(js)) == 0
    assert len(pypdf.PdfReader(pdf).pages) == 3
    assert json.loads(js.read_text())["meeting"]["title"] == "RCP thorax"
    assert run(data_dir, "status", "1", "closed") == 0
    assert main("audit", "verify", "--data-dir", str(data_dir)) == 0


@pytest.mark.parametrize("argv, words", [
    (["add-case", "9", "LUN-001", "--question", "?"], "no tumour-board meeting '9'"),
    (["add-case", "1", "NOBODY", "--question", "?"], "no patient 'NOBODY'"),
    (["decide", "1", "BRC-001", "--plan", "x"], "--plan and --rationale are required"),
    (["decide", "1", "BRC-001", "--plan", "x", "--rationale", "y",
      "--departs-from-model", "z"], "no stored model result to depart from"),
    (["export", "1"], "--pdf FILE, --json FILE, --fhir FILE and/or --send"),
    (["decide", "1", "BRC-001", "--plan", "x", "--rationale", "y", "--no-departure"],
     "--no-departure goes with --amend"),
    (["create", "--date", "tomorrow", "--specialty", "sein", "--title", "x"], "YYYY-MM-DD"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(data_dir, capsys, argv, words):
    assert run(data_dir, "create", "--date", "2026-11-23", "--specialty", "sein",
               "--title", "RCP", "--attendee", "Dr Roy (oncologist)") == 0
    assert run(data_dir, "add-case", "1", "BRC-001", "--question", "Adjuvant?") == 0
    store = open_store(data_dir)
    before = (count(store, "board_meetings"), count(store, "board_cases"),
              count(store, "board_decisions"), count(store, "audit_log"))
    store.close()
    capsys.readouterr()
    assert run(data_dir, *argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("oncoboard: error:") and words in err[0]
    store = open_store(data_dir)
    after = (count(store, "board_meetings"), count(store, "board_cases"),
             count(store, "board_decisions"), count(store, "audit_log"))
    assert after == before and verify_trail(store).ok
    store.close()
