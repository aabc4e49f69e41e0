"""Issue 11: the patient header's "Current treatment" and the board's summary lines agree; a
planned treatment is said to be planned in both."""

from __future__ import annotations

from types import SimpleNamespace

from oncoboard.patients import summary_text
from oncoboard.ui.patient_view import SummaryCardWidget

TREATMENTS = [{"display": "Thoracic radiotherapy", "kind": "radiotherapy", "status": "preparation",
               "start_date": "2026-12-10", "dose_gy": 60, "fractions": 30},
              {"regimen": "durvalumab", "kind": "systemic", "status": "draft",
               "start_date": "2027-01-05"},
              {"regimen": "letrozole", "kind": "systemic", "status": "active",
               "start_date": "2026-01-02"}]


def _board_lines(treatments):
    rows = [SimpleNamespace(regimen=t.get("regimen"), display=t.get("display"), subkind=None,
                            kind=t["kind"], status=t["status"]) for t in treatments]
    summary = SimpleNamespace(primary_cancer=None, stage=None, tnm=None, markers={},
                              latest_ecog=None, current_treatments=rows)
    return dict(summary_text.summary_lines(summary))


def _header(qtbot, treatments):
    card = SummaryCardWidget()
    qtbot.addWidget(card)
    card.set_summary({"patient": {"id": "P1"}, "current_treatments": treatments})
    return card.values["Current treatment"].text()


def test_header_and_board_agree_on_current_and_planned_treatment(qtbot):
    header, board = _header(qtbot, TREATMENTS), _board_lines(TREATMENTS)
    current, _, planned = header.partition(" · planned: ")
    assert current.startswith("letrozole (2026-01-02") and "radiotherapy" not in current
    assert board["Current treatment"] == "letrozole"
    assert "Thoracic radiotherapy 60 Gy/30 fr (2026-12-10" in planned and "durvalumab" in planned
    assert board["Planned treatment"] == "Thoracic radiotherapy, durvalumab"


def test_only_planned_treatment_is_not_shown_as_current(qtbot):
    only = TREATMENTS[:1]
    header, board = _header(qtbot, only), _board_lines(only)
    assert header.startswith("none recorded · planned: Thoracic radiotherapy")
    assert board["Current treatment"] == "none recorded"
