"""The command line: one-line errors, exit codes, JSON output, the record commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oncoboard import cli
from oncoboard.patients import fhir_build as fb

EXAMPLE_CSV = Path(__file__).parent.parent / "data" / "patients" / "example.csv"


def _bundle(tmp_path: Path, resources, name="b.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(fb.bundle(resources)), encoding="utf-8")
    return path


def _one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("oncoboard: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], err
    assert "Traceback" not in err


def test_import_list_show_search(run, tmp_path):
    good = _bundle(tmp_path, [
        fb.patient("p1", "CLI-1", "Cli", "Test", "1950-01-01", "female"),
        fb.condition("c1", "p1", "C50.1", "Breast", "2020-01-01"),
        fb.document("d1", "p1", "phone", "2020-02-02", "Pas de fièvre, asthénie.", "fr",
                    "nurse")])
    code, out, err = run("import", "patients", good, EXAMPLE_CSV)
    assert code == 0, err
    assert "1 patient(s)" in out and "example.csv" in out
    code, out, _ = run("patients", "list", "--json")
    assert code == 0 and [p["id"] for p in json.loads(out)] == ["CLI-1", "CSV-001"]
    code, out, _ = run("patients", "list", "--query", "C50")
    assert code == 0 and "CLI-1" in out and "CSV-001" not in out
    code, out, _ = run("patients", "show", "CLI-1", "--json")
    shown = json.loads(out)
    assert shown["summary"]["primary_cancer"]["code"] == "C50.1"
    assert shown["notes"][0]["language"] == "fr"
    code, out, _ = run("patients", "show", "CSV-001")
    assert code == 0 and "CSV-001" in out and "as received: 97 umol/L" in out
    code, out, _ = run("search", "fievre", "--json")
    hits = json.loads(out)
    assert {h["patient_id"] for h in hits} == {"CLI-1", "CSV-001"}
    assert all("[fièvre]" in h["snippet"] for h in hits)
    code, out, _ = run("search", "fievre")
    assert code == 0 and "[fièvre]" in out
    code, out, _ = run("import", "patients", good, "--json")
    assert code == 0 and json.loads(out)[0]["already_imported"] is True


def test_import_error_is_one_line_and_writes_nothing(run, tmp_path):
    bad = _bundle(tmp_path, [
        fb.patient("p1", "CLI-1", "Cli", "Test", "1950-01-01", "female"),
        fb.observation("o1", "p1", "crp", "2021-01-01", value=3, unit="furlongs")])
    code, out, err = run("import", "patients", bad)
    assert code == 2
    _one_line_error(err, str(bad), "entry 1 (Observation/o1)", "furlongs")
    code, out, _ = run("patients", "list", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize(("args", "fragments"), [
    (("import", "patients", "missing.json"), ("missing.json", "no such file")),
    (("patients", "show", "NOBODY"), ("no patient with ID 'NOBODY'",)),
])
def test_user_errors_exit_2(run, args, fragments):
    code, _, err = run(*args)
    assert code == 2
    _one_line_error(err, *fragments)


def test_bad_config_is_one_line(run, tmp_path):
    (tmp_path / "site.toml").write_text('colour = "blue"\n', encoding="utf-8")
    code, _, err = run("patients", "list")
    assert code == 2
    _one_line_error(err, "site.toml", "unknown setting 'colour'")


def test_storage_error_exit_3(run, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code, _, err = run("patients", "list", "--data-dir", blocker)
    assert code == 3
    assert len(err.strip().splitlines()) == 1 and err.startswith("oncoboard: error: ")
    # it read "cannot open the database: [Errno 17] File exists"
    assert "this is a file, not a folder" in err and "Traceback" not in err


def test_internal_error_exit_70(run, monkeypatch):
    from oncoboard.patients import record

    def broken(*a, **k):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(record, "list_patients", broken)
    code, _, err = run("patients", "list")
    assert code == cli.INTERNAL_ERROR_EXIT
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("oncoboard: internal error (ZeroDivision")
    assert "Traceback" not in err


def test_demo_records_only(run):
    code, out, err = run("demo", "--no-imaging", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert len(result["patients"]) == 33 and result["newly_imported"] == 33
    code, out, _ = run("demo", "--no-imaging")
    assert code == 0 and "33 already present" in out


def test_import_subcommand_hook(run, tmp_path):
    from oncoboard.cli import patients as commands

    seen = {}

    def configure(parser):
        parser.add_argument("thing")
        parser.set_defaults(handler=lambda args, ctx: seen.setdefault("thing", args.thing) and 0)

    commands.register_import_subcommand("widgets", configure, help="import widgets")
    try:
        code, _, err = run("import", "widgets", "w1")
        assert code == 0 and seen == {"thing": "w1"}, err
        code, _, _ = run("import", "patients", EXAMPLE_CSV)  # still there after a rebuild
        assert code == 0
    finally:
        commands._import_hooks.pop("widgets", None)


def test_console_script_end_to_end(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "ONCOBOARD_HOME": str(tmp_path / "home"),
           "ONCOBOARD_SITE_CONFIG": str(tmp_path / "s.toml"),
           "ONCOBOARD_USER_CONFIG": str(tmp_path / "u.toml")}
    proc = subprocess.run([sys.executable, "-m", "oncoboard", "import", "patients", str(bad)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    _one_line_error(proc.stderr, "bad.json", "invalid JSON")


def test_import_a_folder_stops_at_the_first_bad_file(run, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _bundle(folder, [fb.patient("p1", "F-1", "A", "B", "1950-01-01", "male")], "1.json")
    (folder / "2.json").write_text("[]", encoding="utf-8")
    _bundle(folder, [fb.patient("p3", "F-3", "A", "B", "1950-01-01", "male")], "3.json")
    (folder / "notes.txt").write_text("ignored", encoding="utf-8")
    code, out, err = run("import", "patients", folder)
    assert code == 2
    assert "1.json: 1 patient(s)" in out
    _one_line_error(err, "2.json", "not a FHIR resource")
    code, out, _ = run("patients", "list", "--json")
    assert [p["id"] for p in json.loads(out)] == ["F-1"]


@pytest.mark.parametrize(("args", "fragment"), [
    (["predict"], "predict: the following arguments are required: patient_id"),
    (["board", "status", "1", "done"], "board status: argument status: invalid choice"),
    (["nope"], "unknown command 'nope'")])
def test_usage_errors_are_one_line(run, capsys, args, fragment):
    # argparse printed a multi-line usage block; the README promises one line and exit 2.
    with pytest.raises(SystemExit) as info:
        run(*args)
    err = capsys.readouterr().err
    assert info.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("oncoboard: error: ") and fragment in err, err


def test_usage_error_text(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "oncoboard", "--data-dir", str(tmp_path),
                           "board", "create", "--date", "2026-12-01", "--specialty", "sein"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "oncoboard: error: board create: the following arguments are required: --title "
        "(see `oncoboard board create --help`)"], proc.stderr


def test_import_patients_of_a_folder_without_records_is_an_error(run, tmp_path):
    # It printed nothing and exited 0: the user could not tell that nothing was imported.
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"\xff\xd8\xff")
    code, _out, err = run("import", "patients", folder)
    assert code == 2 and "no .json or .csv file in this folder" in err


@pytest.mark.parametrize(("name", "fragment"), [("records.zip", "unzip it"),
                                                 ("labs.xlsx", "save it as CSV")])
def test_import_patients_names_archives_and_spreadsheets(run, tmp_path, name, fragment):
    # An .xlsx (a zip) was refused as "not UTF-8 text (byte 0x..)".
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    code, _out, err = run("import", "patients", path)
    assert code == 2 and err.startswith(f"oncoboard: error: {path}: ") and fragment in err


def test_data_dir_not_writable(run, tmp_path, monkeypatch):
    # As a user without write access it read "attempt to write a readonly database" (or an
    # internal error when the folder could not even be looked at). Tests run as root, so the
    # permission check is simulated.
    folder = tmp_path / "ro"
    folder.mkdir()
    real = cli.os.access
    monkeypatch.setattr(cli.os, "access",
                        lambda p, mode: False if str(p) == str(folder) else real(p, mode))
    code, _out, err = run("--data-dir", folder, "patients", "list")
    assert code == 3 and "the data folder is not writable by user" in err
    assert not (folder / "oncoboard.db").exists()


def test_config_error_is_printed_once(tmp_path):
    # Before logging was set up, the warning went to Python's last-resort handler too:
    # "patients failed: ..." above the "oncoboard: error: ..." line.
    site = tmp_path / "site.toml"
    site.write_text('language = "de"\n', encoding="utf-8")
    env = {**os.environ, "ONCOBOARD_SITE_CONFIG": str(site),
           "ONCOBOARD_USER_CONFIG": str(tmp_path / "user.toml")}
    env.pop("ONCOBOARD_LANGUAGE", None)
    proc = subprocess.run([sys.executable, "-m", "oncoboard", "--data-dir", str(tmp_path),
                           "patients", "list"], capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        f"oncoboard: error: {site}: language must be one of en, fr, not 'de'"], proc.stderr


def test_import_json_streams_the_reports_and_stays_valid_on_error(run, tmp_path):
    """Reports are written one by one (memory flat with the number of files); a file that
    stops the import leaves the array of the files imported before it, closed."""
    good = [_bundle(tmp_path, [fb.patient(f"p{i}", f"JS-{i}", "Js", "Test", "1950-01-01",
                                          "female")], name=f"g{i}.json") for i in range(3)]
    code, out, err = run("import", "patients", *good, "--json", "--workers", "0")
    assert code == 0, err
    assert [r["patients"] for r in json.loads(out)] == [["JS-0"], ["JS-1"], ["JS-2"]]
    bad = _bundle(tmp_path, [
        fb.patient("q1", "JS-BAD", "Js", "Bad", "1950-01-01", "female"),
        fb.observation("o1", "q1", "crp", "2021-01-01", value=3, unit="furlongs")], "bad.json")
    code, out, err = run("import", "patients", good[0], bad, "--json", "--workers", "0")
    assert code == 2 and "furlongs" in err
    assert [r["already_imported"] for r in json.loads(out)] == [True]
