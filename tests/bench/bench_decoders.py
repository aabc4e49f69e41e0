"""Benchmark: JPEG decoders, before (pylibjpeg-libjpeg, GPL-3.0) and after (imagecodecs, BSD).

Usage::

    .venv/bin/python tests/bench/bench_decoders.py [--frames 40] [--size 512] [--repeat 3]

Encodes CT-like 512x512 frames (a noisy body/lung/spine phantom, 12-bit stored values) into
each JPEG syntax with imagecodecs (libjpeg-turbo 3 encodes baseline, 12-bit extended and
lossless with any predictor), wraps each frame as DICOM, then decodes every frame through
pydicom's decoder with each plugin that is installed: ``pylibjpeg`` (pylibjpeg-libjpeg, the
decoder the app used before) and ``imagecodecs`` (the app's plugin, ``oncoboard.imaging.
jpeg_decoder``). Also decodes the JPEG files of pydicom and pydicom-data (when installed), and
compares the two decoders on them. Prints, per syntax and plugin: whether it decoded, whether it
is pixel-equal to the source (lossless) or its mean absolute error (lossy), the largest
difference between the two plugins, and the median time per frame. Nothing is pass/fail, but
the exit status is 1 if a lossless syntax is not exact with the app's plugin.

pylibjpeg-libjpeg is no longer installed by the project (GPL); to measure "before", install it
into a throwaway environment: ``pip install pylibjpeg-libjpeg``.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "app"))
warnings.simplefilter("ignore")

PLUGINS = ("pylibjpeg", "imagecodecs")


def phantom(n: int, size: int, seed: int = 7) -> np.ndarray:
    """Return n frames of a CT-like phantom as 12-bit unsigned stored values (HU + 1024)."""
    rng = np.random.default_rng(seed)
    y = np.linspace(-1, 1, size, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, size, dtype=np.float32)[None, :]
    frames = []
    for k in range(n):
        z = -0.8 + 1.6 * k / max(n - 1, 1)
        hu = np.full((size, size), -1000, np.float32)
        hu[(x / 0.9) ** 2 + (y / 0.65) ** 2 <= 1] = 30
        for cx in (-0.45, 0.45):
            hu[((x - cx) / 0.33) ** 2 + ((y + 0.02) / 0.45) ** 2 + (z / 0.9) ** 2 <= 1] = -830
        hu[x**2 + (y - 0.45) ** 2 <= 0.012] = 650
        hu += rng.standard_normal((size, size), dtype=np.float32) * 18
        frames.append(np.clip(hu + 1024, 0, 4095).astype(np.uint16))
    return np.stack(frames)


def encode(frames: np.ndarray, syntax: str) -> tuple[list[bytes], np.ndarray, int]:
    """Return (streams, the source values they encode, bits stored)."""
    import imagecodecs

    if syntax == "baseline":
        src = (frames >> 4).astype(np.uint8)  # 8-bit: what a baseline JPEG can hold
        return [imagecodecs.jpeg8_encode(f, level=90) for f in src], src, 8
    if syntax == "extended":
        return [imagecodecs.jpeg8_encode(f, level=90, bitspersample=12) for f in frames], frames, 12
    predictor = 1 if syntax == "lossless-sv1" else 6
    streams = [imagecodecs.jpeg8_encode(f, lossless=True, predictor=predictor, bitspersample=12)
               for f in frames]
    return streams, frames, 12


SYNTAX_UIDS = {"baseline": "1.2.840.10008.1.2.4.50", "extended": "1.2.840.10008.1.2.4.51",
               "lossless-sv1": "1.2.840.10008.1.2.4.70", "lossless-p14": "1.2.840.10008.1.2.4.57"}


def decode_all(streams: list[bytes], ts: str, bits: int, shape: tuple[int, int], plugin: str,
               repeat: int) -> tuple[np.ndarray | None, float, str]:
    """Decode every frame with one plugin; return (frames, median ms a frame, error)."""
    from pydicom.encaps import encapsulate
    from pydicom.pixels.decoders.base import get_decoder

    decoder = get_decoder(ts)
    items = [encapsulate([s]) for s in streams]  # one frame of encapsulated Pixel Data each
    if plugin not in decoder.available_plugins:
        return None, float("nan"), "not installed"
    opts = {"rows": shape[0], "columns": shape[1], "samples_per_pixel": 1,
            "bits_allocated": 8 if bits == 8 else 16, "bits_stored": bits,
            "pixel_representation": 0, "photometric_interpretation": "MONOCHROME2",
            "number_of_frames": 1, "pixel_keyword": "PixelData"}
    times, out = [], []
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            frames = [decoder.as_array(s, decoding_plugin=plugin, **opts)[0] for s in items]
            times.append((time.perf_counter() - t0) / len(streams) * 1000)
            out = frames
    except Exception as exc:
        return None, float("nan"), f"{type(exc).__name__}: {str(exc)[:80]}"
    return np.stack(out), statistics.median(times), ""


def bench_generated(n: int, size: int, repeat: int) -> bool:
    frames = phantom(n, size)
    exact_ok = True
    print(f"{n} generated CT-like frames {size}x{size}, median ms a frame over {repeat} runs")
    print(f"{'syntax':14} {'plugin':12} {'decoded':8} {'vs source':18} {'ms/frame':>9}"
          f" {'max diff between plugins':>26}")
    for syntax, ts in SYNTAX_UIDS.items():
        streams, src, bits = encode(frames, syntax)
        results = {p: decode_all(streams, ts, bits, (size, size), p, repeat) for p in PLUGINS}
        a, b = results["pylibjpeg"][0], results["imagecodecs"][0]
        between = (int(np.abs(a.astype(int) - b.astype(int)).max())
                   if a is not None and b is not None else None)
        for plugin, (out, ms, err) in results.items():
            if out is None:
                print(f"{syntax:14} {plugin:12} {'no':8} {err}")
                continue
            diff = np.abs(out.astype(np.int64) - src.astype(np.int64))
            verdict = ("pixel-equal" if not diff.any() else f"mean abs err {diff.mean():.2f}")
            if syntax.startswith("lossless") and diff.any() and plugin == "imagecodecs":
                exact_ok = False
            print(f"{syntax:14} {plugin:12} {'yes':8} {verdict:18} {ms:9.2f}"
                  f" {'' if between is None else between:>26}")
    return exact_ok


def bench_files() -> None:
    """The JPEG files of pydicom (and pydicom-data): decode with both plugins, compare."""
    import pydicom
    import pydicom.data
    from pydicom.pixels import pixel_array

    dirs = [os.path.dirname(pydicom.data.__file__)]
    try:
        import data_store  # pydicom-data
        dirs.append(os.path.dirname(data_store.__file__))
    except ImportError:
        pass
    jpeg = set(SYNTAX_UIDS.values())
    print("\npydicom / pydicom-data JPEG files: max difference between plugins "
          "(0 = pixel-equal; lossy files differ by IDCT rounding)")
    for d in dirs:
        for p in sorted(glob.glob(d + "/**/*.dcm", recursive=True)):
            try:
                ds = pydicom.dcmread(p, stop_before_pixels=True)
                ts = str(ds.file_meta.TransferSyntaxUID)
            except Exception:
                continue
            if ts not in jpeg:
                continue
            res: dict[str, Any] = {}
            for plugin in PLUGINS:
                try:
                    res[plugin] = pixel_array(p, decoding_plugin=plugin)
                except Exception as exc:
                    res[plugin] = f"fails ({type(exc).__name__})"
            a, b = res["pylibjpeg"], res["imagecodecs"]
            if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
                cmp = (str(int(np.abs(a.astype(int) - b.astype(int)).max()))
                       if a.shape == b.shape else f"shapes {a.shape} {b.shape}")
            else:
                cmp = f"pylibjpeg {a if isinstance(a, str) else 'ok'}, " \
                      f"imagecodecs {b if isinstance(b, str) else 'ok'}"
            name = pydicom.uid.UID(ts).keyword
            print(f"  {os.path.basename(p):34} {name:18} {cmp}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from oncoboard.imaging import jpeg_decoder

    if not jpeg_decoder.register():
        print("imagecodecs is not installed: the app's JPEG plugin cannot run", file=sys.stderr)
        return 1
    try:
        from importlib.metadata import version
        print(f"imagecodecs {version('imagecodecs')}; pylibjpeg-libjpeg "
              f"{_version('pylibjpeg-libjpeg')}")
    except Exception:
        pass
    ok = bench_generated(args.frames, args.size, args.repeat)
    bench_files()
    return 0 if ok else 1


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    raise SystemExit(main())
