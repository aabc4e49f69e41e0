"""The tumour response a case shows: the RECIST 1.1 table with the treatments on one time axis.

`response_view` puts together what the patient view, the presenter screen, the JSON export and
the PDF show: the RECIST table computed from the stored lesion measurements
(`oncoboard.imaging.lesions.recist_for_patient`), the latest category, and the treatment lines
(start and end dates) to draw under the sum-of-diameters curve.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oncoboard.store import Store

log = logging.getLogger(__name__)

CATEGORY_TEXT = {"CR": "complete response", "PR": "partial response", "SD": "stable disease",
                 "PD": "progressive disease", "NE": "not evaluable",
                 "NON-CR/NON-PD": "non-CR/non-PD", "NED": "no evidence of disease"}


@dataclass
class ResponseView:
    """A patient's RECIST course and treatments, ready to plot or print."""

    patient_id: str
    recist: Any                                  # imaging.recist.RecistResult
    treatments: list[dict[str, Any]] = field(default_factory=list)
    measurements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        """Return whether any lesion was measured."""
        return self.recist.baseline.timepoint is not None

    @property
    def latest_category(self) -> str | None:
        """Return the overall category at the latest time point (None before a follow-up)."""
        latest = self.recist.latest
        return None if latest is None else str(latest.overall)

    def points(self) -> list[dict[str, Any]]:
        """Return the plotted points: baseline then each time point (date, sum, category)."""
        base = self.recist.baseline
        out = [{"date": base.timepoint, "sum_mm": base.sum_mm, "category": "baseline"}]
        out += [{"date": t.timepoint, "sum_mm": t.sum_mm, "category": t.overall}
                for t in self.recist.timepoints]
        return out

    def headline(self) -> str:
        """Return one line: the latest category, its date and the change of the sum."""
        latest = self.recist.latest
        if not self.has_data:
            return "no lesion measured"
        if latest is None:
            return f"baseline {self.recist.baseline.timepoint} only: no follow-up measured yet"
        text = (f"RECIST 1.1: {latest.overall} ({CATEGORY_TEXT.get(latest.overall, '')}) on "
                f"{latest.timepoint}")
        if latest.change_from_baseline_pct is not None:
            text += f", sum {latest.sum_mm:.1f} mm ({latest.change_from_baseline_pct:+.0f} % " \
                    f"from baseline)"
        if latest.new_lesions:
            text += ", new lesion"
        return text

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping (the RECIST table and the treatment lines)."""
        return {**self.recist.as_dict(), "latest_category": self.latest_category,
                "headline": self.headline(), "treatments": self.treatments}


def response_view(store: Store, patient_id: str) -> ResponseView:
    """Return the patient's response view (empty table when nothing was measured)."""
    from oncoboard.imaging.lesions import measurements_for_patient, recist_for_patient
    from oncoboard.patients import record

    lines = [{"kind": t.kind, "label": t.regimen or t.display or t.kind,
              "start_date": t.start_date, "end_date": t.end_date}
             for t in record.treatments(store, patient_id) if t.start_date]
    return ResponseView(patient_id, recist_for_patient(store, patient_id), lines,
                        [m.as_dict() for m in measurements_for_patient(store, patient_id)])
