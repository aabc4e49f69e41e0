"""The demo lung tumours' course: earlier CTs and their RECIST measurements.

Each NSCLC demo patient's planning CT is the latest of two or three chest CTs: a baseline 12
weeks before it and, for every other patient, a follow-up 6 weeks before it. The tumour keeps
its place and changes size by patient, in turn: shrinking (a partial response), stable, growing
(progression), and stable with a new 14 mm nodule in the other lung on the latest CT
(progression by a new lesion). The lesions are then measured on every CT as a radiologist would
with the viewer's helper: a click on the tumour's centre proposes the long axis (region grown);
when the proposal runs into the chest wall or mediastinum, the true diameter is drawn instead
(``method`` says which).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)

BASELINE_WEEKS, FOLLOW_UP_WEEKS = 12, 6
MAX_DIAMETER_MM = 80.0
NEW_LESION_MM = 14.0


@dataclass(frozen=True)
class Course:
    """How a demo tumour changed: its diameter at baseline and mid-course relative to now."""

    name: str
    baseline: float
    follow_up: float | None
    new_lesion: bool = False


COURSES = (Course("shrinking", 1.6, 1.25), Course("stable", 1.08, None),
           Course("growing", 0.7, 0.85), Course("new lesion", 1.1, None, True))


def course_for(index: int) -> Course:
    """Return the course of the `index`-th lung patient (0-based, cohort order)."""
    return COURSES[index % len(COURSES)]


def _minus_weeks(dicom_date: str, weeks: int) -> str:
    day = dt.date(int(dicom_date[:4]), int(dicom_date[4:6]), int(dicom_date[6:8]))
    return (day - dt.timedelta(weeks=weeks)).strftime("%Y%m%d")


def new_lesion_centre(tumour: dict[str, Any]) -> list[float]:
    """Return where the new nodule appears: the other lung's lower lobe."""
    from oncoboard.imaging.demo import LOBE_OFFSET, LUNG_CENTRES

    other = "left" if tumour.get("side", "right") == "right" else "right"
    return [float(v) for v in np.add(LUNG_CENTRES[other], LOBE_OFFSET["lower"])]


def write_course(folder: Path, patient_id: str, tumour: dict[str, Any], index: int,
                 header: dict[str, str]) -> tuple[dict[str, Any], int]:
    """Write the planning CT and the earlier CTs of `index`'s course; return (facts, files)."""
    from oncoboard.imaging.demo import write_chest_ct

    course = course_for(index)
    now = float(tumour.get("diameter_mm", 30))
    extra = [(new_lesion_centre(tumour), NEW_LESION_MM)] if course.new_lesion else []
    facts, n_files = write_chest_ct(folder, patient_id, tumour, header=header, extra=extra)
    studies = [("baseline", BASELINE_WEEKS, course.baseline)]
    if course.follow_up is not None:
        studies.append(("follow-up", FOLLOW_UP_WEEKS, course.follow_up))
    priors = []
    for tag, weeks, factor in studies:
        prior_header = {**header, "StudyDate": _minus_weeks(header["StudyDate"], weeks),
                        "StudyDescription": f"CT thorax ({tag})",
                        "SeriesDescription": "Thorax 3.75 mm"}
        info, n = write_chest_ct(folder / tag, patient_id, tumour, header=prior_header,
                                 diameter_mm=min(MAX_DIAMETER_MM, round(now * factor, 1)),
                                 tag=f"ct-{tag}", with_gtv=False)
        info["study_date"] = _iso(prior_header["StudyDate"])
        priors.append(info)
        n_files += n
    facts["course"] = course.name
    facts["prior_studies"] = priors
    return facts, n_files


def _iso(d: str) -> str:
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}"


def record_measurements(store: Store, settings: Settings, patient_id: str,
                        facts: dict[str, Any]) -> int:
    """Measure the demo lesions on each CT of the patient (once); return readings recorded."""
    from oncoboard.imaging import lesions

    known = store.db.execute("SELECT 1 FROM patients WHERE id = ?", [patient_id]).fetchone()
    if known is None or lesions.lesions_for_patient(store, patient_id):
        return 0  # images without their record (nothing to attach lesions to), or done before
    side, lobe = facts.get("side") or "right", facts.get("lobe") or "upper"
    tumour = lesions.define_lesion(store, patient_id, kind="target",
                                   label=f"lung {side} {lobe} lobe", organ="lung")
    studies = [*facts.get("prior_studies", []), facts]
    count = 0
    for study in studies:
        count += _measure(store, settings, patient_id, tumour.uid, study["series_uid"],
                          study["tumour_centre_lps"], study["tumour_diameter_mm"])
    for centre, size in facts.get("extra_lesions") or []:
        other = "left" if side == "right" else "right"
        new = lesions.define_lesion(store, patient_id, kind="new",
                                    label=f"lung {other} lower lobe nodule", organ="lung")
        count += _measure(store, settings, patient_id, new.uid, facts["series_uid"], centre,
                          size)
    return count


def _measure(store: Store, settings: Settings, patient_id: str, lesion_uid: str, series_uid: str,
             centre: list[float], diameter: float) -> int:
    from oncoboard.imaging import lesions
    from oncoboard.imaging.lesion_axis import propose_axes
    from oncoboard.imaging.loader import load_series

    volume = load_series(store, series_uid, settings=settings)
    k, r, c = (float(v) for v in volume.patient_to_index(np.asarray(centre, float)))
    k_slice = int(round(k))
    dz = abs(k - k_slice) * volume.spacing[0]
    half = np.sqrt(max((diameter / 2) ** 2 - dz**2, 0.0))  # the sphere's section on that slice
    col_mm = volume.spacing[2]
    true_axis = ((r, c - half / col_mm), (r, c + half / col_mm))
    proposal = propose_axes(np.asarray(volume.voxels[k_slice]), (round(r), round(c)),
                            (volume.spacing[1], volume.spacing[2]))
    proposed = (proposal is not None and not proposal.leaked
                and abs(proposal.long_mm - 2 * half) <= 3.0)
    try:
        lesions.record_on_series(
            store, patient_id, lesion_uid, series_uid=series_uid, slice_index=k_slice,
            long_axis=proposal.long_ends if proposal is not None and proposed else true_axis,
            short_axis=proposal.short_ends if proposal is not None and proposed else None,
            volume=volume, method="proposed" if proposed else "manual")
    except lesions.LesionError as exc:
        log.info("demo lesion of %s not measured on %s: %s", patient_id, series_uid, exc)
        return 0
    return 1
