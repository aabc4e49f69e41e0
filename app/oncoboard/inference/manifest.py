"""The plugin manifest (``plugins/<id>/plugin.toml``): schema, loading and cross-checks.

The schema is in three modules, as a reader meets plugin.toml: what goes in
(:mod:`oncoboard.inference.manifest_inputs`: sources, categories, text and image inputs), what
comes out (:mod:`oncoboard.inference.manifest_outputs`: outputs, scenarios, explanation, golden
case), and here the rest: intended use and provenance, the ONNX file, the :class:`Manifest` with
its cross-checks, and loading. Import every manifest name from here.

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
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from oncoboard.errors import PluginError
from oncoboard.inference.manifest_inputs import (
    UNITS_KNOWN,
    Category,
    ClinicalInput,
    ClinicalSourceT,
    ConditionSource,
    ConsistencyRule,
    DerivedSource,
    ImageInput,
    InputT,
    MaskSpec,
    ObservationSource,
    PatientSource,
    Preprocessing,
    RadiomicsSource,
    TextInput,
    TreatmentPredicate,
    TreatmentSource,
    _Strict,
)
from oncoboard.inference.manifest_outputs import (
    Explanation,
    Golden,
    Output,
    RiskBand,
    Scalar,
    Scenario,
)

__all__ = [
    "DTYPES", "ID_PATTERN", "MANIFEST_NAME", "SCHEMA_VERSION", "Category", "ClinicalInput",
    "ClinicalSourceT", "ConditionSource", "DerivedSource", "Explanation", "Golden", "ImageInput",
    "InputT", "IntendedUse", "Manifest", "MaskSpec", "MetricEstimate", "Metrics", "ModelFile",
    "ObservationSource", "Output", "PatientSource", "Population", "Preprocessing",
    "RadiomicsSource", "RiskBand", "Scalar", "Scenario", "TensorSpec", "TextInput",
    "TrainingData", "TreatmentPredicate", "TreatmentSource", "load_manifest",
    "manifest_json_schema", "parse_manifest", "tensor_of",
]

MANIFEST_NAME = "plugin.toml"
SCHEMA_VERSION = 1
ID_PATTERN = r"^[a-z0-9][a-z0-9.\-]{1,62}[a-z0-9]$"
# ONNX element types the engine can feed or read, by their numpy-style names.
DTYPES = ("float32", "float64", "int64", "int32", "bool", "string", "uint8", "int16")

# ---------------------------------------------------------------------------------------------
# Intended use and provenance
# ---------------------------------------------------------------------------------------------


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
    from oncoboard.inference.record_access import DERIVATIONS

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


def load_manifest(path: Path | str, *, data: bytes | None = None,
                  units_known: bool = False) -> Manifest:
    """Read and validate ``plugin.toml`` (a file, or a plugin folder containing one).

    `data` is the file's bytes when the caller has read them already; `units_known` skips
    pint's reading of the units, for bytes that passed it before (the plugin check cache).
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        if data is None:
            data = path.read_bytes()
        raw = tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError as exc:
        raise PluginError("no plugin.toml", file=path) from exc
    except UnicodeDecodeError as exc:
        raise PluginError(f"invalid TOML: {exc}", file=path) from exc
    except tomllib.TOMLDecodeError as exc:
        raise PluginError(f"invalid TOML: {exc}", file=path) from exc
    except OSError as exc:
        raise PluginError(f"cannot read: {exc.strerror}", file=path) from exc
    token = UNITS_KNOWN.set(units_known)
    try:
        return parse_manifest(raw, file=path)
    finally:
        UNITS_KNOWN.reset(token)


def manifest_json_schema() -> dict[str, Any]:
    """Return the JSON schema of plugin.toml (every field with its description)."""
    return Manifest.model_json_schema()
