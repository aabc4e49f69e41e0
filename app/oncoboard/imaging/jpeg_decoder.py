"""A pydicom decoder plugin for the JPEG syntaxes (baseline, extended 12-bit, lossless) on
imagecodecs (BSD-3-Clause; libjpeg-turbo 3 for baseline, 12-bit and lossless, with liblj92 and
jpegsof3 as fallbacks for lossless streams libjpeg-turbo refuses).

It replaces pylibjpeg-libjpeg (GPL-3.0), which cannot ship in the Apache-2.0 bundle. `register()`
adds it to pydicom's decoders, first in line, once per process: `pixels` calls it on import, so the
decoding pool's processes have it too. The output follows what pydicom expects of a plugin (and
what pylibjpeg-libjpeg returned): stored values, no colour conversion (YBR stays YBR; pydicom
converts), 16-bit containers for 9- to 16-bit precision.
"""

from __future__ import annotations

from typing import Any

LABEL = "imagecodecs"
_SYNTAXES = ("1.2.840.10008.1.2.4.50",  # JPEG Baseline (Process 1)
             "1.2.840.10008.1.2.4.51",  # JPEG Extended (Process 2 and 4)
             "1.2.840.10008.1.2.4.57",  # JPEG Lossless (Process 14)
             "1.2.840.10008.1.2.4.70")  # JPEG Lossless, First-Order Prediction (SV1)
DECODER_DEPENDENCIES = {ts: ("imagecodecs>=2024.1",) for ts in _SYNTAXES}
_registered = False


def is_available(uid: str) -> bool:
    """pydicom's plugin hook: whether this plugin can decode `uid` here."""
    if uid not in _SYNTAXES:
        return False
    try:
        from imagecodecs import _jpeg8  # noqa: F401
    except ImportError:
        return False
    return True


def _decode_frame(src: bytes, runner: Any) -> bytes:
    """pydicom's plugin hook: return one frame's decoded bytes."""
    from imagecodecs import _jpeg8

    colorspace = None
    if runner.samples_per_pixel == 3:
        # No colour conversion (pydicom converts YBR to RGB itself), as pylibjpeg-libjpeg and
        # Pillow: an RGB photometric means RGB components, unless an Adobe APP14 marker says
        # the stream was transformed to YCbCr, which libjpeg then undoes.
        if str(runner.photometric_interpretation).startswith("YBR"):
            colorspace = "YCBCR"
        elif not _has_adobe_marker(src):
            colorspace = "RGB"
    try:
        arr = _jpeg8.jpeg8_decode(src, colorspace=colorspace, outcolorspace=colorspace)
    except Exception as exc:  # lossless streams libjpeg-turbo refuses (predictor, precision)
        arr = _decode_lossless_fallback(src, exc)
    runner.set_option("bits_allocated", 8 * arr.dtype.itemsize)
    if runner.samples_per_pixel > 1:
        runner.set_option("planar_configuration", 0)  # libjpeg returns pixel-interleaved
    return bytes(arr.data) if arr.flags.c_contiguous else arr.tobytes()


def _has_adobe_marker(src: bytes) -> bool:
    """Whether the stream's header holds an Adobe APP14 segment (colour transform flag)."""
    end = src.find(b"\xff\xda")  # start of scan: the header ends there
    i = src.find(b"\xff\xee", 0, end if end > 0 else len(src))
    while i >= 0:
        if src[i + 4:i + 9] == b"Adobe":
            return True
        i = src.find(b"\xff\xee", i + 2, end if end > 0 else len(src))
    return False


def _decode_lossless_fallback(src: bytes, first: Exception) -> Any:
    for module, func in (("imagecodecs._ljpeg", "ljpeg_decode"),
                         ("imagecodecs._jpegsof3", "jpegsof3_decode")):
        try:
            mod = __import__(module, fromlist=[func])
            return getattr(mod, func)(src)
        except Exception:  # noqa: S112 - try the next decoder; the first error is raised
            continue
    raise first


def register() -> bool:
    """Put this plugin first in pydicom's JPEG decoders (once); False if imagecodecs is absent."""
    global _registered
    if _registered:
        return True
    from pydicom.pixels.decoders.base import get_decoder

    ok = False
    for ts in _SYNTAXES:
        decoder = get_decoder(ts)
        if LABEL not in decoder._available and LABEL not in decoder._unavailable:
            decoder.add_plugin(LABEL, (__name__, "_decode_frame"))
        if LABEL in decoder._available:
            # pydicom tries plugins in insertion order: ours before Pillow (baseline only) and
            # GDCM (no 12-bit) when those happen to be installed.
            decoder._available = {LABEL: decoder._available[LABEL],
                                  **{k: v for k, v in decoder._available.items() if k != LABEL}}
            ok = True
    _registered = True
    return ok
