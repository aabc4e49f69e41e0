"""Site recalibration layers: a plugin's outputs corrected on the site's own outcomes.

A layer is a small TOML file beside (never inside) the plugin, in the data folder:
``<data>/recalibrations/<plugin-id>/v0001.toml`` with its ed25519 signature ``v0001.toml.sig``
(base64, like plugin signatures), made by ``oncoboard validate PLUGIN --recalibrate --key
SITE-KEY.pem`` from a validation with enough events, and audited (``plugin.recalibrated``).
Versions only grow; the newest is the one in force; ``--remove-recalibration`` writes a signed
version of kind ``removed`` (audited too), after which results are the plugin's own, bit for bit.

A layer applies only when its signature verifies with a key of ``trusted_keys`` and it names the
plugin's exact model (sha256); otherwise results are unchanged and carry a warning.

Transforms (the fitted calibration model of :mod:`oncoboard.inference.validation_metrics`):

* ``survival``: H'(t) = H(t) exp(a + (b - 1)(log H(horizon) - centre)), S' = exp(-H'), H = -log S
  (a new baseline hazard scale and calibration slope, exact for proportional-hazards models);
* ``logistic``: logit p' = a + b logit p.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import datetime as dt
import logging
import math
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoboard.errors import OncoboardError
from oncoboard.identity import require
from oncoboard.inference.model_io import curve
from oncoboard.inference.prediction import Prediction
from oncoboard.inference.prediction_parts import whole_output

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)

FOLDER = "recalibrations"
_CACHE: dict[Any, Any] = {}


def layer_dir(settings: Settings, plugin_id: str) -> Path:
    """Return the folder of a plugin's recalibration versions."""
    return Path(settings.data_dir) / FOLDER / plugin_id


def versions(settings: Settings, plugin_id: str) -> list[Path]:
    """Return the version files of a plugin, oldest first."""
    folder = layer_dir(settings, plugin_id)
    return sorted(folder.glob("v[0-9][0-9][0-9][0-9].toml")) if folder.is_dir() else []


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(float(v)) if isinstance(v, float) else str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write_version(settings: Settings, plugin_id: str, fields: dict[str, Any], key_pem: bytes
                   ) -> tuple[Path, int]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise OncoboardError(f"signing key unreadable: {exc}", where="recalibrate") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise OncoboardError("signing key is not an ed25519 private key", where="recalibrate")
    folder = layer_dir(settings, plugin_id)
    folder.mkdir(parents=True, exist_ok=True)
    number = len(versions(settings, plugin_id)) + 1
    body = {"plugin_id": plugin_id, "version": number, **fields}
    text = ("# Site recalibration of a plugin (written by `oncoboard validate --recalibrate`; "
            "signed: do not edit)\n" + "".join(f"{k} = {_toml_value(v)}\n"
                                               for k, v in body.items()))
    data = text.encode("utf-8")
    path = folder / f"v{number:04d}.toml"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    sig = path.with_name(path.name + ".sig")
    sig.write_text(base64.b64encode(key.sign(data)).decode("ascii") + "\n", encoding="ascii")
    tmp.replace(path)
    return path, number


def create(store: Store, settings: Settings, report: dict[str, Any], key_pem: bytes
           ) -> dict[str, Any]:
    """Store a recalibration fitted by a validation report; sign and audit it; return it."""
    require(store, "plugin.manage")
    from oncoboard import audit

    plugin = report["plugin"]
    if not report.get("enough_data"):
        raise OncoboardError(f"recalibration refused: {report.get('verdict')}",
                             where="recalibrate")
    cal = report.get("calibration_model")
    if not cal:
        raise OncoboardError("recalibration refused: no calibration model could be fitted",
                             where="recalibrate")
    now = dt.datetime.now(dt.UTC)
    fields = {
        "kind": "survival" if report["outcome"] == "survival" else "logistic",
        "output": report["output"], "model_sha256": plugin["model_sha256"],
        "plugin_version": plugin["version"], "intercept": cal["intercept"],
        "slope": cal["slope"], "centre": cal.get("centre", 0.0),
        "horizon_months": report["horizon_months"],
        "n_patients": report["counts"]["validated"],
        "n_events": report["counts_outcome"]["events"],
        "cohort_query": report.get("cohort_query") or "",
        "created_at": now.isoformat(timespec="seconds"), "month": now.strftime("%Y-%m"),
    }
    path, number = _write_version(settings, plugin["id"], fields, key_pem)
    payload = {"plugin_id": plugin["id"], "version": number, "file": str(path),
               "sha256": _sha(path), **{k: fields[k] for k in (
                   "kind", "intercept", "slope", "n_patients", "n_events", "model_sha256")}}
    audit.append(store, "plugin.recalibrated", payload)
    return {"path": str(path), **payload}


def remove(store: Store, settings: Settings, plugin_id: str, key_pem: bytes) -> dict[str, Any]:
    """Write a signed ``removed`` version (the plugin's own outputs again); audit it."""
    require(store, "plugin.manage")
    from oncoboard import audit

    if not versions(settings, plugin_id):
        raise OncoboardError(f"no recalibration of {plugin_id} to remove", where="recalibrate")
    now = dt.datetime.now(dt.UTC)
    path, number = _write_version(settings, plugin_id, {
        "kind": "removed", "created_at": now.isoformat(timespec="seconds")}, key_pem)
    payload = {"plugin_id": plugin_id, "version": number, "file": str(path), "sha256": _sha(path)}
    audit.append(store, "plugin.recalibration_removed", payload)
    return payload


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


#: Layers read during one board (see :func:`read_once`), by data folder and plugin.
_ONE_READING: contextvars.ContextVar[dict[tuple[str, str], Any] | None] = contextvars.ContextVar(
    "recalibration_reading", default=None)


@contextlib.contextmanager
def read_once() -> Iterator[None]:
    """Read each plugin's layer once for the duration (a board), not once per result.

    Every result of the board then gets the same layer, even if a recalibration is written
    while the board runs (the next board reads it). Without it each result looks at the folder.
    """
    token = _ONE_READING.set({})
    try:
        yield
    finally:
        _ONE_READING.reset(token)


def current(settings: Settings, plugin: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Return (the layer in force or None, a problem to warn about or None)."""
    memo = _ONE_READING.get()
    if memo is None:
        return _current(settings, plugin)
    key = (str(settings.data_dir), plugin.id)
    if key not in memo:
        memo[key] = _current(settings, plugin)
    return memo[key]  # type: ignore[no-any-return]


def _current(settings: Settings, plugin: Any) -> tuple[dict[str, Any] | None, str | None]:
    from cryptography.exceptions import InvalidSignature

    from oncoboard.inference.integrity import load_public_keys

    files = versions(settings, plugin.id)
    if not files:
        return None, None
    path = files[-1]
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size, tuple(map(str, settings.trusted_keys)))
    if key in _CACHE:
        return _CACHE[key]  # type: ignore[no-any-return]
    data = path.read_bytes()
    got: tuple[dict[str, Any] | None, str | None]
    try:
        sig = base64.b64decode(path.with_name(path.name + ".sig").read_text("ascii").strip(),
                               validate=True)
    except (OSError, ValueError):
        got = None, f"site recalibration {path.name} not applied: signature missing or unreadable"
    else:
        ok = False
        for _, pub in load_public_keys(settings.trusted_keys):
            try:
                pub.verify(sig, data)
            except InvalidSignature:
                continue
            ok = True
            break
        layer = tomllib.loads(data.decode("utf-8"))
        if not ok:
            got = None, (f"site recalibration {path.name} not applied: its signature does not "
                         f"verify with a trusted key")
        elif layer.get("kind") == "removed":
            got = None, None
        elif layer.get("model_sha256") != plugin.manifest.model.sha256:
            got = None, (f"site recalibration {path.name} not applied: made for another model "
                         f"of {plugin.id}")
        else:
            got = layer, None
    _CACHE[key] = got
    return got


def label(layer: dict[str, Any]) -> str:
    """Return the line shown on every result the layer changes."""
    return (f"recalibrated on {layer['n_patients']} local patients, {layer['month']} "
            f"(site layer v{layer['version']})")


def transform_survival(values: list[float], ref_curve: list[float], grid: list[float],
                       layer: dict[str, Any]) -> list[float]:
    """Apply a survival layer to one curve; ``ref_curve`` (the point estimate) sets the slope."""
    s = np.asarray(values, float)
    ref = np.asarray(ref_curve, float)
    i = int(np.searchsorted(np.asarray(grid, float), layer["horizon_months"], side="right")) - 1
    x = math.log(max(-math.log(min(max(ref[max(i, 0)], 1e-300), 1.0)), 1e-8))
    factor = math.exp(layer["intercept"] + (layer["slope"] - 1.0) * (x - layer["centre"]))
    h = -np.log(np.clip(s, 1e-300, 1.0))
    return [float(v) for v in np.exp(-h * factor)]


def transform_probability(p: float, layer: dict[str, Any]) -> float:
    """Apply a logistic layer to one probability."""
    q = min(max(p, 1e-12), 1 - 1e-12)
    z = layer["intercept"] + layer["slope"] * math.log(q / (1 - q))
    return 1.0 / (1.0 + math.exp(-z))


def _apply_outputs(outputs: dict[str, Any], layer: dict[str, Any]) -> None:
    target = outputs.get(layer["output"])
    if target is None:
        return
    if layer["kind"] == "survival":
        ref = list(target["values"])
        grid = target["times"]
        flip = target.get("quantity") == "cumulative_incidence"

        def conv(v: list[float]) -> list[float]:  # stored at the curves' precision
            if flip:
                return curve([1 - x for x in transform_survival([1 - y for y in v],
                                                                [1 - y for y in ref], grid,
                                                                layer)])
            return curve(transform_survival(v, ref, grid, layer))

        target["values"] = conv(ref)
        for bound in ("lower", "upper"):
            if isinstance(target.get(bound), list):
                target[bound] = conv(target[bound])
        for item in outputs.values():  # the bound outputs themselves (display = false)
            if item is not target and item.get("kind") == "survival" and \
                    item.get("times") == grid and isinstance(item.get("values"), list) and \
                    len(item["values"]) == len(ref):
                item["values"] = conv(item["values"])
    else:
        target["value"] = transform_probability(float(target["value"]), layer)
        for bound in ("lower", "upper"):
            if isinstance(target.get(bound), int | float):
                target[bound] = transform_probability(float(target[bound]), layer)


def apply_site_recalibration(plugin: Any, doc: dict[str, Any], settings: Settings
                             ) -> dict[str, Any]:
    """Apply the site's recalibration layer of the plugin to a result, in place; return it.

    Called once by the engine on each patient result, after the model ran. With no layer in
    force the document is returned untouched (the plugin's own outputs, bit for bit).
    """
    try:
        layer, problem = current(settings, plugin)
    except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as exc:
        layer, problem = None, f"site recalibration unreadable: {exc}"
    if problem:
        doc.setdefault("warnings", []).append(
            {"code": "recalibration", "message": problem, "input": None})
    if layer is None or doc.get("status") != "ok":
        return doc
    _apply_outputs(doc["outputs"], layer)
    scenarios = doc.get("scenarios") or []
    wholes = []  # each scenario's outputs whole (a scenario's output stores its numbers only)
    for sc in scenarios:
        whole = {k: whole_output(v, doc["outputs"].get(k)) for k, v in sc["outputs"].items()}
        _apply_outputs(whole, layer)
        sc["outputs"] = {k: {key: whole[k][key] for key in v} for k, v in sc["outputs"].items()}
        wholes.append(whole)
    base = next((w for w, s in zip(wholes, scenarios, strict=True) if s.get("baseline")),
                doc["outputs"])
    for sc, whole in zip(scenarios, wholes, strict=True):
        for k, v in whole.items():
            if k in base and v.get("kind") == "survival":
                sc["benefit"][k] = curve(np.subtract(v["values"], base[k]["values"]))
            elif k in base and "value" in v:
                sc["benefit"][k] = v["value"] - base[k]["value"]
    text = label(layer)
    doc["recalibration"] = {"label": text, "version": layer["version"], "kind": layer["kind"],
                            "intercept": layer["intercept"], "slope": layer["slope"],
                            "n_patients": layer["n_patients"], "created_at": layer["created_at"]}
    doc.setdefault("warnings", []).append({"code": "recalibrated", "message": text,
                                           "input": None})
    return doc


def recalibrated(plugin: Any, prediction: Prediction, settings: Settings) -> Prediction:
    """Return `prediction` with the site's recalibration layer of its plugin applied.

    The engine's one call: with no layer in force (and nothing to warn about) the prediction
    comes back as it is, the plugin's own outputs bit for bit.
    """
    try:
        layer, problem = current(settings, plugin)
    except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError):
        layer, problem = None, "unreadable"
    if layer is None and not problem:
        return prediction
    doc = apply_site_recalibration(plugin, prediction.to_dict(), settings)
    return replace(Prediction.from_dict(doc), images=prediction.images)
