"""The parts of a :class:`~oncoboard.inference.prediction.Prediction`, each with its JSON form.

Moved from :mod:`oncoboard.inference.prediction` unchanged: the plugin's identity, the outputs
with their intervals and risk bands, the flags, the inputs with their provenance, the what-if
scenarios, the explanation and the audit reference. Each part keeps the keys its document had
and any key this version does not name, so ``from_dict(d).to_dict() == d``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = Any  # a JSON value: str, number, bool, None, list or dict of JSON values


def _floats(values: Any) -> tuple[float, ...] | None:
    # numbers as the document has them (12, not 12.0): what is shown is what was stored
    return tuple(values) if isinstance(values, list | tuple) else None


def _json(value: Any) -> JSON:
    """Return `value` with this module's tuples as lists (values read from JSON are JSON)."""
    return list(value) if isinstance(value, tuple) else value


#: The keys each part writes when the engine makes it (a stored document keeps its own).
_PLUGIN_KEYS = ("id", "name", "version", "task", "model_sha256", "manifest_sha256", "origin",
                "signed", "synthetic", "training_data")
_OUTPUT_KEYS = ("kind", "label", "display")
_INPUT_KEYS = ("status", "value", "coded", "unit", "source")
_SCENARIO_KEYS = ("name", "baseline", "overrides", "description", "outputs", "benefit")
#: What a scenario's output stores: its own numbers. The rest (kind, label, time grid, unit,
#: risk bands, interval level and method, uncertainty) is the prediction's output of the same
#: name, written once; documents of earlier versions repeat it in every scenario (they have
#: ``kind``) and read as they are.
SCENARIO_OWN = ("value", "band", "values", "lower", "upper")


def whole_output(d: Mapping[str, Any], base: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a scenario's output `d` whole: as it is when it has its ``kind`` (earlier
    versions), else its own numbers over the rest of `base` (the prediction's output)."""
    if base is None or "kind" in d:
        return dict(d)
    return {**{k: v for k, v in base.items() if k not in SCENARIO_OWN}, **d}
_EXPLANATION_KEYS = ("method", "output", "scale", "at_time", "value", "contributions", "sentences")


class _Part:
    """A part of the record read from, and written back to, one JSON object.

    ``keys`` are the object's keys in the document (a field absent from an older document stays
    absent when written back; their order is not compared); ``extra`` holds the keys this version
    does not name.
    """

    keys: tuple[str, ...]
    extra: Mapping[str, JSON]
    _KNOWN: tuple[str, ...] = ()

    def _items(self) -> dict[str, JSON]:
        extra = self.extra
        if not extra:
            return {k: _json(getattr(self, k)) for k in self.keys}
        return {k: extra[k] if k in extra else _json(getattr(self, k)) for k in self.keys}

    @classmethod
    def _split(cls, d: Mapping[str, Any]) -> dict[str, Any]:
        return {"keys": tuple(d), "extra": {k: v for k, v in d.items() if k not in cls._KNOWN}}


@dataclass(frozen=True)
class PluginIdentity(_Part):
    """Which plugin made the prediction, and the hashes that pin it."""

    id: str
    name: str
    version: str
    task: str = "other"
    model_sha256: str = ""
    manifest_sha256: str | None = None
    origin: str | None = None
    signed: bool = False
    synthetic: bool = False
    training_data: str | None = None
    keys: tuple[str, ...] = field(default=_PLUGIN_KEYS, compare=False)
    extra: Mapping[str, JSON] = field(default_factory=dict)
    _KNOWN = ("id", "name", "version", "task", "model_sha256", "manifest_sha256", "origin",
              "signed", "synthetic", "training_data")

    @property
    def label(self) -> str:
        """Return ``"name version (sha256 abcdef123456)"``."""
        return f"{self.name} {self.version} (sha256 {self.model_sha256[:12]})"

    def to_dict(self) -> dict[str, JSON]:
        """Return the document's ``plugin`` object."""
        return self._items()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PluginIdentity:
        """Read a document's ``plugin`` object."""
        pid = str(d.get("id") or "?")
        return cls(id=pid, name=str(d.get("name") or pid), version=str(d.get("version") or "?"),
                   task=str(d.get("task") or "other"),
                   model_sha256=str(d.get("model_sha256") or ""),
                   manifest_sha256=d.get("manifest_sha256"), origin=d.get("origin"),
                   signed=bool(d.get("signed")), synthetic=bool(d.get("synthetic")),
                   training_data=d.get("training_data"), **cls._split(d))


@dataclass(frozen=True)
class RiskBand:
    """A risk band of an output: values below `upper` (and above the previous band's)."""

    label: str
    upper: float


@dataclass(frozen=True)
class OutputResult(_Part):
    """One output's result.

    ``kind`` is ``probability``, ``score``, ``survival`` or ``image``. Probabilities and scores
    carry `value`, `unit`, the risk `band` the value fell in and the manifest's `bands`;
    survival outputs carry `values` along `times`; either may carry `lower`/`upper` at
    `interval_level` (numbers, or lists along the time grid), computed as `interval_method`
    says; where no interval exists, `uncertainty` states the model's published error; images
    carry `shape`, `dtype`,
    `min`, `max` and once stored `file` and `sha256`.
    """

    name: str
    kind: str
    label: str
    display: bool = True
    description: str = ""
    value: float | None = None
    unit: str | None = None
    band: str | None = None
    bands: tuple[RiskBand, ...] = ()
    times: tuple[float, ...] = ()
    time_unit: str | None = None
    quantity: str | None = None
    values: tuple[float, ...] = ()
    lower: float | tuple[float, ...] | None = None
    upper: float | tuple[float, ...] | None = None
    interval_level: float | None = None
    interval_method: str | None = None
    uncertainty: str | None = None
    shape: tuple[int, ...] = ()
    dtype: str | None = None
    min: float | None = None
    max: float | None = None
    file: str | None = None
    sha256: str | None = None
    keys: tuple[str, ...] = field(default=_OUTPUT_KEYS, compare=False)
    extra: Mapping[str, JSON] = field(default_factory=dict)
    _KNOWN = ("kind", "label", "display", "description", "value", "unit", "band", "bands",
              "times", "time_unit", "quantity", "values", "lower", "upper", "interval_level",
              "interval_method", "uncertainty", "shape", "dtype", "min", "max", "file", "sha256")

    @property
    def has_interval(self) -> bool:
        """Return True when both interval limits are known."""
        return self.lower is not None and self.upper is not None

    def to_dict(self) -> dict[str, JSON]:
        """Return the document's object for this output."""
        out = self._items()
        if "bands" in out:
            out["bands"] = [{"label": b.label, "upper": b.upper} for b in self.bands]
        return out

    def with_numbers(self, d: Mapping[str, Any]) -> OutputResult:
        """Return a scenario's output: this output (of the same manifest output, so of the same
        kind, label, grid and bands) with the numbers of the whole output `d`, written as the
        scenario's own numbers; what ``from_dict(name, d, scenario=True)`` reads, without
        reading again what `d` shares with this output."""
        new = object.__new__(OutputResult)  # a copy of a frozen record: no field re-checked
        fields = new.__dict__
        fields.update(self.__dict__)
        own = tuple(k for k in d if k in SCENARIO_OWN)
        for k in own:
            v = d[k]
            fields[k] = (_floats(v) or ()) if k == "values" else \
                (_floats(v) if isinstance(v, list | tuple) else v)
        fields["keys"] = own
        fields["extra"] = {k: v for k, v in d.items() if k not in self._KNOWN}
        return new

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any], base: Mapping[str, Any] | None = None,
                  *, scenario: bool = False) -> OutputResult:
        """Read a document's object for output `name`.

        A scenario's output: with `scenario`, made from a whole output and written as its own
        numbers (:data:`SCENARIO_OWN`); with `base` (the prediction's output of the same name),
        read from its own numbers (no ``kind``), the rest taken from `base`.
        """
        own: tuple[str, ...] | None = None
        if base is not None and "kind" not in d:
            own = tuple(d)
            d = whole_output(d, base)
        elif scenario:
            own = tuple(k for k in d if k in SCENARIO_OWN)
        split = cls._split(d)
        if own is not None:
            split["keys"] = own

        def bound(key: str) -> float | tuple[float, ...] | None:
            v = d.get(key)
            return _floats(v) if isinstance(v, list | tuple) else v

        return cls(
            name=name, kind=str(d.get("kind")), label=str(d.get("label") or name),
            display=bool(d.get("display", True)), description=str(d.get("description") or ""),
            value=d.get("value"), unit=d.get("unit"), band=d.get("band"),
            bands=tuple(RiskBand(str(b["label"]), float(b["upper"]))
                        for b in d.get("bands") or []),
            times=_floats(d.get("times")) or (), time_unit=d.get("time_unit"),
            quantity=d.get("quantity"), values=_floats(d.get("values")) or (),
            lower=bound("lower"), upper=bound("upper"), interval_level=d.get("interval_level"),
            interval_method=d.get("interval_method"), uncertainty=d.get("uncertainty"),
            shape=tuple(d.get("shape") or ()), dtype=d.get("dtype"), min=d.get("min"),
            max=d.get("max"), file=d.get("file"), sha256=d.get("sha256"), **split)


@dataclass(frozen=True)
class Flag:
    """A warning attached to the prediction (``code``: synthetic, imputed, refused...)."""

    code: str
    message: str
    input: str | None = None
    plain: bool = False  # plain text in the document (early versions), not an object

    def text(self) -> str:
        """Return the warning as one line (its code first unless the message says it)."""
        code = self.code.replace("_", " ")
        return self.message if not code or code in self.message.lower() \
            else f"{code}: {self.message}"

    def to_dict(self) -> JSON:
        """Return the document's object for this warning."""
        if self.plain:
            return self.message
        return {"code": self.code, "message": self.message, "input": self.input}

    @classmethod
    def from_dict(cls, d: Any) -> Flag:
        """Read a document's warning (an object, or plain text in early documents)."""
        if not isinstance(d, Mapping):
            return cls("", str(d), plain=True)
        return cls(str(d.get("code") or ""), str(d.get("message") or ""), d.get("input"))


@dataclass(frozen=True)
class InputRecord(_Part):
    """One input as it was fed to the model, with where it came from.

    `status` is measured, given, imputed, missing or invalid; `value` is in the declared unit
    (or the category label); `coded` is what the model received; `source` names the record items
    (observation ids and dates, derivation ingredients, series and ROI). Text inputs keep the
    text's `text_sha256` and the `notes` used, never the text.
    """

    name: str
    status: str
    value: JSON = None
    coded: JSON = None
    unit: str | None = None
    source: JSON = None
    text_sha256: str | None = None
    notes: tuple[Mapping[str, JSON], ...] = ()
    keys: tuple[str, ...] = field(default=_INPUT_KEYS, compare=False)
    extra: Mapping[str, JSON] = field(default_factory=dict)
    _KNOWN = ("status", "value", "coded", "unit", "source", "text_sha256", "notes")

    def to_dict(self) -> dict[str, JSON]:
        """Return the document's object for this input."""
        return self._items()

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> InputRecord:
        """Read a document's object for input `name`."""
        return cls(name=name, status=str(d.get("status")), value=d.get("value"),
                   coded=d.get("coded"), unit=d.get("unit"), source=d.get("source"),
                   text_sha256=d.get("text_sha256"), notes=tuple(d.get("notes") or ()),
                   **cls._split(d))


@dataclass(frozen=True)
class Scenario(_Part):
    """A what-if scenario: the inputs it overrides, its outputs and their difference from the
    baseline (`benefit`: a number, or a list along the time grid)."""

    name: str
    baseline: bool = False
    overrides: Mapping[str, JSON] = field(default_factory=dict)
    description: str = ""
    outputs: Mapping[str, OutputResult] = field(default_factory=dict)
    benefit: Mapping[str, JSON] = field(default_factory=dict)
    keys: tuple[str, ...] = field(default=_SCENARIO_KEYS, compare=False)
    extra: Mapping[str, JSON] = field(default_factory=dict)
    _KNOWN = ("name", "baseline", "overrides", "description", "outputs", "benefit")

    def to_dict(self) -> dict[str, JSON]:
        """Return the document's object for this scenario."""
        out = self._items()
        if "outputs" in out:
            out["outputs"] = {k: v.to_dict() for k, v in self.outputs.items()}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], outputs: Mapping[str, Any] | None = None
                  ) -> Scenario:
        """Read a document's scenario; `outputs`: the document's ``outputs`` (what a scenario's
        output does not repeat)."""
        base = outputs or {}
        return cls(name=str(d.get("name")), baseline=bool(d.get("baseline")),
                   overrides=dict(d.get("overrides") or {}),
                   description=str(d.get("description") or ""),
                   outputs={k: OutputResult.from_dict(k, v, base.get(k))
                            for k, v in (d.get("outputs") or {}).items()},
                   benefit=dict(d.get("benefit") or {}), **cls._split(d))


@dataclass(frozen=True)
class Contribution:
    """What one input added to the explained output, against its reference value."""

    input: str
    value: JSON
    reference: JSON
    contribution: float | None

    def to_dict(self) -> dict[str, JSON]:
        """Return the document's object for this contribution."""
        return {"input": self.input, "value": _json(self.value),
                "reference": _json(self.reference), "contribution": self.contribution}


@dataclass(frozen=True)
class Evidence:
    """A sentence of a note that moved the result: its place in the note and how far."""

    input: str
    note_id: str | None
    start: int
    end: int
    delta: float

    def to_dict(self) -> dict[str, JSON]:
        """Return the document's object for this sentence."""
        return {"input": self.input, "note_id": self.note_id, "start": self.start,
                "end": self.end, "delta": self.delta}


@dataclass(frozen=True)
class Explanation(_Part):
    """Why the model said what it said: contributions of the inputs, sentences of the notes.

    `value` and `reference_value` are the explained `output` on the additive `scale` (at
    `at_time` for a curve); for exact methods the contributions add up to their difference
    (`sum`, `residual` ~0).
    """

    method: str
    output: str
    scale: str
    at_time: float | None = None
    value: float | None = None
    reference_value: float | None = None
    contributions: tuple[Contribution, ...] = ()
    sum: float | None = None
    residual: float | None = None
    sentences: tuple[Evidence, ...] = ()
    keys: tuple[str, ...] = field(default=_EXPLANATION_KEYS, compare=False)
    extra: Mapping[str, JSON] = field(default_factory=dict)
    _KNOWN = ("method", "output", "scale", "at_time", "value", "reference_value",
              "contributions", "sum", "residual", "sentences")

    def to_dict(self) -> dict[str, JSON]:
        """Return the document's ``explanation`` object."""
        out = self._items()
        if "contributions" in out:
            out["contributions"] = [c.to_dict() for c in self.contributions]
        if "sentences" in out:
            out["sentences"] = [s.to_dict() for s in self.sentences]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Explanation:
        """Read a document's ``explanation`` object."""
        return cls(
            method=str(d.get("method")), output=str(d.get("output")),
            scale=str(d.get("scale") or ""), at_time=d.get("at_time"), value=d.get("value"),
            reference_value=d.get("reference_value"),
            contributions=tuple(Contribution(c["input"], c.get("value"), c.get("reference"),
                                             c.get("contribution"))
                                for c in d.get("contributions") or []),
            sum=d.get("sum"), residual=d.get("residual"),
            sentences=tuple(Evidence(s["input"], s.get("note_id"), int(s["start"]),
                                     int(s["end"]), float(s["delta"]))
                            for s in d.get("sentences") or []), **cls._split(d))


@dataclass(frozen=True)
class AuditRef:
    """The audit entry (``prediction.created``) written with the stored prediction."""

    seq: int
    hash: str
    record_sha256: str

    def to_dict(self) -> dict[str, JSON]:
        """Return the document's ``audit`` object."""
        return {"seq": self.seq, "hash": self.hash, "record_sha256": self.record_sha256}
