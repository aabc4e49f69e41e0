"""Read what indexing and loading need from one DICOM file's header (never its pixels).

A file becomes an `InstanceRecord`: identifiers, pixel format, where the pixel data starts in
the file (so the loader can read or decode it without parsing the header again) and one
`FrameGeometry` per frame. Enhanced multi-frame objects take their geometry from the per-frame
and shared functional groups; legacy multi-frame RT dose from GridFrameOffsetVector.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from oncoboard.errors import DicomError
from oncoboard.imaging.integrity import find_truncation, short_pixel_data

log = logging.getLogger(__name__)

PIXEL_DATA_TAG = 0x7FE00010
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
DEFLATED = "1.2.840.10008.1.2.1.99"


class NotDicomError(DicomError):
    """The file is not a DICOM file at all (skipped quietly by the indexer)."""


@dataclass
class FrameGeometry:
    """Position and pixel-value transform of one frame."""

    ipp: list[float] | None  # ImagePositionPatient, mm
    iop: list[float] | None  # ImageOrientationPatient: row direction, then column direction
    spacing: list[float] | None  # PixelSpacing: between rows, between columns (mm)
    slope: float = 1.0
    intercept: float = 0.0
    echo: float | None = None
    temporal: float | None = None
    b_value: float | None = None
    stack_id: str | None = None
    thickness: float | None = None
    window: list[float] | None = None  # centre, width


@dataclass
class InstanceRecord:
    """Everything the index stores about one DICOM file."""

    path: str
    size: int
    mtime_ns: int
    sop_uid: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    transfer_syntax: str
    modality: str = ""
    dicom_patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    series_number: int | None = None
    series_description: str = ""
    body_part: str = ""
    frame_of_reference_uid: str = ""
    instance_number: int | None = None
    acquisition_number: int | None = None
    image_type: str = ""
    rows: int = 0
    columns: int = 0
    samples_per_pixel: int = 1
    bits_allocated: int = 0
    bits_stored: int = 0
    pixel_representation: int = 0
    photometric: str = ""
    planar_configuration: int = 0
    n_frames: int = 0
    pixel_offset: int | None = None  # file offset of the Pixel Data value
    pixel_length: int | None = None  # None: undefined length (encapsulated)
    spacing_between_slices: float | None = None
    gantry_tilt: float | None = None
    units: str = ""
    lossy: bool = False
    windows: list[list[float]] = field(default_factory=list)  # header (centre, width) pairs
    window_explanations: list[str] = field(default_factory=list)
    referenced_series_uids: list[str] = field(default_factory=list)
    frames: list[FrameGeometry] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> InstanceRecord:
        """Rebuild a record saved by `to_json_dict`."""
        data = dict(data)
        data["frames"] = [FrameGeometry(**f) for f in data.get("frames", [])]
        return cls(**data)

    @property
    def has_pixels(self) -> bool:
        """Return True when the file holds image pixels."""
        return self.rows > 0 and self.columns > 0 and self.n_frames > 0


def _s(ds: Any, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _i(ds: Any, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _f(ds: Any, keyword: str) -> float | None:
    try:
        value = ds.get(keyword)
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _floats(ds: Any, keyword: str, n: int) -> list[float] | None:
    value = ds.get(keyword) if ds is not None else None
    if value is None or value == "":
        return None
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None


def _first(seq_owner: Any, keyword: str) -> Any:
    seq = seq_owner.get(keyword) if seq_owner is not None else None
    return seq[0] if seq else None


def _window(ds: Any) -> list[float] | None:
    try:
        centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
        if centre is None or width is None or centre == "" or width == "":
            return None
        c = centre[0] if type(centre).__name__ == "MultiValue" else centre
        w = width[0] if type(width).__name__ == "MultiValue" else width
        return [float(c), float(w)]
    except (TypeError, ValueError, IndexError):
        return None


def _all_windows(ds: Any) -> tuple[list[list[float]], list[str]]:
    centres, widths = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centres is None or widths is None or centres == "" or widths == "":
        return [], []
    cs = list(centres) if type(centres).__name__ == "MultiValue" else [centres]
    ws = list(widths) if type(widths).__name__ == "MultiValue" else [widths]
    names = ds.get("WindowCenterWidthExplanation") or []
    names = list(names) if type(names).__name__ == "MultiValue" else [names]
    out = []
    for _i, (c, w) in enumerate(zip(cs, ws, strict=False)):
        try:
            out.append([float(c), float(w)])
        except (TypeError, ValueError):
            continue
    return out, [str(names[i]) if i < len(names) else f"Header {i + 1}" for i in range(len(out))]


def _classic_frame(ds: Any) -> FrameGeometry:
    spacing = _floats(ds, "PixelSpacing", 2) or _floats(ds, "ImagerPixelSpacing", 2)
    echo = _f(ds, "EchoNumbers")
    if echo is None:
        echo = _f(ds, "EchoTime") if ds.get("Modality") == "MR" else None
    return FrameGeometry(
        ipp=_floats(ds, "ImagePositionPatient", 3), iop=_floats(ds, "ImageOrientationPatient", 6),
        spacing=spacing, slope=_f(ds, "RescaleSlope") or 1.0,
        intercept=_f(ds, "RescaleIntercept") or 0.0, echo=echo,
        temporal=_f(ds, "TemporalPositionIdentifier"), b_value=_f(ds, "DiffusionBValue"),
        thickness=_f(ds, "SliceThickness"), window=_window(ds))


def _enhanced_frames(ds: Any, n_frames: int) -> list[FrameGeometry]:
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    frames = []
    for i in range(n_frames):
        item = per_frame[i] if i < len(per_frame) else None

        def group(keyword: str, item: Any = item) -> Any:
            found = _first(item, keyword)
            return found if found is not None else _first(shared, keyword)

        pos, ori, meas = (group("PlanePositionSequence"), group("PlaneOrientationSequence"),
                          group("PixelMeasuresSequence"))
        pvt, content = group("PixelValueTransformationSequence"), group("FrameContentSequence")
        echo_item, voi = group("MREchoSequence"), group("FrameVOILUTSequence")
        diffusion = group("MRDiffusionSequence")
        frames.append(FrameGeometry(
            ipp=_floats(pos, "ImagePositionPatient", 3) if pos else None,
            iop=_floats(ori, "ImageOrientationPatient", 6) if ori else None,
            spacing=_floats(meas, "PixelSpacing", 2) if meas else None,
            slope=(_f(pvt, "RescaleSlope") if pvt else None) or 1.0,
            intercept=(_f(pvt, "RescaleIntercept") if pvt else None) or 0.0,
            echo=_f(echo_item, "EffectiveEchoTime") if echo_item else None,
            temporal=_f(content, "TemporalPositionIndex") if content else None,
            b_value=_f(diffusion, "DiffusionBValue") if diffusion else None,
            stack_id=_s(content, "StackID") or None if content else None,
            thickness=_f(meas, "SliceThickness") if meas else None,
            window=_window(voi) if voi else None))
    # Functional groups may omit values the classic header holds (e.g. rescale of legacy MF).
    classic = _classic_frame(ds)
    for f in frames:
        f.ipp = f.ipp or classic.ipp
        f.iop = f.iop or classic.iop
        f.spacing = f.spacing or classic.spacing
    return frames


def _legacy_multiframe(ds: Any, n_frames: int) -> list[FrameGeometry]:
    base = _classic_frame(ds)
    offsets = ds.get("GridFrameOffsetVector")
    frames = []
    for i in range(n_frames):
        f = FrameGeometry(**asdict(base))
        if offsets is not None and base.ipp and base.iop and len(offsets) == n_frames:
            import numpy as np

            row, col = np.array(base.iop[:3]), np.array(base.iop[3:])
            normal = np.cross(row, col)
            f.ipp = [float(v) for v in np.array(base.ipp) + float(offsets[i]) * normal]
        elif n_frames > 1:
            f.ipp = None  # frames without positions: stacked with unit spacing by the loader
        frames.append(f)
    return frames


def _pixel_location(fp: Any, ts: Any) -> tuple[int | None, int | None]:
    """Return (value offset, value length or None if undefined) of Pixel Data at fp's position."""
    if ts.is_deflated:
        return None, None
    start = fp.tell()
    head = fp.read(12)
    if len(head) < 8:
        return None, None
    endian = "<" if ts.is_little_endian else ">"
    group, elem = struct.unpack(endian + "HH", head[:4])
    if (group << 16 | elem) != PIXEL_DATA_TAG:
        return None, None
    if ts.is_implicit_VR:
        (length,) = struct.unpack(endian + "L", head[4:8])
        offset = start + 8
    else:
        (length,) = struct.unpack(endian + "L", head[8:12])
        offset = start + 12
    return offset, (None if length == 0xFFFFFFFF else length)


def _read_bare(fp: Any, path: str) -> Any:
    import warnings

    import pydicom

    fp.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True)
        ok = "SOPInstanceUID" in ds or "SeriesInstanceUID" in ds
    except Exception:
        ok = False
    if not ok:
        raise NotDicomError("not a DICOM file", file=path)
    return ds


def _transfer_syntax(ds: Any) -> Any:
    from pydicom import uid

    meta = getattr(ds, "file_meta", None)
    ts_uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts_uid:
        return uid.UID(str(ts_uid))
    implicit, little = ds.original_encoding
    if implicit:
        return uid.ImplicitVRLittleEndian
    return uid.ExplicitVRLittleEndian if little else uid.ExplicitVRBigEndian


def _referenced_series(ds: Any) -> list[str]:
    found: list[str] = []
    for rfor in ds.get("ReferencedFrameOfReferenceSequence") or []:
        for study in rfor.get("RTReferencedStudySequence") or []:
            for series in study.get("RTReferencedSeriesSequence") or []:
                uid = series.get("SeriesInstanceUID")
                if uid and uid not in found:
                    found.append(str(uid))
    for series in ds.get("ReferencedSeriesSequence") or []:
        uid = series.get("SeriesInstanceUID")
        if uid and uid not in found:
            found.append(str(uid))
    return found


def read_record(path: str | Path) -> InstanceRecord:
    """Parse the header of `path` into an `InstanceRecord`.

    Raises
    ------
    NotDicomError
        The file has no DICOM preamble/meta and does not parse as DICOM.
    DicomError
        The file is DICOM but broken (truncated header, missing UIDs).
    """
    import warnings

    import pydicom
    from pydicom.errors import InvalidDicomError

    path = str(path)
    # pydicom and numpy warn about damaged files on stderr, with their own paths: those go to
    # the log, with the file they are about
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            st = os.stat(path)
            with open(path, "rb") as fp:
                try:
                    ds = pydicom.dcmread(fp, stop_before_pixels=True)
                except InvalidDicomError:
                    # No preamble or meta: a bare dataset is still DICOM if it parses with UIDs.
                    ds = _read_bare(fp, path)
                ts = _transfer_syntax(ds)
                offset, length = _pixel_location(fp, ts)
                truncated = find_truncation(fp, ts, st.st_size)
            if truncated:
                raise DicomError(truncated, file=path)
            # values are decoded here, lazily: a flipped bit (an unknown VR, a length that
            # does not fit the VR) raises now, and only this file is skipped
            rec = _record_from_dataset(ds, path, st, str(ts or ""), offset, length)
        except (NotDicomError, DicomError):
            raise
        except OSError as exc:
            raise DicomError(f"cannot read: {exc.strerror or exc}", file=path) from exc
        except Exception as exc:  # pydicom raises many types on damaged files
            raise DicomError(f"damaged DICOM header ({type(exc).__name__}: "
                             f"{str(exc)[:160]})", file=path) from exc
        finally:
            for w in caught[:5]:
                log.warning("%s: %s: %s", path, w.category.__name__, str(w.message)[:300])
    if short := short_pixel_data(rec):
        raise DicomError(short, file=path)
    if bad := geometry_problem(rec.frames):
        raise DicomError(f"invalid geometry: {bad}", file=path)
    return rec


def geometry_problem(frames: list[FrameGeometry]) -> str | None:
    """Return why these frames cannot be placed or measured, or None.

    Missing values are allowed (a secondary capture has no position); values present must be
    usable: spacing finite and positive, orientation two finite, non-zero, perpendicular
    directions, position and rescale finite (a NaN or infinite slope makes every voxel NaN).
    """
    for frame in frames:
        if frame.spacing is not None and not all(
                math.isfinite(v) and v > 0 for v in frame.spacing):
            return f"PixelSpacing {_show(frame.spacing)} (must be positive)"
        if frame.iop is not None:
            row, col = frame.iop[:3], frame.iop[3:]
            norms = [math.sqrt(sum(v * v for v in d)) for d in (row, col)]
            if not all(math.isfinite(v) for v in frame.iop) or min(norms) < 1e-3:
                return f"ImageOrientationPatient {_show(frame.iop)} (no direction)"
            if abs(sum(a * b for a, b in zip(row, col, strict=True))) / (
                    norms[0] * norms[1]) > 0.01:
                return f"ImageOrientationPatient {_show(frame.iop)} (not perpendicular)"
        if frame.ipp is not None and not all(math.isfinite(v) for v in frame.ipp):
            return f"ImagePositionPatient {_show(frame.ipp)} (not finite)"
        if not (math.isfinite(frame.slope) and frame.slope != 0):
            return f"RescaleSlope {frame.slope:g} (must be finite and not zero)"
        if not math.isfinite(frame.intercept):
            return f"RescaleIntercept {frame.intercept:g} (not finite)"
    return None


def _show(values: list[float]) -> str:
    return "\\".join(f"{v:g}" for v in values[:6])


def _record_from_dataset(ds: Any, path: str, st: os.stat_result, ts: str, offset: int | None,
                         length: int | None) -> InstanceRecord:
    sop_uid, series_uid, study_uid = (_s(ds, "SOPInstanceUID"), _s(ds, "SeriesInstanceUID"),
                                      _s(ds, "StudyInstanceUID"))
    sop_class = _s(ds, "SOPClassUID") or _s(getattr(ds, "file_meta", {}), "MediaStorageSOPClassUID")
    if sop_class == DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:
        raise NotDicomError("DICOMDIR (a directory of other files, not an image)", file=path)
    if not (sop_uid and series_uid and study_uid):
        raise DicomError("missing SOP, series or study instance UID", file=path)
    rows, cols = _i(ds, "Rows") or 0, _i(ds, "Columns") or 0
    n_frames = (_i(ds, "NumberOfFrames") or 1) if rows and cols else 0
    if rows and cols and offset is None and ts != DEFLATED:
        raise DicomError("no pixel data (file truncated or incomplete)", file=path)
    if offset is not None and length is not None and offset + length > st.st_size:
        raise DicomError(f"truncated file (pixel data: {st.st_size - offset} of {length} bytes)",
                         file=path)
    if "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds:
        frames = _enhanced_frames(ds, n_frames)
    elif n_frames > 1:
        frames = _legacy_multiframe(ds, n_frames)
    else:
        frames = [_classic_frame(ds)] if n_frames else []
    windows, names = _all_windows(ds)
    return InstanceRecord(
        path=path, size=st.st_size, mtime_ns=st.st_mtime_ns, sop_uid=sop_uid,
        sop_class_uid=sop_class, study_uid=study_uid, series_uid=series_uid, transfer_syntax=ts,
        modality=_s(ds, "Modality"), dicom_patient_id=_s(ds, "PatientID"),
        patient_name=_s(ds, "PatientName"), birth_date=_s(ds, "PatientBirthDate"),
        sex=_s(ds, "PatientSex"), study_date=_s(ds, "StudyDate"), study_time=_s(ds, "StudyTime"),
        study_description=_s(ds, "StudyDescription"),
        accession_number=_s(ds, "AccessionNumber"), series_number=_i(ds, "SeriesNumber"),
        series_description=_s(ds, "SeriesDescription"), body_part=_s(ds, "BodyPartExamined"),
        frame_of_reference_uid=_s(ds, "FrameOfReferenceUID"),
        instance_number=_i(ds, "InstanceNumber"), acquisition_number=_i(ds, "AcquisitionNumber"),
        image_type=_s(ds, "ImageType"), rows=rows, columns=cols,
        samples_per_pixel=_i(ds, "SamplesPerPixel") or 1,
        bits_allocated=_i(ds, "BitsAllocated") or 0, bits_stored=_i(ds, "BitsStored") or 0,
        pixel_representation=_i(ds, "PixelRepresentation") or 0,
        photometric=_s(ds, "PhotometricInterpretation"),
        planar_configuration=_i(ds, "PlanarConfiguration") or 0, n_frames=n_frames,
        pixel_offset=offset, pixel_length=length,
        spacing_between_slices=_f(ds, "SpacingBetweenSlices"),
        gantry_tilt=_f(ds, "GantryDetectorTilt"), units=_s(ds, "RescaleType") or _s(ds, "Units"),
        lossy=_s(ds, "LossyImageCompression") == "01", windows=windows,
        window_explanations=names,
        referenced_series_uids=_referenced_series(ds), frames=frames)
