"""Feed a plugin's ONNX graph and read its outputs back.

:func:`build_feeds` turns rows (input name -> coded value, text or array) into the graph's
tensors as the manifest maps them; :func:`run_rows` runs them on the cached onnxruntime session
(one batch when the graph's batch dimension is dynamic); :func:`read_output` checks and reads
one output of one row, and :func:`format_outputs` gives a row's outputs in the document's shape
(value, band, bands, curve, interval). The engine and the load-time checks
(:mod:`oncoboard.inference.checks`) both go through here, so what is checked is what runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from oncoboard.errors import InferenceError
from oncoboard.inference import runtime
from oncoboard.inference.manifest import Manifest, Output, tensor_of

NP_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64,
             "int32": np.int32, "bool": np.bool_, "string": object, "uint8": np.uint8,
             "int16": np.int16}
#: Significant digits a curve (survival or cumulative incidence, its interval bounds, a
#: scenario's benefit along it) is stored to: the resolution of the float32 the models compute
#: in (2^-24, 6e-8 relative), where the figures show tenths of a percent at most. The 17 digits
#: of a float32 written as a float64 carry nothing more, and made most of the documents' bytes.
CURVE_DIGITS = 7


def curves(values: Any, digits: int | None = CURVE_DIGITS) -> np.ndarray:
    """Return an array of curve values (any shape) as float64 rounded to `digits` significant
    digits (None: as they are); each is then the float nearest its short decimal."""
    arr = np.asarray(values, dtype=np.float64)
    if digits is None or not arr.size:
        return arr
    mag = np.abs(arr)
    # 10^k is exact for |k| <= 22: a probability of 1e-15 or more is rounded exactly
    scale = 10.0 ** np.clip(digits - 1 - np.floor(np.log10(np.where(mag > 0, mag, 1.0))),
                            -22, 22)
    return np.round(arr * scale) / scale  # type: ignore[no-any-return]


def curve(values: Any, digits: int | None = CURVE_DIGITS) -> list[float]:
    """Return a curve's values as a list of floats rounded as :func:`curves` does."""
    return curves(values, digits).tolist()  # type: ignore[no-any-return]


def build_feeds(manifest: Manifest, rows: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Return the graph feeds for a batch of rows (input name -> coded value, text or array)."""
    feeds: dict[str, np.ndarray] = {}
    n = len(rows)
    for spec in manifest.model.inputs:
        dtype = NP_DTYPES[spec.dtype]
        users = [i for i in manifest.inputs if tensor_of(i) == spec.name
                 and not (i.kind == "image" and i.mode == "features")]
        if any(u.column is not None for u in users):
            width = max(u.column for u in users if u.column is not None) + 1
            arr = np.zeros((n, width), dtype=dtype) if dtype is not object else \
                np.empty((n, width), dtype=object)
            for u in users:
                arr[:, u.column] = [row[u.name] for row in rows]
            feeds[spec.name] = arr
            continue
        name = users[0].name
        if users[0].kind == "image":
            stacked: np.ndarray = np.stack([np.asarray(row[name]) for row in rows]).astype(dtype)
            rest = [d if isinstance(d, int) and d >= 0 else -1 for d in spec.shape[1:]]
            feeds[spec.name] = stacked.reshape([n, *rest])
            continue
        values = [row[name] for row in rows]
        arr = np.array(values, dtype=dtype)
        feeds[spec.name] = arr.reshape([n] + [1] * (len(spec.shape) - 1))
    return feeds


def _batch_dynamic(manifest: Manifest) -> bool:
    return all(t.shape and not (isinstance(t.shape[0], int) and t.shape[0] >= 0)
               for t in manifest.model.inputs)


def run_rows(manifest: Manifest, model_path: Path, providers: Sequence[str],
             rows: list[dict[str, Any]], job: runtime.Job | None = None,
             ) -> tuple[list[dict[str, np.ndarray]], runtime.ModelSession]:
    """Run the model on rows; return per-row outputs {tensor: array} and the session used."""
    names = sorted({t.name for t in manifest.model.outputs})
    opts = job.run_options() if job is not None else None
    batches = [rows] if _batch_dynamic(manifest) else [[r] for r in rows]
    per_row: list[dict[str, np.ndarray]] = []
    ms = None
    for batch in batches:
        out, ms = runtime.run_model(model_path, manifest.model.sha256, providers,
                                    build_feeds(manifest, batch), names, opts)
        for i in range(len(batch)):
            per_row.append({k: np.asarray(v)[i] for k, v in out.items()})
    assert ms is not None
    return per_row, ms


def _finite(values: np.ndarray, what: str) -> None:
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise InferenceError(f"the model returned a non-finite {what}")


def read_output(out: Output, row: dict[str, np.ndarray]) -> Any:
    """Return an output's value for one row: float, list of floats (curve) or array (image)."""
    arr = np.asarray(row[tensor_of(out)])
    if out.column is not None:
        arr = arr[..., out.column]
    if out.kind == "image":
        return arr
    if arr.size == 1 and arr.dtype.kind == "f":  # one value: checked without numpy's reductions
        value = float(arr.reshape(-1)[0])
        if not math.isfinite(value):
            raise InferenceError(f"the model returned a non-finite {out.name}")
        if out.kind in ("survival", "probability") and (value < -1e-6 or value > 1 + 1e-6):
            raise InferenceError(f"the model returned {out.name} outside [0, 1] "
                                 f"({value:.4g}..{value:.4g})")
        return [value] if out.kind == "survival" else value
    _finite(arr, out.name)
    if out.kind in ("survival", "probability") and arr.size and (
            float(arr.min()) < -1e-6 or float(arr.max()) > 1 + 1e-6):
        raise InferenceError(f"the model returned {out.name} outside [0, 1] "
                             f"({float(arr.min()):.4g}..{float(arr.max()):.4g})")
    if out.kind == "survival":
        return np.ravel(arr).astype(np.float64).tolist()  # the same floats, converted at once
    flat = np.ravel(arr)
    if flat.size != 1:
        raise InferenceError(f"output {out.name}: expected one value, got {flat.size}")
    return float(flat[0])


def band_of(out: Output, value: float) -> str | None:
    """Return the risk band label a value falls in."""
    for i, band in enumerate(out.risk_bands):
        last = i == len(out.risk_bands) - 1
        if value < band.upper or (last and value <= band.upper):
            return band.label
    return None


def format_outputs(manifest: Manifest, row: dict[str, np.ndarray], *,
                   digits: int | None = CURVE_DIGITS) -> dict[str, Any]:
    """Return the JSON outputs of one row (bounds folded into the outputs they bound).

    Curves (survival outputs) are rounded to `digits` significant digits (:data:`CURVE_DIGITS`,
    as stored; None: the model's values as read, for the golden case's check).
    """
    raw = {o.name: curve(read_output(o, row), digits) if o.kind == "survival"
           else read_output(o, row) for o in manifest.outputs}
    return _shown(manifest, raw)


def format_rows(manifest: Manifest, rows: Sequence[dict[str, np.ndarray]]
                ) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Return :func:`format_outputs` of several rows (image outputs left out), each output read
    and checked for all of them at once; and each curve's rounded values, one row per row.

    A row the checks refuse is read again row by row, for the refusal of the row alone.
    """
    outs = [o for o in manifest.outputs if o.kind != "image"]
    if not rows:
        return [], {}
    cols: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for o in outs:
        arr = np.stack([np.asarray(r[tensor_of(o)]) for r in rows])
        if o.column is not None:
            arr = arr[..., o.column]
        flat = arr.reshape(len(rows), -1)
        bad = arr.dtype.kind == "f" and not np.isfinite(arr).all()
        if bad or flat.shape[1] != 1 and o.kind != "survival" or (
                o.kind in ("survival", "probability") and flat.size and (
                float(flat.min()) < -1e-6 or float(flat.max()) > 1 + 1e-6)):
            for r in rows:  # raises the row's own refusal
                format_outputs(manifest, r)
        if o.kind == "survival":
            arrays[o.name] = curves(flat)
            cols[o.name] = arrays[o.name].tolist()
        else:
            cols[o.name] = flat[:, 0].astype(np.float64).tolist()
    shown = [_shown(manifest, {o.name: cols[o.name][i] for o in outs}, outs)
             for i in range(len(rows))]
    return shown, arrays


def _shown(manifest: Manifest, raw: dict[str, Any], outputs: Sequence[Output] | None = None
           ) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for o in manifest.outputs if outputs is None else outputs:
        v = raw[o.name]
        item: dict[str, Any] = {"kind": o.kind, "label": o.label or o.name, "display": o.display}
        if o.kind == "image":
            a = np.asarray(v)
            item.update(shape=list(a.shape), dtype=str(a.dtype),
                        min=float(a.min()) if a.size else None,
                        max=float(a.max()) if a.size else None)
        elif o.kind == "survival":
            item.update(times=o.time_grid, time_unit=o.time_unit, quantity=o.quantity, values=v)
            if len(v) != len(o.time_grid):
                raise InferenceError(f"output {o.name}: {len(v)} values for a time grid of "
                                     f"{len(o.time_grid)}")
        else:
            item.update(value=v, unit=o.unit, band=band_of(o, v) if o.risk_bands else None,
                        bands=[{"label": b.label, "upper": b.upper} for b in o.risk_bands])
        if o.lower or o.upper:
            item.update(lower=raw[o.lower] if o.lower else None,
                        upper=raw[o.upper] if o.upper else None, interval_level=o.interval_level)
            if o.interval_method:
                item["interval_method"] = o.interval_method
        if o.uncertainty and o.kind != "image":
            item["uncertainty"] = o.uncertainty
        shown[o.name] = item
    return shown


def image_outputs(manifest: Manifest, row: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return the image outputs' arrays of one row."""
    return {o.name: np.asarray(read_output(o, row)) for o in manifest.outputs
            if o.kind == "image"}
