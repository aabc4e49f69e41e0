"""Find each kind of plugin input in the patient record (used by inputs.assemble_record).

Clinical values come from :mod:`oncoboard.patients.record` (observations in their canonical unit,
conditions, treatments, demographics) and :mod:`oncoboard.inference.record_access`; text from the
notes; images from :mod:`oncoboard.imaging` (series, RTSTRUCT/SEG masks) and
:mod:`oncoboard.inference.radiomics`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoboard.errors import OncoboardError
from oncoboard.inference.inputs import (
    Assembly,
    InputValue,
    apply_missing,
    set_value,
)
from oncoboard.inference.manifest import ClinicalInput, ImageInput, Manifest, TextInput
from oncoboard.inference.population import treatment_matches
from oncoboard.inference.record_access import (
    DERIVATIONS,
    RecordView,
    missing_ingredients,
    used,
)
from oncoboard.patients import codes
from oncoboard.patients.language import NAMES, reading_language

if TYPE_CHECKING:
    from oncoboard.store import Store

log = logging.getLogger(__name__)

_FEATURES: dict[tuple[Any, ...], dict[str, Any]] = {}  # radiomics by series, masks, spec

CONDITION_FIELDS = {
    "er": "er", "pr": "pr", "her2": "her2", "grade": "grade", "ki67": "ki67_percent",
    "laterality": "laterality", "icd10": "code", "morphology": "icdo3_morphology",
    **{f"{s}_{x}": f"{s}_{x}" for s in ("clinical", "pathological")
       for x in ("t", "n", "m", "stage")},
}
# condition fields that live in observations when the condition row has no column for them
CONDITION_OBSERVATIONS = {"tsize": "tumour_size", "positive_nodes": "positive_nodes"}


def _window_text(days: int, date: dt.date) -> str:
    return f"in the {days} days before {date.isoformat()}"


def clinical(rv: RecordView, spec: ClinicalInput, asm: Assembly, images: dict[str, Any]) -> None:
    """Find one clinical input; store it in `asm` (or apply the missing policy)."""
    src = spec.source
    if src.type == "observation":
        _observation(rv, spec, asm)
    elif src.type == "patient":
        value = rv.age() if src.field == "age" else rv.patient.sex
        if value is None or value == "unknown":
            apply_missing(spec, asm, f"{src.field} not recorded")
        else:
            set_value(spec, asm, value, "a" if src.field == "age" else None, "measured",
                      {"type": "patient", "field": src.field})
    elif src.type == "condition":
        _condition(rv, spec, asm)
    elif src.type == "treatment":
        hits = [t for t in rv.treatments() if treatment_matches(
            t, src.predicate, rv.date,
            started_by=rv.date if getattr(rv, "retrospective", False) else None)]
        set_value(spec, asm, "yes" if hits else "no", None, "measured",
                  {"type": "treatment", "treatment_ids": [t.id for t in hits]})
    elif src.type == "derived":
        fn = DERIVATIONS[src.derivation][0]
        got = fn(rv, src.window_days)
        if got is None:
            apply_missing(spec, asm, missing_ingredients(rv, src.derivation,
                                                         src.window_days))
            return
        for note in got.notes:
            asm.warn("derivation", f"{spec.name}: {note}", spec.name)
        unit = None if got.unit == "1" and spec.unit is None else got.unit
        set_value(spec, asm, got.value, unit, "measured",
                  {"type": "derived", "derivation": src.derivation, "used": got.used})
    else:  # radiomics
        feats = images.get(src.image)
        if feats is None:
            apply_missing(spec, asm, f"no image features ({src.image})")
        else:
            set_value(spec, asm, feats["features"][src.feature], None, "measured",
                      {"type": "radiomics", "series_uid": feats["series_uid"],
                       "roi": feats["roi"], "feature": src.feature})


_BRACKETS = re.compile(r"\s*\[[^\]]*\]")
_SPECIMEN = re.compile(r"\s+in (Serum|Plasma|Blood|Urine)\b.*$", re.IGNORECASE)


def _observation(rv: RecordView, spec: ClinicalInput, asm: Assembly) -> None:
    src = spec.source
    assert src.type == "observation"
    rows = [o for o in rv.observations(src.system, src.code, src.window_days)
            if o.value is not None]
    if not rows:
        known = codes.lookup(src.system, src.code)
        # clinical words (the code's display name), not the key (falls_6m)
        label = known.display if known and known.display else (spec.label or src.code)
        label = _SPECIMEN.sub("", _BRACKETS.sub("", label))  # LOINC: "[Mass/volume] in Blood"
        apply_missing(spec, asm, f"no '{label[:1].lower() + label[1:]}' recorded "
                                 f"{_window_text(src.window_days, rv.date)}")
        return
    if src.aggregation == "latest" or spec.categories:
        chosen = [rows[-1]]
        raw: Any = rows[-1].value
    else:
        nums = [o for o in rows if o.value_num is not None]
        if not nums:
            apply_missing(spec, asm, f"no numeric {src.code} value")
            return
        values = [o.value_num for o in nums]
        if src.aggregation == "min":
            raw = min(values)
        elif src.aggregation == "max":
            raw = max(values)
        else:
            raw = sum(values) / len(values)
        chosen = nums
    unit = chosen[-1].unit if not spec.categories else None
    set_value(spec, asm, raw, unit, "measured",
              {"type": "observation", "aggregation": src.aggregation,
               "used": [used(o) for o in chosen]})


def _condition(rv: RecordView, spec: ClinicalInput, asm: Assembly) -> None:
    src = spec.source
    assert src.type == "condition"
    cancer = rv.primary_cancer()
    name = src.field
    value: Any = None
    source: dict[str, Any] = {"type": "condition", "field": name}
    if cancer is not None:
        source["condition_id"] = cancer.id
        if name.startswith("markers."):
            value = cancer.markers.get(name.split(".", 1)[1])
        elif name in CONDITION_FIELDS:
            value = getattr(cancer, CONDITION_FIELDS[name])
    if value is None and name in CONDITION_OBSERVATIONS:
        obs = rv.latest(CONDITION_OBSERVATIONS[name], None)
        if obs is not None:
            source = {"type": "observation", "used": [used(obs)]}
            set_value(spec, asm, obs.value, obs.unit, "measured", source)
            return
    if value is None or (isinstance(value, str) and value.lower() in ("unknown", "")):
        apply_missing(spec, asm, f"{name} not recorded for the primary cancer"
                      if cancer is not None else "no primary cancer recorded")
        return
    set_value(spec, asm, value, None, "measured", source)


def text(rv: RecordView, spec: TextInput, asm: Assembly) -> None:
    """Gather the notes of the window into one text, newest kept when too long."""
    floor = (rv.date - dt.timedelta(days=spec.window_days)).isoformat()
    day = rv.date.isoformat()
    notes = [n for n in rv.notes() if n.date and floor <= n.date[:10] <= day
             and (not spec.note_types or (n.note_type or "") in spec.note_types)]
    langs = set(spec.languages)
    read, skipped, language = [], Counter[str](), {}
    for n in notes:  # the note's own words decide its language when they tell
        lang, disagreement = reading_language(n.text, n.language)
        if lang and lang not in langs:
            skipped[NAMES.get(lang, lang)] += 1
            continue
        if disagreement:
            asm.warn("language", f"{spec.name}: note {n.id} {disagreement}", spec.name)
        language[n.id] = lang
        read.append(n)
    if skipped:
        which = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items()))
        asm.warn("language", f"{spec.name}: {sum(skipped.values())} note(s) in a language the "
                             f"model does not read were left out ({which})", spec.name)
    notes = read
    if not notes:
        apply_missing(spec, asm, f"no note {_window_text(spec.window_days, rv.date)}")
        return
    kept: list[Any] = []
    total = 0
    for n in reversed(notes):  # newest first, so the newest survive the cut
        if total + len(n.text) + 1 > spec.max_chars:
            asm.warn("truncated", f"{spec.name}: {len(notes) - len(kept)} older note(s) left "
                                  f"out (over {spec.max_chars} characters)", spec.name)
            break
        kept.append(n)
        total += len(n.text) + 1
    kept.reverse()
    parts, segments, offset = [], [], 0
    for n in kept:
        segments.append({"note_id": n.id, "start": offset, "end": offset + len(n.text),
                         "offset": 0, "date": n.date, "note_type": n.note_type,
                         "language": language.get(n.id), "chars": len(n.text)})
        parts.append(n.text)
        offset += len(n.text) + 1
    joined = "\n".join(parts)
    asm.values[spec.name] = InputValue(spec.name, "measured", None, joined, None,
                                       {"type": "notes", "chars": len(joined)},
                                       text=joined, segments=segments)


def image(rv: RecordView, spec: ImageInput, manifest: Manifest, asm: Assembly) -> Any:
    """Load the latest matching series and its mask; return features or set the tensor."""
    from oncoboard import imaging

    floor = (rv.date - dt.timedelta(days=spec.window_days)).isoformat().replace("-", "")
    day = rv.date.isoformat().replace("-", "")
    try:
        every = imaging.list_series(rv.store, rv.patient_id)
    except NotImplementedError:
        every = []
    series = [s for s in every if s.modality == spec.modality
              and floor <= (s.study_date or "").replace("-", "")[:8] <= day]
    if not series:
        _image_missing(spec, asm, f"no {spec.modality} series in the {spec.window_days} days "
                                  f"before {rv.date.isoformat()}")
        return None
    chosen = sorted(series, key=lambda s: (s.study_date, s.series_number or 0))[-1]
    names = [i.source.feature for i in manifest.inputs if i.kind == "clinical"
             and i.source.type == "radiomics" and i.source.image == spec.name]
    # DICOM UIDs name immutable content: the image series and the RTSTRUCT/SEG series drawn
    # on it identify the features, so a warm board run reuses them.
    masks = tuple(sorted(s.series_uid for s in every
                         if chosen.series_uid in (getattr(s, "referenced_series_uids", None)
                                                  or [])))
    key = (chosen.series_uid, masks, spec.model_dump_json(), tuple(names))
    if spec.mode == "features" and key in _FEATURES:
        return _FEATURES[key]
    volume = imaging.load_series(rv.store, chosen.series_uid)
    mask, roi = _mask(rv.store, spec, volume)
    if spec.mask is not None and mask is None:
        _image_missing(spec, asm, f"no ROI named {' / '.join(spec.mask.roi_names)} on series "
                                  f"{chosen.series_uid}")
        return None
    if spec.mode == "features":
        from oncoboard.inference.radiomics import compute_features

        found = {"features": compute_features(volume, mask, names),
                 "series_uid": chosen.series_uid, "roi": roi}
        if len(_FEATURES) > 512:
            _FEATURES.clear()
        _FEATURES[key] = found
        return found
    tensor = preprocess(volume.voxels, mask, volume.affine, spec)
    asm.values[spec.name] = InputValue(spec.name, "measured", None, None, None,
                                       {"type": "image", "series_uid": chosen.series_uid,
                                        "roi": roi, "shape": list(tensor.shape)}, array=tensor)
    return None


def _image_missing(spec: ImageInput, asm: Assembly, why: str) -> None:
    if spec.mode == "tensor" or spec.required:
        asm.refuse(f"{spec.name}: {why}", spec.name)
    else:
        asm.warn("missing_image", f"{spec.name}: {why}", spec.name)


def _mask(store: Store, spec: ImageInput, volume: Any) -> tuple[Any, str | None]:
    from oncoboard import imaging

    if spec.mask is None:
        return None, None
    wanted = [n.lower() for n in spec.mask.roi_names]
    try:
        structures = imaging.load_structures(store, volume.series_uid)
    except (NotImplementedError, OncoboardError) as exc:
        log.warning("structures of %s: %s", volume.series_uid, exc)
        return None, None
    kind = spec.mask.source.lower()
    for name in wanted:
        for s in structures:
            if s.name.lower() == name and s.kind == kind:
                return imaging.rasterise(s, volume), s.name
    return None, None


def preprocess(voxels: Any, mask: Any, affine: Any, spec: ImageInput) -> Any:
    """Crop around the mask, resample (nearest neighbour) to `spec.shape`, clip and normalise."""
    vol = np.asarray(voxels, dtype=np.float32)
    pre = spec.preprocessing
    if mask is not None and pre.crop == "mask_bbox" and np.asarray(mask).any():
        spacing = np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)
        idx = np.argwhere(mask)
        margin = np.ceil(pre.margin_mm / spacing).astype(int)
        lo = np.maximum(idx.min(0) - margin, 0)
        hi = np.minimum(idx.max(0) + margin + 1, vol.shape)
        vol = vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    assert spec.shape is not None
    grids = [np.minimum((np.arange(n) + 0.5) * vol.shape[a] / n, vol.shape[a] - 1).astype(int)
             for a, n in enumerate(spec.shape)]
    vol = vol[np.ix_(*grids)]
    if pre.clip:
        vol = np.clip(vol, pre.clip[0], pre.clip[1])
    if pre.normalise == "zscore":
        vol = (vol - vol.mean()) / (vol.std() or 1.0)
    elif pre.normalise == "minmax":
        span = float(vol.max() - vol.min()) or 1.0
        vol = (vol - vol.min()) / span
    return vol.astype(np.float32)
