"""Benchmark the desktop UI: cold start, slice scrolling with window/level, memory of a series.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_ui.py`` (prints figures, not
pass/fail). Baselines are measured in the same run:

* cold start: a bare PySide6 window (import QtWidgets, create QApplication, show, paint) against
  Oncoboard's main window on a small data folder, each in a fresh process (median of runs);
  targets <= 2 s, and VTK/onnxruntime not imported at start;
* scrolling: numpy window/level of the same 512x512 slices alone, and pyqtgraph's ImageItem
  alone, against the viewer's axial view (extract, window, overlays, crosshair, repaint);
  target >= 100 rendered slices per second offscreen;
* memory: the process's resident memory before and after opening a 400-slice 512x512 CT
  (int16, 210 MB of voxels) in the viewer, against the volume's own bytes.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "ui"))

BARE = """
import time, sys
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication([])
w = QLabel("hello"); w.resize(1600, 1000); w.show(); app.processEvents(); w.repaint()
print("READY", time.perf_counter() - t0)
"""

ONCOBOARD = """
import time, sys
t0 = time.perf_counter()
from oncoboard.ui.app import application, create_window
from oncoboard.config import load_settings
from oncoboard.store import open_store
class Ctx:
    settings = load_settings(sys.argv[1]); store = open_store(settings.db_path); log_file = None
app = application()
w = create_window(Ctx()); w.resize(1600, 1000); w.show(); app.processEvents(); w.repaint()
ready = time.perf_counter() - t0
heavy = [m for m in ("vtk", "vtkmodules", "onnxruntime", "pydicom") if m in sys.modules]
print("READY", ready, ",".join(heavy) or "-")
"""


def _spawn(code: str, *args: str) -> tuple[float, float, str]:
    """Run `code` in a fresh interpreter; return (wall s from launch, in-process s, extra)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=env, timeout=120)
    wall = time.perf_counter() - start
    line = next(x for x in run.stdout.splitlines() if x.startswith("READY"))
    parts = line.split()
    return wall, float(parts[1]), parts[2] if len(parts) > 2 else ""


def bench_cold_start(runs: int = 5) -> None:
    import demo_data

    folder = Path(tempfile.mkdtemp(prefix="oncoboard-bench-"))
    demo_data.build_data_dir(folder)
    _spawn(BARE), _spawn(ONCOBOARD, str(folder))  # warm the page cache once
    bare = [_spawn(BARE) for _ in range(runs)]
    ours = [_spawn(ONCOBOARD, str(folder)) for _ in range(runs)]
    b_wall = statistics.median(r[0] for r in bare)
    o_wall = statistics.median(r[0] for r in ours)
    o_in = statistics.median(r[1] for r in ours)
    print(f"cold start (process launch to painted window, median of {runs}):")
    print(f"  bare PySide6 window       {b_wall:6.2f} s")
    print(f"  Oncoboard main window     {o_wall:6.2f} s  (in-process {o_in:.2f} s; "
          f"{o_wall / b_wall:.1f}x the bare window; target <= 2 s)")
    print(f"  heavy modules at start: {ours[0][2]}  (VTK and onnxruntime must be absent)")


def _volume(n: int = 400) -> object:
    import numpy as np

    from oncoboard.imaging.volume import Volume

    rng = np.random.default_rng(0)
    vox = rng.normal(40, 200, size=(n, 512, 512)).astype(np.int16)
    affine = np.array([[0, 0, 0.7, -180], [0, 0.7, 0, -180], [1.25, 0, 0, -250], [0, 0, 0, 1.0]])
    return Volume(vox, affine, modality="CT", series_uid="bench", description="bench CT")


def bench_scrolling_and_memory() -> None:
    import numpy as np
    import psutil
    import pyqtgraph as pg

    from oncoboard.imaging import display
    from oncoboard.ui.app import application
    from oncoboard.ui.viewer.viewer_view import ViewerView

    proc = psutil.Process()
    app = application()
    view = ViewerView(type("Ctx", (), {"store": None, "settings": None})())
    view.resize(1600, 1000)
    view.show()
    app.processEvents()
    rss0 = proc.memory_info().rss
    vol = _volume(400)
    mask = np.zeros(vol.voxels.shape, dtype=bool)
    mask[190:210, 200:260, 200:260] = True
    rss_vol = proc.memory_info().rss
    t0 = time.perf_counter()
    view.set_volume(vol, [("GTV", mask, (240, 98, 90))])
    app.processEvents()
    open_s = time.perf_counter() - t0
    rss1 = proc.memory_info().rss
    mb = 1024 ** 2
    print("memory with a 400-slice 512x512 CT open:")
    print(f"  voxels {vol.voxels.nbytes / mb:.0f} MB + mask {mask.nbytes / mb:.0f} MB; process "
          f"before {rss0 / mb:.0f} MB, after creating them {rss_vol / mb:.0f} MB, after opening "
          f"in the viewer {rss1 / mb:.0f} MB (viewer's own cost {(rss1 - rss_vol) / mb:.0f} MB; "
          f"set_volume {open_s * 1000:.0f} ms)")

    axial = view.views[0]
    n = 400
    # baseline 1: the numpy window/level of the same slices
    t0 = time.perf_counter()
    for k in range(n):
        display.window_to_uint8(vol.voxels[k], 40 + k % 7, 400)
    numpy_rate = n / (time.perf_counter() - t0)
    # baseline 2: a bare pyqtgraph ImageItem fed pre-windowed slices, repainted each time
    bare = pg.GraphicsView(background="k")
    vb = pg.ViewBox(lockAspect=True)
    bare.setCentralItem(vb)
    item = pg.ImageItem(axisOrder="row-major")
    vb.addItem(item)
    bare.resize(800, 500)
    bare.show()
    app.processEvents()
    frames = [display.window_to_uint8(vol.voxels[k], 40, 400) for k in range(0, n, 8)]
    t0 = time.perf_counter()
    for k in range(n):
        item.setImage(frames[k % len(frames)], levels=(0, 255), autoLevels=False)
        bare.viewport().repaint()
    pg_rate = n / (time.perf_counter() - t0)
    # the viewer: scroll the axial view (the other two planes move their crosshair)
    view.state.set_cursor(0, 256, 256)
    app.processEvents()
    before = axial.renders
    t0 = time.perf_counter()
    for k in range(n):
        view.state.set_cursor(k, 256, 256)
        axial.graphics.viewport().repaint()
    scroll_rate = n / (time.perf_counter() - t0)
    scroll_renders = axial.renders - before
    # window/level drag: every step re-windows the three planes (axial, coronal, sagittal)
    t0 = time.perf_counter()
    steps = 200
    for k in range(steps):
        view.state.set_window(40 + (k % 2) * 10, 400 + k)
        for v in view.views:
            v.graphics.viewport().repaint()
    wl_rate = steps / (time.perf_counter() - t0)
    print("slice scrolling and window/level, 512x512 (400 slices), offscreen:")
    print(f"  numpy window/level only        {numpy_rate:7.0f} slices/s")
    print(f"  bare pyqtgraph ImageItem       {pg_rate:7.0f} slices/s (pre-windowed, repaint)")
    print(f"  Oncoboard axial view, scroll   {scroll_rate:7.0f} slices/s rendered "
          f"({scroll_renders} renders; {scroll_rate / numpy_rate:.2f}x numpy alone; "
          f"target >= 100)")
    print(f"  Oncoboard W/L drag, 3 planes   {wl_rate:7.0f} updates/s "
          f"({3 * wl_rate:.0f} plane renders/s)")
    view.close()
    bare.close()


if __name__ == "__main__":
    bench_cold_start()
    bench_scrolling_and_memory()
