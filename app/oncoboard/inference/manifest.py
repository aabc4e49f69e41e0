"""The plugin manifest (``plugins/<id>/plugin.toml``): schema, loading and cross-checks.

A manifest is static and versioned. It says what the model is for (task, intended use and
population), where its numbers come from (training data, metrics written by the plugin's script in
``models/``), which ONNX file it runs (with its sha256 and an optional ed25519 signature), how each
model input is found in the patient record and checked (code, unit, valid range, categories,
missing-value policy), what the outputs mean (probability, survival curve, score, image) and how
the result is explained. Every field is described; unknown fields are refused (``extra="forbid"``)
so that a typo never silently disables a check.

Tensor fields use the MONAI bundle vocabulary (``type``, ``format``, ``dtype``, ``shape``,
``value_range``, ``channel_def``). See ``tests/data/inference/example-plugin/plugin.toml`` for a
documented example and README, "Plugins (manifest, install, verify)".
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from oncoboard.errors import PluginError

MANIFEST_NAME = "plugin.toml"
SCHEMA_VERSION = 1
ID_PATTERN = r"^[a-z0-9][a-z0-9.\-]{1,62}[a-z0-9]$"
# ONNX element types the engine can feed or read, by their numpy-style names.
DTYPES = ("float32", "float64", "int64", "int32", "bool", "string", "uint8", "int16")

Scalar = float | int | str | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------
# Intended use and provenance
# ---------------------------------------------------------------------------------------------


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


class Population(_Strict):
    """Who the model was built and validated for."""

    description: str = Field(..., min_length=3, description="Intended population, in words.")
    diagnoses: list[str] = Field(
        default_factory=list,
        description="ICD-10 code prefixes of the primary cancer (e.g. 'C50', 'C34.1'); "
                    "empty means any diagnosis.")
    age_min: float | None = Field(None, ge=0, le=130, description="Youngest age (years) included.")
    age_max: float | None = Field(None, ge=0, le=130, description="Oldest age (years) included.")
    sex: list[Literal["female", "male", "other"]] = Field(
        default_factory=list, description="Sexes included; empty means any.")
    treatment: TreatmentPredicate | None = Field(
        None, description="A treatment the patient must have (e.g. chemotherapy, line 1).")
    out_of_population: Literal["flag", "refuse"] = Field(
        "flag", description="Patient outside this population: 'flag' the result as 'outside "
                            "intended use', or 'refuse' to predict.")

    @model_validator(mode="after")
    def _ages(self) -> Population:
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError("age_min must not exceed age_max")
        for code in self.diagnoses:
            if not re.fullmatch(r"[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?", code):
                raise ValueError(f"diagnosis {code!r} is not an ICD-10 code prefix like 'C50'")
        return self


class IntendedUse(_Strict):
    """What the model may be used for and by whom."""

    summary: str = Field(..., min_length=3, description="Intended use, one or two sentences.")
    users: str = Field("tumour board clinicians", description="Intended users.")
    not_for: list[str] = Field(default_factory=list, description="Explicit non-intended uses.")


class TrainingData(_Strict):
    """Where the training data came from."""

    source: str = Field(..., description="Public dataset name (e.g. 'GBSG2 (lifelines)') or "
                                         "'synthetic'.")
    synthetic: bool = Field(..., description="True when trained on generated data: every result "
                                             "is labelled 'synthetic - demonstration only'.")
    description: str = Field("", description="Cohort, dates, inclusion, size.")
    n_patients: int | None = Field(None, ge=1, description="Number of training patients.")
    generator: str | None = Field(None, description="Script that generated synthetic data.")


class MetricEstimate(_Strict):
    """One measured metric, with its interval when one was computed."""

    value: float = Field(..., description="Point estimate.")
    lower: float | None = Field(None, description="Lower bound of the interval.")
    upper: float | None = Field(None, description="Upper bound of the interval.")
    level: float | None = Field(None, gt=0, lt=1, description="Interval level, e.g. 0.95.")
    description: str = Field("", description="What was measured, on which data.")


class Metrics(_Strict):
    """Measured performance, written by the plugin's validation script (never typed by hand)."""

    generated_by: str = Field(..., description="Script that measured them, e.g. "
                                               "'models/relapse-gbsg2/validate.py'.")
    generated_at: str | None = Field(None, description="ISO date-time of the measurement.")
    dataset: str = Field("", description="Data the metrics were measured on (e.g. 'repeated "
                                         "5-fold CV', 'held-out 20 %').")
    values: dict[str, MetricEstimate | float] = Field(
        default_factory=dict, description="Metric name -> estimate (e.g. c_index, auc, ibs).")


# ---------------------------------------------------------------------------------------------
# The ONNX file and its tensors
# ---------------------------------------------------------------------------------------------


class TensorSpec(_Strict):
    """One ONNX graph input or output (MONAI-bundle field names)."""

    name: str = Field(..., description="Tensor name in the ONNX graph.")
    type: Literal["tabular", "text", "image", "probability", "survival", "score", "label",
                  "other"] = Field("tabular", description="What the tensor holds (MONAI 'type').")
    format: str = Field("", description="Finer format (MONAI 'format'), e.g. 'hounsfield', "
                                        "'features', 'segmentation', 'magnitude'.")
    dtype: Literal[DTYPES] = Field("float32", description="ONNX element type, numpy spelling.")  # type: ignore[valid-type]
    shape: list[int | str] = Field(..., min_length=0, description="Dimensions; -1 or a name for a "
                                                                  "dynamic (batch) dimension.")
    value_range: list[float] | None = Field(None, min_length=2, max_length=2,
                                            description="Expected [min, max] of values.")
    channel_def: dict[str, str] = Field(default_factory=dict,
                                        description="Column or channel index -> meaning.")

    def fixed_dim(self, axis: int) -> int | None:
        """Return the size of `axis` when fixed, else None."""
        d = self.shape[axis] if axis < len(self.shape) else None
        return d if isinstance(d, int) and d >= 0 else None


class ModelFile(_Strict):
    """The ONNX file, its integrity data and its graph's declared tensors."""

    file: str = Field("model.onnx", description="ONNX file, relative to the plugin folder.")
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$", description="sha256 of the ONNX file.")
    signature: str | None = Field(
        None, description="File (relative) holding the base64 ed25519 signature of plugin.toml's "
                          "bytes; checked against settings.trusted_keys.")
    opset_min: int | None = Field(None, description="Lowest ONNX opset the file needs.")
    inputs: list[TensorSpec] = Field(..., min_length=1, description="Every graph input.")
    outputs: list[TensorSpec] = Field(..., min_length=1, description="Graph outputs used.")

    @model_validator(mode="after")
    def _paths(self) -> ModelFile:
        for value in (self.file, self.signature):
            if value and (Path(value).is_absolute() or ".." in Path(value).parts):
                raise ValueError(f"{value!r} must be a path inside the plugin folder")
        for group in (self.inputs, self.outputs):
            names = [t.name for t in group]
            if len(names) != len(set(names)):
                raise ValueError(f"tensor names repeat: {names}")
        return self


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


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
    """A value computed from the record by a named derivation (inference/derived.py)."""

    type: Literal["derived"] = Field(..., description="Source type tag.")
    derivation: str = Field(..., description="Name in oncoboard.inference.derived.DERIVATIONS, "
                                             "e.g. nlr, ldh_uln_ratio, crcl_jelliffe, bmi.")
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
    integer: bool = Field(False, description="A count (nodes, agents, falls): a fractional "
                                             "value is refused.")
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
    required: bool = Field(True, description="No series or mask follows the inputs' policy.")

    @model_validator(mode="after")
    def _mode(self) -> ImageInput:
        if self.mode == "tensor" and self.shape is None:
            raise ValueError("mode 'tensor' needs `shape`")
        if self.mode == "features" and self.mask is None:
            raise ValueError("mode 'features' needs a `mask`")
        return self


InputT = Annotated[ClinicalInput | TextInput | ImageInput, Field(discriminator="kind")]


# ---------------------------------------------------------------------------------------------
# Outputs, scenarios, explanation, golden case
# ---------------------------------------------------------------------------------------------


class RiskBand(_Strict):
    """A named band of a probability or score, [previous band's upper, upper)."""

    label: str = Field(..., description="Band label, e.g. 'low'.")
    upper: float = Field(..., description="Exclusive upper limit (the last band may use 1 or "
                                          "the score's maximum, inclusive).")


class Output(_TensorSlot):
    """One result shown to users."""

    name: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Output name.")
    kind: Literal["probability", "survival", "score", "image"] = Field(
        ..., description="probability in [0,1]; survival curve on `time_grid`; numeric score; "
                         "image volume.")
    label: str = Field("", description="Human-readable label.")
    description: str = Field("", description="What the value means (event, horizon).")
    unit: str | None = Field(None, description="Unit of a score.")
    risk_bands: list[RiskBand] = Field(default_factory=list, description="Bands, ascending.")
    lower: str | None = Field(None, description="Name of the output giving the lower bound.")
    upper: str | None = Field(None, description="Name of the output giving the upper bound.")
    interval_level: float = Field(0.95, gt=0, lt=1, description="Level of lower/upper.")
    time_grid: list[float] = Field(default_factory=list, description="Times of a survival curve.")
    time_unit: Literal["days", "weeks", "months", "years"] | None = Field(
        None, description="Unit of `time_grid`.")
    quantity: Literal["survival", "cumulative_incidence"] = Field(
        "survival", description="Curve is S(t), or 1 - S(t).")
    geometry_from: str | None = Field(None, description="Image output: the image input whose "
                                                        "geometry it shares.")
    display: bool = Field(True, description="False for helper outputs (bounds) not shown alone.")
    interval_method: str | None = Field(
        None, description="How `lower`/`upper` were computed, in words (e.g. 'bootstrap: 2.5th-"
                          "97.5th percentiles of 200 refits'); shown as 'point [low-high] "
                          "(method)'.")
    uncertainty: str | None = Field(
        None, description="Where no interval exists: the published error of the model, stated "
                          "as such (e.g. PREDICT's validation calibration).")

    @model_validator(mode="after")
    def _kind(self) -> Output:
        if self.kind == "survival":
            if not self.time_grid or self.time_unit is None:
                raise ValueError("a survival output needs time_grid and time_unit")
            if any(b <= a for a, b in zip(self.time_grid, self.time_grid[1:], strict=False)):
                raise ValueError("time_grid must increase")
        uppers = [b.upper for b in self.risk_bands]
        if uppers != sorted(uppers):
            raise ValueError("risk_bands must be in ascending order")
        return self


class Scenario(_Strict):
    """A what-if: the same patient with some inputs overridden (e.g. with hormone therapy)."""

    name: str = Field(..., description="Scenario name shown to users.")
    overrides: dict[str, Scalar] = Field(..., description="Input name -> value (unit or label).")
    baseline: bool = Field(False, description="The scenario others are compared with (at most "
                                              "one; default: the patient as recorded).")
    description: str = Field("", description="What the scenario means clinically.")


class Explanation(_Strict):
    """How results are explained."""

    method: Literal["linear", "cox", "occlusion", "none"] = Field(
        "occlusion", description="'linear'/'cox': exact contributions coefficient x (value - "
                                 "reference); 'occlusion': re-run with each input set to its "
                                 "reference.")
    output: str | None = Field(None, description="Output explained (default: the first).")
    scale: Literal["logit", "log", "cloglog", "identity"] | None = Field(
        None, description="Scale on which contributions add (default: logit for probability, "
                          "cloglog for survival, identity for score).")
    at_time: float | None = Field(None, description="Survival output: time point explained "
                                                    "(default: last of the grid).")
    coefficients: dict[str, float | dict[str, float]] = Field(
        default_factory=dict, description="linear/cox: input -> coefficient per unit, or "
                                          "category label -> coefficient.")
    max_sentences: int = Field(5, ge=0, description="Text: sentences kept (largest movers).")


class Golden(_Strict):
    """A golden case: inputs and the outputs the model must give (checked by `plugins verify`)."""

    inputs: dict[str, Scalar] = Field(..., description="Input name -> value.")
    expected: dict[str, float | list[float]] = Field(..., description="Output name -> value(s).")
    tolerance: float = Field(1e-5, ge=0, description="Absolute tolerance.")


# ---------------------------------------------------------------------------------------------
# The manifest
# ---------------------------------------------------------------------------------------------


class Manifest(_Strict):
    """A plugin manifest (plugin.toml)."""

    schema_version: Literal[1] = Field(1, description="Manifest schema version.")
    id: str = Field(..., pattern=ID_PATTERN, description="Unique id, also the folder name.")
    name: str = Field(..., min_length=3, description="Name shown to users.")
    version: str = Field(..., pattern=r"^\d+\.\d+(\.\d+)?([-+.][0-9A-Za-z.]+)?$",
                         description="Plugin version (semantic versioning).")
    task: Literal["response", "toxicity", "relapse", "other"] = Field(..., description="Task.")
    description: str = Field("", description="What the model predicts, in a paragraph.")
    authors: list[str] = Field(default_factory=list, description="Authors or team.")
    license: str | None = Field(None, description="License of the model.")
    references: list[str] = Field(default_factory=list, description="Publications, URLs.")
    model_card: str = Field("MODEL_CARD.md", description="Model card file (relative).")
    intended_use: IntendedUse = Field(..., description="Intended use.")
    population: Population = Field(..., description="Intended population.")
    training_data: TrainingData = Field(..., description="Training data source.")
    model: ModelFile = Field(..., description="The ONNX file.")
    inputs: list[InputT] = Field(..., min_length=1, description="Model inputs.")
    outputs: list[Output] = Field(..., min_length=1, description="Results.")
    scenarios: list[Scenario] = Field(default_factory=list, description="What-if scenarios.")
    explanation: Explanation = Field(default_factory=lambda: Explanation.model_validate({}),
                                     description="Explanations.")
    metrics: Metrics | None = Field(None, description="Measured performance (script-written).")
    golden: Golden | None = Field(None, description="Golden case checked by verify.")
    consistency: list[ConsistencyRule] = Field(default_factory=list, description="Input pairs "
                                               "that contradict each other clinically: flagged.")

    @property
    def synthetic(self) -> bool:
        """Return True when the model was trained on synthetic data."""
        return self.training_data.synthetic

    def input(self, name: str) -> ClinicalInput | TextInput | ImageInput:
        """Return the input called `name`."""
        for item in self.inputs:
            if item.name == name:
                return item
        raise KeyError(name)

    def output(self, name: str) -> Output:
        """Return the output called `name`."""
        for item in self.outputs:
            if item.name == name:
                return item
        raise KeyError(name)

    @model_validator(mode="after")
    def _cross_check(self) -> Manifest:
        _check_names(self)
        _check_tensor_slots(self)
        _check_outputs(self)
        _check_scenarios(self)
        _check_explanation(self)
        _check_consistency(self)
        return self


def tensor_of(item: ClinicalInput | TextInput | ImageInput | Output) -> str:
    """Return the graph tensor an input or output maps to."""
    return item.tensor or item.name


def _check_names(m: Manifest) -> None:
    names = [i.name for i in m.inputs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"input names repeat: {sorted(dup)}")
    outs = [o.name for o in m.outputs]
    if len(outs) != len(set(outs)):
        raise ValueError(f"output names repeat: {outs}")
    from oncoboard.inference.derived import DERIVATIONS

    images = {i.name for i in m.inputs if i.kind == "image"}
    for item in m.inputs:
        if item.kind == "clinical" and item.source.type == "derived" and \
                item.source.derivation not in DERIVATIONS:
            raise ValueError(f"input {item.name!r}: unknown derivation "
                             f"{item.source.derivation!r} (known: {', '.join(DERIVATIONS)})")
        if item.kind == "clinical" and item.source.type == "radiomics":
            if item.source.image not in images:
                raise ValueError(f"input {item.name!r}: radiomics image {item.source.image!r} "
                                 f"is not an image input")


def _check_tensor_slots(m: Manifest) -> None:
    graph = {t.name: t for t in m.model.inputs}
    filled: dict[str, set[int | None]] = {}
    for item in m.inputs:
        if item.kind == "image" and item.mode == "features":
            continue
        name = tensor_of(item)
        if name not in graph:
            raise ValueError(f"input {item.name!r} feeds tensor {name!r}, not in model.inputs")
        spec = graph[name]
        if item.kind == "text" and spec.dtype != "string":
            raise ValueError(f"text input {item.name!r} needs a 'string' tensor")
        slots = filled.setdefault(name, set())
        if item.column in slots or (None in slots) or (item.column is None and slots):
            raise ValueError(f"tensor {name!r} is fed twice (input {item.name!r})")
        width = spec.fixed_dim(len(spec.shape) - 1) if spec.shape else None
        if item.column is not None and width is not None and item.column >= width:
            raise ValueError(f"input {item.name!r}: column {item.column} beyond tensor "
                             f"{name!r} width {width}")
        slots.add(item.column)
    for name, spec in graph.items():
        if name not in filled:
            raise ValueError(f"model input tensor {name!r} is fed by no input")
        cols = filled[name]
        width = spec.fixed_dim(len(spec.shape) - 1) if spec.shape else None
        if None not in cols and width is not None and cols != set(range(width)):
            raise ValueError(f"tensor {name!r}: columns {sorted(c for c in cols if c is not None)}"
                             f" fed, {width} expected")


def _check_consistency(m: Manifest) -> None:
    for rule in m.consistency:
        spec, other = _named(m, rule.input), _named(m, rule.other)
        if spec is None or not spec.categories:
            raise ValueError(f"consistency rule: {rule.input!r} is not a categorical input")
        if rule.equals not in {c.label for c in spec.categories}:
            raise ValueError(f"consistency rule: {rule.equals!r} is not a label of {rule.input}")
        if other is None or other.categories:
            raise ValueError(f"consistency rule: {rule.other!r} is not a numeric input")


def _named(m: Manifest, name: str) -> ClinicalInput | None:
    for item in m.inputs:
        if item.name == name and isinstance(item, ClinicalInput):
            return item
    return None


def _check_outputs(m: Manifest) -> None:
    graph = {t.name for t in m.model.outputs}
    names = {o.name for o in m.outputs}
    for out in m.outputs:
        if tensor_of(out) not in graph:
            raise ValueError(f"output {out.name!r} reads tensor {tensor_of(out)!r}, not in "
                             f"model.outputs")
        for bound in (out.lower, out.upper):
            if bound is not None and bound not in names:
                raise ValueError(f"output {out.name!r}: bound {bound!r} is not an output")
        if out.geometry_from and out.geometry_from not in {i.name for i in m.inputs}:
            raise ValueError(f"output {out.name!r}: geometry_from is not an input")


def _check_scenarios(m: Manifest) -> None:
    inputs = {i.name: i for i in m.inputs}
    if sum(s.baseline for s in m.scenarios) > 1:
        raise ValueError("at most one scenario may be the baseline")
    seen = set()
    for sc in m.scenarios:
        if sc.name in seen:
            raise ValueError(f"scenario {sc.name!r} repeats")
        seen.add(sc.name)
        for key in sc.overrides:
            if key not in inputs or inputs[key].kind != "clinical":
                raise ValueError(f"scenario {sc.name!r} overrides {key!r}, not a clinical input")


def _check_explanation(m: Manifest) -> None:
    ex = m.explanation
    outs = {o.name for o in m.outputs}
    if ex.output is not None and ex.output not in outs:
        raise ValueError(f"explanation.output {ex.output!r} is not an output")
    clinical = {i.name: i for i in m.inputs if i.kind == "clinical"}
    if ex.method in ("linear", "cox"):
        missing = set(clinical) - set(ex.coefficients)
        if missing:
            raise ValueError(f"explanation method {ex.method!r} needs coefficients for "
                             f"{sorted(missing)}")
    for key, coef in ex.coefficients.items():
        if key not in clinical:
            raise ValueError(f"explanation coefficient {key!r} is not a clinical input")
        if isinstance(coef, dict):
            labels = {c.label for c in clinical[key].categories}
            if set(coef) != labels:
                raise ValueError(f"coefficients of {key!r} must name its categories "
                                 f"{sorted(labels)}")


def _check_unit(unit: str) -> None:
    from oncoboard.units import check_unit

    check_unit(unit)  # ValueError "unknown unit ..." as pydantic expects


def _location(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    """Turn a pydantic error location into 'inputs[2] (ldh).valid_range'."""
    parts: list[str] = []
    node: Any = raw
    for key in loc:
        if isinstance(key, int):
            name = node[key].get("name") if isinstance(node, list) and key < len(node) \
                and isinstance(node[key], dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{key}]" + (f" ({name})" if name else "")]
            node = node[key] if isinstance(node, list) and key < len(node) else None
        else:
            if key in ("clinical", "text", "image", "observation", "patient", "condition",
                       "treatment", "derived", "radiomics"):
                continue  # discriminator tags pydantic puts in the location
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return ".".join(p for p in parts if p) or "manifest"


def _message(err: Any) -> str:
    return str(err["msg"]).removeprefix("Value error, ")


def parse_manifest(raw: dict[str, Any], *, file: Path | str | None = None) -> Manifest:
    """Validate a manifest dictionary; raise PluginError naming the plugin and the field."""
    plugin = raw.get("id") if isinstance(raw.get("id"), str) else None
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        # An unknown field is usually a typo: name it first; show the next errors too, since
        # a misspelt key also makes the real one "missing".
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        err = errors[0]
        where = _location(tuple(err["loc"]), raw)
        msg = _message(err)
        others = [f"{_location(tuple(e['loc']), raw)}: {_message(e)}" for e in errors[1:4]]
        more = f" (also {'; '.join(others)})" if others else ""
        if len(errors) > 4:
            more = more[:-1] + f"; and {len(errors) - 4} more)"
        prefix = f"plugin {plugin}: " if plugin else ""
        raise PluginError(f"invalid manifest: {msg}{more}", file=file,
                          where=f"{prefix}{where}") from exc


def load_manifest(path: Path | str) -> Manifest:
    """Read and validate ``plugin.toml`` (a file, or a plugin folder containing one)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError as exc:
        raise PluginError("no plugin.toml", file=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise PluginError(f"invalid TOML: {exc}", file=path) from exc
    except OSError as exc:
        raise PluginError(f"cannot read: {exc.strerror}", file=path) from exc
    return parse_manifest(raw, file=path)


def manifest_json_schema() -> dict[str, Any]:
    """Return the JSON schema of plugin.toml (every field with its description)."""
    return Manifest.model_json_schema()
