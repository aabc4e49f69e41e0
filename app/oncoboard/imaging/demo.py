"""Demo imaging: synthetic chest CTs with a GTV for the lung patients, breast MRs for some others.

Called by ``oncoboard demo`` (`oncoboard.demo.generate_demo_imaging`) after the records are
imported. Every NSCLC patient (``DEMO-LU-*``) gets a planning CT (80 axial slices of 256x256,
1.3 x 1.3 x 3.75 mm: body, lungs at about -820 HU, mediastinum, spine) with a spherical tumour
of the diameter in the record, in the recorded lobe and side, and an RTSTRUCT holding its GTV.
Each lung patient also has one or two earlier CTs (a baseline 12 weeks before, sometimes a
follow-up 6 weeks before) with the tumour shrinking, stable or growing, and a new nodule on the
latest CT for one patient in four; the lesions are measured on every CT so the RECIST response
shows (`oncoboard.imaging.demo_course`). The first four breast patients get a post-contrast breast
MR with a lesion of the recorded size on the recorded side. Each study is dated with the patient's
``study_date`` (relative to the demo's date, so the CT lies inside the response plugin's look-back
window) and carries the record's birth date and sex (so ``patient_match = "patient_id+birth_date"``
links it too).
Generation is deterministic (seeded, fixed UIDs); files already written for the same date are
reused (the ``.complete`` marker records the date: another date rewrites the images); everything
is then indexed like any DICOM import. The true tumour centre (LPS mm) and diameter of each
patient are in the result (``oncoboard demo --json``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from oncoboard.imaging import demo_course, synth

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)

VERSION = 3  # 3: earlier CTs (RECIST course); 2: independent noise in every voxel
CT_SHAPE = (80, 256, 256)
CT_SPACING = (1.3, 1.3, 3.75)  # row, column, slice (mm)
MR_SHAPE = (48, 192, 192)
MR_SPACING = (1.8, 1.8, 3.0)
AXIAL = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
LUNG_CENTRES = {"right": (-75.0, 5.0, 0.0), "left": (75.0, 5.0, -5.0)}
LUNG_AXES = {"right": (52.0, 70.0, 120.0), "left": (48.0, 68.0, 115.0)}
LOBE_OFFSET = {"upper": (0.0, -5.0, 60.0), "middle": (5.0, -30.0, 5.0),
               "lower": (0.0, 25.0, -60.0)}
#: Study dates for callers without a cohort date: the default cohort's (reference 2026-11-30).
DEFAULT_CT_DATE, DEFAULT_MR_DATE = "2026-11-16", "2026-08-01"
_SEX = {"female": "F", "male": "M", "other": "O"}


@dataclass
class DemoImagingResult:
    """What the imaging demo made: per patient, series UIDs and the tumour's true position."""

    root: Path
    patients: dict[str, dict[str, Any]] = field(default_factory=dict)
    files_written: int = 0
    measurements: int = 0
    seconds: float = 0.0
    index: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        return {"folder": str(self.root), "patients": self.patients,
                "files_written": self.files_written, "measurements": self.measurements,
                "seconds": round(self.seconds, 2),
                "index": self.index}

    def describe(self) -> str:
        """Return one line for ``oncoboard demo``."""
        n_ct = sum(1 for p in self.patients.values() if p.get("modality") == "CT")
        n_mr = sum(1 for p in self.patients.values() if p.get("modality") == "MR")
        n_prior = sum(len(p.get("prior_studies", [])) for p in self.patients.values())
        return (f"{n_ct} chest CTs with GTV and {n_prior} earlier CTs, {n_mr} breast MRs in "
                f"{self.root} ({self.files_written} files written, {self.measurements} lesion "
                f"measurements, {self.seconds:.1f} s)")


def generate_demo_imaging(store: Store, settings: Settings, cohort: Any) -> DemoImagingResult:
    """Write (once) and index the demo DICOM studies of `cohort`."""
    from oncoboard.imaging.index import index_paths

    started = time.perf_counter()
    root = Path(settings.data_dir) / "demo" / "dicom"
    result = DemoImagingResult(root)
    for i, patient in enumerate(cohort.group("lung")):
        header = _patient_header(patient, DEFAULT_CT_DATE)
        result.patients[patient.id] = _ensure(
            root / patient.id, result, header, lambda d, p=patient, h=header, n=i:
            demo_course.write_course(d, p.id, p.tumour, n, h))
    for patient in cohort.group("breast")[:4]:
        size, side = _breast_tumour(patient)
        header = _patient_header(patient, DEFAULT_MR_DATE)
        result.patients[patient.id] = _ensure(
            root / patient.id, result, header, lambda d, p=patient, s=size, sd=side, h=header:
            write_breast_mr(d, p.id, s, sd, header=h))
    report = index_paths(store, [root], settings=settings)
    result.index = {"instances": report.instances_indexed, "unchanged": report.unchanged,
                    "series": len(report.series_uids), "skipped": len(report.skipped)}
    for pid, info in result.patients.items():
        if info.get("modality") == "CT":
            result.measurements += demo_course.record_measurements(store, settings, pid, info)
    result.seconds = time.perf_counter() - started
    log.info("demo imaging: %s", result.describe())
    return result


def _ensure(folder: Path, result: DemoImagingResult, header: dict[str, str],
            write: Any) -> dict[str, Any]:
    # The marker holds the study date: a demo made for another date rewrites the images.
    marker = folder / f".complete-v{VERSION}.json"
    if marker.is_file():
        info = dict(json.loads(marker.read_text(encoding="utf-8")))
        if info.get("study_date") == _iso(header["StudyDate"]):
            return info
        marker.unlink()
    for stale in folder.glob(".complete-v*.json"):  # other versions' images are rewritten
        stale.unlink()
    info, n_files = write(folder)
    info["study_date"] = _iso(header["StudyDate"])
    result.files_written += n_files
    marker.write_text(json.dumps(info), encoding="utf-8")
    return dict(info)


def _iso(dicom_date: str) -> str:
    return f"{dicom_date[:4]}-{dicom_date[4:6]}-{dicom_date[6:8]}"


def _patient_header(patient: Any, default_date: str) -> dict[str, str]:
    """Return the DICOM patient/study attributes of `patient`: study date, birth date, sex."""
    header = {"StudyDate": (getattr(patient, "study_date", None) or default_date).replace("-", "")}
    for res in patient.resources:
        if res.get("resourceType") == "Patient":
            if res.get("birthDate"):
                header["PatientBirthDate"] = str(res["birthDate"]).replace("-", "")
            header["PatientSex"] = _SEX.get(str(res.get("gender")), "O")
    return header


def _breast_tumour(patient: Any) -> tuple[float, str]:
    size, side = 20.0, "left"
    for res in patient.resources:
        if res.get("resourceType") == "Observation":
            q = res.get("valueQuantity") or {}
            if q.get("unit") == "mm" or q.get("code") == "mm":
                size = float(q.get("value", size))
        if res.get("resourceType") == "Condition":
            text = json.dumps(res)
            side = "right" if '"right"' in text or "Right" in text else "left"
    return size, side


def _grid(shape: tuple[int, int, int], spacing: tuple[float, float, float],
          z0: float) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    n, rows, cols = shape
    origin = [-(cols - 1) * spacing[1] / 2, -(rows - 1) * spacing[0] / 2, z0]
    positions = synth.grid_positions(origin, [0, 0, spacing[2]], n)
    x = (origin[0] + np.arange(cols) * spacing[1]).astype(np.float32)[None, None, :]
    y = (origin[1] + np.arange(rows) * spacing[0]).astype(np.float32)[None, :, None]
    z = positions[:, 2].astype(np.float32)[:, None, None]
    return positions, x, y, z


def _ellipsoid(x: Any, y: Any, z: Any, centre: Any, axes: Any) -> NDArray[np.bool_]:
    return np.asarray(((x - centre[0]) / axes[0]) ** 2 + ((y - centre[1]) / axes[1]) ** 2
                      + ((z - centre[2]) / axes[2]) ** 2 <= 1.0)


def _noise(rng: np.random.Generator, shape: tuple[int, ...], sd: float) -> NDArray[np.int16]:
    """Return Gaussian noise (rounded), drawn independently for every voxel of every slice.

    A tiled 2-D pattern is cheaper but repeats from slice to slice: stripes in coronal and
    sagittal views. float32 draws keep a 256x256x80 CT at about 60 ms.
    """
    out = rng.standard_normal(shape, dtype=np.float32)
    out *= sd
    return np.rint(out, out=out).astype(np.int16)


def chest_phantom(tumour: dict[str, Any], *, diameter_mm: float | None = None,
                  extra: Sequence[tuple[Sequence[float], float]] = (),
                  noise_seed: int | None = None
                  ) -> tuple[NDArray[np.int16], NDArray[Any], list[float]]:
    """Return (HU volume, slice positions, tumour centre LPS) of a synthetic chest CT.

    The tumour's centre depends on its seed only, so CTs of one patient at several time points
    (another `diameter_mm`, more lesions in `extra` as (centre, diameter), another
    `noise_seed`) show the same tumour, shrunk or grown.
    """
    positions, x, y, z = _grid(CT_SHAPE, CT_SPACING, -150.0)
    rng = np.random.default_rng(int(tumour.get("seed", 0)))
    hu = np.full(CT_SHAPE, -1000, np.int16)
    body = ((x / 150.0) ** 2 + (y / 105.0) ** 2 <= 1.0) & (z > -1e9)
    hu[body] = 20
    for side in ("right", "left"):
        hu[_ellipsoid(x, y, z, LUNG_CENTRES[side], LUNG_AXES[side]) & body] = -820
    hu[_ellipsoid(x, y, z, (10.0, -20.0, -10.0), (45.0, 50.0, 70.0))] = 40
    spine = ((x - 0.0) ** 2 + (y - 78.0) ** 2 <= 18.0**2) & (z > -1e9)
    hu[spine] = 700
    centre = tumour_centre(tumour, rng)
    diameter = float(tumour.get("diameter_mm", 30)) if diameter_mm is None else diameter_mm
    for where, size in ((centre, diameter), *extra):
        r = float(size) / 2
        hu[_ellipsoid(x, y, z, where, (r, r, r))] = 35
    noise = rng if noise_seed is None else np.random.default_rng(noise_seed)
    hu += _noise(noise, CT_SHAPE, 12.0)
    return hu, positions, centre


def tumour_centre(tumour: dict[str, Any], rng: np.random.Generator | None = None) -> list[float]:
    """Return the tumour's centre (LPS mm): its lobe's centre moved by a seeded offset."""
    rng = rng or np.random.default_rng(int(tumour.get("seed", 0)))
    side, lobe = tumour.get("side", "right"), tumour.get("lobe", "upper")
    base = np.add(LUNG_CENTRES[side], LOBE_OFFSET[lobe])
    return [float(base[0] + rng.uniform(-8, 8)), float(base[1] + rng.uniform(-8, 8)),
            float(base[2] + rng.uniform(-6, 6))]


def write_chest_ct(folder: Path, patient_id: str, tumour: dict[str, Any], *,
                   header: dict[str, str] | None = None, diameter_mm: float | None = None,
                   extra: Sequence[tuple[Sequence[float], float]] = (), tag: str = "ct",
                   with_gtv: bool = True) -> tuple[dict[str, Any], int]:
    """Write a chest CT (and, `with_gtv`, its RTSTRUCT) under `folder`; return (facts, files).

    `header` adds or overrides DICOM attributes (``StudyDate``, ``PatientBirthDate``...).
    `tag` names the study in its UIDs: ``ct`` is the planning CT, others are earlier studies of
    the same patient (own study, series and frame of reference, own noise).
    """
    noise_seed = None if tag == "ct" else int.from_bytes(
        hashlib.sha256(f"{patient_id}-{tag}".encode()).digest()[:4], "big")
    hu, positions, centre = chest_phantom(tumour, diameter_mm=diameter_mm, extra=extra,
                                          noise_seed=noise_seed)
    uids = {"study": synth.make_uid(patient_id, f"{tag}-study"),
            "series": synth.make_uid(patient_id, f"{tag}-series"),
            "frame_of_reference": synth.make_uid(patient_id, f"{tag}-for")}
    header = {"PatientID": patient_id, "PatientName": f"Demo^{patient_id}",
              "StudyDate": DEFAULT_CT_DATE.replace("-", ""),
              "StudyDescription": "Thorax planning CT",
              "SeriesDescription": "Thorax 3.75 mm", "BodyPartExamined": "CHEST",
              "WindowCenter": "-600", "WindowWidth": "1500",
              "WindowCenterWidthExplanation": "LUNG", **(header or {})}
    stored = (hu.astype(np.int32) + 1024).clip(0, 4095).astype(np.uint16)
    datasets = synth.slice_datasets(stored, positions, AXIAL, CT_SPACING[:2], uids=uids,
                                    modality="CT", thickness=CT_SPACING[2], header=header)
    synth.write_datasets(datasets, folder / "CT")
    diameter = float(tumour.get("diameter_mm", 30)) if diameter_mm is None else diameter_mm
    facts: dict[str, Any] = {
        "modality": "CT", "series_uid": uids["series"], "study_uid": uids["study"],
        "tumour_centre_lps": centre, "tumour_diameter_mm": diameter, "side": tumour.get("side"),
        "lobe": tumour.get("lobe"), "extra_lesions": [[list(c), d] for c, d in extra]}
    if not with_gtv:
        return facts, len(datasets)
    gtv = synth.circle_contours(centre, diameter / 2, positions, AXIAL)
    rs = synth.rtstruct_dataset(datasets, [
        {"name": "GTV", "number": 1, "type": "GTV", "color": (255, 0, 0), "contours": gtv}],
        series_uid=synth.make_uid(patient_id, "rtstruct-series"))
    synth.write_datasets([rs], folder / "RTSTRUCT", names=["RS.dcm"])
    facts["rtstruct_series_uid"] = rs.SeriesInstanceUID
    return facts, len(datasets) + 1


def write_breast_mr(folder: Path, patient_id: str, size_mm: float, side: str, *,
                    header: dict[str, str] | None = None) -> tuple[dict[str, Any], int]:
    """Write a post-contrast breast MR with a lesion; return (facts, files written).

    `header` adds or overrides DICOM attributes (``StudyDate``, ``PatientBirthDate``...).
    """
    positions, x, y, z = _grid(MR_SHAPE, MR_SPACING, -70.0)
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(patient_id.encode()).digest()[:4],
                                               "big"))
    signal = np.zeros(MR_SHAPE, np.int16)
    chest = (x / 150.0) ** 2 + ((y - 40.0) / 90.0) ** 2 <= 1.0
    signal[np.broadcast_to(chest, MR_SHAPE)] = 250
    lesion_centre = [0.0, 0.0, 0.0]
    for s, cx in (("right", -70.0), ("left", 70.0)):
        breast = _ellipsoid(x, y, z, (cx, -50.0, 0.0), (60.0, 55.0, 62.0)) & (y < -40)
        signal[breast] = 600
        signal[_ellipsoid(x, y, z, (cx, -70.0, 0.0), (30.0, 25.0, 30.0))] = 320
        if s == side:
            lesion_centre = [cx + float(rng.uniform(-10, 10)), -70.0 + float(rng.uniform(-8, 8)),
                             float(rng.uniform(-8, 8))]
    r = size_mm / 2
    signal[_ellipsoid(x, y, z, lesion_centre, (r, r, r))] = 950
    stored = np.clip(signal + _noise(rng, MR_SHAPE, 15.0), 0, 4095).astype(np.uint16)
    uids = {"study": synth.make_uid(patient_id, "mr-study"),
            "series": synth.make_uid(patient_id, "mr-series")}
    header = {"PatientID": patient_id, "PatientName": f"Demo^{patient_id}",
              "StudyDate": DEFAULT_MR_DATE.replace("-", ""), "StudyDescription": "MR breast",
              "SeriesDescription": "T1 post-contrast", "BodyPartExamined": "BREAST",
              "EchoTime": "4.2", "RepetitionTime": "5.1", "MagneticFieldStrength": "1.5",
              **(header or {})}
    datasets = synth.slice_datasets(stored, positions, AXIAL, MR_SPACING[:2], uids=uids,
                                    modality="MR", intercepts=0.0, thickness=MR_SPACING[2],
                                    header=header)
    synth.write_datasets(datasets, folder / "MR")
    return ({"modality": "MR", "series_uid": uids["series"], "study_uid": uids["study"],
             "lesion_centre_lps": lesion_centre, "lesion_diameter_mm": size_mm, "side": side},
            len(datasets))
