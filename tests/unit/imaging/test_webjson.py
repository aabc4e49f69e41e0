"""The DICOM JSON reader of the PACS view gives the instance records the file reader gives."""

from __future__ import annotations

import dataclasses

import pydicom
import pytest
from pydicom.data import get_testdata_file

from oncoboard.imaging.headers import read_record
from oncoboard.imaging.webjson import JsonDataset
from oncoboard.imaging.webseries import _FAKE_STAT, _record_from_dataset

FILES = ["CT_small.dcm", "MR_small.dcm", "emri_small.dcm", "rtdose.dcm", "MR_small_RLE.dcm",
         "JPEG2000.dcm", "liver_1frame.dcm", "SC_rgb_rle_2frame.dcm", "rtstruct.dcm",
         "examples_ybr_color.dcm"]
SKIP = {"path", "size", "mtime_ns", "pixel_offset", "pixel_length", "transfer_syntax"}


@pytest.mark.parametrize("name", FILES)
def test_json_records_equal_file_records(name: str) -> None:
    path = get_testdata_file(name)
    from_file = read_record(path)
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    row = ds.to_json_dict(bulk_data_threshold=1 << 30,
                          bulk_data_element_handler=lambda _e: "")
    row = {tag: value for tag, value in row.items() if not tag.upper().startswith("7FE0")}
    from_json = _record_from_dataset(JsonDataset(row), "url", _FAKE_STAT, "", 0, None)
    for field in dataclasses.fields(from_file):
        if field.name not in SKIP:
            assert getattr(from_json, field.name) == getattr(from_file, field.name), field.name


def test_values_as_pydicom_gives_them() -> None:
    ds = JsonDataset({"00281050": {"vr": "DS", "Value": [40, 400]},
                      "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^J"}]},
                      "00080060": {"vr": "CS"}, "0008103e": {"vr": "LO", "Value": ["CT"]}})
    assert type(ds.get("WindowCenter")).__name__ == "MultiValue"
    assert list(ds.get("WindowCenter")) == [40, 400]
    assert ds.get("PatientName") == "Doe^J" and ds.get("Modality") == ""
    assert "SeriesDescription" in ds and "Rows" not in ds and ds.get("Rows", 7) == 7
