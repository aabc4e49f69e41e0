"""Write a synthetic CT series and its GTV RTSTRUCT with pydicom (deterministic UIDs).

Geometry: axial slices, ImageOrientationPatient (1,0,0,0,1,0); the volume's array axes are
(slice, row, column) and the point (slice k, row r mm, column c mm) is at LPS (c, r, k * dz).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, RTStructureSetStorage, generate_uid

_DATE, _TIME = "20260101", "090000"


def _uid(seed: str, *parts: object) -> str:
    return str(generate_uid(entropy_srcs=[seed, *map(str, parts)]))


def _base(pid: str, study_uid: str, frame_uid: str, modality: str, sop_class: str,
          sop_uid: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.PatientID, ds.PatientName = pid, f"Synthetic^{pid}"
    ds.PatientSex, ds.PatientBirthDate = "O", ""
    ds.StudyInstanceUID, ds.FrameOfReferenceUID = study_uid, frame_uid
    ds.StudyDate = ds.SeriesDate = _DATE
    ds.StudyTime = ds.SeriesTime = _TIME
    ds.StudyID, ds.AccessionNumber = "1", ""
    ds.Modality = modality
    ds.Manufacturer = "Oncoboard synthetic generator (demonstration only)"
    return ds


def write_ct_and_rtstruct(folder: Path, pid: str, voxels: NDArray[np.float32],
                          spacing: tuple[float, float, float],
                          contours: list[tuple[int, NDArray[np.float64]]], uid_seed: str) -> None:
    """Write ``CT_NNN.dcm`` slices and ``RS.dcm`` (ROI 'GTV') into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    study, frame = _uid(uid_seed, "study"), _uid(uid_seed, "frame")
    series = _uid(uid_seed, "ct-series")
    dz, dr, dc = spacing
    pixels = np.round(voxels).astype(np.int16)
    sop_uids = []
    for k in range(pixels.shape[0]):
        sop = _uid(uid_seed, "ct", k)
        sop_uids.append(sop)
        ds = _base(pid, study, frame, "CT", CTImageStorage, sop)
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = series, 1, k + 1
        ds.SeriesDescription = "Synthetic planning CT crop"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = [0.0, 0.0, float(k * dz)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [float(dr), float(dc)]
        ds.SliceThickness = float(dz)
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = int(pixels.shape[1]), int(pixels.shape[2])
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0.0, 1.0, "HU"
        ds.WindowCenter, ds.WindowWidth = -600.0, 1500.0
        ds.PixelData = pixels[k].tobytes()
        ds.save_as(folder / f"CT_{k:03d}.dcm", enforce_file_format=True)
    rs = _base(pid, study, frame, "RTSTRUCT", RTStructureSetStorage, _uid(uid_seed, "rs"))
    rs.SeriesInstanceUID, rs.SeriesNumber, rs.InstanceNumber = _uid(uid_seed, "rs-series"), 2, 1
    rs.SeriesDescription = "Synthetic GTV"
    rs.StructureSetLabel, rs.StructureSetDate, rs.StructureSetTime = "GTV", _DATE, _TIME
    rs.ReferencedFrameOfReferenceSequence = Sequence([_frame_ref(frame, study, series, sop_uids)])
    roi = Dataset()
    roi.ROINumber, roi.ReferencedFrameOfReferenceUID = 1, frame
    roi.ROIName, roi.ROIGenerationAlgorithm = "GTV", "AUTOMATIC"
    rs.StructureSetROISequence = Sequence([roi])
    items = []
    for k, pts in contours:
        item = Dataset()
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = CTImageStorage, sop_uids[k]
        item.ContourImageSequence = Sequence([ref])
        item.ContourGeometricType = "CLOSED_PLANAR"
        item.NumberOfContourPoints = len(pts)
        lps = np.column_stack([pts[:, 1], pts[:, 0], np.full(len(pts), k * dz)])
        item.ContourData = [round(float(v), 4) for v in lps.ravel()]
        items.append(item)
    rc = Dataset()
    rc.ReferencedROINumber, rc.ROIDisplayColor = 1, [255, 0, 0]
    rc.ContourSequence = Sequence(items)
    rs.ROIContourSequence = Sequence([rc])
    obs = Dataset()
    obs.ObservationNumber, obs.ReferencedROINumber = 1, 1
    obs.RTROIInterpretedType, obs.ROIInterpreter = "GTV", ""
    rs.RTROIObservationsSequence = Sequence([obs])
    rs.save_as(folder / "RS.dcm", enforce_file_format=True)


def _frame_ref(frame: str, study: str, series: str, sop_uids: list[str]) -> Dataset:
    images = []
    for sop in sop_uids:
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = CTImageStorage, sop
        images.append(ref)
    s = Dataset()
    s.SeriesInstanceUID, s.ContourImageSequence = series, Sequence(images)
    st = Dataset()
    st.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"   # Detached Study Management (usual)
    st.ReferencedSOPInstanceUID, st.RTReferencedSeriesSequence = study, Sequence([s])
    fr = Dataset()
    fr.FrameOfReferenceUID, fr.RTReferencedStudySequence = frame, Sequence([st])
    return fr
