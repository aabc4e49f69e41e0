"""The prediction: one typed record from the engine to the store, the board, the UI and the CLI.

A :class:`Prediction` holds everything one plugin run produced and everything needed to trust it:
the plugin's identity and hashes, the reference date, the status (or the refusal's reasons), the
inputs with their provenance, the outputs with their intervals and risk bands (the manifest's
bands travel in the record, so nobody has to find the plugin again to draw them), the warnings,
the explanation, the what-if scenarios, the execution provider, and once stored its audit entry.
:mod:`oncoboard.inference.engine` makes it, :mod:`oncoboard.inference.prediction_store` stores it
and reads it back, :mod:`oncoboard.board.prediction_view` and the UI show it as it is.

Its JSON form (README, "Predictions JSON schema") exists at the boundaries only:
:meth:`Prediction.to_dict` for the stored document, ``--json`` and exports, and
:meth:`Prediction.from_dict` for stored documents, including those written by earlier versions.
Every part keeps the keys its document had (``keys``) and any key this version does not name
(``extra``), so ``from_dict(d).to_dict() == d``: the stored document, its hash and what is
shown stay the same. A scenario's output stores its own numbers only (``SCENARIO_OWN``);
:meth:`Prediction.from_dict` takes the rest from the prediction's output of the same name, and
reads as they are the whole scenario outputs of earlier documents. The parts are in
:mod:`oncoboard.inference.prediction_parts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from oncoboard.inference.prediction_parts import (
    JSON,
    AuditRef,
    Explanation,
    Flag,
    InputRecord,
    OutputResult,
    PluginIdentity,
    Scenario,
    _json,
)

#: Shown with every result of a plugin trained on synthetic data (the record, the card, the PDF).
SYNTHETIC_LABEL = "synthetic - demonstration only"


#: The document's keys, in the order of README, "Predictions JSON schema" (``audit`` aside).
DOCUMENT_KEYS = ("id", "patient_id", "plugin", "reference_date", "status", "refusal",
                 "synthetic_label", "outside_intended_use", "population", "inputs",
                 "input_sha256", "outputs", "scenarios", "explanation", "warnings", "provider",
                 "providers_requested", "provider_notes", "app_version", "os_user",
                 "created_at", "duration_ms")


@dataclass(frozen=True)
class Prediction:
    """One plugin run on one patient (or on typed values, in calculator mode).

    `id` and `audit` are None until the prediction is stored. `images` holds image outputs'
    arrays between the run and the store (the document names their files instead).
    """

    plugin: PluginIdentity
    patient_id: str | None = None
    reference_date: str | None = None
    status: str = "ok"
    refusal: tuple[str, ...] = ()
    synthetic_label: str | None = None
    outside_intended_use: bool = False
    population: Mapping[str, JSON] = field(default_factory=dict)
    inputs: Mapping[str, InputRecord] = field(default_factory=dict)
    input_sha256: str = ""
    outputs: Mapping[str, OutputResult] = field(default_factory=dict)
    scenarios: tuple[Scenario, ...] = ()
    explanation: Explanation | None = None
    warnings: tuple[Flag, ...] = ()
    provider: str | None = None
    providers_requested: tuple[str, ...] = ()
    provider_notes: tuple[str, ...] = ()
    app_version: str = ""
    os_user: str | None = None
    created_at: str = ""
    duration_ms: float | None = None
    id: str | None = None
    audit: AuditRef | None = None
    #: The site recalibration applied (label, version, kind, intercept, slope, n_patients,
    #: created_at), None for the plugin's own outputs (the document then has no such key).
    recalibration: Mapping[str, JSON] | None = None
    images: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: Canonical JSON texts of parts already written, by document key: (the part, its text).
    #: The engine hashes the inputs' text when it checks them; the store writes that same text
    #: rather than encoding the inputs again. A text is used only while the prediction holds
    #: the very part it was written from (``replace(p, inputs=...)`` makes it unused).
    texts: Mapping[str, tuple[Any, str]] = field(default_factory=dict, repr=False,
                                                 compare=False)

    def text_of(self, key: str) -> str | None:
        """Return the canonical JSON text of part `key` when already written, else None."""
        known = self.texts.get(key)
        return known[1] if known is not None and known[0] is getattr(self, key) else None

    @property
    def ok(self) -> bool:
        """Return True when the model ran and gave a result."""
        return self.status == "ok"

    @property
    def synthetic(self) -> bool:
        """Return True when the plugin was trained on synthetic data."""
        return self.plugin.synthetic

    def output(self, name: str) -> OutputResult:
        """Return the result of output `name` (KeyError when the run gave none)."""
        return self.outputs[name]

    def warning_texts(self) -> list[str]:
        """Return the warnings as lines, a refusal's reasons once (not again as warnings)."""
        return [w.text() for w in self.warnings if not (self.refusal and w.code == "refused")]

    def stored(self, prediction_id: str, audit: AuditRef,
               outputs: Mapping[str, OutputResult] | None = None) -> Prediction:
        """Return this prediction as stored: with its id, audit entry and image files."""
        return replace(self, id=prediction_id, audit=audit,
                       outputs=self.outputs if outputs is None else outputs, images={})

    def to_dict(self, *, audit: bool = True) -> dict[str, JSON]:
        """Return the prediction document (README, "Predictions JSON schema")."""
        doc: dict[str, JSON] = {
            "id": self.id, "patient_id": self.patient_id, "plugin": self.plugin.to_dict(),
            "reference_date": self.reference_date, "status": self.status,
            "refusal": list(self.refusal), "synthetic_label": self.synthetic_label,
            "outside_intended_use": self.outside_intended_use,
            "population": _json(self.population),
            "inputs": {k: v.to_dict() for k, v in self.inputs.items()},
            "input_sha256": self.input_sha256,
            "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
            "scenarios": [s.to_dict() for s in self.scenarios],
            "explanation": self.explanation.to_dict() if self.explanation else None,
            "warnings": [w.to_dict() for w in self.warnings], "provider": self.provider,
            "providers_requested": list(self.providers_requested),
            "provider_notes": list(self.provider_notes), "app_version": self.app_version,
            "os_user": self.os_user, "created_at": self.created_at,
            "duration_ms": self.duration_ms}
        if self.recalibration is not None:
            doc["recalibration"] = _json(self.recalibration)
        if audit and self.audit is not None:
            doc["audit"] = self.audit.to_dict()
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Prediction:
        """Read a prediction document (as stored, printed or exported, any version)."""
        audit = doc.get("audit")
        expl = doc.get("explanation")
        return cls(
            id=doc.get("id"), patient_id=doc.get("patient_id"),
            plugin=PluginIdentity.from_dict(doc.get("plugin") or {}),
            reference_date=doc.get("reference_date"), status=str(doc.get("status") or "ok"),
            refusal=tuple(str(r) for r in doc.get("refusal") or ()),
            synthetic_label=doc.get("synthetic_label"),
            outside_intended_use=bool(doc.get("outside_intended_use")),
            population=dict(doc.get("population") or {}),
            inputs={k: InputRecord.from_dict(k, v) for k, v in (doc.get("inputs") or {}).items()},
            input_sha256=str(doc.get("input_sha256") or ""),
            outputs={k: OutputResult.from_dict(k, v)
                     for k, v in (doc.get("outputs") or {}).items()},
            scenarios=tuple(Scenario.from_dict(s, doc.get("outputs"))
                            for s in doc.get("scenarios") or ()),
            explanation=Explanation.from_dict(expl) if expl else None,
            warnings=tuple(Flag.from_dict(w) for w in doc.get("warnings") or ()),
            provider=doc.get("provider"),
            providers_requested=tuple(doc.get("providers_requested") or ()),
            provider_notes=tuple(doc.get("provider_notes") or ()),
            app_version=str(doc.get("app_version") or ""), os_user=doc.get("os_user"),
            created_at=str(doc.get("created_at") or ""), duration_ms=doc.get("duration_ms"),
            audit=AuditRef(int(audit["seq"]), str(audit["hash"]), str(audit["record_sha256"]))
            if audit else None,
            recalibration=dict(doc["recalibration"]) if doc.get("recalibration") else None)
