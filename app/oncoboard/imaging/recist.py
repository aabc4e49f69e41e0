"""RECIST 1.1: baseline selection, sum of diameters, nadir and the response at each time point.

One function, `evaluate`, turns a patient's lesions and their readings (one lesion at one time
point) into the response table the board reads. It follows Eisenhauer et al., Eur J Cancer
2009;45:228-247 and the clarifications of Schwartz et al., Eur J Cancer 2016;62:132-137:

* Baseline (the earliest time point): at most 5 target lesions, at most 2 per organ (lymph
  nodes, wherever they are, are one organ); measurable means a long axis >= 10 mm (or twice the
  slice thickness when slices are thicker than 5 mm), or for a node a short axis >= 15 mm. A node
  of 10 to < 15 mm short axis is pathological but not measurable (non-target); under 10 mm it is
  normal and not followed. A lesion asked for as a target but not measurable, or beyond the
  counts, becomes a non-target and the table says why.
* Sum of diameters: long axes of non-nodal targets plus short axes of nodal targets. A target
  "too small to measure" counts 5 mm, one that disappeared 0 mm. A lesion split into fragments
  counts the sum of its fragments; lesions that merged count the merged mass once, on one
  lesion, the others 0 mm (status ``merged``).
* Target response: PD when the sum rose >= 20 % above the nadir (the smallest sum so far,
  baseline included) and by >= 5 mm; CR when every non-nodal target is gone and every nodal
  target is < 10 mm short axis; PR when the sum fell >= 30 % below baseline; else SD. A target
  not assessed makes the time point NE, unless the lesions that were measured already show PD.
* Non-target response: PD on unequivocal progression; CR when all are gone (nodes < 10 mm);
  NE when one was not assessed; else non-CR/non-PD.
* New lesions: a lesion first seen after baseline is PD from the time point it was first seen
  once it is unequivocal (an equivocal new lesion confirmed later dates PD back to its first
  sighting).
* The overall response combines the three per Table 4 (patients with targets) or Table 5
  (non-targets only) of the paper.

Everything here is pure: no store, no images; `oncoboard.imaging.lesions` feeds it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_TARGETS, MAX_PER_ORGAN = 5, 2
MEASURABLE_MM, NODE_MEASURABLE_MM, NODE_PATHOLOGICAL_MM = 10.0, 15.0, 10.0
TOO_SMALL_MM = 5.0
PR_DECREASE, PD_INCREASE, PD_ABSOLUTE_MM = 0.30, 0.20, 5.0
NODE_ORGAN = "lymph node"
_EPS = 1e-9

#: Reading statuses. ``measured`` carries diameters; the others stand for a size or an event.
STATUSES = ("measured", "too_small", "absent", "merged", "present", "progression",
            "not_evaluated")
CATEGORIES = ("CR", "PR", "SD", "PD", "NE", "NON-CR/NON-PD", "NED")


@dataclass(frozen=True)
class LesionSpec:
    """What RECIST needs of a lesion: identity, organ, node or not, and the kind asked for.

    ``kind`` is ``target``, ``non_target`` or ``new`` as the radiologist recorded it; the
    baseline rules decide what it really counts as (see `Baseline`).
    """

    lesion_id: str
    organ: str
    is_node: bool = False
    kind: str = "target"
    label: str = ""


@dataclass(frozen=True)
class Reading:
    """One lesion (or one fragment of it) at one time point (an ISO date).

    ``status`` is one of `STATUSES`. Several ``measured`` readings of the same lesion at the same
    time point are the fragments of a split lesion and are added. ``equivocal`` marks a new
    lesion the radiologist is not yet sure of. ``slice_thickness_mm`` (when known) raises the
    measurability threshold to twice the thickness for slices over 5 mm.
    """

    lesion_id: str
    timepoint: str
    status: str = "measured"
    long_axis_mm: float | None = None
    short_axis_mm: float | None = None
    equivocal: bool = False
    slice_thickness_mm: float | None = None


@dataclass(frozen=True)
class Baseline:
    """The baseline selection: targets, non-targets and why lesions were moved or left out."""

    timepoint: str | None
    targets: tuple[str, ...]
    non_targets: tuple[str, ...]
    non_measurable: tuple[str, ...]
    normal_nodes: tuple[str, ...]
    notes: tuple[str, ...]
    sum_mm: float | None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {"timepoint": self.timepoint, "targets": list(self.targets),
                "non_targets": list(self.non_targets),
                "non_measurable": list(self.non_measurable),
                "normal_nodes": list(self.normal_nodes), "notes": list(self.notes),
                "sum_mm": self.sum_mm}


@dataclass(frozen=True)
class TimePoint:
    """The response at one time point."""

    timepoint: str
    sum_mm: float | None
    change_from_baseline_pct: float | None
    change_from_nadir_pct: float | None
    nadir_mm: float | None
    target: str | None
    non_target: str | None
    new_lesions: bool
    overall: str
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {"timepoint": self.timepoint, "sum_mm": _r(self.sum_mm),
                "change_from_baseline_pct": _r(self.change_from_baseline_pct),
                "change_from_nadir_pct": _r(self.change_from_nadir_pct),
                "nadir_mm": _r(self.nadir_mm), "target": self.target,
                "non_target": self.non_target, "new_lesions": self.new_lesions,
                "overall": self.overall, "notes": list(self.notes)}


@dataclass(frozen=True)
class RecistResult:
    """The baseline selection and the response at every later time point."""

    baseline: Baseline
    timepoints: tuple[TimePoint, ...] = field(default_factory=tuple)

    @property
    def latest(self) -> TimePoint | None:
        """Return the last time point after baseline, or None."""
        return self.timepoints[-1] if self.timepoints else None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {"criteria": "RECIST 1.1", "baseline": self.baseline.as_dict(),
                "timepoints": [t.as_dict() for t in self.timepoints]}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def organ_key(spec: LesionSpec) -> str:
    """Return the organ a lesion counts in for the 2-per-organ rule (all nodes are one organ)."""
    return NODE_ORGAN if spec.is_node else spec.organ.strip().lower()


# --- one lesion at one time point ---------------------------------------------------------------
def lesion_size(spec: LesionSpec, readings: Sequence[Reading]) -> float | None:
    """Return the lesion's contribution to the sum (mm), or None when it was not assessed.

    Nodes count their short axis, other lesions their long axis; fragments are added; "too small
    to measure" is 5 mm; gone or merged into another lesion is 0 mm.
    """
    if not readings or any(r.status == "not_evaluated" for r in readings):
        return None
    total = 0.0
    for r in readings:
        if r.status == "too_small":
            total += TOO_SMALL_MM
        elif r.status == "measured":
            value = r.short_axis_mm if spec.is_node else r.long_axis_mm
            if value is None:
                return None
            total += float(value)
        elif r.status not in ("absent", "merged"):
            return None  # "present"/"progression" say nothing of size
    return total


def _is_gone(spec: LesionSpec, readings: Sequence[Reading]) -> bool:
    size = lesion_size(spec, readings)
    if spec.is_node:
        if all(r.status in ("absent", "merged") for r in readings):
            return True
        return size is not None and size < NODE_PATHOLOGICAL_MM
    return size == 0.0


# --- baseline -------------------------------------------------------------------------------------
def _measurable(spec: LesionSpec, readings: Sequence[Reading]) -> bool:
    size = lesion_size(spec, readings)
    if size is None or any(r.status == "too_small" for r in readings):
        return False
    if spec.is_node:
        return size >= NODE_MEASURABLE_MM - _EPS
    thickness = max((r.slice_thickness_mm or 0.0) for r in readings)
    return size >= max(MEASURABLE_MM, 2 * thickness if thickness > 5 else 0.0) - _EPS


def select_baseline(specs: Sequence[LesionSpec], readings: Sequence[Reading],
                    timepoint: str | None) -> Baseline:
    """Apply the baseline rules to the lesions seen at `timepoint` (see the module text)."""
    at = _group(r for r in readings if r.timepoint == timepoint)
    targets: list[str] = []
    non_targets: list[str] = []
    non_measurable: list[str] = []
    normal: list[str] = []
    notes: list[str] = []
    per_organ: dict[str, int] = defaultdict(int)
    present = [s for s in specs if s.lesion_id in at]
    wanted = sorted((s for s in present if s.kind == "target"),
                    key=lambda s: -(lesion_size(s, at[s.lesion_id]) or 0.0))
    for spec in present:
        rs = at[spec.lesion_id]
        size = lesion_size(spec, rs)
        if spec.is_node and size is not None and size < NODE_PATHOLOGICAL_MM - _EPS \
                and not any(r.status == "too_small" for r in rs):
            normal.append(spec.lesion_id)
        elif spec.kind == "target" and not _measurable(spec, rs):
            non_measurable.append(spec.lesion_id)
            notes.append(f"{_name(spec)} is not measurable at baseline "
                         f"({'short axis < 15 mm' if spec.is_node else 'long axis < 10 mm'}):"
                         f" followed as a non-target")
    for spec in wanted:
        if spec.lesion_id in normal or spec.lesion_id in non_measurable:
            continue
        organ = organ_key(spec)
        if len(targets) >= MAX_TARGETS:
            notes.append(f"{_name(spec)}: already {MAX_TARGETS} targets; followed as a "
                         f"non-target")
        elif per_organ[organ] >= MAX_PER_ORGAN:
            notes.append(f"{_name(spec)}: already {MAX_PER_ORGAN} targets in {organ}; "
                         f"followed as a non-target")
        else:
            targets.append(spec.lesion_id)
            per_organ[organ] += 1
    for spec in present:
        if spec.lesion_id not in targets and spec.lesion_id not in normal:
            non_targets.append(spec.lesion_id)
    sizes = [lesion_size(s, at[s.lesion_id]) for s in present if s.lesion_id in targets]
    total = sum(v for v in sizes if v is not None) if targets else None
    return Baseline(timepoint, tuple(targets), tuple(non_targets), tuple(non_measurable),
                    tuple(normal), tuple(notes), total)


def _name(spec: LesionSpec) -> str:
    return f"lesion {spec.label or spec.lesion_id}"


def _group(readings: Iterable[Reading]) -> dict[str, list[Reading]]:
    out: dict[str, list[Reading]] = defaultdict(list)
    for r in readings:
        out[r.lesion_id].append(r)
    return dict(out)


# --- time points ----------------------------------------------------------------------------------
def target_response(specs: dict[str, LesionSpec], targets: Sequence[str],
                    at: dict[str, list[Reading]], baseline_sum: float,
                    nadir: float) -> tuple[str, float | None, list[str]]:
    """Return (category, sum of diameters or None, notes) of the targets at one time point."""
    sizes = {t: lesion_size(specs[t], at.get(t, [])) for t in targets}
    measured = sum(v for v in sizes.values() if v is not None)
    missing = [t for t, v in sizes.items() if v is None]
    progressed = (measured >= nadir * (1 + PD_INCREASE) - _EPS
                  and measured - nadir >= PD_ABSOLUTE_MM - _EPS)
    if missing:
        names = ", ".join(specs[t].label or t for t in missing)
        if progressed:
            return "PD", None, [f"not assessed: {names}; the assessed targets alone show PD"]
        return "NE", None, [f"target not assessed: {names}"]
    if progressed:
        return "PD", measured, []
    if all(_is_gone(specs[t], at.get(t, [])) for t in targets):
        return "CR", measured, []
    if baseline_sum > 0 and measured <= baseline_sum * (1 - PR_DECREASE) + _EPS:
        return "PR", measured, []
    return "SD", measured, []


def non_target_response(specs: dict[str, LesionSpec], non_targets: Sequence[str],
                        at: dict[str, list[Reading]]) -> str | None:
    """Return the non-target category at one time point (None when there are none)."""
    if not non_targets:
        return None
    readings = {n: at.get(n, []) for n in non_targets}
    if any(r.status == "progression" for rs in readings.values() for r in rs):
        return "PD"
    if any(not rs or any(r.status == "not_evaluated" for r in rs) for rs in readings.values()):
        return "NE"
    if all(_is_gone(specs[n], rs) or all(r.status == "absent" for r in rs)
           for n, rs in readings.items()):
        return "CR"
    return "NON-CR/NON-PD"


def overall_response(target: str | None, non_target: str | None, new_lesions: bool) -> str:
    """Combine the three assessments (Table 4 with targets, Table 5 without)."""
    if new_lesions or target == "PD" or non_target == "PD":
        return "PD"
    if target is None:  # Table 5: non-target disease only
        return non_target or "NED"
    if target == "NE":
        return "NE"
    if target == "CR":
        return "CR" if non_target in (None, "CR") else "PR"
    return target  # PR or SD, whatever the non-targets (not PD) show


def new_lesion_dates(specs: Sequence[LesionSpec], readings: Sequence[Reading],
                     baseline: str | None) -> dict[str, str]:
    """Return {lesion id: date of first sighting} of the unequivocal new lesions.

    A new lesion first seen equivocal and confirmed later counts from its first sighting.
    """
    by_lesion = _group(r for r in readings if baseline is None or r.timepoint > baseline)
    seen_at_baseline = {r.lesion_id for r in readings if r.timepoint == baseline}
    out: dict[str, str] = {}
    for spec in specs:
        if spec.lesion_id in seen_at_baseline:
            continue
        rs = [r for r in by_lesion.get(spec.lesion_id, [])
              if r.status not in ("absent", "not_evaluated")]
        if rs and any(not r.equivocal for r in rs):
            out[spec.lesion_id] = min(r.timepoint for r in rs)
    return out


def evaluate(specs: Sequence[LesionSpec], readings: Sequence[Reading],
             baseline: str | None = None) -> RecistResult:
    """Compute the RECIST 1.1 response table of one patient.

    Parameters
    ----------
    specs
        Every lesion recorded for the patient.
    readings
        Every reading; time points are their ISO dates.
    baseline
        The baseline time point; by default the earliest date with a reading of a lesion that
        is not new.

    Returns
    -------
    RecistResult
        The baseline selection and, for each later time point, the sum of diameters, the change
        from baseline and from the nadir (the smallest earlier sum), and the target, non-target
        and overall categories.
    """
    by_id = {s.lesion_id: s for s in specs}
    readings = [r for r in readings if r.lesion_id in by_id]
    if baseline is None:
        dates = sorted({r.timepoint for r in readings if by_id[r.lesion_id].kind != "new"})
        baseline = dates[0] if dates else None
    base = select_baseline(specs, readings, baseline)
    new_dates = new_lesion_dates(specs, readings, baseline)
    later = sorted({r.timepoint for r in readings if baseline is None or r.timepoint > baseline})
    nadir = base.sum_mm
    rows: list[TimePoint] = []
    for date in later:
        at = _group(r for r in readings if r.timepoint == date)
        notes: list[str] = []
        target, total = None, None
        if base.targets and base.sum_mm is not None and nadir is not None:
            target, total, notes = target_response(by_id, base.targets, at, base.sum_mm, nadir)
        non_target = non_target_response(by_id, base.non_targets, at)
        new = [lid for lid, first in new_dates.items() if first <= date]
        if new:
            notes.append("new lesion: " + ", ".join(by_id[n].label or n for n in new))
        row_nadir = nadir
        rows.append(TimePoint(
            date, total, _pct(total, base.sum_mm), _pct(total, row_nadir), row_nadir, target,
            non_target, bool(new), overall_response(target, non_target, bool(new)),
            tuple(notes)))
        if total is not None and nadir is not None:
            nadir = min(nadir, total)
    return RecistResult(base, tuple(rows))


def _pct(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return 100.0 * (value - reference) / reference
