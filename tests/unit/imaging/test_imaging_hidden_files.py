"""Hidden files in a DICOM folder (the demo's marker, .DS_Store) are not skipped problems."""

from __future__ import annotations

import numpy as np

from oncoboard.imaging import synth


def test_demo_like_folder_with_marker_files_imports_with_exit_0(run, tmp_path):
    folder = tmp_path / "dicom" / "DEMO-1" / "ct"
    uids = {k: synth.make_uid("hidden", k) for k in ("study", "series", "frame")}
    stored = np.zeros((2, 8, 8), dtype=np.uint16)
    synth.write_datasets(synth.slice_datasets(
        stored, synth.grid_positions((0, 0, 0), (0, 0, 2), 2), (1, 0, 0, 0, 1, 0), (1, 1),
        uids=uids), folder)
    (tmp_path / "dicom" / ".complete-v3.json").write_text('{"date": "2026-01-01"}')
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    code, out, err = run("import", "dicom", tmp_path / "dicom")
    assert code == 0, out + err
    assert "2 files indexed" in out and "0 skipped" in out
