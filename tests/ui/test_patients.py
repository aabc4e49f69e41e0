"""Patient browser and patient view on the demo cohort."""

from __future__ import annotations

from PySide6.QtCore import Qt
from ui_helpers import save_and_check, visible_texts


def _first_patient(window, prefix: str) -> str:  # noqa: ANN001
    model = window.patients_view.model
    for row in range(model.rowCount()):
        pid = model.patient_id(row)
        if pid.startswith(prefix):
            return pid
    raise AssertionError(f"no patient starting with {prefix}")


def test_search_filters_by_id_name_and_diagnosis(window, qtbot, output_dir):  # noqa: ANN001
    view = window.patients_view
    total = view.model.rowCount()
    assert total >= 3
    save_and_check(window, output_dir / "patients.png")
    view.search_edit.setText("C34")
    qtbot.waitUntil(lambda: 0 < view.model.rowCount() < total)
    diagnoses = [view.model.text(r, 4) for r in range(view.model.rowCount())]
    assert all(d.startswith("C34") for d in diagnoses)
    view.search_edit.setText("no-such-patient-xyz")
    qtbot.waitUntil(lambda: view.model.rowCount() == 0)
    assert "0" in view.count_label.text()


def test_note_search_highlights_and_opens_the_note(window, qtbot, output_dir):  # noqa: ANN001
    view = window.patients_view
    count = view.search_notes("fievre")  # accents ignored: finds "fièvre"
    assert count > 0
    html = view.hits.itemWidget(view.hits.item(0)).text()
    assert "<b" in html and "vre</b>" in html.lower()
    save_and_check(window, output_dir / "note_search.png")
    with qtbot.waitSignal(window.patient_view.patient_loaded, timeout=5000):
        view._on_hit_activated(view.hits.item(0))
    patient_id, note_id = view.hits.item(0).data(Qt.ItemDataRole.UserRole)
    assert window.stack.currentWidget() is window.patient_view
    assert window.patient_view.notes.current_note_id() == note_id
    assert "fi" in window.patient_view.notes.reader.toPlainText().lower()


def test_patient_view_shows_summary_timeline_labs(window, qtbot, output_dir):  # noqa: ANN001
    pid = _first_patient(window, "DEMO-LU") if window.patients_view.model.rowCount() > 5 \
        else "TEST-LU-002"
    row = next(r for r in range(window.patients_view.model.rowCount())
               if window.patients_view.model.patient_id(r) == pid)
    with qtbot.waitSignal(window.patient_view.patient_loaded, timeout=5000):
        window.patients_view._on_row_activated(row, 0)
    pv = window.patient_view
    texts = visible_texts(pv)
    assert pid in texts and "C34" in texts
    assert "Synthetic patient" in texts
    assert pv.card.values["Stage"].text() != "—"
    assert pv.timeline.item_count > 0
    assert pv.labs.selector.count() > 0
    unit_texts = [pv.labs.selector.itemText(i) for i in range(pv.labs.selector.count())]
    assert any("U/L" in t for t in unit_texts)  # LDH with its canonical unit
    save_and_check(window, output_dir / "patient.png")


def test_unknown_patient_is_a_readable_error(window, qtbot):  # noqa: ANN001
    from oncoboard.ui.errors import ErrorBoundary

    window.open_patient("NO-SUCH-ID")
    assert ErrorBoundary.last_message is not None
    assert "NO-SUCH-ID" in ErrorBoundary.last_message
    assert "Traceback" not in ErrorBoundary.last_message
    for box in list(ErrorBoundary.dialogs):
        box.close()
