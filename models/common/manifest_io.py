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


class Raw(str):
    """A TOML literal already written (e.g. a number with a chosen format): written as it is."""


def q(text: str) -> Raw:
    """Return a TOML basic string (JSON quoting, non-ASCII kept)."""
    return Raw(json.dumps(text, ensure_ascii=False))


def estimate(m: Estimate, description: str, digits: int = 4, level: float = 0.95) -> Raw:
    """Return ``{value, lower, upper, level, description}`` as an inline table, fixed digits."""
    return Raw(f"{{value = {m['value']:.{digits}f}, lower = {m['lower']:.{digits}f}, "
               f"upper = {m['upper']:.{digits}f}, level = {level}, "
               f"description = {q(description)}}}")


def table(header: str, fields: Mapping[str, Any]) -> str:
    """Return one TOML table (``[name]`` or ``[[name]]``) with one ``key = value`` per line.

    Values go through :func:`toml_value` (``Raw`` ones as they are); ``None`` values are left out.
    """
    lines = [header] + [f"{_key(k)} = {toml_value(v)}" for k, v in fields.items()
                        if v is not None]
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    """Return a TOML literal for a number, string, bool, list or flat table."""
    if isinstance(value, Raw):
        return str(value)
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


METRICS_HEADER = "[metrics]" + " " * 30 + "# written by the build script, never by hand"
GOLDEN_HEADER = "[golden]" + " " * 31 + "# written by the build script, checked by verify"


def render_metrics(generated_by: str, generated_at: str, dataset: str,
                   values: Mapping[str, float | Estimate | Raw],
                   header: str = METRICS_HEADER, spaced: bool = True) -> str:
    """Return the ``[metrics]`` section of a manifest (``spaced``: a blank line before values)."""
    lines = [header,
             f"generated_by = {toml_value(generated_by)}",
             f"generated_at = {toml_value(generated_at)}",
             f"dataset = {toml_value(dataset)}", *([""] if spaced else []), "[metrics.values]"]
    for name, est in values.items():
        lines.append(f"{_key(name)} = {toml_value(est)}")
    return "\n".join(lines)


def render_golden(inputs: Mapping[str, Any] | Raw, expected: Mapping[str, Any] | Raw,
                  tolerance: float | Raw, header: str = GOLDEN_HEADER) -> str:
    """Return the ``[golden]`` section of a manifest."""
    def lit(v: Any) -> str:
        return toml_value(v if isinstance(v, Raw) else dict(v))
    tol = tolerance if isinstance(tolerance, Raw) else float(tolerance)
    return "\n".join([header, f"inputs = {lit(inputs)}", f"expected = {lit(expected)}",
                      f"tolerance = {toml_value(tol)}"])


def write_text(path: Path, text: str) -> None:
    """Write a manifest or model card (UTF-8, folder created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


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
