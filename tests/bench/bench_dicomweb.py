"""Benchmark: opening a 400-slice CT from Orthanc over DICOMweb (loopback) without importing it.

Usage::

    .venv/bin/python tests/bench/bench_dicomweb.py [--size 512] [--slices 400] [--repeat 3]
        [--json results.json]

A synthetic CT (the phantom of bench_dicom.py, 12-bit stored, uncompressed) is generated and
uploaded to a fresh Orthanc with its DICOMweb plugin (the test server of tests/unit/imaging,
on 127.0.0.1, storage in a temporary folder). Each method runs in its own fresh process (so
its peak memory is its own), alternating rounds:

- ``anchor``: dicomweb-client ``retrieve_series`` of the same instances (a plain WADO-RS
  download, every instance parsed by pydicom, held in memory); before it, untimed in that
  figure, ``retrieve_series_metadata`` alone (the floor of a first slice: the geometry needs it);
- ``view``: `open_remote` with an empty cache: ``first`` = the middle slice decoded in the
  array (metadata + one instance), ``whole`` = every slice in the array;
- ``reopen``: the same series opened again, every slice and the instance records from the disk
  cache (one series-level QIDO-RS search checks the count);
- ``local``: the series loaded from the index after an import (``load_series``, cache off):
  the memory of a local series, for comparison.

Targets (issue 14): first slice <= 1 s; whole volume <= 2x the anchor; memory bounded as for a
local series. Nothing is pass/fail here: figures and ratios are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "unit" / "imaging"))
sys.path.insert(0, str(HERE))


class PeakSampler:
    """Sample this process's RSS every 5 ms.

    (getrusage's ru_maxrss is not used: after fork + exec it keeps the parent's peak.)
    """

    def __init__(self) -> None:
        import psutil

        self.proc, self.peak = psutil.Process(), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(0.005)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def generate_and_upload(server: Any, n: int, size: int) -> dict[str, str]:
    """Upload an n x size x size CT (stored uint16, 12 bits) to `server`; return its UIDs."""
    from io import BytesIO

    import bench_dicom

    from oncoboard.imaging import synth

    bench_dicom.N_SLICES, bench_dicom.ROWS, bench_dicom.COLS = n, size, size
    hu = bench_dicom.phantom(np.random.default_rng(1))
    stored = (hu.astype(np.int32) + 1024).clip(0, 4095).astype(np.uint16)
    del hu
    positions = synth.grid_positions([-190.0, -210.0, -200.0], [0, 0, 1.25], n)
    uids = {"study": synth.make_uid("bench-web", "study"), "series": synth.make_uid("bench-web")}
    for start in range(0, n, 50):
        part = slice(start, start + 50)
        per = [{"InstanceNumber": start + i + 1} for i in range(len(positions[part]))]
        for i, ds in enumerate(synth.slice_datasets(
                stored[part], positions[part], [1, 0, 0, 0, 1, 0], (0.742, 0.742), uids=uids,
                thickness=1.25, header=bench_dicom.study_header(), per_slice=per)):
            ds.SOPInstanceUID = synth.make_uid("bench-web", start + i)
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            buf = BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            server.http("/instances", buf.getvalue())
    return uids


# ---------------------------------------------------------------- measured, in a fresh process
def m_anchor(url: str, uids: dict[str, str], work: Path) -> dict[str, float]:
    from dicomweb_client.api import DICOMwebClient

    web = DICOMwebClient(url)
    t0 = time.perf_counter()
    metadata = web.retrieve_series_metadata(uids["study"], uids["series"])
    meta = time.perf_counter() - t0
    t0 = time.perf_counter()
    datasets = web.retrieve_series(uids["study"], uids["series"])
    whole = time.perf_counter() - t0
    assert len(datasets) == len(metadata) > 0
    return {"whole": whole, "meta": meta, "n": len(datasets)}


def _settings(work: Path) -> Any:
    from oncoboard.config import Settings

    return Settings(data_dir=work, cache_max_bytes=8 * 1024**3)


def _imports() -> None:
    """Import what a DICOMweb opening uses (the anchor imports dicomweb-client untimed too)."""
    import dicomweb_client.api  # noqa: F401
    import pydicom  # noqa: F401


def m_view(url: str, uids: dict[str, str], work: Path) -> dict[str, float]:
    import shutil

    from oncoboard.config import PacsNode
    from oncoboard.imaging.webseries import cache_folder, open_remote

    settings = _settings(work)
    shutil.rmtree(cache_folder(settings), ignore_errors=True)
    node = PacsNode(name="bench", dicomweb_url=url, timeout_s=60)
    _imports()
    t0 = time.perf_counter()
    series, volume = open_remote(settings, node, uids["series"], study_uid=uids["study"],
                                 rest=False)
    first = time.perf_counter() - t0
    k = volume.shape[0] // 2
    assert series.have is not None and series.have[k] and np.any(volume.voxels[k] != 0)
    series.fetch()
    whole = time.perf_counter() - t0
    assert series.complete
    return {"first": first, "whole": whole, "checksum": float(np.asarray(
        volume.voxels[::37, ::17, ::13], dtype=np.float64).sum())}


def m_reopen(url: str, uids: dict[str, str], work: Path) -> dict[str, float]:
    from oncoboard.config import PacsNode
    from oncoboard.imaging.webseries import open_remote

    node = PacsNode(name="bench", dicomweb_url=url, timeout_s=60)
    _imports()
    t0 = time.perf_counter()
    series, volume = open_remote(_settings(work), node, uids["series"], study_uid=uids["study"])
    whole = time.perf_counter() - t0
    assert series.complete
    return {"whole": whole, "checksum": float(np.asarray(
        volume.voxels[::37, ::17, ::13], dtype=np.float64).sum())}


def m_local(url: str, uids: dict[str, str], work: Path) -> dict[str, float]:
    from oncoboard.imaging.loader import load_series
    from oncoboard.store import open_store

    store = open_store(work / "local")
    t0 = time.perf_counter()
    volume = load_series(store, uids["series"], use_cache=False)
    whole = time.perf_counter() - t0
    store.close()
    return {"whole": whole, "checksum": float(np.asarray(
        volume.voxels[::37, ::17, ::13], dtype=np.float64).sum())}


def worker(method: str, url: str, uids: dict[str, str], work: Path) -> dict[str, Any]:
    import psutil

    base = psutil.Process().memory_info().rss
    with PeakSampler() as peak:
        out: dict[str, Any] = globals()[f"m_{method}"](url, uids, work)
    out["peak_rss"], out["base_rss"] = peak.peak, base
    return out


def run(method: str, url: str, uids: dict[str, str], work: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", method, "--url", url, "--uids",
           json.dumps(uids), "--work", str(work)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{method} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def import_once(server: Any, uids: dict[str, str], work: Path) -> None:
    """Import the series into a store under `work/local` (for the `local` comparison)."""
    from oncoboard.config import Settings
    from oncoboard.imaging import pacs
    from oncoboard.store import open_store

    settings = Settings(data_dir=work / "local")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.db_path)
    node = server.web_node(timeout_s=60)
    pacs.retrieve_into_store(settings, store, node, series_uid=uids["series"])
    store.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--slices", type=int, default=400)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker")
    ap.add_argument("--url")
    ap.add_argument("--uids")
    ap.add_argument("--work", type=Path)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.url, json.loads(args.uids), args.work)))
        return 0
    from orthanc import HAS_DICOMWEB, ORTHANC_BIN, start_orthanc

    if ORTHANC_BIN is None or not HAS_DICOMWEB:
        print("Orthanc with its DICOMweb plugin is needed (apt-get install orthanc "
              "orthanc-dicomweb)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="oncoboard-bench-web-") as tmp:
        work = Path(tmp)
        server = start_orthanc(work / "orthanc", {"HttpThreadsCount": 8})
        try:
            t0 = time.perf_counter()
            uids = generate_and_upload(server, args.slices, args.size)
            print(f"uploaded {args.slices} x {args.size}x{args.size} CT to Orthanc in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            import_once(server, uids, work)
            url = server.dicomweb_url
            rounds: dict[str, list[dict[str, Any]]] = {m: [] for m in
                                                       ("anchor", "view", "reopen", "local")}
            for i in range(args.repeat + 1):  # round 0 warms Orthanc's and the OS's caches
                for method in rounds:
                    result = run(method, url, uids, work)
                    if i:
                        rounds[method].append(result)
        finally:
            server.stop()
    report(rounds, args)
    return 0


def report(rounds: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> None:
    def med(method: str, key: str) -> float:
        return float(statistics.median(r[key] for r in rounds[method]))

    sums = {m: {r["checksum"] for r in rounds[m]} for m in ("view", "reopen", "local")}
    same = len(set().union(*sums.values())) == 1
    ratios = [v["whole"] / a["whole"] for v, a in zip(rounds["view"], rounds["anchor"],
                                                      strict=True)]
    mib = 1024 * 1024
    print(f"\n{args.slices} slices {args.size}x{args.size}, median of {args.repeat} rounds "
          "(each method in a fresh process, Orthanc on loopback):")
    print(f"  anchor (dicomweb-client retrieve_series): {med('anchor', 'whole'):.2f} s, "
          f"peak RSS {med('anchor', 'peak_rss') / mib:.0f} MiB")
    print(f"  anchor for the first slice: the series' WADO-RS metadata alone (dicomweb-client "
          f"retrieve_series_metadata, the geometry every opening needs) {med('anchor', 'meta'):.3f}"
          f" s; first slice / metadata: {med('view', 'first') / med('anchor', 'meta'):.2f}x")
    print(f"  view: first slice {med('view', 'first'):.3f} s (target <= 1 s), whole "
          f"{med('view', 'whole'):.2f} s = {statistics.median(ratios):.2f}x the anchor "
          f"(per round {', '.join(f'{r:.2f}' for r in ratios)}; target <= 2x), "
          f"peak RSS {med('view', 'peak_rss') / mib:.0f} MiB")
    print(f"  reopen from the disk cache: {med('reopen', 'whole'):.3f} s, peak RSS "
          f"{med('reopen', 'peak_rss') / mib:.0f} MiB")
    print(f"  local series after import (load_series, no cache): {med('local', 'whole'):.2f} s, "
          f"peak RSS {med('local', 'peak_rss') / mib:.0f} MiB")
    print(f"  (the volume is {args.slices * args.size * args.size * 2 / mib:.0f} MiB of int16; "
          f"RSS before each run {med('view', 'base_rss') / mib:.0f} MiB; the viewed volume "
          "is a file-backed map in the data folder's cache, counted in its RSS)")
    print(f"  voxels of view, reopen and local identical (sampled checksum): {same}")
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "ratios": ratios}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
