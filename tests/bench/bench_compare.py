"""Benchmark the comparison view: linked scrolling, and registration while the UI runs.

Run: ``QT_QPA_PLATFORM=offscreen PYTHONPATH=app .venv/bin/python tests/bench/bench_compare.py``
(prints figures, not pass/fail). Baselines are measured in the same run:

* linked scrolling: two 400-slice 512x512 CTs (int16, 210 MB each) side by side (1x2), linked
  through a registration transform (rotation + translation: the general path, every step maps
  the cursor into the prior); each step scrolls the current pane one slice, both panes are
  re-rendered and repainted. Baseline: the single viewer's axial view scrolling one of them.
  Target >= 60 redraws/s (a redraw = both panes on screen at the new slice).
* registration: two 256x256x80 chest CTs in different Frames of Reference (the follow-up
  moved by a known rigid transform), registered by the comparison view in the background while
  a 5 ms timer ticks on the GUI thread; printed: wall time (target <= 10 s on 2 cores), the
  longest gap between ticks (event-loop stall) and the error against the known transform.
  Baseline: the same registration in the foreground, no Qt.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "app"))
SCROLL_TARGET, REGISTRATION_TARGET_S = 60.0, 10.0


def _big_pair(n: int = 400) -> tuple[object, object, object]:
    import numpy as np

    from oncoboard.imaging.registration import RigidTransform
    from oncoboard.imaging.volume import Volume

    rng = np.random.default_rng(0)
    affine = np.array([[0, 0, 0.7, -180], [0, 0.7, 0, -180], [1.25, 0, 0, -250], [0, 0, 0, 1.0]])
    vols = []
    for name in ("current", "prior"):
        vox = rng.normal(40, 200, size=(n, 512, 512)).astype(np.int16)
        vols.append(Volume(vox, affine, modality="CT", series_uid=name, description=name,
                           meta={"frame_of_reference_uid": name, "study_date": "20260101"}))
    link_t = RigidTransform.from_euler((1.0, -1.0, 3.0), (5.0, -4.0, 6.0), centre=(0, 0, -0))
    return vols[0], vols[1], link_t


def bench_linked_scrolling() -> None:
    from oncoboard.imaging import registration as reg
    from oncoboard.ui.app import application
    from oncoboard.ui.viewer.compare_view import ComparisonView
    from oncoboard.ui.viewer.viewer_view import ViewerView

    app = application()
    current, prior, transform = _big_pair()
    # baseline: the single viewer's axial view
    single = ViewerView(None)
    single.resize(1600, 1000)
    single.show()
    single.set_volume(current)
    app.processEvents()
    axial = single.views[0]
    n = 300
    t0 = time.perf_counter()
    for k in range(n):
        single.state.set_cursor(50 + k, 256, 256)
        axial.graphics.viewport().repaint()
    single_rate = n / (time.perf_counter() - t0)
    single.close()
    # the comparison view, linked through a rigid transform
    view = ComparisonView(None)
    view.resize(1600, 1000)
    view.show()
    view.set_pair(current, prior, register=False)
    result = reg.RegistrationResult(transform, 1.0, 1.0)  # a known result: no registration here
    view.result = result
    view.sync.set_link(reg.link_from_result(result))
    app.processEvents()
    cur_pane, prior_pane = view.panes[("current", 0)], view.panes[("prior", 0)]
    t0 = time.perf_counter()
    for _k in range(n):  # baseline 2: painting the two panes alone, no new slice
        cur_pane.graphics.viewport().repaint()
        prior_pane.graphics.viewport().repaint()
    paint_rate = n / (time.perf_counter() - t0)
    before = (cur_pane.renders, prior_pane.renders)
    t0 = time.perf_counter()
    for k in range(n):
        view.current.set_cursor(50 + k, 256, 256)
        cur_pane.graphics.viewport().repaint()
        prior_pane.graphics.viewport().repaint()
    rate = n / (time.perf_counter() - t0)
    renders = (cur_pane.renders - before[0], prior_pane.renders - before[1])
    moved = view.prior.cursor[0] != 50 + n - 1 or renders[1] > 0
    print("linked scrolling, two 400-slice 512x512 CTs (1x2, registered link), offscreen:")
    print(f"  single viewer, axial view      {single_rate:7.0f} slices/s (smaller pane, 2x2 grid)")
    size = cur_pane.graphics.size()
    print(f"  repaint of both panes alone    {paint_rate:7.0f} /s (panes {size.width()}x"
          f"{size.height()}, nothing new to draw)")
    print(f"  comparison view, both panes    {rate:7.0f} redraws/s ({renders[0]} current + "
          f"{renders[1]} prior renders; {rate / paint_rate:.2f}x repaint alone; "
          f"target >= {SCROLL_TARGET:.0f}: {rate / SCROLL_TARGET:.1f}x){'' if moved else ' !'}")
    view.close()


def _chest_pair() -> tuple[object, object, object]:
    import numpy as np

    from oncoboard.imaging import demo, synth
    from oncoboard.imaging.registration import RigidTransform
    from oncoboard.imaging.volume import Volume

    hu, positions, _ = demo.chest_phantom({"seed": 4, "diameter_mm": 30})
    aff = np.eye(4)
    aff[:3, 0] = positions[1] - positions[0]
    aff[:3, 1] = [0, demo.CT_SPACING[0], 0]
    aff[:3, 2] = [demo.CT_SPACING[1], 0, 0]
    aff[:3, 3] = positions[0]
    mid = aff[:3, 3] + aff[:3, :3] @ (np.array(hu.shape) / 2.0)
    truth = RigidTransform.from_euler((2.0, -1.5, 4.0), (12.0, -8.0, 15.0), centre=tuple(mid))
    moved = synth.resample_rigid(hu, aff, truth.array)
    moved += np.rint(np.random.default_rng(2).normal(0, 12, moved.shape)).astype(np.int16)
    prior = Volume(hu, aff, modality="CT", series_uid="p", meta={"frame_of_reference_uid": "A"})
    current = Volume(moved, aff.copy(), modality="CT", series_uid="c",
                     meta={"frame_of_reference_uid": "B"})
    return current, prior, truth


def _error_mm(found: object, truth: object, volume: object) -> float:
    import numpy as np

    shape = volume.shape  # type: ignore[attr-defined]
    corners = np.array([[k, r, c] for k in (0, shape[0] - 1) for r in (0, shape[1] - 1)
                        for c in (0, shape[2] - 1)], dtype=float)
    pts = volume.index_to_patient(corners)  # type: ignore[attr-defined]
    return float(np.linalg.norm(found.apply(pts) - truth.apply(pts), axis=1).max())  # type: ignore[attr-defined]


def bench_background_registration() -> None:
    from PySide6.QtCore import QTimer

    from oncoboard.imaging import registration as reg
    from oncoboard.ui.app import application
    from oncoboard.ui.viewer.compare_view import ComparisonView

    app = application()
    current, prior, truth = _chest_pair()
    t0, cpu0 = time.perf_counter(), time.process_time()
    fg = reg.register_rigid(current, prior)
    foreground_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    view = ComparisonView(None)
    view.resize(1600, 1000)
    view.show()
    app.processEvents()
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    view.set_pair(prior, prior, register=False)  # baseline 2: the same loop, nothing behind it
    timer.start()
    t0 = time.perf_counter()
    scrolled = 0
    while time.perf_counter() - t0 < 3.0:
        app.processEvents()
        view.current.step(0, 1 if scrolled % 80 < 40 else -1)
        scrolled += 1
        time.sleep(0.002)
    timer.stop()
    idle_stall_ms = 1000 * max(b - a for a, b in zip(ticks, ticks[1:], strict=False))
    ticks.clear()
    t0 = time.perf_counter()
    view.set_pair(current, prior)  # shows both series, starts the registration in the background
    show_ms = 1000 * (time.perf_counter() - t0)
    timer.start()
    scrolled = 0
    while view.registering is not None and time.perf_counter() - t0 < 120:
        app.processEvents()
        view.current.step(0, 1 if scrolled % 80 < 40 else -1)  # the reader keeps scrolling
        scrolled += 1
        time.sleep(0.002)
    wall = time.perf_counter() - t0
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    stall_ms = 1000 * max(gaps) if gaps else float("nan")
    link = view.sync.link
    err = _error_mm(link.transform, truth, current) if link.linked else float("nan")
    cores = os.cpu_count()
    print(f"registration, two 256x256x80 CTs, different Frames of Reference ({cores} cores):")
    print(f"  foreground (no Qt)             {foreground_s:7.2f} s  ({cpu_s:.1f} CPU s; error "
          f"{_error_mm(fg.transform, truth, current):.2f} mm; load average "
          f"{os.getloadavg()[0]:.1f})")
    print(f"  background, comparison view    {wall:7.2f} s  (target <= {REGISTRATION_TARGET_S:.0f}"
          f" s: {wall / REGISTRATION_TARGET_S:.2f}x of it; {wall / foreground_s:.2f}x foreground;"
          f" link {link.mode}, error {err:.2f} mm)")
    print(f"  GUI thread while registering   longest event-loop stall {stall_ms:.0f} ms, "
          f"{len(ticks)} timer ticks of 5 ms, {scrolled} scroll steps served (showing the "
          f"pair before: {show_ms:.0f} ms)")
    print(f"  GUI thread, nothing behind it  longest event-loop stall {idle_stall_ms:.0f} ms "
          f"(the machine's own jitter; ratio {stall_ms / max(idle_stall_ms, 1e-9):.1f}x)")
    view.close()


if __name__ == "__main__":
    bench_linked_scrolling()
    bench_background_registration()
