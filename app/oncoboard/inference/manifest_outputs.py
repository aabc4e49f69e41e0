"""The outputs of a plugin manifest and what is derived from them: scenarios, explanation, golden.

The ``[[outputs]]`` tables of ``plugin.toml`` (probability, survival curve, score or image; label,
unit, risk bands, interval bounds, time grid), the what-if ``[[scenarios]]``, how results are
explained (``[explanation]``) and the golden case ``plugins verify`` checks (``[golden]``). The
manifest itself, its inputs and its loading are in :mod:`oncoboard.inference.manifest`, which
also exports every name here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from oncoboard.inference.manifest_inputs import _Strict, _TensorSlot

Scalar = float | int | str | bool




class RiskBand(_Strict):
    """A named band of a probability or score, [previous band's upper, upper)."""

    label: str = Field(..., description="Band label, e.g. 'low'.")
    upper: float = Field(..., description="Exclusive upper limit (the last band may use 1 or "
                                          "the score's maximum, inclusive).")


class Output(_TensorSlot):
    """One result shown to users."""

    name: str = Field(..., pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Output name.")
    kind: Literal["probability", "survival", "score", "image"] = Field(
        ..., description="probability in [0,1]; survival curve on `time_grid`; numeric score; "
                         "image volume.")
    label: str = Field("", description="Human-readable label.")
    description: str = Field("", description="What the value means (event, horizon).")
    unit: str | None = Field(None, description="Unit of a score.")
    risk_bands: list[RiskBand] = Field(default_factory=list, description="Bands, ascending.")
    lower: str | None = Field(None, description="Name of the output giving the lower bound.")
    upper: str | None = Field(None, description="Name of the output giving the upper bound.")
    interval_level: float = Field(0.95, gt=0, lt=1, description="Level of lower/upper.")
    time_grid: list[float] = Field(default_factory=list, description="Times of a survival curve.")
    time_unit: Literal["days", "weeks", "months", "years"] | None = Field(
        None, description="Unit of `time_grid`.")
    quantity: Literal["survival", "cumulative_incidence"] = Field(
        "survival", description="Curve is S(t), or 1 - S(t).")
    geometry_from: str | None = Field(None, description="Image output: the image input whose "
                                                        "geometry it shares.")
    display: bool = Field(True, description="False for helper outputs (bounds) not shown alone.")
    interval_method: str | None = Field(
        None, description="How `lower`/`upper` were computed, in words (e.g. 'bootstrap: 2.5th-"
                          "97.5th percentiles of 200 refits'); shown as 'point [low-high] "
                          "(method)'.")
    uncertainty: str | None = Field(
        None, description="Where no interval exists: the published error of the model, stated "
                          "as such (e.g. PREDICT's validation calibration).")

    @model_validator(mode="after")
    def _kind(self) -> Output:
        if self.kind == "survival":
            if not self.time_grid or self.time_unit is None:
                raise ValueError("a survival output needs time_grid and time_unit")
            if any(b <= a for a, b in zip(self.time_grid, self.time_grid[1:], strict=False)):
                raise ValueError("time_grid must increase")
        uppers = [b.upper for b in self.risk_bands]
        if uppers != sorted(uppers):
            raise ValueError("risk_bands must be in ascending order")
        return self


class Scenario(_Strict):
    """A what-if: the same patient with some inputs overridden (e.g. with hormone therapy)."""

    name: str = Field(..., description="Scenario name shown to users.")
    overrides: dict[str, Scalar] = Field(..., description="Input name -> value (unit or label).")
    baseline: bool = Field(False, description="The scenario others are compared with (at most "
                                              "one; default: the patient as recorded).")
    description: str = Field("", description="What the scenario means clinically.")


class Explanation(_Strict):
    """How results are explained."""

    method: Literal["linear", "cox", "occlusion", "none"] = Field(
        "occlusion", description="'linear'/'cox': exact contributions coefficient x (value - "
                                 "reference); 'occlusion': re-run with each input set to its "
                                 "reference.")
    output: str | None = Field(None, description="Output explained (default: the first).")
    scale: Literal["logit", "log", "cloglog", "identity"] | None = Field(
        None, description="Scale on which contributions add (default: logit for probability, "
                          "cloglog for survival, identity for score).")
    at_time: float | None = Field(None, description="Survival output: time point explained "
                                                    "(default: last of the grid).")
    coefficients: dict[str, float | dict[str, float]] = Field(
        default_factory=dict, description="linear/cox: input -> coefficient per unit, or "
                                          "category label -> coefficient.")
    max_sentences: int = Field(5, ge=0, description="Text: sentences kept (largest movers).")


class Golden(_Strict):
    """A golden case: inputs and the outputs the model must give (checked by `plugins verify`)."""

    inputs: dict[str, Scalar] = Field(..., description="Input name -> value.")
    expected: dict[str, float | list[float]] = Field(..., description="Output name -> value(s).")
    tolerance: float = Field(1e-5, ge=0, description="Absolute tolerance.")
