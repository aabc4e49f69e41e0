"""The inputs of a plugin manifest: where each is found in the record and how it is checked.

The ``[[inputs]]`` tables of ``plugin.toml``: a clinical value (its source in the record:
observation, patient field, condition, treatment, derivation or radiomics feature; its code, unit,
valid range, categories and missing-value policy), a text (which notes, language, length) or an
image series with its mask (a resampled tensor, or radiomics features). With them the treatment
test (:class:`TreatmentPredicate`) that a treatment input and the intended population share, and
the strict base every manifest class derives from (unknown fields are refused). The manifest
itself, its outputs and its loading are in :mod:`oncoboard.inference.manifest`, which also
exports every name here.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TreatmentPredicate(_Strict):
    """A condition on the patient's treatments (all given fields must hold for one treatment)."""

    kind: Literal["surgery", "radiotherapy", "systemic", "other"] | None = Field(
        None, description="Treatment kind as stored in the record (treatments.kind).")
    subkind: str | None = Field(
        None, description="Treatment subkind, e.g. 'chemotherapy', 'immunotherapy', 'endocrine'.")
    agents_any: list[str] = Field(
        default_factory=list,
        description="At least one of these agents (case-insensitive) is in the regimen.")
    line_min: int | None = Field(None, ge=1, description="Lowest treatment line accepted.")
    line_max: int | None = Field(None, ge=1, description="Highest treatment line accepted.")
    window_days: int | None = Field(
        None, ge=0,
        description="The treatment started at most this many days before the reference date "
                    "(or is planned after it); None means any time before or after.")
    min_days: int | None = Field(
        None, ge=0, description="The treatment started at least this many days before the "
                                "reference date (e.g. 5 years of endocrine therapy).")




class ObservationSource(_Strict):
    """A coded observation (lab, vital sign, marker) from the record."""

    type: Literal["observation"] = Field(..., description="Source type tag.")
    system: str = Field(..., description="Code system URI, e.g. 'http://loinc.org'.")
    code: str = Field(..., description="Code, e.g. '751-8' (see oncoboard.patients.codes).")
    window_days: int = Field(90, ge=0, description="Look back this many days before the "
                                                   "reference date.")
    aggregation: Literal["latest", "min", "max", "mean"] = Field(
        "latest", description="How several values in the window become one.")


class PatientSource(_Strict):
    """A demographic field, evaluated at the reference date."""

    type: Literal["patient"] = Field(..., description="Source type tag.")
    field: Literal["age", "sex"] = Field(..., description="'age' in years, or 'sex'.")


class ConditionSource(_Strict):
    """A field of the primary cancer diagnosed on or before the reference date."""

    type: Literal["condition"] = Field(..., description="Source type tag.")
    field: str = Field(..., description="One of er, pr, her2, grade, ki67, tsize, "
                                        "clinical_t/n/m/stage, pathological_t/n/m/stage, "
                                        "laterality, icd10, morphology, or 'markers.<name>'.")


class TreatmentSource(_Strict):
    """Whether the patient has a treatment matching a predicate ('yes'/'no')."""

    type: Literal["treatment"] = Field(..., description="Source type tag.")
    predicate: TreatmentPredicate = Field(..., description="The treatment looked for.")


class DerivedSource(_Strict):
    """A value computed from the record by a named derivation (inference/record_access.py)."""

    type: Literal["derived"] = Field(..., description="Source type tag.")
    derivation: str = Field(..., description="Name in oncoboard.inference.record_access."
                                             "DERIVATIONS, e.g. nlr, ldh_uln_ratio, "
                                             "crcl_jelliffe, bmi.")
    window_days: int = Field(90, ge=0, description="Look-back window for the values it uses.")


class RadiomicsSource(_Strict):
    """A named feature computed on an image input's volume inside its mask."""

    type: Literal["radiomics"] = Field(..., description="Source type tag.")
    image: str = Field(..., description="Name of the image input (kind 'image', mode 'features').")
    feature: str = Field(..., description="Feature name for oncoboard.inference.radiomics.")


ClinicalSourceT = Annotated[
    ObservationSource | PatientSource | ConditionSource | TreatmentSource | DerivedSource
    | RadiomicsSource, Field(discriminator="type")]


class Category(_Strict):
    """One allowed value of a categorical input and how it is fed to the model."""

    label: str = Field(..., description="Label shown to users and accepted as input, e.g. 'III'.")
    value: float | int | str = Field(..., description="Value put into the tensor, e.g. 3.")
    synonyms: list[str] = Field(default_factory=list, description="Other spellings accepted "
                                                                  "(case-insensitive), e.g. '3'.")


class _TensorSlot(_Strict):
    tensor: str | None = Field(None, description="Graph input fed by this input (default: the "
                                                 "input's own name).")
    column: int | None = Field(None, ge=0, description="Column in that tensor's last axis, when "
                                                       "several inputs share one tensor.")


class Support(_Strict):
    """Where the training data has support for a continuous input (written by the build script).

    The model's transforms are held constant outside [lower, upper] (clamped, as PREDICT's
    authors clamp at the 1st/99th percentiles): a value outside gets the estimate at the edge,
    and is flagged as extrapolated.
    """

    lower: float = Field(..., description="Lowest value the transforms use (e.g. 1st percentile).")
    upper: float = Field(..., description="Highest value the transforms use (99th percentile).")
    n_training: int = Field(..., ge=1, description="Training patients with this input.")
    n_at_or_below_lower: int = Field(..., ge=0, description="Training patients <= lower.")
    n_at_or_above_upper: int = Field(..., ge=0, description="Training patients >= upper.")
    observed_min: float = Field(..., description="Lowest value in the training data.")
    observed_max: float = Field(..., description="Highest value in the training data.")
    clamped: bool = Field(True, description="The model holds the value at lower/upper outside.")
    method: str = Field("", description="How lower/upper were chosen, in words.")

    @model_validator(mode="after")
    def _order(self) -> Support:
        if not self.observed_min <= self.lower <= self.upper <= self.observed_max:
            raise ValueError("support needs observed_min <= lower <= upper <= observed_max")
        return self


class Caution(_Strict):
    """A value range where the model is known to perform less well: flagged, not refused."""

    below: float | None = Field(None, description="Flag values below this.")
    above: float | None = Field(None, description="Flag values above this.")
    message: str = Field(..., min_length=3, description="Why, in plain words.")


class ConsistencyRule(_Strict):
    """Two inputs that contradict each other clinically (e.g. postmenopausal at 30): flagged."""

    input: str = Field(..., description="Categorical input, e.g. 'menostat'.")
    equals: str = Field(..., description="Its category label that triggers the rule.")
    other: str = Field(..., description="Numeric input checked, e.g. 'age'.")
    below: float | None = Field(None, description="Flag when `other` is below this.")
    above: float | None = Field(None, description="Flag when `other` is above this.")
    message: str = Field(..., min_length=3, description="Plain-words flag.")


class ClinicalInput(_TensorSlot):
    """A scalar feature from the record: a coded value with unit, range and missing policy."""

    kind: Literal["clinical"] = Field(..., description="Input kind tag.")
    name: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Input name (CSV "
                                                                            "column, --input).")
    label: str = Field("", description="Human-readable label.")
    description: str = Field("", description="What the input is.")
    source: ClinicalSourceT = Field(..., description="Where the value is found in the record.")
    unit: str | None = Field(None, description="Unit fed to the model (pint/UCUM); values are "
                                               "converted from the record's canonical unit.")
    valid_range: list[float] | None = Field(
        None, min_length=2, max_length=2, description="[min, max] accepted, in `unit`; values "
                                                      "outside refuse the prediction.")
    categories: list[Category] = Field(default_factory=list,
                                       description="Allowed values of a categorical input.")
    required: bool = Field(True, description="A missing required input follows `missing`; an "
                                             "optional one always takes `default` (imputed).")
    missing: Literal["refuse", "default"] = Field(
        "refuse", description="Missing value: refuse the prediction, or use `default`, shown "
                              "as 'imputed'.")
    default: float | int | str | None = Field(None, description="Value used when missing (in "
                                                                "`unit`, or a category label).")
    reference: float | int | str | None = Field(
        None, description="Reference value for explanations (contributions are relative to "
                          "it); default: `default`, else the middle of `valid_range`.")
    integer: bool = Field(False, description="A count (nodes, agents, falls): a value that is "
                                             "not a whole number refuses the prediction.")
    support: Support | None = Field(None, description="Trained models: where the training data "
                                                      "has support (build-script written).")
    cautions: list[Caution] = Field(default_factory=list, description="Ranges flagged as "
                                                                      "weaker performance.")

    @model_validator(mode="after")
    def _consistent(self) -> ClinicalInput:
        if self.valid_range and self.valid_range[0] > self.valid_range[1]:
            raise ValueError(f"valid_range {self.valid_range} has min > max")
        if (self.missing == "default" or not self.required) and self.default is None:
            raise ValueError("needs `default` (missing = 'default' or required = false)")
        labels = [c.label.lower() for c in self.categories]
        spellings = labels + [s.lower() for c in self.categories for s in c.synonyms]
        if len(spellings) != len(set(spellings)):
            raise ValueError("category labels and synonyms must be unique")
        for what in ("default", "reference"):
            value = getattr(self, what)
            if value is None:
                continue
            if self.categories:
                if str(value).lower() not in spellings:
                    raise ValueError(f"{what} {value!r} is not one of the categories")
            elif isinstance(value, str):
                raise ValueError(f"{what} must be a number for a numeric input")
            elif self.valid_range and not self.valid_range[0] <= value <= self.valid_range[1]:
                raise ValueError(f"{what} {value} is outside valid_range {self.valid_range}")
        if self.unit is not None:
            _check_unit(self.unit)
        return self


class TextInput(_TensorSlot):
    """Free text from the notes, fed as a string tensor."""

    kind: Literal["text"] = Field(..., description="Input kind tag.")
    name: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Input name.")
    label: str = Field("", description="Human-readable label.")
    description: str = Field("", description="What the text is.")
    note_types: list[str] = Field(default_factory=list, description="Note types used (notes."
                                                                    "note_type); empty = all.")
    window_days: int = Field(30, ge=0, description="Notes dated at most this many days before "
                                                   "the reference date.")
    languages: list[str] = Field(default_factory=lambda: ["en"], description="Languages the "
                                                                            "model reads.")
    max_chars: int = Field(20000, ge=1, description="Longer text is cut (newest notes kept), "
                                                    "with a warning.")
    required: bool = Field(True, description="No note in the window follows `missing`.")
    missing: Literal["refuse", "default"] = Field("refuse", description="As for clinical "
                                                                        "inputs; the default "
                                                                        "is ''.")
    explain: bool = Field(True, description="Explain by sentence occlusion.")


class MaskSpec(_Strict):
    """Where the region of interest comes from."""

    source: Literal["RTSTRUCT", "SEG"] = Field("RTSTRUCT", description="Mask object type.")
    roi_names: list[str] = Field(..., min_length=1, description="ROI / segment names accepted "
                                                                "(first found wins, "
                                                                "case-insensitive).")


class Preprocessing(_Strict):
    """How the volume is prepared before features or tensor."""

    resample: bool = Field(True, description="Resample to `spacing_mm` (linear; mask nearest).")
    clip: list[float] | None = Field(None, min_length=2, max_length=2,
                                     description="Clip intensities to [min, max].")
    normalise: Literal["none", "zscore", "minmax"] = Field("none", description="Intensity "
                                                                               "scaling.")
    crop: Literal["none", "mask_bbox"] = Field("mask_bbox", description="Crop around the mask.")
    margin_mm: float = Field(10.0, ge=0, description="Margin around the mask bounding box.")


class ImageInput(_TensorSlot):
    """An image series with its mask: a resampled tensor, or radiomics features."""

    kind: Literal["image"] = Field(..., description="Input kind tag.")
    name: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Input name.")
    label: str = Field("", description="Human-readable label.")
    modality: str = Field(..., description="DICOM modality, e.g. 'CT'.")
    window_days: int = Field(90, ge=0, description="Series acquired at most this many days "
                                                   "before the reference date (latest wins).")
    spacing_mm: list[float] | None = Field(None, min_length=3, max_length=3,
                                           description="Expected/target voxel spacing (z,y,x).")
    shape: list[int] | None = Field(None, min_length=3, max_length=3,
                                    description="Tensor shape (z,y,x) in mode 'tensor'.")
    mask: MaskSpec | None = Field(None, description="Region of interest.")
    preprocessing: Preprocessing = Field(default_factory=lambda: Preprocessing.model_validate({}),
                                         description="Volume preparation.")
    mode: Literal["tensor", "features"] = Field(
        "features", description="'features': radiomics inputs reference this image; 'tensor': "
                                "the volume is fed to graph input `tensor`.")
    feature_definition: Literal["IBSI 1"] | None = Field(
        None, description="Definition of the radiomics features the model was trained with "
                          "(mode 'features'): 'IBSI 1', the Image Biomarker Standardisation "
                          "Initiative's, which oncoboard.inference.radiomics computes. A "
                          "plugin trained with a tool that follows IBSI 1 names it; another "
                          "definition is refused rather than fed different numbers.")
    required: bool = Field(True, description="No series or mask follows the inputs' policy.")

    @model_validator(mode="after")
    def _mode(self) -> ImageInput:
        if self.mode == "tensor" and self.shape is None:
            raise ValueError("mode 'tensor' needs `shape`")
        if self.mode == "features" and self.mask is None:
            raise ValueError("mode 'features' needs a `mask`")
        return self


InputT = Annotated[ClinicalInput | TextInput | ImageInput, Field(discriminator="kind")]


#: True while parsing a manifest whose exact bytes had their units read by pint before (see
#: :mod:`oncoboard.inference.check_cache`): building pint's registry costs about 0.1 s.
UNITS_KNOWN: ContextVar[bool] = ContextVar("UNITS_KNOWN", default=False)


def _check_unit(unit: str) -> None:
    if UNITS_KNOWN.get():
        return
    from oncoboard.units import check_unit

    check_unit(unit)  # ValueError "unknown unit ..." as pydantic expects
