"""How a board shows a prediction: the record reduced to what the screen and the report draw.

The inference engine makes each :class:`~oncoboard.inference.prediction.Prediction` with its
provenance (plugin identity and hashes, provider, inputs, outputs with intervals and risk bands,
warnings) and stores it. A case shows the latest prediction of each plugin for the patient;
:func:`view_of` turns one into a `PredictionView` (a number with its interval and risk band, or a
survival curve with its band and what-if curves, and every warning), so the presenter screen, the
PDF and the JSON export draw the same thing. Everything comes from the record itself (the bands
included): no plugin is looked up again. With no prediction stored the case says "no predictions
yet" instead of failing. (The module was ``board/predictions.py``, a name that did not say it
holds the board's view, beside ``inference/predictions.py``, now ``prediction_store.py``.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from oncoboard.inference.prediction import SYNTHETIC_LABEL, Prediction
from oncoboard.inference.prediction_parts import OutputResult, Scenario

if TYPE_CHECKING:
    from oncoboard.store import Store

NO_PREDICTIONS = ("no predictions yet: run the models on this patient (Predictions view, "
                  "or oncoboard predict ID)")


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

    interval_method: str | None = None
    uncertainty: str | None = None

    def number(self, v: float) -> str:
        """Return one value as shown: a probability in whole percent, a score as given."""
        if self.kind in ("probability", "survival"):
            return percent(v)
        # a points score (CARG 17) is a whole number: "17.00" suggests false precision
        return f"{v:.0f}" if float(v).is_integer() else f"{v:.3g}"

    def interval_text(self, lower: float, upper: float | None) -> str:
        """Return ``"[22-47 %] (95 % bootstrap interval)"``; an upper limit that was not reached
        (a published median survival's, `upper` None) reads ``"[17-not reached]"``."""
        level = round((self.interval_level or 0.95) * 100)
        lo, hi = self.number(lower), NOT_REACHED if upper is None else self.number(upper)
        if self.kind in ("probability", "survival"):
            lo = lo.removesuffix(" %")
        return f"[{lo}-{hi}] ({level} % {method_name(self.interval_method)}interval)"

    def text(self) -> str:
        """Return the result as one line: the point with its interval, or says it has none.

        ``"Recurrence-free survival at 84 months: 21 % [10-35 %] (95 % bootstrap interval)"``;
        ``"CARG toxicity score (0-23): 17, risk group: high (no interval: see the note)"``.
        """
        if self.kind == "survival" and self.curve is not None:
            t, v = self.curve.times[-1], self.curve.values[-1]
            when = f"{t:g} {self.time_unit or ''}".rstrip()
            out = f"{self.label} at {when}: {self.number(v)}"
            if self.curve.lower and self.curve.upper:
                out += " " + self.interval_text(self.curve.lower[-1], self.curve.upper[-1])
            elif self.uncertainty:
                out += NO_INTERVAL
            return out
        if self.value is None:
            return f"{self.label}: no value"
        unit = f" {self.unit}" if self.unit and self.kind != "probability" else ""
        out = f"{self.label}: {self.number(self.value)}{unit}"
        if self.lower is not None and self.upper is not None:
            if self.lower == self.upper == self.value:  # a reference group's hazard ratio of 1
                out += REFERENCE_VALUE
            else:
                out += " " + self.interval_text(self.lower, self.upper)
        elif self.lower is not None:  # a median whose upper confidence limit was not reached
            out += " " + self.interval_text(self.lower, None)
        if self.band:
            out += f", risk group: {self.band}"
        if self.lower is None and self.uncertainty:
            out += NO_INTERVAL
        return out


#: Said after a number that has no interval; the output's uncertainty sentence follows it.
NO_INTERVAL = " (no interval: see the note on uncertainty)"
#: Said after a value that is exact by definition (the reference group of a hazard ratio).
REFERENCE_VALUE = " (reference group, exact by definition)"
#: The upper limit of a published interval that the study did not reach.
NOT_REACHED = "not reached"


def percent(v: float) -> str:
    """Return a probability in whole percent (0.07028 -> ``"7 %"``; never 0 % or 100 % for a
    value that is neither)."""
    p = 100 * float(v)
    if 0 < p < 0.5:
        return "<1 %"
    if 99.5 <= p < 100:
        return ">99 %"
    return f"{p:.0f} %"


def method_name(method: str | None) -> str:
    """Return the short name of an interval method (``"bootstrap "``), or ``""``."""
    if not method:
        return ""
    head = method.split(":", 1)[0].split(";", 1)[0].strip()
    return f"{head} " if head and len(head) <= 40 else ""


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
    status: str = "ok"
    refusal: list[str] = field(default_factory=list)

    @property
    def model_label(self) -> str:
        """Return ``"name version (sha256 abcdef123456)"``."""
        return f"{self.plugin_name} {self.plugin_version} (sha256 {self.model_sha256[:12]})"

    def plain_warnings(self) -> list[str]:
        """Return every warning to show in plain sight, the synthetic label first."""
        out = [SYNTHETIC_LABEL] if self.synthetic else []
        if self.refusal:
            out.append(f"{self.status}, no result: " + "; ".join(self.refusal))
        if self.outside_intended_use and not any("intended use" in w for w in self.warnings):
            out.append("outside intended use")
        return out + [w for w in self.warnings if w not in out]

    def uncertainty_notes(self) -> list[str]:
        """Return how the shown numbers are uncertain, each sentence once: the interval
        methods, and the published error of outputs that have no interval."""
        out: list[str] = []
        for r in self.results:
            has_interval = r.lower is not None or (
                r.curve is not None and bool(r.curve.lower and r.curve.upper))
            note = (f"Interval: {r.interval_method}" if has_interval and r.interval_method
                    else r.uncertainty if not has_interval else None)
            if note and note not in out:
                out.append(note)
        return out

    def as_dict(self) -> dict[str, Any]:
        """Return the view as a JSON-ready mapping."""
        return asdict(self)


def _curve(label: str, result: OutputResult) -> Curve:
    def floats(values: Any) -> list[float] | None:
        return [float(v) for v in values] if isinstance(values, tuple | list) else None

    return Curve(label, [float(t) for t in result.times], [float(v) for v in result.values],
                 floats(result.lower), floats(result.upper))


def _result(result: OutputResult, scenarios: list[Scenario]) -> ResultView:
    view = ResultView(name=result.name, label=result.label, kind=result.kind,
                      interval_level=result.interval_level, unit=result.unit,
                      interval_method=result.interval_method, uncertainty=result.uncertainty,
                      description=result.description,
                      bands=[(b.label, b.upper) for b in result.bands])
    if result.kind == "survival":
        view.time_unit = result.time_unit
        view.quantity = result.quantity or "survival"
        view.curve = _curve("as recorded", result)
        for sc in scenarios:
            other = sc.outputs.get(result.name)
            if other is not None and other.values:
                view.scenarios.append(_curve(f"{sc.name} (baseline)" if sc.baseline
                                             else sc.name, other))
    else:
        view.value, view.band = result.value, result.band
        view.lower = result.lower if not isinstance(result.lower, tuple) else None
        view.upper = result.upper if not isinstance(result.upper, tuple) else None
    return view


_KIND_ORDER = ("survival", "probability", "score")


def view_of(prediction: Prediction) -> PredictionView:
    """Return the board's view of a prediction (made by the engine, or read from the store)."""
    # The baseline (what the others are compared with) first, then the manifest's order.
    scenarios = sorted(prediction.scenarios, key=lambda s: not s.baseline)
    # Stored outputs are canonical JSON (keys sorted): show curves first, then numbers.
    results = sorted((_result(r, scenarios) for r in prediction.outputs.values()
                      if r.display and r.kind in _KIND_ORDER),
                     key=lambda r: _KIND_ORDER.index(r.kind))
    plugin = prediction.plugin
    return PredictionView(
        id=str(prediction.id), plugin_id=plugin.id, plugin_name=plugin.name,
        plugin_version=plugin.version, model_sha256=plugin.model_sha256,
        created_at=prediction.created_at, provider=prediction.provider or "",
        reference_date=prediction.reference_date, synthetic=plugin.synthetic,
        outside_intended_use=prediction.outside_intended_use,
        warnings=prediction.warning_texts(), results=results, status=prediction.status,
        refusal=list(prediction.refusal))


class PredictionIds(NamedTuple):
    """The patient's stored prediction ids: all of them, and the latest of each plugin."""

    all: set[str]
    latest: list[str]


def latest_predictions(store: Store, patient_id: str) -> list[PredictionView]:
    """Return the board's view of the latest stored prediction of each plugin, by plugin id."""
    from oncoboard.inference.prediction_store import latest_for_patient

    return [view_of(p) for p in latest_for_patient(store, patient_id)]


def prediction_ids_for_patient(store: Store, patient_id: str) -> PredictionIds:
    """Return the ids of the patient's stored predictions and of the latest one of each plugin."""
    rows = list(store.db.query(
        "SELECT id, plugin_id FROM predictions WHERE patient_id = ? "
        "ORDER BY created_at DESC, rowid DESC", [patient_id]))
    latest: dict[str, str] = {}
    for row in rows:
        latest.setdefault(row["plugin_id"], row["id"])
    return PredictionIds({r["id"] for r in rows}, [latest[k] for k in sorted(latest)])
