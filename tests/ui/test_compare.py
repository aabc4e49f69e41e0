"""The comparison view: prior chosen, registered in the background, panes linked, screenshots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from compare_data import FOLLOWUP_DATE, PATIENT, build_compare_dir
from PySide6.QtCore import Qt
from ui_helpers import save_and_check, visible_texts


class Context:
    """Settings and an open store on a data folder (what the main window hands its views)."""

    def __init__(self, data_dir: Path):
        from oncoboard.config import load_settings
        from oncoboard.store import open_store

        self.settings = load_settings(data_dir)
        self.store = open_store(self.settings.db_path)


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory: pytest.TempPathFactory, isolated_config: None):  # noqa: ANN201
    folder = tmp_path_factory.mktemp("compare")
    return folder, build_compare_dir(folder)


@pytest.fixture
def compare(app, qtbot, pair_dir):  # noqa: ANN001, ANN201
    """Return a comparison view, 1500x900, with the patient's pair loaded and registered."""
    from oncoboard.ui import workers
    from oncoboard.ui.viewer.compare_view import ComparisonView

    folder, _facts = pair_dir
    ctx = Context(folder)
    view = ComparisonView(ctx)
    qtbot.addWidget(view)
    view.resize(1500, 900)
    view.show()
    qtbot.waitExposed(view)
    with qtbot.waitSignal(view.pair_loaded, timeout=30000):
        view.set_patient(PATIENT)
    qtbot.waitUntil(lambda: view.sync.link.mode != "unregistered", timeout=90000)
    yield view
    view.clear()
    workers.wait_all(20000)
    ctx.store.close()


def test_prior_is_the_earlier_ct_and_the_registration_links_the_same_anatomy(compare, pair_dir):
    _folder, facts = pair_dir
    assert compare.current.volume.series_uid == facts["current"]
    assert compare.prior.volume.series_uid == facts["prior"]
    link = compare.sync.link
    assert link.mode == "registered", link.message
    # cursor on the tumour of the prior: the current pane shows the same anatomy
    tumour = np.array(facts["tumour_centre_prior_lps"])
    prior_idx = np.rint(compare.prior.volume.patient_to_index(tumour)).astype(int)
    compare.prior.set_cursor(*prior_idx)
    cur_lps = compare.current.volume.index_to_patient(np.array(compare.current.cursor, float))
    expected = facts["truth"].inverse().apply(tumour)
    assert np.linalg.norm(cur_lps - expected) < 4.0  # within one slice (3.75 mm)
    texts = visible_texts(compare)
    assert "2026-11-16" in texts and "2026-05-02" in texts and "registered" in texts


def test_keyboard_window_zoom_and_unlink(compare, qtbot):
    cur, pri = compare.current, compare.prior
    axial = compare.panes[("current", 0)]
    axial.setFocus()
    k0, p0 = cur.cursor[0], pri.cursor[0]
    qtbot.keyClick(axial, Qt.Key.Key_Up)
    assert cur.cursor[0] == k0 + 1 and pri.cursor[0] != p0 or abs(pri.cursor[0] - p0) <= 1
    qtbot.keyClick(axial, Qt.Key.Key_PageDown)
    assert cur.cursor[0] == k0 - 9 and abs(pri.cursor[0] - (p0 - 9)) <= 2
    qtbot.keyClick(axial, Qt.Key.Key_1)  # first preset, both panes
    assert (pri.centre, pri.width) == (cur.centre, cur.width) == cur.presets[0][1:]
    prior_axial = compare.panes[("prior", 0)]
    axial.vb.scaleBy((0.5, 0.5))
    (x0, x1), _ = axial.vb.viewRange()
    (px0, px1), _ = prior_axial.vb.viewRange()
    assert px1 - px0 == pytest.approx(x1 - x0, rel=0.02)
    compare.link_check.setChecked(False)
    before = pri.cursor[0]
    qtbot.keyClick(axial, Qt.Key.Key_Up)
    assert pri.cursor[0] == before and "Unlinked" in compare.status.text()
    compare.link_check.setChecked(True)
    assert abs(pri.cursor[0] - before) <= 2
    qtbot.keyClick(axial, Qt.Key.Key_L)  # L toggles the link from any pane
    assert not compare.link_check.isChecked() and not compare.sync.enabled
    qtbot.keyClick(axial, Qt.Key.Key_L)
    assert compare.sync.active


def test_manual_offset_moves_the_prior_and_is_cached(compare, pair_dir):
    from oncoboard.imaging.registration import RegistrationCache

    folder, _ = pair_dir
    before = list(compare.prior.cursor)
    compare.set_offset((0.0, 0.0, 15.0))  # 4 slices of 3.75 mm towards the head
    assert compare.prior.cursor[0] == before[0] + 4
    assert "manual offset" in compare.status.text()
    cache = RegistrationCache(folder / "cache" / "registration")
    assert cache.get(compare.cache_key).offset_mm == (0.0, 0.0, 15.0)
    compare.set_offset((0.0, 0.0, 0.0))
    assert compare.prior.cursor == before


def test_screenshots_1x2_and_2x2(compare, output_dir, qtbot, pair_dir):
    tumour = np.array(pair_dir[1]["tumour_centre_prior_lps"])
    compare.prior.set_cursor(*np.rint(compare.prior.volume.patient_to_index(tumour)).astype(int))
    compare.current.apply_preset("Lung")
    assert compare.prior.width == 1500
    compare.set_layout("1x2")
    qtbot.wait(50)
    save_and_check(compare, output_dir / "compare-1x2.png")
    compare.set_layout("2x2")
    assert compare.panes[("prior", 1)].isVisible()
    qtbot.wait(50)
    save_and_check(compare, output_dir / "compare-2x2.png")
    labels = compare.panes[("current", 1)].labels
    assert (labels["top"].text(), labels["right"].text()) == ("S", "L")
    assert FOLLOWUP_DATE[:4] in compare.panes[("current", 1)].date_label.text()


def test_second_opening_uses_the_cached_registration(app, qtbot, pair_dir):
    from oncoboard.ui.viewer.compare_view import ComparisonView

    folder, facts = pair_dir
    ctx = Context(folder)
    view = ComparisonView(ctx)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.pair_loaded, timeout=30000):
        view.open_pair(facts["current"], facts["prior"])
    qtbot.waitUntil(lambda: view.sync.link.mode == "registered", timeout=10000)
    view.clear()
    ctx.store.close()


def test_same_frame_links_at_once_and_no_overlap_is_shown(app, qtbot):
    from oncoboard.imaging.volume import Volume
    from oncoboard.ui.viewer.compare_view import ComparisonView

    view = ComparisonView(None)
    qtbot.addWidget(view)
    voxels = np.random.default_rng(0).normal(0, 50, (20, 64, 64)).astype(np.int16)
    aff = np.diag([2.0, 1.0, 1.0, 1.0])
    a = Volume(voxels, aff, modality="CT", series_uid="a",
               meta={"frame_of_reference_uid": "F", "study_date": "20260101"})
    b = Volume(voxels, aff, modality="CT", series_uid="b",
               meta={"frame_of_reference_uid": "F", "study_date": "20250101"})
    view.set_pair(a, b)
    assert view.sync.link.mode == "patient" and view.registering is None
    a.voxels  # noqa: B018
    far = aff.copy()
    far[2, 3] = 5000.0
    c = Volume(voxels, far, modality="CT", series_uid="c", meta=dict(b.meta))
    view.set_pair(a, c)
    assert view.sync.link.mode == "no_overlap" and "not linked" in view.status.text()
    before = list(view.prior.cursor)
    view.current.step(0, 3)
    assert view.prior.cursor == before


class _Drag:
    """The parts of a pyqtgraph drag event the Adjust tool reads."""

    def __init__(self, view, a, b, finish: bool):  # noqa: ANN001
        self.a, self.b, self.finish = view.vb.mapViewToScene(a), view.vb.mapViewToScene(b), finish

    def lastScenePos(self):  # noqa: ANN201, N802 - pyqtgraph API
        return self.a

    def scenePos(self):  # noqa: ANN201, N802
        return self.b

    def isFinish(self) -> bool:  # noqa: N802
        return self.finish

    def button(self):  # noqa: ANN201
        return Qt.MouseButton.LeftButton


def test_dragging_the_prior_with_adjust_sets_the_offset(compare):
    from PySide6.QtCore import QPointF

    pane = compare.panes[("prior", 0)]
    compare.adjust_button.setChecked(True)
    assert pane.adjusting and not compare.panes[("current", 0)].adjusting
    pane._on_left_dragged(_Drag(pane, QPointF(100, 100), QPointF(110, 100), finish=True))
    offset = np.array(compare.result.offset_mm)
    assert np.allclose(np.abs(offset), [10.0, 0.0, 0.0], atol=0.5)  # 10 mm along x (L-R)
    assert compare.reset_button.isEnabled()
    compare.reset_button.click()
    assert compare.result.offset_mm == (0.0, 0.0, 0.0)
    compare.adjust_button.setChecked(False)


def test_registration_can_be_cancelled(app, qtbot):
    from compare_data import pair_affine

    from oncoboard.imaging import demo
    from oncoboard.imaging.volume import Volume
    from oncoboard.ui.viewer.compare_view import ComparisonView

    hu, positions, _ = demo.chest_phantom({"seed": 1})
    aff = pair_affine(positions)
    a = Volume(hu, aff, modality="CT", series_uid="a", meta={"frame_of_reference_uid": "A"})
    b = Volume(hu, aff, modality="CT", series_uid="b", meta={"frame_of_reference_uid": "B"})
    view = ComparisonView(None)
    qtbot.addWidget(view)
    view.set_pair(a, b)
    assert view.registering is not None and view.register_button.text() == "Cancel registration"
    view.register_button.click()
    qtbot.waitUntil(lambda: view.registering is None, timeout=20000)
    assert not view.sync.link.linked and "cancelled" in view.status.text()


def test_viewer_button_opens_the_comparison(app, qtbot, pair_dir):
    from PySide6.QtWidgets import QPushButton

    from oncoboard.ui import workers
    from oncoboard.ui.app import create_window

    folder, facts = pair_dir
    ctx = Context(folder)
    ctx.log_file = None
    win = create_window(ctx)
    qtbot.addWidget(win)
    win.resize(1600, 1000)
    win.show()
    win.open_patient(PATIENT)
    viewer = win.show_view("viewer")
    qtbot.waitUntil(lambda: viewer.state.volume is not None, timeout=30000)
    viewer.open_series(facts["current"])
    qtbot.waitUntil(lambda: viewer.state.volume.series_uid == facts["current"], timeout=30000)
    viewer.findChild(QPushButton, "compareWithPrior").click()
    compare = win.view("compare")
    assert win.current_view_name() == "compare"
    qtbot.waitUntil(lambda: compare.prior.volume is not None
                    and compare.sync.link.mode == "registered", timeout=60000)
    assert compare.prior.volume.series_uid == facts["prior"]
    workers.wait_all(20000)
    win.close()
    ctx.store.close()
