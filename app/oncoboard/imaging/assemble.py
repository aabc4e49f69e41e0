"""Build a `Volume` from instance records: stack choice, pixels, rescale, windows, warnings."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oncoboard.errors import DicomError
from oncoboard.imaging.geometry import Layout, Stack, layout_stack, require_images, split_stacks
from oncoboard.imaging.headers import InstanceRecord
from oncoboard.imaging.index import CancelFn, ProgressFn
from oncoboard.imaging.pixels import FrameJob, container_dtype, read_frames, syntax_name
from oncoboard.imaging.volume import Volume, WindowPreset

log = logging.getLogger(__name__)

CT_PRESETS: list[WindowPreset] = [
    ("Soft tissue", 40.0, 400.0), ("Lung", -600.0, 1500.0), ("Bone", 400.0, 1800.0),
    ("Mediastinum", 50.0, 350.0), ("Brain", 40.0, 80.0), ("Liver", 60.0, 160.0)]
LOSSY_SYNTAXES = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51",
                  "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.91",
                  "1.2.840.10008.1.2.4.203"}
INT16 = np.iinfo(np.int16)


def pick_stack(records: list[InstanceRecord], stack: int | None,
               where: str) -> tuple[Stack, list[Stack]]:
    """Return the chosen stack (the largest by default) and all stacks of `records`."""
    require_images(records, where)
    stacks = split_stacks(records)
    index = 0 if stack is None else stack
    if not 0 <= index < len(stacks):
        raise DicomError(f"stack {stack} does not exist (the series has {len(stacks)})",
                         where=where)
    return stacks[index], stacks


def assemble(records: list[InstanceRecord], *, stack: int | None = None,
             progress: ProgressFn | None = None, cancel: CancelFn | None = None,
             where: str = "") -> Volume:
    """Return the `Volume` of one stack of a series' records."""
    chosen, stacks = pick_stack(records, stack, where)
    layout = layout_stack(chosen)
    jobs = [_job(f.record, f.index) for f in layout.frames]
    first = layout.frames[0].record
    if any(r.samples_per_pixel > 1 for r in (f.record for f in layout.frames)):
        raw: NDArray[Any] = np.empty((len(jobs), first.rows, first.columns), np.float32)
    else:
        widths = {(f.record.bits_allocated, f.record.pixel_representation)
                  for f in layout.frames}
        if len(widths) > 1:
            raise DicomError(f"frames mix pixel formats {sorted(widths)}", where=where)
        raw = np.empty((len(jobs), first.rows, first.columns),
                       container_dtype(first.bits_allocated, bool(first.pixel_representation)))
    geoms = [f.geom for f in layout.frames]
    slopes = np.array([g.slope for g in geoms])
    intercepts = np.array([g.intercept for g in geoms])
    warnings = list(layout.warnings)
    mono1 = first.photometric == "MONOCHROME1"
    if mono1:
        warnings.append("MONOCHROME1 image inverted so that higher values are brighter")
    post = _inplace_rescaler(raw, first, slopes, intercepts, mono1)
    read_frames(jobs, raw, progress=progress, cancel=cancel, post=post)
    if post is not None:
        voxels = raw.view(np.int16)
    else:
        if mono1:
            _invert_monochrome1(raw, first)
        voxels = rescale(raw, slopes, intercepts)
    del raw
    if not layout.is_direct:
        voxels = _apply_sources(voxels, layout)
    return _volume(voxels, layout, chosen, stacks, first, warnings, mono1)


def _inplace_rescaler(raw: NDArray[Any], rec: InstanceRecord, slopes: NDArray[Any],
                      intercepts: NDArray[Any], mono1: bool) -> Any:
    """Return a per-frame in-place int16 rescale when every possible value fits, else None.

    This is the usual CT case (12-bit stored values, slope 1, integer intercept): each frame
    is rescaled right after it is read, while still in cache, and the volume is never copied.
    """
    if raw.dtype not in (np.int16, np.uint16) or not np.all(slopes == 1):
        return None
    if not np.all(intercepts == np.round(intercepts)):
        return None
    hi, lo = _stored_max_min(rec)
    if hi > INT16.max or lo + intercepts.min() < INT16.min or hi + intercepts.max() > INT16.max:
        return None
    shift = [int(b) for b in intercepts]
    stored_sum = hi + lo

    def post(k: int, frame: NDArray[Any]) -> None:
        view = frame.view(np.int16)
        if mono1:
            np.subtract(np.int16(stored_sum), view, out=view)
        if shift[k]:
            view += np.int16(shift[k])

    return post


def _job(rec: InstanceRecord, frame: int) -> FrameJob:
    return FrameJob(rec.path, rec.pixel_offset, rec.pixel_length, rec.transfer_syntax, frame,
                    rec.n_frames, rec.rows, rec.columns, rec.samples_per_pixel,
                    rec.bits_allocated, rec.bits_stored, bool(rec.pixel_representation),
                    rec.photometric, rec.planar_configuration)


def _stored_max_min(rec: InstanceRecord) -> tuple[int, int]:
    bits = rec.bits_stored or rec.bits_allocated
    if rec.pixel_representation:
        return (1 << (bits - 1)) - 1, -(1 << (bits - 1))
    return (1 << bits) - 1, 0


def _invert_monochrome1(raw: NDArray[Any], rec: InstanceRecord) -> None:
    if raw.dtype.kind == "f":
        np.subtract(raw.max(), raw, out=raw)
        return
    hi, lo = _stored_max_min(rec)
    if rec.pixel_representation:
        np.subtract(hi + lo, raw, out=raw)  # -1 - x stays in range for signed
    else:
        np.subtract(np.array(hi, raw.dtype), raw, out=raw)


def rescale(raw: NDArray[Any], slopes: NDArray[Any], intercepts: NDArray[Any]) -> NDArray[Any]:
    """Return ``raw * slope + intercept`` per slice: int16 when exact, else float32.

    Works in place when the stored container allows it, to keep peak memory near one volume.
    """
    integral = (np.all(slopes == np.round(slopes)) and np.all(intercepts == np.round(intercepts))
                and raw.dtype.kind in "iu")
    if integral and raw.size:
        lo, hi = int(raw.min()), int(raw.max())
        ends = np.concatenate([slopes * lo + intercepts, slopes * hi + intercepts])
        if ends.min() >= INT16.min and ends.max() <= INT16.max:
            return _rescale_int16(raw, slopes, intercepts, hi)
    out = np.empty(raw.shape, np.float32)
    for k in range(raw.shape[0]):
        np.multiply(raw[k], np.float32(slopes[k]), out=out[k], casting="unsafe")
        out[k] += np.float32(intercepts[k])
    return out


def _rescale_int16(raw: NDArray[Any], slopes: NDArray[Any], intercepts: NDArray[Any],
                   hi: int) -> NDArray[np.int16]:
    same = bool(np.all(slopes == 1) and np.all(intercepts == intercepts[0]))
    if raw.dtype == np.int16 or (raw.dtype == np.uint16 and hi <= INT16.max):
        out = raw.view(np.int16)
        if same:
            if intercepts[0]:
                out += np.int16(intercepts[0])
            return out
        for k in range(out.shape[0]):
            out[k] = out[k].astype(np.int32) * int(slopes[k]) + int(intercepts[k])
        return out
    result = np.empty(raw.shape, np.int16)
    for k in range(raw.shape[0]):
        result[k] = raw[k].astype(np.int32) * int(slopes[k]) + int(intercepts[k])
    return result


def _apply_sources(voxels: NDArray[Any], layout: Layout) -> NDArray[Any]:
    blended = any(len(s) > 1 for s in layout.sources)
    dtype = np.float32 if blended else voxels.dtype
    out = np.empty((len(layout.sources), *voxels.shape[1:]), dtype)
    fill = voxels.min() if voxels.size else 0
    for k, src in enumerate(layout.sources):
        if not src:
            out[k] = fill
        elif len(src) == 1:
            out[k] = voxels[src[0][0]]
        else:
            (i, wi), (j, wj) = src
            out[k] = voxels[i].astype(np.float32) * wi + voxels[j].astype(np.float32) * wj
    return out


def _windows(voxels: NDArray[Any], records: list[InstanceRecord], modality: str,
             mono1: bool, rec: InstanceRecord, slope: float,
             intercept: float) -> list[WindowPreset]:
    presets: list[WindowPreset] = []
    seen: set[tuple[float, float]] = set()
    for r in records[:1]:
        for i, (c, w) in enumerate(r.windows):
            if mono1:
                hi, lo = _stored_max_min(rec)
                c = slope * (hi + lo) + 2 * intercept - c
            if (c, w) not in seen and w > 0:
                seen.add((c, w))
                name = r.window_explanations[i] if i < len(r.window_explanations) else ""
                presets.append((name or f"Header {i + 1}", float(c), float(w)))
    if modality == "CT":
        presets += [p for p in CT_PRESETS if (p[1], p[2]) not in seen]
    if not presets and voxels.size:
        sample = voxels[::max(1, voxels.shape[0] // 16), ::4, ::4]
        lo, hi = np.percentile(sample, [1, 99])
        presets.append(("Auto", float((lo + hi) / 2), float(max(hi - lo, 1.0))))
    return presets


def _volume(voxels: NDArray[Any], layout: Layout, chosen: Stack, stacks: list[Stack],
            first: InstanceRecord, warnings: list[str], mono1: bool) -> Volume:
    records = [f.record for f in layout.frames]
    syntaxes = sorted({r.transfer_syntax for r in records})
    if any(r.lossy for r in records) or LOSSY_SYNTAXES & set(syntaxes):
        warnings.append("lossy compressed images: not for primary diagnosis")
    if len(stacks) > 1:
        others = "; ".join(_describe(s.description) for s in stacks if s is not chosen)
        warnings.append(f"series holds {len(stacks)} stacks; showing stack "
                        f"{chosen.description['index']} ({_describe(chosen.description)}); "
                        f"others: {others}")
    g0 = layout.frames[0].geom
    meta: dict[str, Any] = {
        **layout.meta, "stack": chosen.description,
        "stacks": [s.description for s in stacks],
        "frame_of_reference_uid": first.frame_of_reference_uid,
        "transfer_syntaxes": syntaxes, "photometric": first.photometric,
        "units": "HU" if first.modality == "CT" else (first.units or ""),
        "study_date": first.study_date, "series_number": first.series_number,
        "sop_uids": [f.record.sop_uid for f in layout.frames],
        "frame_numbers": [f.index + 1 for f in layout.frames],
        "rescale_per_slice": len({(g.slope, g.intercept) for g in
                                  (f.geom for f in layout.frames)}) > 1,
        "gantry_tilt_header": first.gantry_tilt}
    return Volume(
        voxels=voxels, affine=layout.affine, modality=first.modality,
        series_uid=first.series_uid, study_uid=first.study_uid,
        patient_id=first.dicom_patient_id, description=first.series_description,
        window_presets=_windows(voxels, records, first.modality, mono1, first, g0.slope,
                                g0.intercept),
        warnings=warnings, meta=meta)


def _describe(d: dict[str, Any]) -> str:
    parts = [f"{d.get('n_frames')} frames", str(d.get("orientation"))]
    for key, label in (("echo", "echo"), ("temporal_position", "time"), ("b_value", "b"),
                       ("stack_id", "stack id"), ("acquisition", "acquisition")):
        if d.get(key) is not None:
            parts.append(f"{label} {d[key]}")
    return ", ".join(parts)


def describe_syntax(uid: str) -> str:
    """Return a readable transfer syntax name."""
    return syntax_name(uid)
