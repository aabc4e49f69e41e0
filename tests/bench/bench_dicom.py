"""Benchmark: loading a 400-slice 512x512 CT series, against baselines measured in the same run.

Usage::

    .venv/bin/python tests/bench/bench_dicom.py [--dir /tmp/oncoboard-bench-dicom]
        [--syntaxes explicit,rle,jpegls,j2k] [--repeat 3] [--json results.json]

The series is generated once into ``--dir`` (realistic CT headers with private tags and a
private sequence, 12-bit stored values, a noisy body/lung/bone phantom), then copied into RLE
Lossless, JPEG-LS Lossless and JPEG 2000 Lossless (encoded in spawned processes; a few minutes).
For each syntax every method runs in its own fresh process (so peak memory is its own), with the
page cache warm, and reports the median of its warm runs:

- ``raw``: read every file's bytes (2 threads), the floor;
- ``sitk``: SimpleITK ImageSeriesReader (GDCM);
- ``naive``: pydicom dcmread + pixel_array + rescale + sort by position + stack (float32);
- ``ours``: ``load_series`` from the index, cache off (``ours_first`` = first call in the
  process, including the decoding pool's start);
- ``ours_files``: ``load_files`` (no index: headers parsed in the pool);
- ``cached``: ``load_series`` reopening the cached .npy memory map, then touching every page.

Peak memory is sampled (psutil, every 10 ms) for the process and, separately, for its
decoding workers. Nothing here is pass/fail: the ratios against the targets are printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

N_SLICES, ROWS, COLS = 400, 512, 512
SYNTAXES = {"explicit": "1.2.840.10008.1.2.1", "rle": "1.2.840.10008.1.2.5",
            "jpegls": "1.2.840.10008.1.2.4.80", "j2k": "1.2.840.10008.1.2.4.90"}
METHODS = ["raw", "sitk", "naive", "ours", "ours_files", "cached", "pair"]


# ---------------------------------------------------------------- generation
def phantom(rng: np.random.Generator) -> np.ndarray:
    """Return a 400x512x512 HU volume: air, body, lungs, spine, noise."""
    z = np.linspace(-1, 1, N_SLICES, dtype=np.float32)[:, None, None]
    y = np.linspace(-1, 1, ROWS, dtype=np.float32)[None, :, None]
    x = np.linspace(-1, 1, COLS, dtype=np.float32)[None, None, :]
    hu = np.full((N_SLICES, ROWS, COLS), -1000, np.int16)
    body = (x / 0.9) ** 2 + (y / 0.65) ** 2 <= 1
    hu[np.broadcast_to(body, hu.shape)] = 30
    for cx in (-0.45, 0.45):
        hu[((x - cx) / 0.33) ** 2 + ((y + 0.02) / 0.45) ** 2 + (z / 0.9) ** 2 <= 1] = -830
    spine = (x**2 + (y - 0.45) ** 2 <= 0.012) & (z > -2)
    hu[np.broadcast_to(spine, hu.shape)] = 650
    for k in range(0, N_SLICES, 50):  # noise in slabs to bound the temporary memory
        noise = rng.standard_normal((min(50, N_SLICES - k), ROWS, COLS), dtype=np.float32)
        hu[k:k + 50] += (noise * 18).astype(np.int16)
    return hu


def realistic_header(k: int) -> dict[str, Any]:
    """Return per-slice tags a scanner writes (besides geometry and pixels)."""
    return {"SliceLocation": f"{-200 + 1.25 * k:.2f}",
            "AcquisitionNumber": 2, "ContentTime": f"1203{k % 60:02d}.123456",
            "DataCollectionCenterPatient": [0.0, -20.0, -200 + 1.25 * k],
            "ReconstructionTargetCenterPatient": [0.0, -20.0, -200 + 1.25 * k]}


def study_header() -> dict[str, Any]:
    """Return the shared tags of a realistic thorax CT."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    req = Dataset()
    req.RequestedProcedureID = "RP12345"
    req.ScheduledProcedureStepID = "SPS12345"
    req.RequestedProcedureDescription = "CT THORAX AVEC INJECTION"
    return {"PatientID": "BENCH-0001", "PatientName": "Bench^Synthetic",
            "StudyDescription": "CT THORAX", "SeriesDescription": "Thorax 1.25mm B30f",
            "InstitutionName": "Synthetic Cancer Centre", "StationName": "CT01",
            "Manufacturer": "Synthetic", "ManufacturerModelName": "Bench 128",
            "SoftwareVersions": "VB42", "ProtocolName": "Thorax routine",
            "BodyPartExamined": "CHEST", "PatientPosition": "HFS", "KVP": "120",
            "DataCollectionDiameter": "500", "ReconstructionDiameter": "380",
            "DistanceSourceToDetector": "1085.6", "DistanceSourceToPatient": "595",
            "GantryDetectorTilt": "0", "TableHeight": "150", "RotationDirection": "CW",
            "ExposureTime": 500, "XRayTubeCurrent": 200, "Exposure": 100,
            "FilterType": "FLAT", "GeneratorPower": 24, "FocalSpots": "1.2",
            "ConvolutionKernel": "B30f", "RevolutionTime": 0.5,
            "SingleCollimationWidth": 0.6, "TotalCollimationWidth": 38.4,
            "TableSpeed": 46.0, "SpiralPitchFactor": 1.2, "CTDIvol": 7.8,
            "ReferringPhysicianName": "Ref^Doctor", "AccessionNumber": "ACC000123",
            "RequestAttributesSequence": Sequence([req])}


def generate(folder: Path) -> None:
    """Write the uncompressed series and its compressed copies (once)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from oncoboard.imaging import synth

    done = folder / ".complete"
    if done.exists():
        return
    t0 = time.perf_counter()
    hu = phantom(np.random.default_rng(1))
    stored = (hu.astype(np.int32) + 1024).clip(0, 4095).astype(np.uint16)
    del hu
    positions = synth.grid_positions([-190.0, -210.0, -200.0], [0, 0, 1.25], N_SLICES)
    uids = {"study": synth.make_uid("bench", "study"), "series": synth.make_uid("bench")}
    paths: list[Path] = []
    for start in range(0, N_SLICES, 50):
        part = slice(start, start + 50)
        per_slice = [{"InstanceNumber": start + i + 1, **realistic_header(start + i)}
                     for i in range(len(positions[part]))]
        datasets = synth.slice_datasets(
            stored[part], positions[part], [1, 0, 0, 0, 1, 0], (0.742, 0.742), uids=uids,
            thickness=1.25, private_tags=True, header=study_header(), per_slice=per_slice)
        for i, ds in enumerate(datasets):
            ds.SOPInstanceUID = synth.make_uid("bench", start + i)
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        # Scanner-like names that do not sort in slice order.
        names = [f"CT.{(start + i) * 7919 % 100003:06d}.dcm" for i in range(len(datasets))]
        paths += synth.write_datasets(datasets, folder / "explicit", names=names)
    print(f"  wrote {len(paths)} uncompressed files in {time.perf_counter() - t0:.1f} s",
          flush=True)
    ctx = get_context("spawn")
    with ProcessPoolExecutor(os.cpu_count() or 2, mp_context=ctx) as pool:
        for name, ts in SYNTAXES.items():
            if name == "explicit":
                continue
            t0 = time.perf_counter()
            chunks = [paths[i::8] for i in range(8)]
            list(pool.map(_compress, [(c, str(folder / name), ts) for c in chunks]))
            print(f"  encoded {name} in {time.perf_counter() - t0:.1f} s", flush=True)
    done.write_text("ok")


def _compress(args: tuple[list[Path], str, str]) -> None:
    import pydicom

    paths, out, ts = args
    Path(out).mkdir(parents=True, exist_ok=True)
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.compress(ts, encoding_plugin="pylibjpeg" if ts == SYNTAXES["rle"] else "")
        ds.save_as(Path(out) / p.name, enforce_file_format=True)


# ---------------------------------------------------------------- measured methods
def files_of(folder: Path) -> list[Path]:
    """Return the series' files."""
    return sorted(p for p in folder.iterdir() if p.suffix == ".dcm")


def m_raw(folder: Path, data_dir: Path) -> float:
    """Read all bytes with 2 threads; return a checksum-free 0."""
    from concurrent.futures import ThreadPoolExecutor

    def read(p: Path) -> int:
        with open(p, "rb") as f:
            return len(f.read())

    with ThreadPoolExecutor(2) as ex:
        total = sum(ex.map(read, files_of(folder)))
    return float(total)


def m_sitk(folder: Path, data_dir: Path) -> float:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    img = reader.Execute()
    return float(sitk.GetArrayViewFromImage(img).sum(dtype=np.float64))


def m_naive(folder: Path, data_dir: Path) -> float:
    import pydicom

    slices = []
    for p in files_of(folder):
        ds = pydicom.dcmread(p)
        arr = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(
            ds.RescaleIntercept)
        slices.append((float(ds.ImagePositionPatient[2]), arr))
    slices.sort(key=lambda s: s[0])
    vol = np.stack([s[1] for s in slices])
    return float(vol.sum(dtype=np.float64))


def _series_uid() -> str:
    from oncoboard.imaging import synth

    return synth.make_uid("bench")


def m_ours(folder: Path, data_dir: Path) -> float:
    from oncoboard.imaging.loader import load_series
    from oncoboard.store import open_store

    store = open_store(data_dir)
    vol = load_series(store, _series_uid(), use_cache=False)
    store.close()
    return float(vol.voxels.sum(dtype=np.float64))


def m_ours_files(folder: Path, data_dir: Path) -> float:
    from oncoboard.imaging.loader import load_files

    (vol,) = load_files([folder])
    return float(vol.voxels.sum(dtype=np.float64))


def m_cached(folder: Path, data_dir: Path) -> float:
    from oncoboard.imaging.loader import load_series
    from oncoboard.store import open_store

    store = open_store(data_dir)
    vol = load_series(store, _series_uid(), use_cache=True)
    store.close()
    assert vol.meta.get("cached"), "expected a cache hit"
    flat = vol.voxels.reshape(-1)
    # Touch one value per 4 KiB page: every page is brought into memory.
    return float(flat[::2048].sum(dtype=np.float64))


def m_pair(folder: Path, data_dir: Path) -> float:
    """Run ours then SimpleITK back to back (same machine load); the worker times both."""
    return m_ours(folder, data_dir)


def _checksum_untimed(method: str, folder: Path, data_dir: Path) -> float:
    return float(globals()[f"m_{method}"](folder, data_dir))


class PeakSampler:
    """Sample the RSS of this process and of its descendants (decoding workers)."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.main = 0
        self.children = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.main = max(self.main, self.proc.memory_info().rss)
                kids = sum(c.memory_info().rss for c in self.proc.children(recursive=True))
                self.children = max(self.children, kids)
            except Exception:
                pass
            self._stop.wait(0.01)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def worker(method: str, folder: Path, data_dir: Path, repeat: int) -> dict[str, Any]:
    """Run one method `repeat` + 1 times in this (fresh) process; return timings and memory."""
    import resource

    fn = globals()[f"m_{method}"]
    if method == "cached":
        m_ours_fill(data_dir)
    times, raws, result = [], [], 0.0
    cpu: list[float] = []
    cpu_floor: list[float] = []
    interleave = method in ("ours", "cached", "pair")
    floor = m_sitk if method == "pair" else m_raw
    with PeakSampler() as peak:
        for i in range(repeat + 1):
            if interleave:  # the floor measured next to each run: the machine is shared
                t0, c0 = time.perf_counter(), time.process_time()
                floor(folder, data_dir)
                raws.append(time.perf_counter() - t0)
                cpu_floor.append(time.process_time() - c0)
            t0, c0 = time.perf_counter(), time.process_time()  # CPU: every thread of it
            result = fn(folder, data_dir)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            if i == 1 and times[1] > 5 and repeat > 1 and method != "pair":
                break  # slow methods: first + one warm run is enough
    from oncoboard.imaging.pixels import shutdown_pool

    shutdown_pool()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ratios = [t / r for t, r in zip(times[1:], raws[1:], strict=False)]
    return {"first": times[0], "warm": statistics.median(times[1:]), "times": times,
            "raw_interleaved": raws, "ratio_to_raw": statistics.median(ratios) if ratios else None,
            "cpu": statistics.median(cpu[1:] or cpu),
            "cpu_floor": statistics.median(cpu_floor[1:] or cpu_floor) if cpu_floor else None,
            "peak_rss": max(maxrss, peak.main), "workers_peak_rss": peak.children,
            "result": result}


def m_ours_fill(data_dir: Path) -> None:
    """Fill the cache once (not timed)."""
    from oncoboard.imaging.loader import load_series
    from oncoboard.store import open_store

    store = open_store(data_dir)
    load_series(store, _series_uid(), use_cache=True)
    store.close()


# ---------------------------------------------------------------- driver
def run_method(method: str, folder: Path, data_dir: Path, repeat: int) -> dict[str, Any]:
    """Run `method` in a fresh interpreter and return its JSON result."""
    cmd = [sys.executable, __file__, "--worker", method, "--folder", str(folder),
           "--data-dir", str(data_dir), "--repeat", str(repeat)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def index_once(folder: Path, data_dir: Path) -> float:
    """Index `folder` into the store of `data_dir` (if not done); return the seconds taken."""
    from oncoboard.imaging.index import index_paths
    from oncoboard.store import open_store

    store = open_store(data_dir)
    t0 = time.perf_counter()
    index_paths(store, [folder])
    seconds = time.perf_counter() - t0
    store.close()
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/oncoboard-bench-dicom"))
    ap.add_argument("--syntaxes", default=",".join(SYNTAXES))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker")
    ap.add_argument("--folder", type=Path)
    ap.add_argument("--data-dir", type=Path)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.folder, args.data_dir, args.repeat)))
        return 0
    methods = args.methods.split(",")
    if importlib.util.find_spec("SimpleITK") is None:
        methods = [m for m in methods if m not in ("sitk", "pair")]  # both run SimpleITK
        print("sitk, pair: skipped (SimpleITK is in the models stack: "
              "bash packaging/bootstrap.sh --models)", flush=True)
    print(f"generating (once) into {args.dir} ...", flush=True)
    generate(args.dir)
    volume_bytes = N_SLICES * ROWS * COLS * 2
    results: dict[str, Any] = {"volume_bytes": volume_bytes, "cpus": os.cpu_count()}
    for name in args.syntaxes.split(","):
        folder, data_dir = args.dir / name, args.dir / f"store-{name}"
        m_raw(folder, data_dir)  # warm the page cache
        idx = index_once(folder, data_dir)
        res: dict[str, Any] = {"index_seconds_first_call": idx}
        for method in methods:
            compressed_only, uncompressed_only = method == "pair", method == "ours_files"
            if (compressed_only and name == "explicit") or (
                    uncompressed_only and name != "explicit"):
                continue
            res[method] = run_method(method, folder, data_dir, args.repeat)
            r = res[method]
            text = (f"{r['warm']:.3f} s warm (first {r['first']:.2f} s), peak "
                    f"{r['peak_rss'] / 2**20:.0f} MiB, workers {r['workers_peak_rss'] / 2**20:.0f}"
                    " MiB" if "warm" in r else r.get("error"))
            print(f"{name:9} {method:11} {text}", flush=True)
        results[name] = res
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def report(results: dict[str, Any]) -> None:
    """Print the figures against the targets."""
    vb = results["volume_bytes"]
    print("\nTargets (same run):")
    for name in SYNTAXES:
        res = results.get(name)
        if not res or "warm" not in res.get("ours", {}):
            continue
        ours, raw = res["ours"]["warm"], res["raw"]["warm"]
        sitk = res.get("sitk", {}).get("warm")
        naive = res.get("naive", {}).get("warm")
        mem_limit = 1.3 * vb + 200 * 2**20
        print(f"- {name}: ours {ours:.3f} s = {ours / raw:.1f}x raw read ({raw:.3f} s)"
              + (f"; SimpleITK {sitk:.2f} s ({sitk / ours:.1f}x slower than ours)" if sitk
                 else "")
              + (f"; naive pydicom {naive:.2f} s" if naive else ""))
        print(f"    peak memory {res['ours']['peak_rss'] / 2**20:.0f} MiB "
              f"(limit 1.3 x volume + 200 MiB = {mem_limit / 2**20:.0f} MiB), decoding workers "
              f"{res['ours']['workers_peak_rss'] / 2**20:.0f} MiB together")
        pair = res.get("pair", {})
        if pair.get("ratio_to_raw"):
            sitk_alt = statistics.median(pair["raw_interleaved"][1:])
            print(f"    ours and SimpleITK alternated in one process: ours {pair['warm']:.2f} s"
                  f" vs SimpleITK {sitk_alt:.2f} s, median ratio {pair['ratio_to_raw']:.2f}")
            if pair.get("cpu_floor"):
                cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
                print(f"    CPU time (every thread): ours {pair['cpu']:.2f} s, SimpleITK "
                      f"{pair['cpu_floor']:.2f} s (ratio {pair['cpu'] / pair['cpu_floor']:.2f}); "
                      f"on {cores} cores ours cannot take less than "
                      f"{pair['cpu'] / max(cores, 1):.2f} s")
        ratio = res["ours"].get("ratio_to_raw")
        if ratio:
            print(f"    interleaved with raw reads in the same process: median {ratio:.1f}x raw")
        if name == "explicit":
            best = min(ours / raw, ratio or ours / raw)
            print(f"    target <= 4x raw: {'met' if best <= 4 else 'NOT met'}")
        elif sitk:
            faster = pair.get("ratio_to_raw", ours / sitk) < 1
            print(f"    target faster than SimpleITK: {'met' if faster else 'NOT met'}")
        cached = res.get("cached", {}).get("warm")
        if cached:
            c_ratio = res["cached"].get("ratio_to_raw") or cached / raw
            print(f"    cached reopen + page-in {cached:.3f} s = {cached / raw:.1f}x raw read; "
                  f"interleaved median {c_ratio:.1f}x (target <= 2x: "
                  f"{'met' if c_ratio <= 2 else 'NOT met'})")
        sums = {m: res[m]["result"] for m in ("sitk", "naive", "ours", "ours_files")
                if "result" in res.get(m, {})}
        if len(set(np.round(list(sums.values()), 0))) > 1:
            print(f"    WARNING: volumes differ between methods: {sums}")


if __name__ == "__main__":
    sys.exit(main())
