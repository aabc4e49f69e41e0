"""What a new user trips on in their first hour: hints that work as printed, typos, file kinds,
empty data folders, log noise, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oncoboard import cli
from oncoboard.cli import hints
from oncoboard.patients import fhir_build as fb

EXAMPLE_CSV = Path(__file__).parent.parent / "data" / "patients" / "example.csv"


def _patients(run, tmp_path: Path, *ids: str) -> None:
    path = tmp_path / "patients.json"
    path.write_text(json.dumps(fb.bundle([
        fb.patient(f"p{i}", pid, "Test", "Tess", "1950-01-01", "female")
        for i, pid in enumerate(ids)])), encoding="utf-8")
    code, _, err = run("import", "patients", path)
    assert code == 0, err


# --- typos -------------------------------------------------------------------------------------
def test_edit_distance_counts_a_swap_as_one_edit():
    assert hints.edit_distance("pateints", "patients") == 1
    assert hints.edit_distance("lst", "list") == 1
    assert hints.edit_distance("", "abc") == 3
    assert hints.closest("pateints", ["patients", "plugins"]) == "patients"
    assert hints.closest("demo-lu-001", ["DEMO-LU-001"]) == "DEMO-LU-001"
    assert hints.closest("xyzzy", ["patients", "plugins"]) is None
    assert hints.closest("pat", ["patients"]) is None


@pytest.mark.parametrize(("argv", "expected"), [
    (["pateints", "list"], "oncoboard: error: unknown command 'pateints'; did you mean "
                           "'patients'? (see `oncoboard --help`)"),
    (["patients", "lst"], "oncoboard: error: patients: unknown action 'lst'; did you mean "
                          "'list'? (see `oncoboard patients --help`)"),
    (["import", "patinets", "x.json"], "unknown kind 'patinets'; did you mean 'patients'?"),
    (["board", "list", "--status", "hled"], "invalid choice: 'hled' (choose from 'planned', "
                                            "'held', 'closed'); did you mean 'held'?"),
    (["xyzzy"], "oncoboard: error: unknown command 'xyzzy' (see `oncoboard --help`)"),
])
def test_a_mistyped_command_gets_the_closest_one_not_the_whole_list(run, capsys, argv,
                                                                     expected):
    with pytest.raises(SystemExit) as info:
        run(*argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and len(err.splitlines()) == 1 and expected in err, err
    assert "choose from" not in err or "--status" in argv


def test_a_patient_id_one_edit_away_is_suggested(run, tmp_path):
    _patients(run, tmp_path, "DEMO-LU-001", "DEMO-BR-001")
    code, _, err = run("patients", "show", "DEMO-LU-01")
    assert code == 2 and err.strip() == ("oncoboard: error: no patient with ID 'DEMO-LU-01'; "
                                         "did you mean 'DEMO-LU-001'?")
    code, _, err = run("search", "fievre", "--patient", "demo-br-001")
    assert code == 2 and "did you mean 'DEMO-BR-001'?" in err
    code, _, err = run("patients", "show", "NOBODY-AT-ALL")
    assert code == 2 and "did you mean" not in err


def test_a_plugin_id_one_edit_away_is_suggested(run):
    code, _, err = run("plugins", "run", "carg-toxicty", "--input", "age=70")
    assert code == 2 and "no plugin 'carg-toxicty'; did you mean 'carg-toxicity'?" in err
    code, _, err = run("plugins", "verify", "relapse-gbsg")
    assert code == 2 and "did you mean 'relapse-gbsg2'?" in err


# --- an empty data folder ----------------------------------------------------------------------
def test_an_empty_data_folder_is_named_with_how_to_read_another(run, tmp_path):
    home = tmp_path / "home"
    code, out, _ = run("patients", "list")
    assert code == 0 and f"no patients in the data folder {home}" in out
    assert "--data-dir DIR, or export ONCOBOARD_HOME=DIR" in out
    code, _, err = run("patients", "show", "DEMO-LU-001")
    assert code == 2 and err.strip().splitlines() == [
        f"oncoboard: error: no patient with ID 'DEMO-LU-001': no patients in the data folder "
        f"{home} (to read another: --data-dir DIR, or export ONCOBOARD_HOME=DIR)"]
    code, out, _ = run("search", "fievre")
    assert code == 0 and f"no patients in the data folder {home}" in out
    code, out, _ = run("board", "list")
    assert code == 0 and f"no meetings in the data folder {home}" in out
    assert "it holds no patients either" in out
    code, _, err = run("board", "show", "1")
    assert code == 2 and f"the data folder {home} holds no meetings" in err
    _patients(run, tmp_path, "P-1")
    code, out, _ = run("patients", "list", "--query", "nobody")
    assert out.strip() == "no patients matching 'nobody'"


# --- the demo's last lines work as printed -----------------------------------------------------
def test_command_prefix_is_what_the_shell_can_run(tmp_path, monkeypatch):
    script = tmp_path / "venv" / "bin" / "oncoboard"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)
    assert hints.command_prefix("venv/bin/oncoboard") == str(script)  # not on PATH: full path
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin")
    assert hints.command_prefix(str(script)) == "oncoboard"
    assert hints.command_prefix("/x/oncoboard/__main__.py").endswith(" -m oncoboard")


def test_demo_hint_names_the_data_folder_and_the_program(run, tmp_path, monkeypatch):
    monkeypatch.setattr(hints, "command_prefix", lambda argv0=None: "/opt/venv/bin/oncoboard")
    code, out, err = run("demo", "--no-imaging")
    assert code == 0, err
    tail = out[out.index("next, in a shell"):].splitlines()[1:]
    assert tail[0] == f"  export ONCOBOARD_HOME={tmp_path / 'home'}"
    assert tail[1:3] == ["  /opt/venv/bin/oncoboard patients list",
                         "  /opt/venv/bin/oncoboard patients show DEMO-LU-001"]
    assert all(line.startswith("  /opt/venv/bin/oncoboard ") for line in tail[1:])
    assert not any(line.startswith("  oncoboard") for line in out.splitlines())


def test_quickstart_hint_works_when_copied(tmp_path):
    """The demo's printed lines, run in a new shell as printed, find the demo patients."""
    home = tmp_path / "demo-data"
    env = {k: v for k, v in os.environ.items() if k != "ONCOBOARD_HOME"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    proc = subprocess.run([sys.executable, "-m", "oncoboard", "demo", "--no-imaging",
                           "--data-dir", str(home)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout[proc.stdout.index("next, in a shell"):].splitlines()[1:]
    script = "set -e\n" + "\n".join(lines[:3])  # export, patients list, patients show
    shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env,
                           timeout=300, cwd=tmp_path)
    assert shell.returncode == 0, shell.stderr
    assert "DEMO-LU-001" in shell.stdout and "no patients" not in shell.stdout


def test_quickstart_says_how_to_see_the_app_without_a_screen():
    text = (Path(__file__).parents[2] / "packaging" / "quickstart.sh").read_text()
    assert "gui --screenshot" in text and "xvfb-run" in text
    assert "export ONCOBOARD_HOME=" in text


# --- board: hints and a silent status change ---------------------------------------------------
def test_board_show_hints_at_board_predict_and_decide_says_the_meeting_is_held(run, tmp_path):
    _patients(run, tmp_path, "P-1")
    assert run("board", "create", "--date", "2026-11-23", "--specialty", "sein", "--title",
               "RCP", "--attendee", "Dr Roy (oncologist)")[0] == 0
    assert run("board", "add-case", "1", "P-1", "--question", "Adjuvant?")[0] == 0
    code, out, _ = run("board", "show", "1")
    assert "(oncoboard board predict 1)" in out and "oncoboard predict ID" not in out
    code, out, err = run("board", "decide", "1", "P-1", "--plan", "Surveillance",
                         "--rationale", "Low risk")
    assert code == 0, err
    assert "meeting 1 is now held (it was planned): a decision was recorded" in out
    code, out, err = run("board", "decide", "1", "P-1", "--amend", "typo", "--plan", "Surveil")
    assert code == 0 and "is now" not in out
    code, _, err = run("board", "decide", "1", "P-2", "--plan", "x", "--rationale", "y")
    assert code == 2 and "not on meeting 1's agenda; did you mean 'P-1'?" in err
    code, _, err = run("board", "add-case", "1", "P-11", "--question", "?")
    assert code == 2 and "did you mean 'P-1'?" in err


# --- exit codes: the README's table ------------------------------------------------------------
def test_done_with_problems_is_exit_1(run, tmp_path, monkeypatch):
    from oncoboard.board import predict

    class _Run:
        error = "model failed"

        def describe(self) -> str:
            return "P-1: model failed"

    monkeypatch.setattr(predict, "predict_meeting", lambda *a, **k: [_Run()])
    code, out, _ = run("board", "predict", "1")
    assert code == cli.PROBLEMS_EXIT == 1 and "model failed" in out


def test_pacs_echo_failure_is_the_pacs_exit_code():
    from oncoboard.cli import pacs
    from oncoboard.errors import PacsError

    source = Path(pacs.__file__).read_text()
    assert "else PacsError.exit_code" in source and PacsError.exit_code == 4


# --- no log noise ------------------------------------------------------------------------------
def test_no_pint_redefinition_in_a_command_log(tmp_path):
    env = {**os.environ, "ONCOBOARD_HOME": str(tmp_path / "home"),
           "ONCOBOARD_UNIT_CACHE": str(tmp_path / "units"),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    for _ in range(2):  # without, then with pint's cache
        proc = subprocess.run([sys.executable, "-m", "oncoboard", "import", "patients",
                               str(EXAMPLE_CSV)], capture_output=True, text=True, env=env,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
    log = (tmp_path / "home" / "logs" / "oncoboard.log").read_text()
    assert "imported example.csv" in log or "example.csv" in log
    assert "Redefining" not in log and "pint" not in log
    assert "Redefining" not in proc.stderr
