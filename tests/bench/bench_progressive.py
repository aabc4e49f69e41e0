"""Benchmark: opening a 400-slice 512x512 JPEG 2000 CT in the viewer, visible slice first.

Run (2 cores, as the JPEG 2000 row of the README)::

    taskset -c 0,1 env QT_QPA_PLATFORM=offscreen PYTHONPATH=app \\
        .venv/bin/python tests/bench/bench_progressive.py [--dir /tmp/oncoboard-bench-dicom]
        [--rounds 3]

The series is the one `bench_dicom.py` generates (synthetic phantom, realistic headers, no
patient data; written once into ``--dir``) and indexed into ``<dir>/store-j2k``. Each round, in
this one process, alternates:

- SimpleITK ``ImageSeriesReader`` on the folder (GDCM, OpenJPEG on its own threads): the anchor;
- ``load_series`` of the whole series, cache off (today's full load, for reference);
- the viewer (offscreen Qt, ``ViewerView.open_series``), volume cache emptied first: time from
  the call to the first slice painted (the viewer usable), to the whole volume decoded
  (``volume_complete``; this includes writing the volume cache), and the longest gap between
  the ticks of a 5 ms timer (an event-loop stall) while the rest decodes and a reader scrolls
  the axial plane 20 times a second. The same timer and scrolling on the complete volume for 5 s
  right after (nothing decoding) gives the machine's own jitter at that moment. The decoding
  threads run at nice +10 (the screen's thread first); each round opens the series once more
  with ``ONCOBOARD_DECODE_NICE=0`` to show what that costs and gives.

Prints medians, ratios against SimpleITK of the same round, and the load average. Nothing here
is pass/fail.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_dicom  # noqa: E402 - the generator of the series


class Ctx:
    """The part of the application context the viewer uses."""

    def __init__(self, data_dir: Path):
        from oncoboard.config import load_settings
        from oncoboard.store import open_store

        self.settings = load_settings(data_dir)
        self.store = open_store(self.settings.db_path)


def sitk_load(folder: Path) -> tuple[float, float]:
    """Return (seconds, checksum) of SimpleITK reading the series."""
    t0 = time.perf_counter()
    total = bench_dicom.m_sitk(folder, folder)
    return time.perf_counter() - t0, total


def whole_load(ctx: Ctx, uid: str) -> tuple[float, float]:
    """Return (seconds, checksum) of today's full load (cache off)."""
    from oncoboard.imaging.loader import load_series

    t0 = time.perf_counter()
    vol = load_series(ctx.store, uid, use_cache=False)
    return time.perf_counter() - t0, float(vol.voxels.sum(dtype=np.float64))


def viewer_open(app: Any, view: Any, ctx: Ctx, uid: str) -> dict[str, float]:
    """Open the series in the viewer; return first-slice and complete times and the stall."""
    from PySide6.QtCore import QEventLoop, QTimer

    from oncoboard.imaging.cache import VolumeCache

    VolumeCache(ctx.settings.cache_dir).clear()
    ticks: list[float] = []
    marks: dict[str, float] = {}
    heartbeat, scroll = QTimer(), QTimer()
    heartbeat.setInterval(5)
    heartbeat.timeout.connect(lambda: ticks.append(time.perf_counter()))
    scroll.setInterval(50)
    steps = {"n": 0}

    def step() -> None:  # the reader scrolls a few slices up and down
        view.state.step(0, 1 if steps["n"] % 20 < 10 else -1)
        steps["n"] += 1

    scroll.timeout.connect(step)

    def shown(_uid: str) -> None:
        view.views[0].graphics.viewport().repaint()  # painted, not just scheduled
        marks["first"] = time.perf_counter()
        marks["pending"] = float(view.state.pending is not None)
        ticks.clear()
        heartbeat.start()
        scroll.start()

    loop = QEventLoop()

    def complete(_uid: str) -> None:
        marks["complete"] = time.perf_counter()
        loop.quit()

    view.series_loaded.connect(shown)
    view.volume_complete.connect(complete)
    t0 = time.perf_counter()
    view.open_series(uid)
    if "complete" not in marks:
        loop.exec()
    heartbeat.stop()
    scroll.stop()
    view.series_loaded.disconnect(shown)
    view.volume_complete.disconnect(complete)
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    worst = int(np.argmax(gaps)) if gaps else 0
    checksum = float(np.asarray(view.state.volume.voxels).sum(dtype=np.float64))
    return {"first": marks["first"] - t0, "complete": marks["complete"] - t0,
            "stall_ms": 1000 * max(gaps) if gaps else float("nan"),
            "stall_at": ticks[worst] - marks["first"] if gaps else float("nan"),
            "ticks": len(ticks), "progressive": marks["pending"], "checksum": checksum}


def idle_stall(app: Any, view: Any, seconds: float = 3.0) -> float:
    """Return the longest gap of the same timer, scrolling a complete volume, nothing behind."""
    from PySide6.QtCore import QEventLoop, QTimer

    ticks: list[float] = []
    heartbeat, scroll, stop = QTimer(), QTimer(), QTimer()
    heartbeat.setInterval(5)
    heartbeat.timeout.connect(lambda: ticks.append(time.perf_counter()))
    scroll.setInterval(50)
    n = {"k": 0}

    def step() -> None:
        view.state.step(0, 1 if n["k"] % 20 < 10 else -1)
        n["k"] += 1

    scroll.timeout.connect(step)
    loop = QEventLoop()
    stop.setSingleShot(True)
    stop.timeout.connect(loop.quit)
    heartbeat.start()
    scroll.start()
    stop.start(int(seconds * 1000))
    loop.exec()
    heartbeat.stop()
    scroll.stop()
    return 1000 * max(b - a for a, b in zip(ticks, ticks[1:], strict=False))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/oncoboard-bench-dicom"))
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"generating (once) into {args.dir} ...", flush=True)
    bench_dicom.generate(args.dir)
    folder, data_dir = args.dir / "j2k", args.dir / "store-j2k"
    bench_dicom.m_raw(folder, data_dir)  # warm the page cache
    bench_dicom.index_once(folder, data_dir)
    uid = bench_dicom._series_uid()
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    load0 = os.getloadavg()
    print(f"cores {cores}, load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}",
          flush=True)

    from oncoboard.ui.app import application
    from oncoboard.ui.viewer.viewer_view import ViewerView

    app = application()
    ctx = Ctx(data_dir)
    view = ViewerView(ctx)
    view.resize(1600, 1000)
    view.show()
    app.processEvents()
    warm = viewer_open(app, view, ctx, uid)  # imports, first paint: not counted
    print(f"warm-up: first slice {warm['first']:.3f} s, complete {warm['complete']:.2f} s",
          flush=True)
    jitter = idle_stall(app, view)
    rows: list[dict[str, float]] = []
    for r in range(args.rounds):
        s_t, s_sum = sitk_load(folder)
        w_t, w_sum = whole_load(ctx, uid)
        v = viewer_open(app, view, ctx, uid)
        quiet = idle_stall(app, view, 5.0)  # the same loop right after, nothing decoding
        os.environ["ONCOBOARD_DECODE_NICE"] = "0"  # decoders at the screen's priority
        v0 = viewer_open(app, view, ctx, uid)
        del os.environ["ONCOBOARD_DECODE_NICE"]
        row = {"sitk": s_t, "whole": w_t, **v, "jitter_ms": quiet,
               "complete0": v0["complete"], "stall0_ms": v0["stall_ms"]}
        rows.append(row)
        same = abs(v["checksum"] - w_sum) < 1 and abs(s_sum - w_sum) < 1
        print(f"round {r + 1}: SimpleITK {s_t:.2f} s | full load {w_t:.2f} s | viewer first "
              f"slice {v['first']:.3f} s, complete {v['complete']:.2f} s, longest stall "
              f"{v['stall_ms']:.0f} ms ({v['ticks']:.0f} ticks, {v['stall_at']:.2f} s after "
              f"the first slice; nothing decoding: {quiet:.0f} ms) | volumes equal: {same} | "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        print(f"         decoders not niced: complete {v0['complete']:.2f} s, longest stall "
              f"{v0['stall_ms']:.0f} ms", flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    first_ratio = statistics.median(r["first"] / r["sitk"] for r in rows)
    complete_ratio = statistics.median(r["complete"] / r["sitk"] for r in rows)
    whole_ratio = statistics.median(r["whole"] / r["sitk"] for r in rows)
    load1 = os.getloadavg()
    print(f"\n400-slice 512x512 JPEG 2000 CT, {len(cores)} cores, medians of {len(rows)} rounds "
          f"(load average {load0[0]:.2f} at start, {load1[0]:.2f} at end):")
    print(f"  (a) open to first slice painted   {med['first']:7.3f} s   target <= 1 s: "
          f"{'met' if med['first'] <= 1 else 'NOT met'}")
    print(f"  (b) open to whole volume          {med['complete']:7.2f} s   "
          f"{complete_ratio:.2f}x SimpleITK")
    print(f"      full load (no viewer)         {med['whole']:7.2f} s   "
          f"{whole_ratio:.2f}x SimpleITK")
    print(f"      SimpleITK whole series        {med['sitk']:7.2f} s   (anchor, same rounds)")
    print(f"  (c) first slice / SimpleITK       {first_ratio:7.3f}x   target <= 0.7x: "
          f"{'met' if first_ratio <= 0.7 else 'NOT met'}")
    print(f"  longest event-loop stall while decoding, scrolling at 20 Hz: "
          f"{med['stall_ms']:.0f} ms (max {max(r['stall_ms'] for r in rows):.0f} ms); "
          f"the same loop with nothing decoding: {med['jitter_ms']:.0f} ms after each round "
          f"(max {max(r['jitter_ms'] for r in rows):.0f} ms), {jitter:.0f} ms before the first")
    ratio0 = statistics.median(r["complete0"] / r["sitk"] for r in rows)
    print(f"  decoders at the screen's priority (ONCOBOARD_DECODE_NICE=0): whole volume "
          f"{med['complete0']:.2f} s ({ratio0:.2f}x SimpleITK), longest stall "
          f"{med['stall0_ms']:.0f} ms "
          f"(max {max(r['stall0_ms'] for r in rows):.0f} ms)")
    view.close()
    ctx.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
