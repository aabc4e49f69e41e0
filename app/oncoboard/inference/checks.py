"""Checks run when a plugin is loaded: declared explanation coefficients and the golden case.

Both run the model on CPU through the engine's own feeding and reading code, so what is checked
is what runs at the tumour board.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from oncoboard.inference import explain, runtime
from oncoboard.inference.engine import _base_row, _references, explained_scalar
from oncoboard.inference.inputs import assemble_given
from oncoboard.inference.manifest import ClinicalInput, Manifest
from oncoboard.inference.model_io import format_outputs, run_rows


def _cpu_outputs(manifest: Manifest, model_path: Path, rows: list[dict[str, Any]]
                 ) -> list[dict[str, np.ndarray]]:
    return run_rows(manifest, model_path, [runtime.CPU], rows)[0]


def check_coefficients(manifest: Manifest, model_path: Path) -> list[str]:
    """Check declared linear/Cox coefficients against the model by finite differences."""
    ex = manifest.explanation
    if ex.method not in ("linear", "cox"):
        return []
    clinical = [s for s in manifest.inputs if isinstance(s, ClinicalInput)]
    if len(clinical) != len(manifest.inputs):
        return []  # needs a text/image reference too; checked on use instead
    refs = _references(manifest)
    base = {k: v[1] for k, v in refs.items()}
    rows, expected = [base], []
    for s in clinical:
        for alt in _alternatives(s, refs[s.name], ex.coefficients[s.name]):
            rows.append({**base, s.name: alt[1]})
            values = {k: refs[k] for k in refs} | {s.name: alt}
            contrib = explain.linear_contributions(manifest, values, refs)
            expected.append((s.name, alt[0], sum(c["contribution"] for c in contrib)))
    outs = _cpu_outputs(manifest, model_path, rows)
    _target, scale, _idx, g = explained_scalar(manifest, outs)
    problems = []
    for i, (name, alt, want) in enumerate(expected, start=1):
        got = g(i) - g(0)
        if not math.isclose(got, want, rel_tol=0.02, abs_tol=2e-3):
            problems.append(f"explanation coefficient of {name} does not match the model "
                            f"(at {alt}: declared {want:.4g}, model {got:.4g} on the {scale} "
                            f"scale)")
    return problems


def _alternatives(spec: ClinicalInput, ref: tuple[Any, Any], coef: Any
                  ) -> list[tuple[Any, Any]]:
    if spec.categories:
        return [(c.label, c.value) for c in spec.categories if c.label != ref[0]][:3]
    lo, hi = spec.valid_range or (ref[1] - 1, ref[1] + 1)
    step = (hi - lo) / 10 or 1.0
    if isinstance(coef, float) and coef:
        step = min(step, 0.5 / abs(coef))  # a moderate move keeps the output off 0 and 1
    alt = ref[1] + step if ref[1] + step <= hi else ref[1] - step
    return [(alt, alt)]


def check_golden(manifest: Manifest, model_path: Path) -> list[str]:
    """Run the golden case on CPU; return differences beyond its tolerance."""
    golden = manifest.golden
    if golden is None:
        return []
    asm = assemble_given(manifest, dict(golden.inputs))
    if asm.refusals:
        return ["golden case refused: " + "; ".join(asm.refusals)]
    outs = format_outputs(manifest, _cpu_outputs(manifest, model_path,
                                                 [_base_row(asm, manifest)])[0],
                          digits=None)
    problems = []
    for name, want in golden.expected.items():
        if name not in outs:
            problems.append(f"golden case names unknown output {name!r}")
            continue
        item = outs[name]
        got = item.get("values", item.get("value"))
        got_list = got if isinstance(got, list) else [got]
        want_list = want if isinstance(want, list) else [want]
        if len(got_list) != len(want_list) or any(
                abs(a - b) > golden.tolerance for a, b in zip(got_list, want_list, strict=False)):
            problems.append(f"golden case: {name} = {_short(got)}, expected {_short(want)} "
                            f"(tolerance {golden.tolerance:g})")
    return problems


def _short(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(f"{x:.6g}" for x in v[:4]) + (", ...]" if len(v) > 4 else "]")
    return f"{v:.6g}"


def check_scenarios(manifest: Manifest) -> list[str]:
    """Return the scenario overrides that are not valid values of their inputs."""
    from oncoboard.errors import InferenceError
    from oncoboard.inference.inputs import code_value

    problems = []
    for sc in manifest.scenarios:
        for key, raw in sc.overrides.items():
            spec = manifest.input(key)
            if not isinstance(spec, ClinicalInput):
                continue
            try:
                code_value(spec, raw)
            except InferenceError as exc:
                problems.append(f"scenario {sc.name!r}: {key}: {exc.reason}")
    return problems


# ---------------------------------------------------------------------------------------------
# Input checks at prediction time: counts, training-data support, cautions, consistency.
# The engine calls `input_refusals` (refuse) and `input_flags` (show beside the result) with
# the assembled values: numbers in the input's declared unit, category labels for the others.
# ---------------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:g}"


def _unit(spec: ClinicalInput) -> str:
    return f" {spec.unit}" if spec.unit and spec.unit not in ("1", "a") else ""


def integer_refusal(spec: ClinicalInput, value: Any) -> str | None:
    """Return why a fractional value of a count input is refused, else None."""
    if not spec.integer or spec.categories or isinstance(value, str):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if v != round(v):
        return (f"{spec.name} = {_fmt(v)}: {spec.label or spec.name} is a count; "
                "a fractional value is refused (enter a whole number)")
    return None


def input_refusals(manifest: Manifest, values: dict[str, Any]) -> list[str]:
    """Return the refusals of these input values (fractional counts)."""
    out = []
    for spec in manifest.inputs:
        if isinstance(spec, ClinicalInput) and spec.name in values:
            why = integer_refusal(spec, values[spec.name])
            if why:
                out.append(why)
    return out


def support_flag(spec: ClinicalInput, value: Any) -> str | None:
    """Return the plain-words extrapolation flag of a value outside the training support."""
    sup = spec.support
    if sup is None or isinstance(value, str):
        return None
    v, u, what = float(value), _unit(spec), (spec.label or spec.name).lower()
    held = " (the model holds it at {edge}{u})" if sup.clamped else ""
    n = sup.n_training
    if v < sup.lower:
        if v < sup.observed_min:
            why = (f"below every one of the {n} training patients (lowest "
                   f"{_fmt(sup.observed_min)}{u})")
        else:
            why = (f"only {sup.n_at_or_below_lower} of {n} training patients had {what} "
                   f"{_fmt(sup.lower)}{u} or less (lowest {_fmt(sup.observed_min)}{u})")
        edge = sup.lower
    elif v > sup.upper:
        if v > sup.observed_max:
            why = (f"above every one of the {n} training patients (highest "
                   f"{_fmt(sup.observed_max)}{u})")
        else:
            why = (f"only {sup.n_at_or_above_upper} of {n} training patients had {what} "
                   f"{_fmt(sup.upper)}{u} or more (highest {_fmt(sup.observed_max)}{u})")
        edge = sup.upper
    else:
        return None
    return (f"{spec.name} {_fmt(v)}{u}: {why}; the estimate is extrapolated"
            + held.format(edge=_fmt(edge), u=u))


def caution_flags(spec: ClinicalInput, value: Any) -> list[str]:
    """Return the cautions (weaker performance) that apply to this value."""
    if isinstance(value, str) or not spec.cautions:
        return []
    v = float(value)
    return [f"{spec.name} {_fmt(v)}{_unit(spec)}: {c.message}" for c in spec.cautions
            if (c.below is not None and v < c.below) or (c.above is not None and v > c.above)]


def consistency_flags(manifest: Manifest, values: dict[str, Any]) -> list[str]:
    """Return the flags of inputs that contradict each other (e.g. postmenopausal at 30)."""
    out = []
    for rule in manifest.consistency:
        label, other = values.get(rule.input), values.get(rule.other)
        if label is None or other is None or isinstance(other, str):
            continue
        spec = manifest.input(rule.input)
        assert isinstance(spec, ClinicalInput)
        match = next((c.label for c in spec.categories
                      if str(label).lower() in [c.label.lower(), *map(str.lower, c.synonyms)]),
                     None)
        o = float(other)
        if match == rule.equals and ((rule.below is not None and o < rule.below)
                                     or (rule.above is not None and o > rule.above)):
            out.append(f"{rule.input} {rule.equals} with {rule.other} {_fmt(o)}: {rule.message}")
    return out


def input_flags(manifest: Manifest, values: dict[str, Any]) -> list[str]:
    """Return every flag of these input values: extrapolation, cautions, consistency."""
    out: list[str] = []
    for spec in manifest.inputs:
        if isinstance(spec, ClinicalInput) and spec.name in values:
            flag = support_flag(spec, values[spec.name])
            if flag:
                out.append(flag)
            out += caution_flags(spec, values[spec.name])
    return out + consistency_flags(manifest, values)
