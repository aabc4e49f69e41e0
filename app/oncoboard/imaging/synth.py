"""Write synthetic DICOM series with exactly known geometry (demo data, tests, benchmark).

`slice_datasets` turns a stored-value array plus per-slice positions into classic single-frame
datasets; `enhanced_dataset` into one enhanced multi-frame object with per-frame functional
groups; `write_datasets` saves them in any transfer syntax pydicom (or Pillow, for baseline
JPEG) can encode. Nothing here is used to read data.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
UID_ROOT = "1.2.826.0.1.3680043.10.1134."  # a private root; deterministic UIDs under it


def make_uid(*parts: object) -> str:
    """Return a deterministic UID derived from `parts` (same parts, same UID)."""
    import hashlib

    digest = int(hashlib.sha256(repr(parts).encode()).hexdigest()[:24], 16)
    return (UID_ROOT + str(digest))[:64]


def grid_positions(origin: Sequence[float], step: Sequence[float], n: int) -> NDArray[np.float64]:
    """Return `n` slice positions ``origin + k * step`` (step may be oblique: a tilt)."""
    out = np.asarray(origin, float) + np.arange(n)[:, None] * np.asarray(step, float)
    return np.asarray(out, dtype=np.float64)


def voxel_centres(positions: NDArray[Any], iop: Sequence[float], spacing: Sequence[float],
                  rows: int, columns: int) -> NDArray[np.float64]:
    """Return the LPS position of every pixel, shape (n, rows, columns, 3)."""
    row_dir, col_dir = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    r = np.arange(rows)[:, None, None] * spacing[0] * col_dir
    c = np.arange(columns)[None, :, None] * spacing[1] * row_dir
    return np.asarray(positions[:, None, None, :] + (r + c)[None], dtype=np.float64)


def _base(modality: str, sop_class: str, uids: dict[str, str], header: dict[str, Any]) -> Any:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.Modality = modality
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.FrameOfReferenceUID = uids.get("frame_of_reference", make_uid("for", uids["study"]))
    ds.PatientID = header.get("PatientID", "SYNTH-0001")
    ds.PatientName = header.get("PatientName", "Synthetic^Patient")
    ds.PatientBirthDate = header.get("PatientBirthDate", "19600101")
    ds.PatientSex = header.get("PatientSex", "O")
    ds.StudyDate = header.get("StudyDate", "20260101")
    ds.StudyTime = "120000"
    ds.StudyDescription = header.get("StudyDescription", "Synthetic study")
    ds.SeriesDescription = header.get("SeriesDescription", "Synthetic series")
    ds.SeriesNumber = header.get("SeriesNumber", 1)
    ds.AccessionNumber = header.get("AccessionNumber", "")
    ds.StudyID = header.get("StudyID", "1")
    ds.Manufacturer = "Oncoboard synthetic"
    for key, value in header.items():
        if key not in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex",
                       "StudyDate", "StudyDescription", "SeriesDescription", "SeriesNumber",
                       "AccessionNumber", "StudyID"):
            setattr(ds, key, value)
    return ds


def _pixel_module(ds: Any, rows: int, columns: int, bits_stored: int, signed: bool,
                  photometric: str) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = 16 if bits_stored > 8 else 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = int(signed)


def slice_datasets(stored: NDArray[Any], positions: NDArray[Any], iop: Sequence[float],
                   spacing: Sequence[float], *, uids: dict[str, str], modality: str = "CT",
                   slopes: Sequence[float] | float = 1.0,
                   intercepts: Sequence[float] | float = -1024.0, bits_stored: int = 12,
                   signed: bool = False, photometric: str = "MONOCHROME2",
                   thickness: float | None = None, private_tags: bool = False,
                   header: dict[str, Any] | None = None,
                   per_slice: Sequence[dict[str, Any]] | None = None) -> list[Any]:
    """Return one single-frame dataset per slice of `stored` (stored values, not rescaled)."""
    n, rows, columns = stored.shape
    header = dict(header or {})
    sop_class = MR_IMAGE_STORAGE if modality == "MR" else CT_IMAGE_STORAGE
    slopes = [slopes] * n if isinstance(slopes, (int, float)) else list(slopes)
    intercepts = [intercepts] * n if isinstance(intercepts, (int, float)) else list(intercepts)
    dtype = np.dtype(("i" if signed else "u") + ("2" if bits_stored > 8 else "1"))
    from pydicom.dataset import Dataset, FileMetaDataset

    # Build the shared elements once; each slice is a shallow copy with its own values.
    template = _base(modality, sop_class, uids, header)
    template.ImageOrientationPatient = [f"{v:.8f}".rstrip("0").rstrip(".") for v in iop]
    template.PixelSpacing = [float(spacing[0]), float(spacing[1])]
    if thickness is not None:
        template.SliceThickness = thickness
    _pixel_module(template, rows, columns, bits_stored, signed, photometric)
    rescaled = modality in ("CT", "PT") or any(s != 1 for s in slopes) or any(
        b != 0 for b in intercepts)
    out = []
    for k in range(n):
        # Element objects are copied too: pydicom changes existing elements in place.
        ds = Dataset({tag: copy.copy(elem) for tag, elem in template.items()})
        ds.file_meta = FileMetaDataset({tag: copy.copy(elem)
                                        for tag, elem in template.file_meta.items()})
        ds.SOPInstanceUID = make_uid(uids["series"], k)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.6f}".rstrip("0").rstrip(".") for v in positions[k]]
        if rescaled:
            ds.RescaleSlope = f"{slopes[k]:.10g}"
            ds.RescaleIntercept = f"{intercepts[k]:.10g}"
            ds.RescaleType = "HU" if modality == "CT" else "US"
        ds.PixelData = np.ascontiguousarray(stored[k], dtype=dtype).tobytes()
        if private_tags:
            _add_private_tags(ds, k)
        for key, value in (per_slice[k] if per_slice else {}).items():
            setattr(ds, key, value)
        out.append(ds)
    return out


def _add_private_tags(ds: Any, k: int) -> None:
    block = ds.private_block(0x0019, "ONCOBOARD SYNTH", create=True)
    block.add_new(0x01, "LO", f"recon kernel B{30 + k % 5}f")
    block.add_new(0x02, "DS", f"{0.5 + 0.001 * k:.4f}")
    block.add_new(0x03, "OB", bytes(range(256)) * 8)
    block2 = ds.private_block(0x0029, "ONCOBOARD CSA", create=True)
    block2.add_new(0x10, "OB", (b"CSA header " * 300)[:3200])
    block2.add_new(0x11, "LT", "protocol: thorax routine; " * 20)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ConvolutionKernel = "B30f"
    ds.KVP = "120"
    ds.XRayTubeCurrent = 200
    ds.WindowCenter, ds.WindowWidth = ["40", "-600"], ["400", "1500"]
    ds.WindowCenterWidthExplanation = ["SOFT TISSUE", "LUNG"]


def enhanced_dataset(stored: NDArray[Any], positions: NDArray[Any], iop: Sequence[float],
                     spacing: Sequence[float], *, uids: dict[str, str], modality: str = "MR",
                     slopes: Sequence[float] | float = 1.0,
                     intercepts: Sequence[float] | float = 0.0, bits_stored: int = 16,
                     signed: bool = True, thickness: float = 1.0,
                     stack_ids: Sequence[str] | None = None,
                     echo_times: Sequence[float] | None = None,
                     header: dict[str, Any] | None = None) -> Any:
    """Return one enhanced multi-frame dataset whose geometry is in per-frame groups."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as Seq

    n, rows, columns = stored.shape
    sop_class = ENHANCED_MR_STORAGE if modality == "MR" else ENHANCED_CT_STORAGE
    ds = _base(modality, sop_class, uids, dict(header or {}))
    ds.SOPInstanceUID = make_uid(uids["series"], "enhanced")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = 1
    ds.NumberOfFrames = n
    slopes = [slopes] * n if isinstance(slopes, (int, float)) else list(slopes)
    intercepts = [intercepts] * n if isinstance(intercepts, (int, float)) else list(intercepts)
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [float(spacing[0]), float(spacing[1])]
    measures.SliceThickness = thickness
    shared.PixelMeasuresSequence = Seq([measures])
    orientation = Dataset()
    orientation.ImageOrientationPatient = [float(v) for v in iop]
    shared.PlaneOrientationSequence = Seq([orientation])
    frames = []
    for k in range(n):
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [float(v) for v in positions[k]]
        item.PlanePositionSequence = Seq([pos])
        pvt = Dataset()
        pvt.RescaleSlope, pvt.RescaleIntercept = slopes[k], intercepts[k]
        pvt.RescaleType = "HU" if modality == "CT" else "US"
        item.PixelValueTransformationSequence = Seq([pvt])
        content = Dataset()
        content.StackID = stack_ids[k] if stack_ids else "1"
        content.InStackPositionNumber = k + 1
        item.FrameContentSequence = Seq([content])
        if echo_times is not None:
            echo = Dataset()
            echo.EffectiveEchoTime = echo_times[k]
            item.MREchoSequence = Seq([echo])
        frames.append(item)
    ds.SharedFunctionalGroupsSequence = Seq([shared])
    ds.PerFrameFunctionalGroupsSequence = Seq(frames)
    _pixel_module(ds, rows, columns, bits_stored, signed, "MONOCHROME2")
    dtype = np.dtype(("i" if signed else "u") + ("2" if bits_stored > 8 else "1"))
    ds.PixelData = np.ascontiguousarray(stored, dtype=dtype).tobytes()
    return ds


def write_datasets(datasets: Sequence[Any], folder: str | Path, transfer_syntax: str = "",
                   names: Sequence[str] | None = None) -> list[Path]:
    """Save `datasets` under `folder` in `transfer_syntax` (default explicit VR little endian)."""
    from pydicom.uid import ExplicitVRLittleEndian

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ts = transfer_syntax or ExplicitVRLittleEndian
    paths = []
    for i, ds in enumerate(datasets):
        path = folder / (names[i] if names else f"IM{i:05d}.dcm")
        encode(ds, ts)
        write_dataset(ds, path)
        paths.append(path)
    return paths


def write_dataset(ds: Any, path: str | Path) -> None:
    """Save `ds` in the transfer syntax its file meta names (big endian included)."""
    import pydicom
    from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

    ts = ds.file_meta.TransferSyntaxUID
    if ts == ExplicitVRBigEndian:
        pydicom.dcmwrite(path, ds, implicit_vr=False, little_endian=False,
                         enforce_file_format=True)
    elif ts == ImplicitVRLittleEndian:
        pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True,
                         enforce_file_format=True)
    else:
        ds.save_as(path, enforce_file_format=True)


def encode(ds: Any, ts: str) -> None:
    """Re-encode `ds`'s pixel data, in place, in transfer syntax `ts`."""
    from pydicom import uid

    if ts in (uid.ExplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian,
              uid.ImplicitVRLittleEndian):
        ds.file_meta.TransferSyntaxUID = ts
    elif ts == uid.ExplicitVRBigEndian:
        if ds.BitsAllocated > 8:
            arr = np.frombuffer(ds.PixelData, dtype=f"<u{ds.BitsAllocated // 8}")
            ds.PixelData = arr.astype(f">u{ds.BitsAllocated // 8}").tobytes()
        ds.file_meta.TransferSyntaxUID = ts
    elif ts == uid.JPEGBaseline8Bit:
        _encode_jpeg_baseline(ds)
    else:
        plugin = "pylibjpeg" if ts == uid.RLELossless else ""
        ds.compress(ts, encoding_plugin=plugin)


def _encode_jpeg_baseline(ds: Any) -> None:
    from PIL import Image
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    if ds.BitsAllocated != 8:
        raise ValueError("baseline JPEG needs 8-bit pixels")
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    arr = np.frombuffer(ds.PixelData, np.uint8).reshape(n, ds.Rows, ds.Columns)
    frames = []
    for frame in arr:
        buf = io.BytesIO()
        Image.fromarray(frame, mode="L").save(buf, format="JPEG", quality=95)
        frames.append(buf.getvalue())
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.LossyImageCompression = "01"


RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"


def circle_contours(centre: Sequence[float], radius: float, slice_positions: NDArray[Any],
                    iop: Sequence[float], points: int = 48) -> list[tuple[int, NDArray[Any]]]:
    """Return (slice index, contour) for each slice plane that cuts a sphere.

    The contour is the circle where the sphere meets the slice plane, in LPS mm.
    """
    row_dir, col_dir = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    normal = np.cross(row_dir, col_dir)
    c = np.asarray(centre, float)
    out = []
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False)
    for k, pos in enumerate(slice_positions):
        d = float(np.dot(np.asarray(pos) - c, normal))
        if abs(d) >= radius:
            continue
        r = np.sqrt(radius**2 - d**2)
        centre_k = c + d * normal
        pts = centre_k + r * (np.cos(angles)[:, None] * row_dir + np.sin(angles)[:, None] * col_dir)
        out.append((k, pts))
    return out


def rtstruct_dataset(image_datasets: Sequence[Any], rois: Sequence[dict[str, Any]], *,
                     series_uid: str, label: str = "RT structures") -> Any:
    """Return an RTSTRUCT dataset drawn on `image_datasets`.

    Each roi is ``{"name", "number", "type" (GTV...), "color", "contours": [(slice index,
    (N, 3) points)]}``; slice indices refer to `image_datasets`.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as Seq

    ref = image_datasets[0]
    uids = {"study": ref.StudyInstanceUID, "series": series_uid,
            "frame_of_reference": ref.FrameOfReferenceUID}
    header = {k: getattr(ref, k) for k in ("PatientID", "PatientName", "PatientBirthDate",
                                           "PatientSex", "StudyDate", "StudyDescription")}
    ds = _base("RTSTRUCT", RTSTRUCT_STORAGE, uids,
               {**header, "SeriesDescription": label, "SeriesNumber": 99})
    ds.SOPInstanceUID = make_uid(series_uid, "rtstruct")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StructureSetLabel = label
    ds.StructureSetDate, ds.StructureSetTime = ref.StudyDate, "120000"
    del ds.FrameOfReferenceUID  # RTSTRUCT has no Frame of Reference module

    def image_ref(d: Any) -> Any:
        item = Dataset()
        item.ReferencedSOPClassUID = d.SOPClassUID
        item.ReferencedSOPInstanceUID = d.SOPInstanceUID
        return item

    rt_series = Dataset()
    rt_series.SeriesInstanceUID = ref.SeriesInstanceUID
    rt_series.ContourImageSequence = Seq([image_ref(d) for d in image_datasets])
    rt_study = Dataset()
    rt_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    rt_study.ReferencedSOPInstanceUID = ref.StudyInstanceUID
    rt_study.RTReferencedSeriesSequence = Seq([rt_series])
    rfor = Dataset()
    rfor.FrameOfReferenceUID = ref.FrameOfReferenceUID
    rfor.RTReferencedStudySequence = Seq([rt_study])
    ds.ReferencedFrameOfReferenceSequence = Seq([rfor])
    roi_seq, contour_seq, obs_seq = [], [], []
    for roi in rois:
        item = Dataset()
        item.ROINumber = roi["number"]
        item.ReferencedFrameOfReferenceUID = ref.FrameOfReferenceUID
        item.ROIName = roi["name"]
        item.ROIGenerationAlgorithm = "AUTOMATIC"
        roi_seq.append(item)
        rc = Dataset()
        rc.ROIDisplayColor = list(roi.get("color", (255, 0, 0)))
        rc.ReferencedROINumber = roi["number"]
        contours = []
        for k, pts in roi["contours"]:
            c = Dataset()
            c.ContourImageSequence = Seq([image_ref(image_datasets[k])])
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(pts)
            c.ContourData = [f"{v:.4f}" for v in np.asarray(pts).ravel()]
            contours.append(c)
        rc.ContourSequence = Seq(contours)
        contour_seq.append(rc)
        obs = Dataset()
        obs.ObservationNumber = roi["number"]
        obs.ReferencedROINumber = roi["number"]
        obs.RTROIInterpretedType = roi.get("type", "GTV")
        obs.ROIInterpreter = ""
        obs_seq.append(obs)
    ds.StructureSetROISequence = Seq(roi_seq)
    ds.ROIContourSequence = Seq(contour_seq)
    ds.RTROIObservationsSequence = Seq(obs_seq)
    return ds


def resample_rigid(voxels: NDArray[Any], affine: NDArray[Any], matrix: NDArray[Any], *,
                   out_shape: tuple[int, int, int] | None = None,
                   out_affine: NDArray[Any] | None = None,
                   fill: float = -1000.0) -> NDArray[np.int16]:
    """Return the image a scan on grid `out_affine` would show after a known rigid motion.

    `matrix` (4x4) maps the new scan's LPS mm to the original's (the convention of
    `oncoboard.imaging.registration`): the voxel at LPS ``x`` of the result holds the original's
    value at ``matrix @ x`` (trilinear). The grid defaults to the original's. Follow-up series
    with an exactly known registration for tests and benchmarks.
    """
    import SimpleITK as sitk

    out_shape = out_shape or (int(voxels.shape[0]), int(voxels.shape[1]), int(voxels.shape[2]))
    out_affine = np.asarray(affine if out_affine is None else out_affine, dtype=np.float64)

    def image(arr: NDArray[Any], aff: NDArray[Any]) -> Any:
        img = sitk.GetImageFromArray(np.asarray(arr, dtype=np.float32))
        spacing = np.linalg.norm(aff[:3, :3], axis=0)
        img.SetSpacing((float(spacing[2]), float(spacing[1]), float(spacing[0])))
        img.SetOrigin(tuple(float(v) for v in aff[:3, 3]))
        axes = aff[:3, :3] / spacing
        img.SetDirection(tuple(float(v) for v in
                               np.stack([axes[:, 2], axes[:, 1], axes[:, 0]], 1).ravel()))
        return img

    source = image(voxels, np.asarray(affine, dtype=np.float64))
    reference = image(np.zeros(out_shape, np.float32), out_affine)
    m = np.asarray(matrix, dtype=np.float64)
    transform = sitk.AffineTransform(3)
    transform.SetMatrix(tuple(float(v) for v in m[:3, :3].ravel()))
    transform.SetTranslation(tuple(float(v) for v in m[:3, 3]))
    out = sitk.Resample(source, reference, transform, sitk.sitkLinear, float(fill))
    moved: NDArray[np.float32] = sitk.GetArrayFromImage(out)
    return np.rint(moved).astype(np.int16)
