"""RTSTRUCT contours and DICOM SEG segments, rasterised onto a `Volume`'s grid.

RTSTRUCT: each closed planar contour is mapped into the volume's fractional index space with
the inverse affine (exact for oblique and tilted volumes), assigned to the nearest slice, and
filled by an even-odd scanline rule on pixel centres: a voxel is inside when its centre is.
Contours of one ROI on the same slice are combined with XOR, so holes drawn as inner contours
stay empty (the usual RTSTRUCT convention).

SEG: each segment's frames are placed on a regular grid (a mask with its own affine) and
sampled at the volume's voxel centres by nearest neighbour; on the same grid this is the
identity.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from oncoboard.errors import DicomError
from oncoboard.imaging.volume import Structure, Volume

if TYPE_CHECKING:
    from oncoboard.store import Store

log = logging.getLogger(__name__)

RTSTRUCT_SOP = "1.2.840.10008.5.1.4.1.1.481.3"
SEG_SOP = "1.2.840.10008.5.1.4.1.1.66.4"


def load_structures(store: Store, series_uid: str) -> list[Structure]:
    """Return the structures of an image series, or of an RTSTRUCT/SEG series.

    Parameters
    ----------
    store
        The open store.
    series_uid
        An image series (every indexed RTSTRUCT and SEG that references it, or shares its frame
        of reference without naming a series, is read) or an RTSTRUCT/SEG series itself.
    """
    from oncoboard.imaging.index import get_series

    info = get_series(store, series_uid)
    if info.modality in ("RTSTRUCT", "SEG"):
        sources = [series_uid]
    else:
        row = store.db.execute("SELECT frame_of_reference_uid FROM dicom_series "
                               "WHERE series_uid = ?", [series_uid]).fetchone()
        sources = [r[0] for r in store.db.execute(
            "SELECT series_uid, referenced_series_uids, frame_of_reference_uid "
            "FROM dicom_series WHERE modality IN ('RTSTRUCT', 'SEG') ORDER BY series_uid")
            if _references(r, series_uid, row[0] if row else "")]
    out: list[Structure] = []
    for uid in sources:
        for (path,) in store.db.execute(
                "SELECT path FROM dicom_instances WHERE series_uid = ? ORDER BY path", [uid]):
            out.extend(read_structures(path))
    return out


def _references(row: tuple[str, str, str], series_uid: str, frame_of_reference: str) -> bool:
    refs = json.loads(row[1] or "[]")
    if refs:
        return series_uid in refs
    return bool(frame_of_reference) and row[2] == frame_of_reference


def read_structures(path: str) -> list[Structure]:
    """Read the ROIs of an RTSTRUCT file or the segments of a SEG file."""
    import pydicom

    from oncoboard.imaging.headers import read_record

    # pydicom reads a truncated file without complaint (shorter or no contours): the header
    # check walks every element length first, so a damaged file is an error, not an empty ROI.
    read_record(path)
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as exc:
        raise DicomError(f"cannot read structure file: {exc}", file=path) from exc
    sop = str(ds.get("SOPClassUID", ""))
    if sop == RTSTRUCT_SOP or ds.get("Modality") == "RTSTRUCT":
        try:
            return _read_rtstruct(ds)
        except DicomError as exc:
            raise DicomError(exc.reason, file=path, where=exc.where) from exc
        except Exception as exc:  # pydicom parses sequences lazily: damage shows up here
            raise DicomError(f"cannot read the contour data ({type(exc).__name__}: {exc})",
                             file=path) from exc
    if sop == SEG_SOP or ds.get("Modality") == "SEG":
        return _read_seg(ds, path)
    raise DicomError("not an RTSTRUCT or SEG object", file=path)


def _read_rtstruct(ds: Any) -> list[Structure]:
    from oncoboard.imaging.headers import _referenced_series

    refs = _referenced_series(ds)
    types = {int(o.ReferencedROINumber): str(o.get("RTROIInterpretedType", ""))
             for o in ds.get("RTROIObservationsSequence") or [] if "ReferencedROINumber" in o}
    contours_by_roi = {int(c.ReferencedROINumber): c
                       for c in ds.get("ROIContourSequence") or [] if "ReferencedROINumber" in c}
    out = []
    for roi in ds.get("StructureSetROISequence") or []:
        number = int(roi.ROINumber)
        item = contours_by_roi.get(number)
        contours: list[NDArray[np.float64]] = []
        color = (255, 0, 0)
        if item is not None:
            if "ROIDisplayColor" in item:
                color = tuple(int(v) for v in item.ROIDisplayColor)[:3]  # type: ignore[assignment]
            for c in item.get("ContourSequence") or []:
                data = _contour_points(c, roi)
                if data.size >= 9 and c.get("ContourGeometricType", "CLOSED_PLANAR") in (
                        "CLOSED_PLANAR", "CLOSEDPLANAR_XOR"):
                    contours.append(data.reshape(-1, 3))
        out.append(Structure(
            name=str(roi.get("ROIName", f"ROI {number}")), number=number, kind="rtstruct",
            color=color, source_series_uid=str(ds.get("SeriesInstanceUID", "")),
            referenced_series_uid=refs[0] if refs else "",
            frame_of_reference_uid=str(roi.get("ReferencedFrameOfReferenceUID", "")),
            contours=contours, interpreted_type=types.get(number, "")))
    return out


def _contour_points(contour: Any, roi: Any) -> NDArray[np.float64]:
    """Return a contour's ContourData as floats; raise DicomError if it cannot be read."""
    where = f"ROI {roi.get('ROIName', roi.ROINumber)}"
    try:
        data = np.asarray([float(v) for v in contour.get("ContourData") or []], np.float64)
    except (TypeError, ValueError) as exc:
        raise DicomError(f"unreadable contour data ({exc})", where=where) from exc
    expected = contour.get("NumberOfContourPoints")
    if data.size % 3 or (expected not in (None, "") and int(expected) * 3 != data.size):
        raise DicomError(f"contour data holds {data.size} values, not 3 per point "
                         f"(NumberOfContourPoints {expected})", where=where)
    return data


def rasterise(structure: Structure, volume: Volume) -> NDArray[np.bool_]:
    """Return a boolean mask shaped like ``volume.voxels`` that is True inside `structure`."""
    if structure.kind == "seg":
        return _resample_mask(structure, volume)
    mask = np.zeros(volume.shape, dtype=bool)
    inv = np.linalg.inv(volume.affine)
    for points in structure.contours:
        idx = points @ inv[:3, :3].T + inv[:3, 3]
        k_values = idx[:, 0]
        k = int(np.round(np.mean(k_values)))
        if np.ptp(k_values) > 0.5:
            log.warning("contour of %s is not parallel to the slices; placed on slice %d",
                        structure.name, k)
        if not 0 <= k < volume.shape[0] or abs(np.mean(k_values) - k) > 0.5:
            continue
        mask[k] ^= fill_polygon(idx[:, 1], idx[:, 2], volume.shape[1], volume.shape[2])
    return mask


def fill_polygon(rows: NDArray[Any], cols: NDArray[Any], n_rows: int,
                 n_cols: int) -> NDArray[np.bool_]:
    """Return the pixels whose centres are inside the polygon (even-odd rule)."""
    out = np.zeros((n_rows, n_cols), dtype=bool)
    r0, r1 = rows, np.roll(rows, -1)
    c0, c1 = cols, np.roll(cols, -1)
    lo = max(0, int(np.ceil(rows.min())))
    hi = min(n_rows - 1, int(np.floor(rows.max())))
    for r in range(lo, hi + 1):
        # Half-open edge rule: an edge counts when the scanline is in [min, max).
        crosses = ((r0 <= r) & (r1 > r)) | ((r1 <= r) & (r0 > r))
        if not crosses.any():
            continue
        t = (r - r0[crosses]) / (r1[crosses] - r0[crosses])
        xs = np.sort(c0[crosses] + t * (c1[crosses] - c0[crosses]))
        for a, b in zip(xs[0::2], xs[1::2], strict=False):
            start, stop = max(0, int(np.ceil(a))), min(n_cols - 1, int(np.ceil(b)) - 1)
            if stop >= start:
                out[r, start:stop + 1] ^= True
    return out


def _read_seg(ds: Any, path: str) -> list[Structure]:
    from pydicom.pixels.utils import pixel_array

    from oncoboard.imaging.headers import _enhanced_frames, _referenced_series

    n = int(ds.get("NumberOfFrames", 1) or 1)
    try:
        frames = pixel_array(ds).reshape(n, ds.Rows, ds.Columns)
    except Exception as exc:
        raise DicomError(f"cannot read SEG pixels: {exc}", file=path) from exc
    geoms = _enhanced_frames(ds, n)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    segment_of = []
    for i in range(n):
        ident = per_frame[i].get("SegmentIdentificationSequence") if i < len(per_frame) else None
        segment_of.append(int(ident[0].ReferencedSegmentNumber) if ident else 1)
    if any(g.ipp is None or g.iop is None or g.spacing is None for g in geoms):
        raise DicomError("SEG frames lack plane position, orientation or pixel spacing",
                         file=path)
    grid_affine, slot = _seg_grid(geoms)
    n_slots = int(max(slot)) + 1
    refs = _referenced_series(ds)
    threshold = 0 if ds.get("SegmentationType") == "BINARY" else (
        int(ds.get("MaximumFractionalValue", 255)) // 2)
    out = []
    for seg in ds.get("SegmentSequence") or []:
        number = int(seg.SegmentNumber)
        mask = np.zeros((n_slots, ds.Rows, ds.Columns), dtype=bool)
        for i in range(n):
            if segment_of[i] == number:
                mask[slot[i]] |= frames[i] > threshold
        category = seg.get("SegmentedPropertyCategoryCodeSequence")
        out.append(Structure(
            name=str(seg.get("SegmentLabel", f"Segment {number}")), number=number, kind="seg",
            color=_seg_color(seg), source_series_uid=str(ds.get("SeriesInstanceUID", "")),
            referenced_series_uid=refs[0] if refs else "",
            frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "")), mask=mask,
            mask_affine=grid_affine,
            interpreted_type=str(category[0].get("CodeMeaning", "")) if category else ""))
    return out


def _seg_grid(geoms: list[Any]) -> tuple[NDArray[np.float64], list[int]]:
    iop = np.asarray(geoms[0].iop, float)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    pos = np.asarray([g.ipp for g in geoms], float)
    dist = pos @ normal
    unique = np.unique(np.round(dist, 3))
    step = float(np.min(np.diff(unique))) if len(unique) > 1 else float(
        geoms[0].thickness or 1.0)
    first = pos[int(np.argmin(dist))]
    slot = [int(round((d - unique[0]) / step)) for d in dist]
    affine = np.eye(4)
    last = int(np.argmax(dist))
    # A sheared (tilted) grid keeps its frames' real positions: step along their line.
    affine[:3, 0] = (pos[last] - first) / slot[last] if slot[last] > 0 else normal * step
    affine[:3, 1] = col_dir * geoms[0].spacing[0]
    affine[:3, 2] = row_dir * geoms[0].spacing[1]
    # The grid's in-plane origin: project every frame's position onto the first frame's plane.
    affine[:3, 3] = first
    return affine, slot


_PALETTE = [(255, 64, 64), (64, 200, 64), (64, 128, 255), (255, 200, 0), (200, 64, 255),
            (0, 220, 220)]


def _seg_color(seg: Any) -> tuple[int, int, int]:
    # RecommendedDisplayCIELabValue would need a colour-space conversion; a fixed palette by
    # segment number is enough to tell segments apart.
    return _PALETTE[(int(seg.SegmentNumber) - 1) % len(_PALETTE)]


def _resample_mask(structure: Structure, volume: Volume) -> NDArray[np.bool_]:
    if structure.mask is None or structure.mask_affine is None:
        return np.zeros(volume.shape, dtype=bool)
    src = structure.mask
    to_src = np.linalg.inv(structure.mask_affine) @ volume.affine
    corners = np.array([[a, b, c, 1] for a in (0, src.shape[0] - 1)
                        for b in (0, src.shape[1] - 1) for c in (0, src.shape[2] - 1)], float)
    in_vol = (corners @ np.linalg.inv(to_src).T)[:, :3]
    lo = np.clip(np.floor(in_vol.min(axis=0)) - 1, 0, None).astype(int)
    hi = np.minimum(np.ceil(in_vol.max(axis=0)) + 1, np.array(volume.shape) - 1).astype(int)
    out = np.zeros(volume.shape, dtype=bool)
    if np.any(hi < lo):
        return out
    grid = np.stack(np.meshgrid(*[np.arange(lo[d], hi[d] + 1) for d in range(3)],
                                indexing="ij"), axis=-1).reshape(-1, 3).astype(float)
    idx = np.rint(grid @ to_src[:3, :3].T + to_src[:3, 3]).astype(int)
    ok = np.all((idx >= 0) & (idx < np.array(src.shape)), axis=1)
    values = np.zeros(len(grid), dtype=bool)
    values[ok] = src[idx[ok, 0], idx[ok, 1], idx[ok, 2]]
    out[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1] = values.reshape(
        tuple(hi - lo + 1))
    return out
