"""Plain-text record rendering: markers and reference ranges as a clinician reads them."""

from __future__ import annotations

import pytest
from patient_helpers import basic_patient

from oncoboard.patients import fhir_build as fb
from oncoboard.patients import record, summary_text
from oncoboard.patients.importer import import_file


@pytest.mark.parametrize(("key", "value", "text"), [
    ("pdl1_tps", 5.0, "PD-L1 TPS 5 %"), ("estrec", 260.0, "ER level 260 fmol/mg"),
    ("tumour_size", 29.0, "tumour size 29 mm"), ("ki67_percent", 11.0, "Ki-67 11 %"),
    ("er", "positive", "ER positive"), ("some_marker", "x", "some marker x")])
def test_marker_text(key, value, text):
    # 'pdl1_tps 5.0' / 'estrec: 260' were shown on the patient card and the board report.
    assert summary_text.marker_text(key, value) == text


def test_reference_range_without_low_bound_is_not_a_negative_number(store, write_bundle):
    import_file(store, write_bundle([
        basic_patient(),
        fb.observation("o1", "p1", "crp", "2021-01-01", value=36.6, unit="mg/L", ref_high=5),
        fb.observation("o2", "p1", "haemoglobin", "2021-01-01", value=15.3, unit="g/dL",
                       ref_low=12.0, ref_high=16)]))
    text = "\n".join(summary_text.record_lines(store, record.get_summary(store, "MRN-1")))
    assert "36.6 mg/L [ref <= 5]" in text and "[ref -5]" not in text
    assert "15.3 g/dL [ref 12-16]" in text
