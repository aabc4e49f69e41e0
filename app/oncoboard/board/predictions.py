"""The stored predictions a board sees, reduced to what the screen and the report draw.

The inference engine stores each prediction with its provenance (plugin id, version, model
sha256, provider, inputs, outputs, warnings). A case shows the latest prediction of each plugin
for the patient; this module turns those into `PredictionView` objects (a number with its interval
and risk band, or a survival curve with its band and what-if curves, and every warning), so the
presenter screen, the PDF and the JSON export draw the same thing. With no prediction stored the
case says "no predictions yet" instead of failing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

NO_PREDICTIONS = "no predictions yet: run the models on this patient (oncoboard predict ID)"
SYNTHETIC_LABEL = "synthetic - demonstration only"


@dataclass
class Curve:
    """A survival (or cumulative-incidence) curve on a time grid, with an optional band."""

    label: str
    times: list[float]
    values: list[float]
    lower: list[float] | None = None
    upper: list[float] | None = None


@dataclass
class ResultView:
    """One displayed output of a prediction.

    ``kind`` is ``probability``, ``score`` or ``survival``. Probabilities and scores carry
    `value`, optional `lower`/`upper` (at `interval_level`), the risk `band` the value falls in
    and the manifest's `bands` as (label, upper limit); survival outputs carry `curve` and the
    what-if `scenarios` curves.
    """

    name: str
    label: str
    kind: str
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    interval_level: float | None = None
    band: str | None = None
    bands: list[tuple[str, float]] = field(default_factory=list)
    unit: str | None = None
    description: str = ""
    time_unit: str | None = None
    quantity: str = "survival"
    curve: Curve | None = None
    scenarios: list[Curve] = field(default_factory=list)

    def text(self) -> str:
        """Return the result as one line, e.g. ``"Relapse at 5 y: 0.31 (95% 0.22-0.41), high"``."""
        if self.kind == "survival" and self.curve is not None:
            t, v = self.curve.times[-1], self.curve.values[-1]
            out = f"{self.label}: {v:.2f} at {t:g} {self.time_unit or ''}".rstrip()
            if self.curve.lower and self.curve.upper:
                level = round((self.interval_level or 0.95) * 100)
                out += f" ({level}% {self.curve.lower[-1]:.2f}-{self.curve.upper[-1]:.2f})"
            return out
        if self.value is None:
            return f"{self.label}: no value"
        unit = f" {self.unit}" if self.unit else ""
        out = f"{self.label}: {self.value:.2f}{unit}"
        if self.lower is not None and self.upper is not None:
            level = round((self.interval_level or 0.95) * 100)
            out += f" ({level}% {self.lower:.2f}-{self.upper:.2f})"
        if self.band:
            out += f", {self.band} risk band"
        return out


@dataclass
class PredictionView:
    """One stored prediction as the board sees it."""

    id: str
    plugin_id: str
    plugin_name: str
    plugin_version: str
    model_sha256: str
    created_at: str
    provider: str = ""
    reference_date: str | None = None
    synthetic: bool = False
    outside_intended_use: bool = False
    warnings: list[str] = field(default_factory=list)
    results: list[ResultView] = field(default_factory=list)

    @property
    def model_label(self) -> str:
        """Return ``"name version (sha256 abcdef123456)"``."""
        return f"{self.plugin_name} {self.plugin_version} (sha256 {self.model_sha256[:12]})"

    def plain_warnings(self) -> list[str]:
        """Return every warning to show in plain sight, the synthetic label first."""
        out = [SYNTHETIC_LABEL] if self.synthetic else []
        if self.outside_intended_use and not any("intended use" in w for w in self.warnings):
            out.append("outside intended use")
        return out + [w for w in self.warnings if w not in out]

    def as_dict(self) -> dict[str, Any]:
        """Return the view as a JSON-ready mapping."""
        return asdict(self)


class PredictionIds(NamedTuple):
    """The patient's stored prediction ids: all of them, and the latest of each plugin."""

    all: set[str]
    latest: list[str]


def _has_predictions_table(store: Any) -> bool:
    return "predictions" in store.db.table_names()


def latest_predictions(store: Any, patient_id: str) -> list[PredictionView]:
    """Return the latest stored prediction of each plugin for the patient, by plugin id."""
    if not _has_predictions_table(store):
        return []
    raise NotImplementedError


def prediction_ids_for_patient(store: Any, patient_id: str) -> PredictionIds:
    """Return the ids of the patient's stored predictions."""
    if not _has_predictions_table(store):
        return PredictionIds(set(), [])
    raise NotImplementedError
