"""The imaging demo's studies: dated like the demo cohort, linked to its patients, real noise."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from oncoboard.config import load_settings
from oncoboard.imaging.demo import generate_demo_imaging
from oncoboard.imaging.index import list_series
from oncoboard.imaging.lesions import recist_for_patient
from oncoboard.patients.demo_cohort import generate
from oncoboard.patients.importer import import_file
from oncoboard.store import open_store


class _Few:
    """The imaging demo's view of a cohort: the first lung and the first breast patient."""

    def __init__(self, date: str) -> None:
        cohort = generate(date=date)
        self.lung, self.breast = cohort.group("lung")[:1], cohort.group("breast")[:1]

    def group(self, name: str) -> list[Any]:
        return {"lung": self.lung, "breast": self.breast}.get(name, [])

    def patients(self) -> list[Any]:
        return self.lung + self.breast


def _studies(store: Any, few: _Few) -> dict[str, set[tuple[str | None, str]]]:
    return {p.id: {(s.patient_id, s.study_date) for s in list_series(store, p.id)}
            for p in few.patients()}


def _weeks_before(date: str, weeks: int) -> str:
    return (dt.date.fromisoformat(date) - dt.timedelta(weeks=weeks)).isoformat()


def _lung_dates(patient: Any) -> set[tuple[str, str]]:
    """The first lung patient's course: baseline 12 weeks and follow-up 6 weeks before."""
    return {(patient.id, patient.study_date), (patient.id, _weeks_before(patient.study_date, 6)),
            (patient.id, _weeks_before(patient.study_date, 12))}


@pytest.mark.slow
def test_demo_studies_carry_the_cohort_dates_and_another_date_rewrites_them(
        data_dir: Any, tmp_path: Any) -> None:
    store = open_store(data_dir)
    # Linking by ID and birth date: the images must carry the record's birth date.
    settings = replace(load_settings(data_dir), patient_match="patient_id+birth_date")
    first = _Few("2031-03-14")
    for p in first.patients():
        path = tmp_path / f"{p.id}.json"
        path.write_text(json.dumps(p.bundle()), encoding="utf-8")
        import_file(store, path, today=dt.date(2031, 3, 14))  # the records are that day's
    result = generate_demo_imaging(store, settings, first)
    assert result.files_written == 81 + 2 * 80 + 48  # planning CT + RS, 2 earlier CTs, MR
    lung, breast = first.lung[0], first.breast[0]
    assert lung.study_date > "2030" and breast.study_date > "2030"  # not 2026 constants
    # CTs + RTSTRUCT, MR: linked to the patient, dated as the cohort says
    assert _studies(store, first) == {lung.id: _lung_dates(lung),
                                      breast.id: {(breast.id, breast.study_date)}}
    # the tumour measured on each CT: shrinking, a partial response on the latest
    assert result.measurements == 3
    table = recist_for_patient(store, lung.id)
    assert [t.overall for t in table.timepoints][-1] == "PR"
    assert table.latest is not None and table.latest.timepoint == lung.study_date
    assert result.patients[lung.id]["study_date"] == lung.study_date
    assert generate_demo_imaging(store, settings, first).files_written == 0  # same date: reused

    later = _Few("2031-06-01")
    again = generate_demo_imaging(store, settings, later)
    assert again.files_written == 81 + 2 * 80 + 48  # the marker's date differs: rewritten
    assert _studies(store, later) == {later.lung[0].id: _lung_dates(later.lung[0]),
                                      later.breast[0].id: {(later.breast[0].id,
                                                            later.breast[0].study_date)}}
    assert {p.study_date for p in later.patients()}.isdisjoint(
        {p.study_date for p in first.patients()})
    store.close()


def test_demo_ct_noise_differs_from_slice_to_slice_and_is_reproducible() -> None:
    from oncoboard.imaging.demo import chest_phantom

    tumour = generate().group("lung")[0].tumour
    hu, _, _ = chest_phantom(tumour)
    # Air in front of the body (anterior rows): -1000 HU plus noise only.
    air = hu[:, :24, :].astype(np.float64) + 1000
    assert 10 < air.std() < 14 and abs(air.mean()) < 0.5
    # The same 2-D pattern on every slice reads as vertical stripes in coronal and sagittal
    # views: consecutive slices must be uncorrelated (it was 1.0).
    flat = air.reshape(len(air), -1)
    r = [np.corrcoef(flat[k], flat[k + 1])[0, 1] for k in range(len(flat) - 1)]
    assert max(abs(x) for x in r) < 0.1
    # ... and within a slice too (a pattern tiled along rows or columns)
    assert abs(np.corrcoef(air[:, :, :-1].ravel(), air[:, :, 1:].ravel())[0, 1]) < 0.05
    assert abs(np.corrcoef(air[:, :-1].ravel(), air[:, 1:].ravel())[0, 1]) < 0.05
    np.testing.assert_array_equal(chest_phantom(tumour)[0], hu)  # seeded: same CT every time
