"""PDF report and JSON export of a meeting; the key image."""

from __future__ import annotations

import json

import numpy as np
import pypdf
import pytest

from oncoboard import audit
from oncoboard.board import caseview, decisions, export, keyimage, report
from oncoboard.board.prediction_view import Curve, PredictionView, ResultView
from oncoboard.errors import BoardError
from oncoboard.imaging.display import window_to_uint8
from oncoboard.imaging.volume import Volume


def _survival_prediction() -> PredictionView:
    times = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    base = [1.0, 0.95, 0.88, 0.81, 0.76, 0.71]
    return PredictionView(
        id="pred-17", plugin_id="relapse-demo", plugin_name="Relapse-free survival (demo)",
        plugin_version="1.2.0", model_sha256="abcdef0123456789" + "0" * 48,
        created_at="2026-11-22T10:00:00+00:00", provider="CPUExecutionProvider",
        synthetic=True, outside_intended_use=True,
        warnings=["imputed: ki67 (declared default 20 %)", "out of range: age 91 > 90"],
        results=[ResultView(
            name="rfs", label="Relapse-free survival", kind="survival", interval_level=0.95,
            time_unit="years",
            curve=Curve("as recorded", times, base, [v - 0.05 for v in base],
                        [min(v + 0.05, 1) for v in base]),
            scenarios=[Curve("with endocrine therapy", times, [1, .97, .92, .87, .83, .8])])])


def _probability_prediction() -> PredictionView:
    return PredictionView(
        id="pred-18", plugin_id="toxicity-demo", plugin_name="Febrile neutropenia risk",
        plugin_version="0.3", model_sha256="99887766554433221100" + "f" * 44,
        created_at="2026-11-22T10:00:01+00:00",
        results=[ResultView(name="p", label="Febrile neutropenia", kind="probability",
                            value=0.31, lower=0.22, upper=0.41, interval_level=0.9,
                            band="high", bands=[("low", 0.1), ("intermediate", 0.2),
                                                ("high", 1.0)])])


def _ct_with_tumour() -> tuple[Volume, np.ndarray]:
    z, y, x = np.mgrid[0:20, 0:48, 0:64]
    voxels = np.full((20, 48, 64), -1000, dtype=np.int16)
    body = ((y - 24) ** 2 / 20**2 + (x - 32) ** 2 / 28**2) < 1
    voxels[body] = 30
    mask = ((z - 13) ** 2 + (y - 20) ** 2 + (x - 40) ** 2) < 5**2
    voxels[mask] = 60
    affine = np.diag([2.5, 0.8, 0.8, 1.0])
    vol = Volume(voxels, affine, modality="CT", series_uid="1.2.3", description="Thorax C+",
                 window_presets=[("lung", -600, 1500), ("mediastinum", 40, 400)])
    return vol, mask


def test_key_slice_goes_through_the_tumour_with_its_contour():
    vol, mask = _ct_with_tumour()
    image = keyimage.render_slice(vol, mask, structure="GTV", color=(255, 0, 0))
    assert image.slice_index == 13 and image.n_slices == 20
    assert image.window == ("mediastinum", 40.0, 400.0)
    red = (image.rgb[:, :, 0] == 255) & (image.rgb[:, :, 1] == 0)
    edge = keyimage.contour_of(mask[13])
    assert red.sum() == edge.sum() > 0 and not red[20, 40]  # the centre stays grey
    assert image.rgb[24, 10, 0] == image.rgb[24, 10, 1] > 0  # body at mid-grey, no colour
    assert image.pixel_aspect == pytest.approx(1.0)
    no_mask = keyimage.render_slice(vol, None)
    assert no_mask.slice_index == 10 and "middle slice" in no_mask.notes[0]


def test_window_is_linear_and_clipped():
    values = np.array([[-200, -160, 40, 240, 1000]])
    assert window_to_uint8(values, 40, 400).tolist() == [[0, 0, 127, 255, 255]]


def _views(store, meeting):
    views = caseview.meeting_case_views(store, meeting.id)
    views[0].predictions = [_survival_prediction(), _probability_prediction()]
    views[0].predictions_note = ""
    vol, mask = _ct_with_tumour()
    views[0].key_image = keyimage.render_slice(vol, mask, structure="GTV")
    return views


def _pdf_text(path) -> list[str]:
    """Return each page's text with runs of whitespace (line wraps) made single spaces."""
    return [" ".join(page.extract_text().split()) for page in pypdf.PdfReader(path).pages]


def test_pdf_has_a_cover_and_one_page_per_case(store, meeting, tmp_path):
    decisions.record_decision(store, meeting.id, "BRC-001", plan="EC then paclitaxel",
                              rationale="high risk", options=["chemo", "endocrine alone"])
    decisions.amend_decision(store, meeting.id, "BRC-001", reason="dose-dense",
                             plan="dd EC then paclitaxel")
    out = report.export_pdf(store, meeting.id, tmp_path / "board.pdf",
                            views=_views(store, meeting))
    pages = _pdf_text(out)
    assert len(pages) == 1 + 2
    cover, first, second = pages
    head = audit.entries(store, last=1)[0].hash
    assert "RCP sein hebdomadaire" in cover and "sein (breast)" in cover
    assert "Dr Alice Roy (medical oncologist)" in cover and head in cover
    assert "SYNTHETIC DATA - DEMONSTRATION ONLY" in cover
    for n, page in enumerate(pages, start=1):
        assert "Generated by Oncoboard" in page and f"page {n}/3" in page
        assert f"audit head {head[:16]}" in page
    assert "Patient BRC-001" in first and "Adjuvant chemotherapy after surgery?" in first
    assert "dd EC then paclitaxel" in first and "amends version 1: dose-dense" in first
    assert "Relapse-free survival (demo) 1.2.0 (sha256 abcdef012345)" in first
    assert "SYNTHETIC - DEMONSTRATION ONLY" in first
    for warning in ("synthetic - demonstration only", "outside intended use",
                    "imputed: ki67", "out of range: age 91"):
        assert f"WARNING: {warning}" in first
    assert "Febrile neutropenia: 31 % [22-41 %] (90 % interval), risk group: high" in first
    assert "with endocrine therapy" in first and "time (years)" in first
    assert "contour: GTV" in first
    assert len(pypdf.PdfReader(out).pages[1].images) == 1
    assert "Patient BRC-002" in second and "Neoadjuvant strategy?" in second
    assert "no predictions yet" in second and "No decision recorded." in second
    assert "Martin" not in "".join(pages) and "Claire" not in "".join(pages)


def test_pdf_names_only_when_asked(store, meeting, tmp_path):
    out = report.export_pdf(store, meeting.id, tmp_path / "named.pdf", include_names=True)
    text = "".join(_pdf_text(out))
    assert "MARTIN, Claire" in text and "1961-03-14" in text
    doc = export.read_export(export.export_json(store, meeting.id, tmp_path / "named.json",
                                                include_names=True))
    assert doc["cases"][0]["patient"]["name"] == "MARTIN, Claire"
    assert doc["cases"][0]["patient"]["birth_date"] == "1961-03-14"


def test_decision_without_model_results_says_so(store, meeting, tmp_path):
    decisions.record_decision(store, meeting.id, "BRC-002", plan="surgery first",
                              rationale="patient preference")
    views = caseview.meeting_case_views(store, meeting.id, with_image=False)
    views[1].predictions = [_probability_prediction()]
    out = report.export_pdf(store, meeting.id, tmp_path / "r.pdf", views=views)
    assert "no model result was shown" in _pdf_text(out)[2]


def test_json_export_round_trips(store, meeting, tmp_path):
    d = decisions.record_decision(store, meeting.id, "BRC-002", plan="neoadjuvant TCHP",
                                  rationale="HER2+", attendees=["Dr Y (radiotherapist)"])
    views = _views(store, meeting)
    path = export.export_json(store, meeting.id, tmp_path / "board.json", views=views)
    doc = export.read_export(path)
    expected = json.loads(json.dumps(export.meeting_export(store, meeting.id, views=views),
                                     default=str))
    doc.pop("generated_at"), expected.pop("generated_at")
    assert doc == expected
    assert doc["meeting"]["uid"] == meeting.uid
    assert [c["patient"]["id"] for c in doc["cases"]] == ["BRC-001", "BRC-002"]
    assert "name" not in doc["cases"][0]["patient"]
    assert doc["cases"][1]["decision"]["plan"] == "neoadjuvant TCHP"
    assert doc["cases"][1]["decision"]["audit_hash"] == d.audit_hash
    assert doc["cases"][0]["predictions"][0]["results"][0]["curve"]["values"][-1] == 0.71
    assert doc["cases"][0]["key_image"]["slice_index"] == 13
    assert {"name": "Dr Y", "role": "radiotherapist"} in doc["attendees"]
    assert doc["audit_head"] == audit.entries(store, last=1)[0].hash


def test_export_to_a_missing_folder_writes_nothing(store, meeting, tmp_path):
    with pytest.raises(BoardError, match="the folder does not exist"):
        report.export_pdf(store, meeting.id, tmp_path / "nope" / "r.pdf")
    with pytest.raises(BoardError, match="the folder does not exist"):
        export.export_json(store, meeting.id, tmp_path / "nope" / "r.json")
    assert not (tmp_path / "nope").exists()


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    export.atomic_write(target, b"new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_read_export_refuses_other_files(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"schema": "something-else"}')
    with pytest.raises(BoardError, match="not an Oncoboard board export"):
        export.read_export(bad)
    bad.write_text("{not json")
    with pytest.raises(BoardError, match="not a readable board export"):
        export.read_export(bad)


def test_many_what_if_curves_are_capped_and_refusals_listed_once(store, meeting, tmp_path):
    views = caseview.meeting_case_views(store, meeting.id, with_image=False)
    busy = _survival_prediction()
    base = busy.results[0].curve
    busy.results[0].scenarios = [Curve(f"scenario {i}", base.times,
                                       [v - 0.01 * i for v in base.values]) for i in range(7)]
    refused = PredictionView(id="pred-19", plugin_id="tox", plugin_name="Toxicity score",
                             plugin_version="1.0.0", model_sha256="12" * 32, created_at="",
                             status="refused", refusal=["haemoglobin: none in 30 days",
                                                        "crcl: ingredients missing"])
    views[0].predictions = [busy, refused]
    out = report.export_pdf(store, meeting.id, tmp_path / "busy.pdf", views=views)
    text = _pdf_text(out)[1]
    assert "scenario 3" in text and "scenario 4" not in text
    assert "+3 more what-if curves (on screen and in the JSON export)" in text
    assert ("WARNING: refused, no result: haemoglobin: none in 30 days; crcl: ingredients "
            "missing") in text
    assert len(_pdf_text(out)) == 3


def test_free_text_with_markup_characters_is_printed_literally(store, tmp_path):
    from oncoboard.board import meetings

    m = meetings.create_meeting(store, date="2026-11-23", specialty="sein",
                                title="RCP <b>sein</b> & co", attendees=["Dr Ça (onco)"])
    meetings.add_case(store, m.id, "BRC-001", question="Tumour <i>≥ 2 cm & Ki-67 ≤ 20 %?")
    decisions.record_decision(store, m.id, "BRC-001", plan="<para>RT 50 Gy</para>",
                              rationale="a < b > c")
    text = " ".join(_pdf_text(report.export_pdf(store, m.id, tmp_path / "x.pdf")))
    for literal in ("RCP <b>sein</b> & co", "Tumour <i>≥ 2 cm & Ki-67 ≤ 20 %?",
                    "<para>RT 50 Gy</para>", "a < b > c", "Dr Ça (onco)"):
        assert literal in text


def test_result_lines_format_probabilities_scores_and_curves():
    score = ResultView(name="s", label="CARG score", kind="score", value=11.0, unit="points",
                       band="high", bands=[("low", 5), ("intermediate", 9), ("high", 23)])
    assert score.text() == "CARG score: 11 points, risk group: high"
    prob = ResultView(name="p", label="Response", kind="probability", value=0.8123,
                      lower=0.7, upper=0.9, interval_level=0.8)
    assert prob.text() == "Response: 81 % [70-90 %] (80 % interval)"
    curve = _survival_prediction().results[0]
    assert curve.text() == "Relapse-free survival at 5 years: 71 % [66-76 %] (95 % interval)"
    # issue 11: the method of the interval is named; a number without one says so
    prob.interval_method = "bootstrap: 2.5th-97.5th percentiles of 200 refits"
    assert prob.text() == "Response: 81 % [70-90 %] (80 % bootstrap interval)"
    rate = ResultView(name="r", label="Observed toxicity", kind="probability", value=0.07028,
                      uncertainty="No confidence interval: counts not published.")
    assert rate.text() == "Observed toxicity: 7 % (no interval: see the note on uncertainty)"
    assert ResultView(name="x", label="X", kind="probability").text() == "X: no value"
