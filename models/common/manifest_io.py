"""Write script-measured numbers into a plugin's manifest and model card.

Build scripts keep a template (``models/<id>/plugin.toml.in``, ``MODEL_CARD.md.in``) with
``@NAME@`` tokens and fill them here, so that no metric, hash or golden value is typed by hand.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

Estimate = Mapping[str, Any]  # {"value", "lower"?, "upper"?, "level"?, "description"?}


def toml_value(value: Any) -> str:
    """Return a TOML literal for a number, string, bool, list or flat table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} into a manifest")
        return repr(round(value, 6))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML literal for {type(value).__name__}")


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def render_metrics(generated_by: str, generated_at: str, dataset: str,
                   values: Mapping[str, float | Estimate]) -> str:
    """Return the ``[metrics]`` section of a manifest."""
    lines = ["[metrics]                              # written by the build script, never by hand",
             f"generated_by = {toml_value(generated_by)}",
             f"generated_at = {toml_value(generated_at)}",
             f"dataset = {toml_value(dataset)}", "", "[metrics.values]"]
    for name, est in values.items():
        lines.append(f"{_key(name)} = {toml_value(est)}")
    return "\n".join(lines)


def render_golden(inputs: Mapping[str, Any], expected: Mapping[str, Any],
                  tolerance: float) -> str:
    """Return the ``[golden]`` section of a manifest."""
    return "\n".join([
        "[golden]                               # written by the build script, checked by verify",
        f"inputs = {toml_value(dict(inputs))}",
        f"expected = {toml_value(dict(expected))}",
        f"tolerance = {toml_value(float(tolerance))}"])


def fill_template(template: Path, out: Path, tokens: Mapping[str, str]) -> None:
    """Replace every ``@NAME@`` token of ``template`` and write ``out``; refuse leftovers."""
    text = template.read_text(encoding="utf-8")
    for name, value in tokens.items():
        text = text.replace(f"@{name}@", value)
    left = re.findall(r"@[A-Z][A-Z0-9_]*@", text)
    if left:
        raise ValueError(f"{template}: tokens left unfilled: {left}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def fmt_estimate(est: Estimate, digits: int = 3) -> str:
    """Return 'value (lower-upper)' for a model card."""
    v = f"{est['value']:.{digits}f}"
    if est.get("lower") is None:
        return v
    return f"{v} ({est['lower']:.{digits}f}-{est['upper']:.{digits}f})"
