"""The access log: one row per opening of a record, listed by patient or user, never a name."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from oncoboard import cli
from oncoboard.audit.access import accesses, record_access, verify_access_log
from oncoboard.config import load_settings
from oncoboard.identity import os_user, workstation
from oncoboard.store import open_store

sys.path.insert(0, str(Path(__file__).parent / "board"))
from board_helpers import PATIENTS, add_patient  # noqa: E402

NAMES = [n for row in PATIENTS for n in (row[1], row[2])]


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    store = open_store(folder)
    for row in PATIENTS:
        add_patient(store, *row)
    store.close()
    return folder


def oncoboard(data_dir, *argv):
    return cli.main([*map(str, argv), "--data-dir", str(data_dir)])


def rows(data_dir):
    store = open_store(data_dir)
    try:
        return [dict(zip([c[0] for c in cur.description], r, strict=True))
                for cur in [store.conn.execute("SELECT * FROM access_log ORDER BY seq")]
                for r in cur.fetchall()]
    finally:
        store.close()


def test_patients_show_writes_one_row_and_audit_access_lists_it(data_dir, capsys):
    assert oncoboard(data_dir, "patients", "show", "BRC-001") == 0
    written = rows(data_dir)
    assert len(written) == 1
    row = written[0]
    assert (row["patient_id"], row["route"], row["user_name"], row["workstation"]) == (
        "BRC-001", "cli.patients.show", os_user(), workstation())
    capsys.readouterr()
    assert oncoboard(data_dir, "patients", "show", "BRC-002") == 0
    assert oncoboard(data_dir, "patients", "show", "BRC-001", "--json") == 0
    capsys.readouterr()
    assert oncoboard(data_dir, "audit", "access", "BRC-001", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [a["seq"] for a in listed] == [3, 1]  # newest first, only this patient
    assert {a["user"] for a in listed} == {os_user()}
    assert oncoboard(data_dir, "audit", "access", "BRC-001") == 0
    text = capsys.readouterr().out.splitlines()
    assert len(text) == 2 and all(os_user() in line and workstation() in line
                                  and "CLI patients show" in line and "UTC" in line
                                  for line in text)
    assert oncoboard(data_dir, "audit", "access", "--user", os_user(), "--json") == 0
    assert [a["patient_id"] for a in json.loads(capsys.readouterr().out)] == [
        "BRC-001", "BRC-002", "BRC-001"]
    assert oncoboard(data_dir, "audit", "access", "--user", "nobody") == 0
    assert "no access recorded for user nobody" in capsys.readouterr().out
    assert oncoboard(data_dir, "audit", "access") == 2  # neither a patient nor --user
    assert "give a PATIENT" in capsys.readouterr().err


def test_board_show_and_export_write_their_routes(data_dir, tmp_path, capsys):
    assert oncoboard(data_dir, "board", "create", "--date", "2026-12-01", "--specialty", "sein",
                     "--title", "RCP", "--attendee", "Dr A (oncologist)") == 0
    for pid in ("BRC-001", "BRC-002"):
        assert oncoboard(data_dir, "board", "add-case", "1", pid, "--question", "Q?") == 0
    assert not rows(data_dir)  # putting a patient on the agenda does not open the record
    assert oncoboard(data_dir, "board", "show", "1") == 0
    assert oncoboard(data_dir, "board", "export", "1", "--json", tmp_path / "m.json") == 0
    assert [(r["route"], r["patient_id"]) for r in rows(data_dir)] == [
        ("board.case", "BRC-001"), ("board.case", "BRC-002"),
        ("export", "BRC-001"), ("export", "BRC-002")]


def test_no_name_in_the_access_log_nor_in_the_log_file(data_dir, capsys):
    for pid in ("BRC-001", "BRC-002", "LUN-001"):
        assert oncoboard(data_dir, "patients", "show", pid) == 0
    capsys.readouterr()
    dumped = json.dumps(rows(data_dir))
    log_text = "".join(p.read_text(errors="replace")
                       for p in load_settings(data_dir).log_dir.glob("*.log*"))
    assert "access cli.patients.show" in log_text  # the log does say it
    for name in NAMES:
        assert name not in dumped
        assert name not in log_text


def test_the_access_log_is_chained(data_dir):
    store = open_store(data_dir)
    try:
        for pid in ("BRC-001", "BRC-002", "LUN-001"):
            record_access(store, pid, "gui.patient")
        assert verify_access_log(store) == []
        assert [a.patient_id for a in accesses(store, last=2)] == ["LUN-001", "BRC-002"]
        store.conn.execute("UPDATE access_log SET user_name = 'someone' WHERE seq = 2")
        assert [p.kind for p in verify_access_log(store)] == ["edited"]
        store.conn.execute("UPDATE access_log SET user_name = ? WHERE seq = 2", [os_user()])
        store.conn.execute("DELETE FROM access_log WHERE seq = 2")
        problems = verify_access_log(store)
        assert [p.kind for p in problems] == ["deleted"] and "row 3" in problems[0].detail
        from oncoboard.board.trail import verify_trail

        assert not verify_trail(store).ok  # `oncoboard audit verify` says so too
    finally:
        store.close()
