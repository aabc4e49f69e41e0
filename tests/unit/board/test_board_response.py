"""The RECIST response of a case: in the case view, the JSON export and the PDF page."""

from __future__ import annotations

import pypdf

from oncoboard.board import export, report
from oncoboard.board.caseview import case_view
from oncoboard.imaging import lesions


def _measure(store, number, date, mm, **kw):
    axis = lesions.Axis(((0.0, 0.0, 0.0), (mm, 0.0, 0.0)), ((4.0, 10.0, 10.0), (4.0, 10.0, 40.0)),
                        mm)
    return lesions.add_measurement(store, "BRC-001", number, long_axis=axis, timepoint=date,
                                   slice_index=4, **kw)


def _course(store):
    lesions.define_lesion(store, "BRC-001", kind="target", label="liver segment 7")
    lesions.define_lesion(store, "BRC-001", kind="target", label="lung RLL")
    _measure(store, 1, "2026-06-01", 40.0)
    _measure(store, 2, "2026-06-01", 25.0)
    _measure(store, 1, "2026-09-01", 22.0)
    _measure(store, 2, "2026-09-01", 15.0)


def test_case_view_export_and_pdf_carry_the_response(store, meeting, tmp_path):
    _course(store)
    view = case_view(store, meeting.id, "BRC-001", with_image=False)
    assert view.response.latest_category == "PR"
    assert "PR (partial response) on 2026-09-01" in view.response.headline()
    other = case_view(store, meeting.id, "BRC-002", with_image=False)
    assert not other.response.has_data
    doc = export.read_export(export.export_json(store, meeting.id, tmp_path / "b.json"))
    first, second = doc["cases"]
    assert second["response"] is None
    response = first["response"]
    assert response["criteria"] == "RECIST 1.1" and response["latest_category"] == "PR"
    assert response["baseline"]["sum_mm"] == 65.0
    assert [t["sum_mm"] for t in response["timepoints"]] == [37.0]
    assert len(response["measurements"]) == 4
    assert response["measurements"][0]["long_axis_index"] == [[4.0, 10.0, 10.0],
                                                              [4.0, 10.0, 40.0]]
    out = report.export_pdf(store, meeting.id, tmp_path / "b.pdf")
    page = " ".join(pypdf.PdfReader(out).pages[1].extract_text().split())
    assert "Tumour response (RECIST 1.1)" in page and "partial response" in page
    page2 = " ".join(pypdf.PdfReader(out).pages[2].extract_text().split())
    assert "Tumour response" not in page2
