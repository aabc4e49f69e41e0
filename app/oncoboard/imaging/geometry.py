"""Turn a series' frames into stacks, and a stack into an ordered slice list with its affine.

Frames are split into stacks by orientation, echo, temporal position, diffusion b-value, stack
ID and matrix size: one DICOM series may hold several. Inside a stack, frames are sorted by
their position along the slice normal (``row direction x column direction``), never by file
name or InstanceNumber. The slice step is measured from the positions; gaps that are whole
multiples of the usual step become empty slices (listed in the warnings), irregular spacing is
resampled linearly onto the median step (with a warning), and a gantry tilt gives a sheared
affine (exact, with a warning).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oncoboard.errors import DicomError
from oncoboard.imaging.headers import FrameGeometry, InstanceRecord

DEFAULT_IOP = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
IOP_TOL = 1e-3


@dataclass
class FrameRef:
    """One frame of one file."""

    record: InstanceRecord
    index: int

    @property
    def geom(self) -> FrameGeometry:
        """Return the frame's geometry."""
        return self.record.frames[self.index]


@dataclass
class Stack:
    """Frames that belong in one 3-D array."""

    frames: list[FrameRef]
    description: dict[str, Any] = field(default_factory=dict)


@dataclass
class Layout:
    """How output slices are made from the stack's frames.

    ``sources[k]`` lists ``(frame position in `frames`, weight)`` for output slice k: one entry
    with weight 1 normally, none for a missing slice, two for a resampled slice.
    """

    frames: list[FrameRef]
    sources: list[list[tuple[int, float]]]
    affine: NDArray[np.float64]
    warnings: list[str]
    meta: dict[str, Any]

    @property
    def is_direct(self) -> bool:
        """Return True when every output slice is exactly one frame, in order."""
        return len(self.sources) == len(self.frames) and all(
            len(s) == 1 and s[0] == (i, 1.0) for i, s in enumerate(self.sources))


def orientation_label(iop: list[float]) -> str:
    """Return axial, coronal, sagittal or oblique for an ImageOrientationPatient."""
    normal = np.cross(iop[:3], iop[3:])
    axis = int(np.argmax(np.abs(normal)))
    if abs(normal[axis]) < 0.95:
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def split_stacks(records: list[InstanceRecord]) -> list[Stack]:
    """Split the image frames of `records` into stacks, the largest first."""
    orientations: list[list[float]] = []
    groups: dict[tuple[Any, ...], list[FrameRef]] = defaultdict(list)
    for rec in records:
        if not rec.has_pixels:
            continue
        for i, g in enumerate(rec.frames):
            o_idx = _orientation_index(orientations, g.iop or DEFAULT_IOP)
            key = (o_idx, g.echo, g.temporal, g.b_value, g.stack_id, rec.rows, rec.columns,
                   tuple(np.round(g.spacing, 4)) if g.spacing else None, g.ipp is None)
            groups[key].append(FrameRef(rec, i))
    stacks = []
    for key, frames in groups.items():
        for part in _split_duplicates(frames):
            g = part[0].geom
            stacks.append(Stack(part, {
                "orientation": orientation_label(orientations[key[0]]), "echo": g.echo,
                "temporal_position": g.temporal, "b_value": g.b_value, "stack_id": g.stack_id,
                "acquisition": part[0].record.acquisition_number if len(part) != len(frames)
                else None, "rows": key[5], "columns": key[6], "n_frames": len(part)}))
    stacks.sort(key=lambda s: (-len(s.frames), str(s.description)))
    for i, s in enumerate(stacks):
        s.description["index"] = i
    return stacks


def _orientation_index(orientations: list[list[float]], iop: list[float]) -> int:
    """Return the index of `iop` in `orientations` (within tolerance), appending it if new."""
    for i, known in enumerate(orientations):
        if max(abs(a - b) for a, b in zip(known, iop, strict=True)) < IOP_TOL:
            return i
    orientations.append(iop)
    return len(orientations) - 1


def _split_duplicates(frames: list[FrameRef]) -> list[list[FrameRef]]:
    """Split by acquisition number when that separates frames sharing a position."""
    if frames[0].geom.ipp is None or len(frames) < 2:
        return [frames]
    positions = [tuple(np.round(f.geom.ipp, 2)) for f in frames if f.geom.ipp]
    if len(set(positions)) == len(positions):
        return [frames]
    by_acq: dict[Any, list[FrameRef]] = defaultdict(list)
    for f in frames:
        by_acq[f.record.acquisition_number].append(f)
    parts = list(by_acq.values())
    if len(parts) > 1 and all(
            len({tuple(np.round(f.geom.ipp or [], 2)) for f in p}) == len(p) for p in parts):
        return parts
    return [frames]


def layout_stack(stack: Stack) -> Layout:
    """Sort `stack` along its normal and compute the affine, gaps and warnings."""
    frames = stack.frames
    g0 = frames[0].geom
    warnings: list[str] = []
    iop = g0.iop
    if iop is None:
        warnings.append("no ImageOrientationPatient: axial orientation assumed")
        iop = DEFAULT_IOP
    row_dir, col_dir = np.array(iop[:3], float), np.array(iop[3:], float)
    row_dir, col_dir = row_dir / np.linalg.norm(row_dir), col_dir / np.linalg.norm(col_dir)
    normal = np.cross(row_dir, col_dir)
    spacing = g0.spacing
    if spacing is None:
        warnings.append("no PixelSpacing: 1 mm pixels assumed")
        spacing = [1.0, 1.0]
    if g0.ipp is None:
        return _layout_without_positions(frames, row_dir, col_dir, normal, spacing, warnings)
    pos = np.array([f.geom.ipp for f in frames], dtype=np.float64)
    dist = pos @ normal
    order = np.argsort(dist, kind="stable")
    frames = [frames[i] for i in order]
    pos, dist = pos[order], dist[order]
    frames, pos, dist = _drop_duplicates(frames, pos, dist, warnings)
    meta: dict[str, Any] = {"slice_positions_mm": [round(float(d), 4) for d in dist]}
    if len(frames) == 1:
        step_len = (frames[0].record.spacing_between_slices or g0.thickness or 1.0)
        sources = [[(0, 1.0)]]
        step = normal * step_len
        meta["single_slice"] = True
    else:
        sources, step = _slice_sources(pos, dist, warnings, meta)
    affine = np.eye(4)
    affine[:3, 0] = step
    affine[:3, 1] = col_dir * spacing[0]
    affine[:3, 2] = row_dir * spacing[1]
    affine[:3, 3] = pos[0]
    _check_tilt(step, normal, frames, warnings, meta)
    return Layout(frames, sources, affine, warnings, meta)


def _drop_duplicates(frames: list[FrameRef], pos: NDArray[Any], dist: NDArray[Any],
                     warnings: list[str]) -> tuple[list[FrameRef], NDArray[Any], NDArray[Any]]:
    if len(frames) < 2:
        return frames, pos, dist
    keep = np.concatenate([[True], np.abs(np.diff(dist)) > 1e-3])
    if keep.all():
        return frames, pos, dist
    warnings.append(f"{int((~keep).sum())} frames repeat a slice position already present; "
                    "the first of each was kept")
    idx = np.flatnonzero(keep)
    return [frames[i] for i in idx], pos[idx], dist[idx]


def _slice_sources(pos: NDArray[Any], dist: NDArray[Any], warnings: list[str],
                   meta: dict[str, Any]) -> tuple[list[list[tuple[int, float]]], NDArray[Any]]:
    """Return the output slices' sources and the slice step vector (mm, LPS)."""
    diffs = np.diff(dist)
    step_len = float(np.median(diffs))
    tol = 0.01 * step_len + 1e-3
    n = len(dist)
    if np.all(np.abs(diffs - step_len) <= tol):
        step = (pos[-1] - pos[0]) / (n - 1)
        return [[(i, 1.0)] for i in range(n)], step
    ratios = diffs / step_len
    rounded = np.round(ratios)
    if np.all(rounded >= 1) and np.all(np.abs(ratios - rounded) * step_len <= tol):
        # Whole missing slices: keep the grid, leave the missing ones empty.
        slots = np.concatenate([[0], np.cumsum(rounded)]).astype(int)
        sources: list[list[tuple[int, float]]] = [[] for _ in range(slots[-1] + 1)]
        for i, s in enumerate(slots):
            sources[s] = [(i, 1.0)]
        missing = [i for i, s in enumerate(sources) if not s]
        warnings.append(f"{len(missing)} missing slice(s) at array index {_ranges(missing)} "
                        f"(step {step_len:.3g} mm): shown empty, not interpolated")
        meta["missing_slices"] = missing
        step = (pos[-1] - pos[0]) / slots[-1]
        return sources, step
    # Irregular spacing: resample linearly onto the median step.
    n_out = int(round((dist[-1] - dist[0]) / step_len)) + 1
    targets = dist[0] + np.arange(n_out) * step_len
    sources = []
    for t in targets:
        j = int(np.clip(np.searchsorted(dist, t, side="right") - 1, 0, n - 2))
        w = float((t - dist[j]) / (dist[j + 1] - dist[j]))
        w = min(max(w, 0.0), 1.0)
        sources.append([(j, 1.0 - w), (j + 1, w)] if w > 1e-6 else [(j, 1.0)])
    warnings.append(f"non-uniform slice spacing ({diffs.min():.3g}-{diffs.max():.3g} mm): "
                    f"resampled linearly to {step_len:.3g} mm ({n} -> {n_out} slices)")
    meta["resampled"] = True
    direction = (pos[-1] - pos[0]) / (dist[-1] - dist[0])
    return sources, direction * step_len


def _check_tilt(step: NDArray[Any], normal: NDArray[Any], frames: list[FrameRef],
                warnings: list[str], meta: dict[str, Any]) -> None:
    if len(frames) < 2:
        return
    cos = abs(float(np.dot(step, normal))) / float(np.linalg.norm(step))
    angle = float(np.degrees(np.arccos(min(1.0, cos))))
    if angle > 0.01:
        meta["tilt_degrees"] = round(angle, 3)
        warnings.append(f"slices sheared by {angle:.2f} degrees (gantry/detector tilt): the "
                        "affine is exact but not orthogonal")
    first = np.array(frames[0].geom.ipp)
    last = np.array(frames[-1].geom.ipp)
    pos = np.array([f.geom.ipp for f in frames])
    t = (pos - first) @ (last - first) / max(float(np.dot(last - first, last - first)), 1e-12)
    deviation = float(np.max(np.linalg.norm(pos - (first + np.outer(t, last - first)), axis=1)))
    if deviation > 0.05:
        warnings.append(f"slice positions are not on one line (up to {deviation:.2f} mm off)")


def _layout_without_positions(frames: list[FrameRef], row_dir: NDArray[Any],
                              col_dir: NDArray[Any], normal: NDArray[Any],
                              spacing: list[float], warnings: list[str]) -> Layout:
    if len(frames) > 1:
        warnings.append("no ImagePositionPatient: frames kept in file order, 1 mm apart")
    else:
        warnings.append("no ImagePositionPatient: position unknown")
    frames = sorted(frames, key=lambda f: (f.record.instance_number or 0, f.index))
    affine = np.eye(4)
    affine[:3, 0] = normal
    affine[:3, 1] = col_dir * spacing[0]
    affine[:3, 2] = row_dir * spacing[1]
    affine[:3, 3] = 0.0
    return Layout(frames, [[(i, 1.0)] for i in range(len(frames))], affine, warnings,
                  {"no_position": True})


def _ranges(values: list[int]) -> str:
    out, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ", ".join(out)


def require_images(records: list[InstanceRecord], where: str) -> None:
    """Raise DicomError when `records` hold no image frames."""
    if not any(r.has_pixels for r in records):
        kinds = sorted({r.modality or r.sop_class_uid for r in records})
        raise DicomError(f"series has no image frames (it holds {', '.join(kinds)})", where=where)
