"""Write the hostile-input corpus: small broken, mutated or oversized files (README "Limits").

    .venv/bin/python tests/data/hostile/make_corpus.py [FOLDER]   # default: next to this script

Every file is synthetic. ``expected.json`` says, for each, what importing it must do: ``ok``
(imported), ``refused`` (a clear error, exit 1 or 2, nothing of it stored) or, for DICOM,
``skipped`` (the file is listed as skipped, the good files beside it indexed). The fuzz test
(tests/unit/test_hostile_corpus.py) runs the command line over each.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from oncoboard.imaging import synth
from oncoboard.patients import fhir_build as fb

HERE = Path(__file__).resolve().parent


def _bundle(resources: list[dict[str, Any]]) -> str:
    return json.dumps(fb.bundle(resources), ensure_ascii=False)


def _patient(pid: str = "H-1", family: str = "Hostile",
             birth: str = "1960-05-06") -> dict[str, Any]:
    return fb.patient(pid, pid, family, "Test", birth, "female")


def records(out: Path, expected: dict[str, str]) -> None:
    """FHIR bundles and CSV files over the limits."""
    def put(name: str, text: str, outcome: str) -> None:
        (out / name).write_text(text, encoding="utf-8")
        expected[name] = outcome

    put("fhir_ok.json", _bundle([_patient("H-OK")]), "ok")
    # 1,000 nested extensions, written as text (json.dumps itself cannot nest that deep)
    deep = '{"url": "urn:x", "extension": [' * 1000 + '{"url": "urn:x", "valueString": "x"}' \
        + "]}" * 1000
    put("fhir_nested_1000.json", _bundle([{**_patient("H-DEEP"), "extension": ["DEEP"]}])
        .replace('"DEEP"', deep), "refused")
    put("fhir_deep_array.json", "[" * 5000 + "]" * 5000, "refused")
    put("fhir_long_id.json", _bundle([_patient("H" * 2_000)]), "refused")
    put("fhir_nul_id.json", _bundle([_patient("H-\u0000-1")]), "refused")
    put("fhir_bidi_id.json", _bundle([_patient("H-\u202e1-2")]), "refused")
    put("fhir_long_family.json", _bundle([_patient("H-NAME", family="X" * 2_000)]), "refused")
    put("fhir_birth_0001.json", _bundle([_patient("H-OLD", birth="0001-01-01")]), "refused")
    put("fhir_hb_1e308.json", _bundle([
        _patient("H-HB"), fb.observation("hb", "H-HB", "haemoglobin", "2020-01-05", value=1e308,
                                         unit="g/dL")]), "refused")
    put("fhir_note_nul.json", _bundle([
        _patient("H-NOTE"), fb.document("n1", "H-NOTE", "nursing", "2020-05-10",
                                        "fi\u0000evre", "fr", "nurse")]), "refused")
    put("fhir_not_json.json", "{\"resourceType\": \"Bundle\", \"entry\": [", "refused")
    put("csv_no_header.csv", "csv-001,patient,exemple,jeanne,1952-04-17\n"
        "csv-001,observation,haemoglobin,,12\n", "refused")
    put("csv_long_value.csv", "patient_id,kind,family_name,given_name,birth_date,sex\n"
        f"H-CSV,patient,{'Y' * 2_000},Ann,1950-01-01,female\n", "refused")
    put("csv_bidi_id.csv", "patient_id,kind,family_name,given_name,birth_date,sex\n"
        "H-\u202eCSV,patient,Doe,Ann,1950-01-01,female\n", "refused")
    put("csv_binary.csv", "patient_id,kind\n\u0000\u0001\u0002,patient\n", "refused")


def _series(folder: Path, prefix: str, n: int = 2, **kwargs: Any) -> list[Path]:
    stored = np.arange(n * 8 * 8, dtype=np.uint16).reshape(n, 8, 8) % 4000
    uids = {k: synth.make_uid("hostile", prefix, k) for k in ("study", "series", "frame")}
    datasets = synth.slice_datasets(
        stored, synth.grid_positions((0, 0, 0), (0, 0, 2.5), n), (1, 0, 0, 0, 1, 0), (0.8, 0.8),
        uids=uids, header={"PatientID": "H-DICOM", "SeriesDescription": "HOSTILE-X"}, **kwargs)
    return synth.write_datasets(datasets, folder, names=[f"{prefix}_{i}.dcm" for i in range(n)])


def dicom(out: Path, expected: dict[str, str]) -> None:
    """A good series beside damaged files in one folder (dicom/), and broken geometry."""
    folder = out / "dicom"
    for path in _series(folder, "good", 3):
        expected[f"dicom/{path.name}"] = "ok"
    source = _series(out / "tmp", "mut", 1)[0]
    data = source.read_bytes()
    tag = b"\x08\x00\x3e\x10LO"  # SeriesDescription, explicit VR little endian
    at = data.index(tag)

    def mutant(name: str, blob: bytes) -> None:
        (folder / name).write_bytes(blob)
        expected[f"dicom/{name}"] = "skipped"

    mutant("unknown_vr.dcm", data[:at + 4] + b"QZ" + data[at + 6:])
    mutant("length_not_multiple.dcm", data[:at + 4] + b"FD" + data[at + 6:])
    mutant("huge_length.dcm", data[:at + 4] + b"OB\x00\x00\xf0\xff\xff\x7f" + data[at + 8:])
    mutant("truncated.dcm", data[: len(data) // 2])
    mutant("empty.dcm", b"")
    for name, kwargs in {"spacing_zero": {"header": {"PixelSpacing": [0, 0]}},
                         "orientation_zero": {"header": {"ImageOrientationPatient": [0] * 6}},
                         "slope_inf": {"slope": "1e400"}, "slope_nan": {"slope": "NaN"}}.items():
        path = _series(out / "tmp", name, 1)[0]
        import pydicom

        ds = pydicom.dcmread(path)
        for key, value in kwargs.get("header", {}).items():
            setattr(ds, key, value)
        if "slope" in kwargs:
            ds.RescaleSlope = kwargs["slope"]
        ds.save_as(folder / f"{name}.dcm")
        expected[f"dicom/{name}.dcm"] = "skipped"
    for path in (out / "tmp").iterdir():
        path.unlink()
    (out / "tmp").rmdir()


def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}
    records(out, expected)
    dicom(out, expected)
    (out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n",
                                       encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
