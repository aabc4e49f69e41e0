"""The viewer opens a local compressed series on its visible slice, the rest decoded after.

A JPEG 2000 series is written and indexed into a fresh data folder: the viewer shows its middle
slice while the others are still to decode (blank, the readout and slice label say "loading"),
a slice scrolled to is decoded next, measurements wait, and the volume ends equal to the full
load, redrawn, with its presets.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.encaps import encapsulate
from PySide6.QtCore import Qt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "imaging"))
from imaging_helpers import sphere_series  # noqa: E402


class Ctx:
    """The part of the application context the viewer uses: settings and a store."""

    def __init__(self, data_dir: Path):
        from oncoboard.config import load_settings
        from oncoboard.store import open_store

        self.settings = load_settings(data_dir)
        self.store = open_store(self.settings.db_path)


@pytest.fixture
def j2k(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Ctx, Any]:
    from oncoboard.imaging.index import index_paths

    monkeypatch.setenv("ONCOBOARD_DECODE_WORKERS", "2")
    case = sphere_series(tmp_path / "j2k", n=24, rows=48, cols=40, radius=9.0,
                         ts=uid.JPEG2000Lossless)
    data = tmp_path / "data"
    data.mkdir()
    ctx = Ctx(data)
    index_paths(ctx.store, [case.folder], settings=ctx.settings)
    yield ctx, case
    from oncoboard.ui import workers

    workers.wait_all(20000)
    ctx.store.close()


def test_compressed_series_shows_its_visible_slice_first(app: Any, qtbot: Any,
                                                         j2k: tuple[Ctx, Any]) -> None:
    from oncoboard.imaging.loader import load_series
    from oncoboard.ui.viewer.viewer_view import ViewerView

    ctx, case = j2k
    view = ViewerView(ctx)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    seen: dict[str, Any] = {}

    def on_shown(_uid: str) -> None:  # the first slice on screen, the rest not started yet
        state, axial = view.state, view.views[0]
        seen["pending"] = state.pending
        seen["k"] = state.cursor[0]
        seen["image"] = axial.image.image.copy()
        seen["missing"] = state.pending.missing if state.pending is not None else 0
        seen["ready"] = [state.slice_ready(k) for k in range(state.volume.shape[0])]
        view._on_hovered((seen["k"] + 3, 20, 20))
        seen["readout"] = view.readout.text()
        seen["kept"] = view.keep_measurements()
        seen["kept_text"] = view.measure_label.text()
        axial.setFocus()
        qtbot.keyClick(axial, Qt.Key.Key_Up)  # scroll to a slice not decoded yet
        seen["info"] = axial.info.text()

    view.series_loaded.connect(on_shown)
    with qtbot.waitSignal(view.volume_complete, timeout=30000):
        view.open_series(case.series_uid)
    series = seen["pending"]
    assert series is not None, "a compressed series is shown before it is complete"
    k = seen["k"]
    assert k == 12 and seen["missing"] == 23
    assert seen["ready"] == [j == k for j in range(24)]
    assert seen["image"].max() > 0  # the visible slice is drawn (the sphere's middle)
    assert "loading" in seen["readout"] and "HU" not in seen["readout"]
    assert seen["kept"] == [] and "every slice" in seen["kept_text"]
    assert "loading" in seen["info"]
    # the slice scrolled to came right after the visible one
    assert series.decode_order[:2] == [k, k + 1]
    state, axial = view.state, view.views[0]
    assert state.pending is None and series.complete
    whole = load_series(ctx.store, case.series_uid, use_cache=False)
    np.testing.assert_array_equal(state.volume.voxels, whole.voxels)
    np.testing.assert_array_equal(state.volume.voxels, case.expected)
    assert state.volume.window_presets == whole.window_presets
    assert state.cursor[0] == k + 1
    qtbot.waitUntil(lambda: "loading" not in axial.info.text(), timeout=5000)
    from oncoboard.imaging import display

    drawn = display.window_to_uint8(case.expected[k + 1], state.centre, state.width)
    np.testing.assert_array_equal(axial.image.image, drawn)
    # scrolling after completion shows decoded slices; MPR planes have every slice
    qtbot.keyClick(axial, Qt.Key.Key_Down)
    qtbot.keyClick(axial, Qt.Key.Key_Down)
    np.testing.assert_array_equal(axial.image.image, display.window_to_uint8(
        case.expected[k - 1], state.centre, state.width))
    coronal = view.views[1]
    np.testing.assert_array_equal(coronal.plane, case.expected[:, state.cursor[1], :])
    assert not view.warnings.isVisible() or "could not be decoded" not in view.warnings.text()
    # reopened: from the volume cache, complete at once
    with qtbot.waitSignal(view.volume_complete, timeout=30000):
        view.open_series(case.series_uid)
    assert view.state.pending is None and view.state.volume.meta.get("cached")


def test_a_corrupt_frame_is_named_and_the_rest_shown(app: Any, qtbot: Any,
                                                     j2k: tuple[Ctx, Any]) -> None:
    from oncoboard.ui.viewer.viewer_view import ViewerView

    ctx, case = j2k
    bad = sorted(case.folder.glob("*.dcm"))[3]
    ds = pydicom.dcmread(bad)
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x13" * 40])
    ds.save_as(bad, enforce_file_format=True)
    view = ViewerView(ctx)
    qtbot.addWidget(view)
    view.show()
    with qtbot.waitSignal(view.volume_complete, timeout=30000):
        view.open_series(case.series_uid)
    assert view.warnings.isVisible()
    text = view.warnings.text()
    assert "could not be decoded" in text and str(bad) in text and "Traceback" not in text
    volume = view.state.volume
    k_bad = volume.meta["sop_uids"].index(ds.SOPInstanceUID)
    good = [k for k in range(24) if k != k_bad]
    np.testing.assert_array_equal(volume.voxels[good], case.expected[good])
    assert (volume.voxels[k_bad] == volume.voxels.min()).all()  # blank, not a stale value


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X server (xvfb-run)")
def test_3d_waits_for_every_slice_then_renders(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1] / "unit" / "imaging")!r})
        from pydicom import uid
        from imaging_helpers import sphere_series
        from oncoboard.imaging.loader import read_records
        from oncoboard.imaging.progressive import ProgressiveSeries
        from oncoboard.ui.app import application
        from oncoboard.ui.viewer.state import ViewerState
        from oncoboard.ui.viewer.volume3d import Volume3DPanel
        case = sphere_series({str(tmp_path / "s")!r}, n=12, rows=40, cols=40, radius=8.0,
                             ts=uid.JPEG2000Lossless)
        series = ProgressiveSeries.prepare(read_records([case.folder])[0])
        series.first(6)
        app = application()
        state = ViewerState()
        panel = Volume3DPanel(state)
        panel.resize(400, 400)
        panel.show()
        app.processEvents()
        state.set_volume(series.volume, pending=series)
        assert panel.start(), panel.reason
        app.processEvents()
        assert panel.renderer.GetVolumes().GetNumberOfItems() == 0
        assert panel.message.isVisible() and "every slice" in panel.message.text()
        series.run()
        state.complete_volume()
        app.processEvents()
        assert panel.renderer.GetVolumes().GetNumberOfItems() == 1
        assert not panel.message.isVisible()
        print("OK")
        panel.close_view()
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="xcb",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2] / "app"),
                                           os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "OK" in run.stdout
