"""The record import job of the import dialog (run directly: no window, no demo)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "imaging"))

from imaging_helpers import sphere_series  # noqa: E402


class _Task:
    def progress(self, fraction: float, message: str) -> None:
        pass


def test_records_imported_after_their_dicom_are_linked_to_it(tmp_path: Path) -> None:
    from oncoboard.config import load_settings
    from oncoboard.imaging.index import index_paths, list_series
    from oncoboard.patients import fhir_build as fb
    from oncoboard.store import open_store
    from oncoboard.ui.import_dialogs import import_records_job

    settings = load_settings(tmp_path / "data")
    store = open_store(settings.data_dir)
    case = sphere_series(tmp_path / "ct", n=3, patient_id="LATE-8")
    index_paths(store, [tmp_path / "ct"], settings=settings)
    bundle = tmp_path / "late.json"
    bundle.write_text(json.dumps(fb.bundle([fb.patient("p1", "LATE-8", "Tard", "Test",
                                                       "1960-01-01", "male")])))
    lines = import_records_job(_Task(), settings.db_path, [bundle], settings.patient_match)
    assert lines[-1] == "DICOM studies linked to their patients: 1"
    [series] = list_series(store, "LATE-8")
    assert (series.series_uid, series.patient_id) == (case.series_uid, "LATE-8")
    store.close()
