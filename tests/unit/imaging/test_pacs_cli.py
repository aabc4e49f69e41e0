"""``oncoboard pacs echo|find|retrieve`` against a real Orthanc on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from orthanc import HOST, ORTHANC_AET, TEST_AET, OrthancServer, free_port, orthanc_fixture  # noqa: F401

from oncoboard.cli import main

pytestmark = pytest.mark.orthanc


@pytest.fixture
def pacs_home(orthanc: OrthancServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the settings at a site file listing the test Orthanc and a dead node."""
    site = tmp_path / "site.toml"
    site.write_text(f"""
local_ae_title = "{TEST_AET}"
local_port = {orthanc.move_port}

[[pacs]]
name = "orthanc"
ae_title = "{ORTHANC_AET}"
host = "{HOST}"
port = {orthanc.dicom_port}
calling_ae_title = "{TEST_AET}"

[[pacs]]
name = "closed"
ae_title = "PACS"
host = "{HOST}"
port = {free_port()}
calling_ae_title = "{TEST_AET}"
timeout_s = 2
""")
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(site))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "no-user.toml"))
    data = tmp_path / "data"
    monkeypatch.setenv("ONCOBOARD_HOME", str(data))
    return data


def test_echo_every_configured_node(pacs_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pacs", "echo"]) == 4  # one of the two nodes is down
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("orthanc: ok (")
    assert out[1].startswith("closed: FAILED: PACS 'closed' at 127.0.0.1:")
    assert "refused the connection" in out[1]
    assert main(["pacs", "echo", "--node", "orthanc", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["node"] == "orthanc" and row["ok"] is True


def test_echo_inline_node(orthanc: OrthancServer, pacs_home: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    args = ["pacs", "echo", "--host", HOST, "--port", str(orthanc.dicom_port), "--aet",
            ORTHANC_AET]
    assert main([*args, "--calling-aet", TEST_AET]) == 0
    assert capsys.readouterr().out.startswith("inline: ok")
    assert main(args) == 4  # our default AE title ONCOBOARD is unknown to this Orthanc
    assert "Calling AE title not recognised" in capsys.readouterr().out


def test_find_studies_json_and_table(orthanc: OrthancServer, pacs_home: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pacs", "find", "--node", "orthanc", "--level", "study", "--modality", "CT",
                 "--date", "20240101-20241231", "--json"]) == 0
    [study] = json.loads(capsys.readouterr().out)
    assert study["study_uid"] == orthanc.studies[0].study_uid
    assert study["patient_id"] == "ONCO-PACS-001"
    assert main(["pacs", "find", "--node", "orthanc", "--level", "series", "--study",
                 orthanc.studies[1].study_uid]) == 0
    captured = capsys.readouterr()
    header, row = captured.out.splitlines()
    assert header.split() == ["series_number", "modality", "description", "n_instances",
                              "series_uid"]
    assert row.split()[:2] == ["1", "MR"] and row.split()[-1] in orthanc.studies[1].series
    assert "1 series on orthanc" in captured.err


def test_find_with_bad_date_is_a_one_line_error(pacs_home: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pacs", "find", "--node", "orthanc", "--date", "2024"]) == 4
    assert capsys.readouterr().err.startswith("oncoboard: error: invalid study_date '2024'")


@pytest.mark.parametrize("method", ["get", "move"])
def test_retrieve_into_the_store(orthanc: OrthancServer, pacs_home: Path, method: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    study = orthanc.studies[0]
    assert main(["pacs", "retrieve", "--node", "orthanc", "--study", study.study_uid,
                 "--method", method, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    folder = pacs_home / "dicom" / "pacs" / study.study_uid
    assert sorted(report["files"]) == sorted(
        str(folder / f"{ds.SOPInstanceUID}.dcm") for ds in study.instances)
    assert report["index"]["instances_indexed"] == 5
    assert sorted(report["index"]["series_uids"]) == sorted(study.series)


def test_retrieve_unknown_node_and_unknown_study(pacs_home: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pacs", "retrieve", "--node", "nope", "--study", "1.2.3"]) == 2
    assert "unknown PACS node 'nope' (known: orthanc, closed)" in capsys.readouterr().err
    assert main(["pacs", "retrieve", "--node", "orthanc", "--study", "1.2.3"]) == 2
    assert capsys.readouterr().err.rstrip().endswith("has no study 1.2.3")
