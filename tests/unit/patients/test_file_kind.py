"""The record import recognises what it was given: a README, a PDF, a DICOM image, a photo..."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oncoboard.errors import RecordImportError
from oncoboard.patients import fhir_build as fb
from oncoboard.patients.file_kind import record_format

README = Path(__file__).parents[3] / "README.md"


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("README.md", None, "not a patient record file (Markdown text?)"),
    ("notes", b"# Plan\n\n- call the patient\n- book the CT\n", "(Markdown text?)"),
    ("notes.txt", b"Patient seen today, no fever.\n", "(plain text?)"),
    ("labs.txt", b"id,test,value\n1,crp,3\n", "(a CSV file without Oncoboard's columns?)"),
    ("hl7.txt", b"MSH|^~\\&|LAB|HOSP\rPID|1||123\r", "(an HL7 v2 message?)"),
    ("report.pdf", b"%PDF-1.7\n", "(a PDF)"),
    ("report.dat", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "(a PDF)"),
    ("IM0001", b"\0" * 128 + b"DICM" + b"\x02\x00\x00\x00" * 8, "(a DICOM file): use "
                                                               "`oncoboard import dicom`"),
    ("scan.dcm", b"anything", "(a DICOM file)"),
    ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "(a PNG image)"),
    ("photo", b"\xff\xd8\xff\xe0" + bytes(64), "(a JPEG image)"),
    ("blob.bin", bytes(range(256)) * 8, "(binary data)"),
    ("records.zip", b"PK\x03\x04" + bytes(64), "unzip it"),
    ("labs.xlsx", b"PK\x03\x04" + bytes(64), "save it as CSV UTF-8"),
    ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "(an Office document)"),
])
def test_what_is_not_a_record_is_refused_as_what_it_is(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(README.read_bytes() if content is None else content)
    with pytest.raises(RecordImportError) as info:
        record_format(path)
    assert expected in info.value.reason and info.value.file == str(path)


@pytest.mark.parametrize(("name", "content", "kind"), [
    ("b.json", json.dumps(fb.bundle([])).encode(), "fhir"),
    ("bundle", b"\xef\xbb\xbf  {\"resourceType\": \"Bundle\"}", "fhir"),
    ("b.xml", b"<Bundle xmlns='http://hl7.org/fhir'/>", "fhir"),  # the FHIR reader names XML
    ("bad.json", b"# not json", "fhir"),                          # ... and invalid JSON
    ("x.csv", b"anything,at,all\n", "csv"),                       # ... the CSV reader columns
    ("export.txt", b"patient_id;kind;family_name\r\nP1;patient;X\r\n", "csv"),
    ("excel.txt", b"sep=;\npatient_id;kind\nP1;patient\n", "csv"),
    ("latin1.txt", "patient_id;kind;family_name\nP1;patient;H\u00e9l\u00e8ne\n".encode("latin-1"),
     "csv"),                                                      # ... says "not UTF-8"
    ("empty", b"", "csv"),                                        # ... "the file is empty"
])
def test_records_go_to_their_reader(tmp_path, name, content, kind):
    path = tmp_path / name
    path.write_bytes(content)
    assert record_format(path) == kind


def test_cli_import_of_the_readme(run):
    code, out, err = run("import", "patients", README)
    assert code == 2 and out == ""
    assert err == (f"oncoboard: error: {README}: not a patient record file (Markdown text?): "
                   "Oncoboard imports FHIR R4 bundles (.json) and CSV files with its columns\n")
