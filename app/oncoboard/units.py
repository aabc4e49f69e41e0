"""Unit conversion with pint, for record imports and plugin inputs alike.

One registry and one table of spellings serve the importers (a value to the canonical unit of
its code, :func:`to_canonical`) and the plugins (a record value to the unit a manifest declares,
:func:`convert`; a manifest's unit checked with :func:`check_unit`).
UCUM spellings that pint does not read (``10*9/L``, ``{cells}/uL``, ``Cel``, ``[lb_av]``) are
rewritten into pint syntax first; the conversion itself is pint's, including mass <-> amount of
substance through the code's molar mass (pint's ``chemistry`` context), e.g. creatinine
88.4 umol/L -> 1.0 mg/dL. Each (from unit, to unit, molar mass) conversion is computed once by pint
and cached as ``y = a*x + b``: pint takes 0.1-0.7 ms per conversion, the cache 0.3 us.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from oncoboard.errors import RecordImportError

# UCUM special units -> pint names: only spellings, no conversion factors.
_UCUM_NAMES = {
    "Cel": "degC", "[degF]": "degF", "[lb_av]": "lb", "[oz_av]": "oz", "[in_i]": "inch",
    "[ft_i]": "foot", "[IU]": "IU", "[iU]": "IU", "%": "percent", "1": "dimensionless",
    "mm[Hg]": "mmHg", "/[HPF]": "/count", "a": "year", "mo": "month", "wk": "week",
}
_POWER = re.compile(r"10\*(-?\d+)|10\^(-?\d+)")
_ANNOTATION = re.compile(r"\{[^}]*\}")


@functools.lru_cache(maxsize=1)
def registry() -> Any:
    """Return the shared pint unit registry (built once per process).

    Reading pint's unit definitions takes about 0.4 s; pint keeps what it read in a cache
    folder (the per-user cache folder, ``oncoboard/units``), which brings later processes
    (each command, the import's reading processes) down to about 0.03 s. Without a writable
    cache folder, or if the cache cannot be read, the definitions are read from pint itself.
    """
    import pint

    ureg: Any = None
    folder = _cache_folder()
    if folder is not None:
        try:
            ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True, cache_folder=folder)
        except Exception:  # noqa: BLE001 - a damaged or foreign cache: read pint's files
            ureg = None
    if ureg is None:
        ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    # UCUM 'U' is the enzyme unit (umol/min), as in U/L: pint's own definitions say so already
    # (defining it again made pint log "Redefining 'U'" in every command).
    if "U" not in ureg or str(ureg.parse_units("U")) != "enzyme_unit":
        ureg.define("U = enzyme_unit")
    # Laboratories write enzyme activities as IU/L (UI/L in French) meaning U/L; no code of
    # codes.py is in hormone international units, so IU is read as the enzyme unit.
    if "IU" not in ureg:
        ureg.define("IU = enzyme_unit")
    return ureg


def _cache_folder() -> Path | None:
    """Return the folder of pint's cache (created), or None when it cannot be written."""
    from platformdirs import user_cache_dir

    folder = Path(os.environ.get("ONCOBOARD_UNIT_CACHE")
                  or Path(user_cache_dir("oncoboard", appauthor=False)) / "units")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


# Spellings of French and other laboratory reports: "G/L" (giga per litre) for cell counts,
# "T/L" for red cells, "UI" for IU, "x10^9/L", "g/100mL".
_LAB_SPELLINGS = [(re.compile(r"^G/L$"), "10*9/L"), (re.compile(r"^T/L$"), "10*12/L"),
                  (re.compile(r"\bUI\b"), "IU"), (re.compile(r"^[x×]\s*(?=10)"), ""),
                  (re.compile(r"/100\s*mL"), "/dL")]
_EXPONENT = re.compile(r"(?<=[A-Za-zµμ])(\d+)")  # UCUM mm3, m2 -> mm**3, m**2


def to_pint(unit: str) -> str:
    """Return `unit` (UCUM or common spelling) as a pint expression."""
    u = unit.strip()
    if u in _UCUM_NAMES:
        return _UCUM_NAMES[u]
    for pattern, replacement in _LAB_SPELLINGS:
        u = pattern.sub(replacement, u)
    u = _ANNOTATION.sub("", u)
    for ucum, name in _UCUM_NAMES.items():
        if ucum.startswith("["):
            u = u.replace(ucum, name)
    u = _EXPONENT.sub(r"**\1", u)
    u = _POWER.sub(lambda m: f"1e{m.group(1) or m.group(2)}", u)
    u = u.replace("Cel", "degC")
    if u.startswith("/"):
        u = "1" + u
    if u in ("", "1"):
        return "dimensionless"
    return u


def _parse(unit: str) -> Any:
    """Return `unit` as a pint Quantity; raise ValueError when pint cannot read it."""
    ureg = registry()
    try:
        q = ureg.parse_expression(to_pint(unit))
    except Exception as exc:  # pint's parser raises unrelated types: TokenError, AssertionError..
        raise ValueError(f"unknown unit {unit!r}") from exc
    return q if isinstance(q, ureg.Quantity) else ureg.Quantity(q, "dimensionless")


@functools.lru_cache(maxsize=4096)
def _linear(from_unit: str, to_unit: str, molar_mass: float | None) -> tuple[float, float]:
    """Return (a, b) such that a value in `from_unit` is ``a*x + b`` in `to_unit`."""
    import pint

    ureg = registry()
    src, dst = _parse(from_unit), _parse(to_unit)

    def convert(x: float) -> float:
        q = ureg.Quantity(x * src.magnitude, src.units)
        if molar_mass is not None and q.dimensionality != dst.dimensionality:
            q = q.to(dst.units, "chemistry", mw=ureg.Quantity(molar_mass, "g/mol"))
        else:
            q = q.to(dst.units)
        return float(q.magnitude) / float(dst.magnitude)

    try:
        # two points fix the line; x = 0 is avoided because some context maps divide by x
        y1, y2 = convert(1.0), convert(2.0)
    except (pint.errors.PintError, ZeroDivisionError, ValueError) as exc:
        raise ValueError(f"unit {from_unit!r} cannot be converted to {to_unit!r}") from exc
    return y2 - y1, 2 * y1 - y2


def convert(value: float, from_unit: str, to_unit: str, molar_mass: float | None = None) -> float:
    """Return `value` given in `from_unit` expressed in `to_unit`.

    Parameters
    ----------
    molar_mass
        g/mol of the substance, allowing mass <-> amount conversions (mg/dL <-> umol/L).

    Raises
    ------
    ValueError
        The unit is unknown, or cannot be converted to `to_unit`.
    """
    if from_unit == to_unit:
        return float(value)
    a, b = _linear(from_unit, to_unit, molar_mass)
    # 12 significant digits drop the float noise of the two-point fit (37.00000000000156)
    return float(f"{a * float(value) + b:.12g}")


def check_unit(unit: str) -> None:
    """Raise ValueError when pint does not know `unit`."""
    _linear(unit, unit, None)


def to_canonical(value: float, unit: str | None, canonical: str | None,
                 molar_mass: float | None = None, *, file: str | None = None,
                 where: str | None = None) -> float:
    """Convert `value` to the canonical unit; a failure becomes a RecordImportError."""
    if canonical is None or unit is None or unit == canonical:
        return float(value)
    try:
        return convert(value, unit, canonical, molar_mass)
    except ValueError as exc:
        raise RecordImportError(str(exc), file=file, where=where) from exc
