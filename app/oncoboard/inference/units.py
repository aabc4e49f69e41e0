"""Unit conversion (pint) between the record's canonical units and a plugin's declared units.

Units are written as in UCUM where pint understands them; the UCUM spellings pint does not parse
are translated first: ``10*9/L`` (powers of ten, cell counts), ``%`` and ``1`` (dimensionless).
Conversions that need a molar mass (e.g. creatinine mg/dL -> umol/L) are refused rather than
guessed.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from oncoboard.errors import PluginError

_POWER = re.compile(r"10\*(\d+)")


@functools.lru_cache(maxsize=1)
def registry() -> Any:
    """Return the shared pint registry, with the UCUM powers of ten defined."""
    import pint

    reg: Any = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    for n in (3, 6, 9, 12):
        reg.define(f"ten_pow_{n} = 1e{n}")
    return reg


def _pint_spelling(unit: str) -> str:
    text = unit.strip()
    if text in ("1", "", "{count}"):
        return "dimensionless"
    text = _POWER.sub(lambda m: f"ten_pow_{m.group(1)}", text)
    return text.replace("%", "percent")


@functools.lru_cache(maxsize=256)
def parse_unit(unit: str) -> Any:
    """Return the pint unit for a UCUM-like spelling; raise PluginError when unknown."""
    try:
        return registry().parse_units(_pint_spelling(unit))
    except Exception as exc:  # pint raises several unrelated types
        raise PluginError(f"unknown unit {unit!r}") from exc


def convert(value: float, from_unit: str | None, to_unit: str | None) -> float:
    """Convert `value` from `from_unit` to `to_unit` (no-op when either is None or equal).

    Raises
    ------
    PluginError
        When the units are unknown or not commensurable.
    """
    if from_unit is None or to_unit is None or from_unit == to_unit:
        return float(value)
    src, dst = parse_unit(from_unit), parse_unit(to_unit)
    try:
        return float(registry().Quantity(value, src).to(dst).magnitude)
    except Exception as exc:
        raise PluginError(f"cannot convert {from_unit!r} to {to_unit!r}") from exc
