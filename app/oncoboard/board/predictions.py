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
        # A probability to two decimals; a score as the model gives it (11 points, 2.35).
        fmt = "{:.2f}" if self.kind == "probability" else "{:.4g}"
        out = f"{self.label}: {fmt.format(self.value)}{unit}"
        if self.lower is not None and self.upper is not None:
            level = round((self.interval_level or 0.95) * 100)
            out += f" ({level}% {fmt.format(self.lower)}-{fmt.format(self.upper)})"
        if self.band:
            out += f", band: {self.band}"
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

    def as_dict(self) -> dict[str, Any]:
        """Return the view as a JSON-ready mapping."""
        return asdict(self)


def warning_text(warning: Any) -> str:
    """Return an engine warning (``{code, message, input}`` or text) as one line."""
    if not isinstance(warning, dict):
        return str(warning)
    message = str(warning.get("message") or "")
    code = str(warning.get("code") or "").replace("_", " ")
    return message if not code or code in message.lower() else f"{code}: {message}"


def _curve(label: str, item: dict[str, Any]) -> Curve:
    def floats(key: str) -> list[float] | None:
        values = item.get(key)
        return [float(v) for v in values] if isinstance(values, list) else None

    return Curve(label, [float(t) for t in item.get("times") or []],
                 floats("values") or [], floats("lower"), floats("upper"))


def _result(name: str, item: dict[str, Any], scenarios: list[dict[str, Any]],
            bands: dict[str, list[tuple[str, float]]]) -> ResultView:
    kind = str(item.get("kind"))
    view = ResultView(name=name, label=str(item.get("label") or name), kind=kind,
                      interval_level=item.get("interval_level"), unit=item.get("unit"),
                      description=str(item.get("description") or ""),
                      bands=bands.get(name, []))
    if kind == "survival":
        view.time_unit = item.get("time_unit")
        view.quantity = str(item.get("quantity") or "survival")
        view.curve = _curve("as recorded", item)
        for sc in scenarios:
            other = (sc.get("outputs") or {}).get(name)
            if other and other.get("values"):
                label = f"{sc.get('name')} (baseline)" if sc.get("baseline") else sc.get("name")
                view.scenarios.append(_curve(str(label), other))
    else:
        view.value, view.band = item.get("value"), item.get("band")
        view.lower, view.upper = item.get("lower"), item.get("upper")
    return view


_KIND_ORDER = ("survival", "probability", "score")


def view_from_document(doc: dict[str, Any],
                       bands: dict[str, list[tuple[str, float]]] | None = None) -> PredictionView:
    """Return the board's view of a stored prediction document of the inference engine.

    Parameters
    ----------
    doc
        The prediction as stored (``id``, ``plugin``, ``outputs``, ``scenarios``, ``warnings``,
        ``status``, ``refusal``...).
    bands
        Risk bands of the plugin's outputs from its manifest, by output name, if known.
    """
    plugin = doc.get("plugin") or {}
    # The baseline (what the others are compared with) first, then the manifest's order.
    scenarios = sorted(doc.get("scenarios") or [], key=lambda s: not s.get("baseline"))
    # Stored outputs are canonical JSON (keys sorted): show curves first, then numbers.
    results = sorted((_result(name, item, scenarios, bands or {})
                      for name, item in (doc.get("outputs") or {}).items()
                      if item.get("display", True) and item.get("kind") in _KIND_ORDER),
                     key=lambda r: _KIND_ORDER.index(r.kind))
    return PredictionView(
        id=str(doc.get("id")), plugin_id=str(plugin.get("id") or "?"),
        plugin_name=str(plugin.get("name") or plugin.get("id") or "?"),
        plugin_version=str(plugin.get("version") or "?"),
        model_sha256=str(plugin.get("model_sha256") or ""),
        created_at=str(doc.get("created_at") or ""), provider=str(doc.get("provider") or ""),
        reference_date=doc.get("reference_date"), synthetic=bool(plugin.get("synthetic")),
        outside_intended_use=bool(doc.get("outside_intended_use")),
        # A refusal's reasons are also logged as "refused" warnings: list them once.
        warnings=[warning_text(w) for w in doc.get("warnings") or []
                  if not (doc.get("refusal") and isinstance(w, dict)
                          and w.get("code") == "refused")],
        results=results,
        status=str(doc.get("status") or "ok"),
        refusal=[str(r) for r in doc.get("refusal") or []])


class PredictionIds(NamedTuple):
    """The patient's stored prediction ids: all of them, and the latest of each plugin."""

    all: set[str]
    latest: list[str]


def _bands(settings: Any, plugin_id: str) -> dict[str, list[tuple[str, float]]]:
    """Return the plugin's risk bands by output name from its manifest ({} if not installed)."""
    if settings is None:
        return {}
    from oncoboard.errors import OncoboardError
    from oncoboard.inference.discovery import get_plugin

    try:
        manifest = get_plugin(settings, plugin_id).require()
    except OncoboardError as exc:  # the plugin was removed since: the label alone is shown
        log.info("risk bands of %s unavailable: %s", plugin_id, exc.message)
        return {}
    return {o.name: [(b.label, b.upper) for b in o.risk_bands] for o in manifest.outputs}


def latest_predictions(store: Any, patient_id: str, settings: Any = None) -> list[PredictionView]:
    """Return the latest stored prediction of each plugin for the patient, by plugin id.

    Parameters
    ----------
    settings
        When given, the installed plugins' manifests supply the risk bands' limits for the
        probability bars (the stored prediction holds the band the value fell in).
    """
    from oncoboard.inference import predictions

    docs = predictions.list_for_patient(store, patient_id, latest_only=True)
    views = [view_from_document(d, _bands(settings, d["plugin"]["id"])) for d in docs]
    return sorted(views, key=lambda v: v.plugin_id)


def prediction_ids_for_patient(store: Any, patient_id: str) -> PredictionIds:
    """Return the ids of the patient's stored predictions and of the latest one of each plugin."""
    rows = list(store.db.query(
        "SELECT id, plugin_id FROM predictions WHERE patient_id = ? "
        "ORDER BY created_at DESC, rowid DESC", [patient_id]))
    latest: dict[str, str] = {}
    for row in rows:
        latest.setdefault(row["plugin_id"], row["id"])
    return PredictionIds({r["id"] for r in rows}, [latest[k] for k in sorted(latest)])
