"""Explanations: per-input contributions and, for text, the sentences that moved the result.

* ``linear`` / ``cox``: exact. Contribution of input i = coefficient_i x (value_i - reference_i)
  (for categories: coefficient[label] - coefficient[reference label]), on the model's additive
  scale: logit for a logistic model's probability, log(-log S(t)) for a Cox model's survival
  curve (any t), identity for a linear score. Their sum equals g(output) - g(output at the
  reference values); the residual is reported so that a reader can see it is ~0.
* ``occlusion``: model-agnostic. Contribution of input i = g(output) - g(output with input i set
  to its reference value), each variant run by the model in the same batch.
* text: each sentence is removed in turn; the sentences whose removal moves g(output) most are
  kept with their note id and character offsets (so the UI can highlight them).
"""

from __future__ import annotations

import math
import re
from typing import Any

from oncoboard.inference.manifest import ClinicalInput, Manifest, Output

# A sentence ends at a line break, or at . ! ? ; followed by a blank or the end of the text: a
# decimal point ("ANC 0.2, temperature 39.1") or a dotted code is inside a sentence.
_END = re.compile(r"[.!?;]+(?=\s|$)|\n")
_LAST_WORD = re.compile(r"([^\W\d_][\w.]*)$")
#: Words whose full stop is not the end of a sentence (English and French notes).
ABBREVIATIONS = frozenset({"dr", "drs", "mr", "mrs", "ms", "pr", "prof", "vs", "cf", "env",
                           "approx", "e.g", "i.e", "fig", "no", "mme", "mlle", "st", "ste",
                           "resp", "réf", "ref", "inj", "cp"})
MAX_SENTENCES = 120
EPS = 1e-12
UNMOVED = 1e-6  # a sentence moving the output less than this (float32 noise) moved nothing


def default_scale(output: Output) -> str:
    """Return the additive scale used for an output kind."""
    return {"probability": "logit", "survival": "cloglog"}.get(output.kind, "identity")


def transform(value: float, scale: str) -> float:
    """Return g(value) on `scale` (logit, log, cloglog, identity); values clamped off 0/1."""
    if scale == "identity":
        return float(value)
    v = min(max(float(value), EPS), 1 - EPS) if scale in ("logit", "cloglog") else \
        max(float(value), EPS)
    if scale == "logit":
        return math.log(v / (1 - v))
    if scale == "log":
        return math.log(v)
    return math.log(-math.log(v))  # cloglog of a survival probability


def explained_output(manifest: Manifest) -> Output:
    """Return the output the explanation is about."""
    name = manifest.explanation.output
    return manifest.output(name) if name else manifest.outputs[0]


def time_index(output: Output, at_time: float | None) -> int:
    """Return the index in a survival grid of the explained time (last by default)."""
    if output.kind != "survival" or not output.time_grid:
        return 0
    if at_time is None:
        return len(output.time_grid) - 1
    return min(range(len(output.time_grid)), key=lambda i: abs(output.time_grid[i] - at_time))


def scalar_of(output: Output, value: Any, idx: int) -> float:
    """Return the scalar explained from a formatted output value (a curve's point at idx)."""
    if isinstance(value, list):
        return float(value[idx])
    return float(value)


def linear_contributions(manifest: Manifest, values: dict[str, Any],
                         references: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the exact contributions of the clinical inputs of a linear or Cox model.

    `values` and `references` map input name -> (label or value, coded value).
    """
    out = []
    for spec in manifest.inputs:
        if not isinstance(spec, ClinicalInput):
            continue
        coef = manifest.explanation.coefficients[spec.name]
        (val, coded), (ref, ref_coded) = values[spec.name], references[spec.name]
        if isinstance(coef, dict):
            contribution = coef[str(val)] - coef[str(ref)]
        else:
            contribution = coef * (float(coded) - float(ref_coded))
        out.append({"input": spec.name, "value": val, "reference": ref,
                    "contribution": contribution})
    return out


def sentences(text: str) -> list[tuple[int, int]]:
    """Return (start, end) character spans of the sentences of `text` (blank ones skipped)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _END.finditer(text):
        if m.group() == ".":
            word = _LAST_WORD.search(text, start, m.start())
            if word and (len(word.group(1)) == 1 or word.group(1).lower() in ABBREVIATIONS):
                continue  # "Dr. Martin", "J. Smith", "e.g. fever": the sentence goes on
        _add_span(spans, text, start, m.end())
        start = m.end()
    _add_span(spans, text, start, len(text))
    return spans


def _add_span(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end - start >= 3:
        spans.append((start, end))


def without(text: str, span: tuple[int, int]) -> str:
    """Return `text` with the sentence at `span` blanked (offsets of the rest kept)."""
    return text[: span[0]] + " " * (span[1] - span[0]) + text[span[1]:]


def locate(span: tuple[int, int], segments: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the note id and note-relative offsets of a span of the joined text."""
    for seg in segments:
        if seg["start"] <= span[0] < seg["end"] + 1:
            base = seg["start"] - seg.get("offset", 0)
            return {"note_id": seg["note_id"], "start": span[0] - base, "end": span[1] - base}
    return {"note_id": None, "start": span[0], "end": span[1]}
