"""DICOM objects the board sends back to the PACS, in the patient's study.

- :func:`encapsulated_pdf`: the case's board report as Encapsulated PDF (modality DOC);
- one model result as a Comprehensive SR: :mod:`oncoboard.board.model_sr`;
- :func:`key_image_kos`: a Key Object Selection of the key image shown;
- :func:`measurement_report`: the radiologist's measurements (distances, ROIs with mean/SD)
  as a TID 1500 Measurement Report, referencing the source images by SOP Instance UID with the
  coordinates; :func:`read_measurements` reads one back.

Every object copies the patient and study modules from an instance of the study (`evidence`), so
PatientID, names, the study UID, date and accession number are the PACS's own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import highdicom as hd
from highdicom.sr import CodedConcept
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

from oncoboard import __version__

MANUFACTURER = "Oncoboard"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
_SCHEME = "99ONCOBOARD"  # a private coding scheme for what no standard code names
_PATIENT_STUDY = ("PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate",
                  "PatientSex", "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID",
                  "AccessionNumber", "ReferringPhysicianName", "StudyDescription")


def _code(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value, _SCHEME, meaning[:64])


YES = CodedConcept("373066001", "SCT", "Yes")
NO = CodedConcept("373067005", "SCT", "No")
UNITY = CodedConcept("1", "UCUM", "no units")


def encapsulated_pdf(pdf: bytes, evidence: Dataset, *, title: str,
                     series_uid: str | None = None) -> Dataset:
    """Return an Encapsulated PDF instance of `pdf` in the study of `evidence`."""
    now = dt.datetime.now()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(ENCAPSULATED_PDF)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = ENCAPSULATED_PDF
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for keyword in _PATIENT_STUDY:
        if keyword in evidence:
            setattr(ds, keyword, evidence.get(keyword))
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SeriesNumber = 9901
    ds.SeriesDescription = "Tumour board report"
    ds.InstanceNumber = 1
    ds.Manufacturer = MANUFACTURER
    ds.SoftwareVersions = __version__
    ds.ContentDate = ds.AcquisitionDateTime = now.strftime("%Y%m%d")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title[:64]
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator = "11488-4", "LN"
    concept.CodeMeaning = "Consult note"
    ds.ConceptNameCodeSequence = [concept]
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(pdf)
    return ds


def key_image_kos(image: Dataset, *, series_uid: str | None = None,
                  description: str = "") -> Dataset:
    """Return a Key Object Selection ("For Teaching"/"Of Interest") of one key image."""
    content = hd.ko.KeyObjectSelection(
        document_title=codes.DCM.OfInterest, referenced_objects=[image],
        description=(description or "Key image shown at the tumour board")[:1024])
    return hd.ko.KeyObjectSelectionDocument(
        evidence=[image], content=content, series_instance_uid=series_uid or generate_uid(),
        series_number=9903, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER)


# -- TID 1500 ------------------------------------------------------------------------------------

@dataclass
class Measurement:
    """A radiologist's measurement on one image.

    ``kind`` is ``distance`` (``value`` in mm, two points) or ``roi`` (``value`` the mean HU,
    ``sd`` its standard deviation, ``area_mm2``, the outline's points). Points are image
    (column, row) coordinates on the instance ``sop_uid`` (``frame`` for multi-frame images).
    """

    kind: str
    label: str
    value: float
    points: list[tuple[float, float]]
    sop_uid: str
    frame: int | None = None
    sd: float | None = None
    area_mm2: float | None = None


def measurement_report(measurements: Sequence[Measurement], evidence: Sequence[Dataset], *,
                       observer: str, series_uid: str | None = None) -> Dataset:
    """Return a TID 1500 Measurement Report (Comprehensive SR) of `measurements`."""
    import numpy as np

    by_uid = {str(ds.SOPInstanceUID): ds for ds in evidence}
    groups = []
    for m in measurements:
        source = by_uid[m.sop_uid]
        ref = hd.sr.SourceImageForRegion.from_source_image(source)
        points = np.asarray(m.points, dtype=float)
        tracking = hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=m.label[:64])
        if m.kind == "distance":
            scoord = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                                       graphic_data=points, source_image=ref)
            measured = [hd.sr.Measurement(name=codes.SCT.Length, value=m.value,
                                          unit=codes.UCUM.Millimeter)]
        else:
            closed = np.vstack([points, points[:1]])
            scoord = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                                       graphic_data=closed, source_image=ref)
            hu = CodedConcept("[hnsf'U]", "UCUM", "Hounsfield unit")
            measured = [hd.sr.Measurement(name=codes.SCT.Mean, value=m.value, unit=hu)]
            if m.sd is not None:
                measured.append(hd.sr.Measurement(name=codes.SCT.StandardDeviation,
                                                  value=m.sd, unit=hu))
            if m.area_mm2 is not None:
                measured.append(hd.sr.Measurement(name=codes.SCT.Area, value=m.area_mm2,
                                                  unit=codes.UCUM.SquareMillimeter))
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking, referenced_region=scoord,
            finding_type=codes.SCT.Lesion, measurements=measured))
    observer_ctx = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=observer))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=observer_ctx),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=groups)
    return hd.sr.Comprehensive3DSR(
        evidence=list(evidence), content=report[0],
        series_instance_uid=series_uid or generate_uid(), series_number=9904,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer=MANUFACTURER,
        is_complete=True, series_description="Measurements")


def read_measurements(sr: Dataset) -> list[dict[str, Any]]:
    """Read a TID 1500 report back (highdicom's parser): per group, label, source and values."""
    parsed = hd.sr.Comprehensive3DSR.from_dataset(sr)
    content: Any = parsed.content  # a MeasurementReport's content sequence
    out = []
    for group in content.get_planar_roi_measurement_groups():
        region = group.roi
        values = {m.name.meaning: float(m.value) for m in group.get_measurements()}
        out.append({"label": group.tracking_identifier,
                    "sop_uid": region.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
                    if hasattr(region, "ReferencedSOPSequence") else
                    region.ContentSequence[0].ReferencedSOPSequence[0]
                    .ReferencedSOPInstanceUID,
                    "points": [tuple(p) for p in region.value.tolist()],
                    "values": values})
    return out
