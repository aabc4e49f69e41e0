"""Unit conversion with pint, including UCUM spellings and mass <-> amount via molar mass."""

from __future__ import annotations

import re

import pytest

from oncoboard import units
from oncoboard.errors import RecordImportError
from oncoboard.patients import codes
from oncoboard.units import convert, to_canonical, to_pint


@pytest.mark.parametrize(("value", "unit", "target", "molar_mass", "expected"), [
    (88.4, "umol/L", "mg/dL", codes.BY_KEY["creatinine"].molar_mass, 1.0),
    (1.0, "mg/dL", "umol/L", codes.BY_KEY["creatinine"].molar_mass, 88.4),
    (8.0, "mmol/L", "g/dL", codes.BY_KEY["haemoglobin"].molar_mass, 12.89),
    (120, "g/L", "g/dL", None, 12.0),
    (5.5, "10*3/uL", "10*9/L", None, 5.5),
    (5500, "/uL", "10*9/L", None, 5.5),
    (4.2, "10^9/L", "10*9/L", None, 4.2),
    (6000, "cGy", "Gy", None, 60.0),
    (98.6, "[degF]", "Cel", None, 37.0),
    (150, "[lb_av]", "kg", None, 68.04),
    (0.5, "1", "%", None, 50.0),
    (3, "ukat/L", "U/L", None, 180.0),
    (2.2, "cm", "mm", None, 22.0),
    (35, "mg/dL", "mg/L", None, 350.0),
    # spellings of French and other lab reports
    (4.5, "G/L", "10*9/L", None, 4.5),
    (4500, "/mm3", "10*9/L", None, 4.5),
    (4.5, "x10^9/L", "10*9/L", None, 4.5),
    (310, "UI/L", "U/L", None, 310.0),
    (310, "IU/L", "U/L", None, 310.0),
    (12.5, "g/100mL", "g/dL", None, 12.5),
    (88.4, "µmol/L", "mg/dL", codes.BY_KEY["creatinine"].molar_mass, 1.0),
    (1.0, "mg/dl", "mg/dL", None, 1.0),
])
def test_convert(value, unit, target, molar_mass, expected):
    assert convert(value, unit, target, molar_mass) == pytest.approx(expected, rel=1e-3)


def test_conversion_is_exact_enough_to_round_trip():
    mm = codes.BY_KEY["creatinine"].molar_mass
    assert convert(convert(97, "umol/L", "mg/dL", mm), "mg/dL", "umol/L", mm) == \
        pytest.approx(97, rel=1e-9)
    assert convert(98.6, "[degF]", "Cel") == 37.0  # no float noise left


def test_ucum_spellings():
    assert to_pint("10*9/L") == "1e9/L"
    assert to_pint("{cells}/uL") == "1/uL"
    assert to_pint("Cel") == "degC"


@pytest.mark.parametrize(("unit", "message"), [
    ("blargs/L", "unknown unit 'blargs/L'"),
    ("kg", "unit 'kg' cannot be converted to 'g/dL'"),
    ("mmol/L", "unit 'mmol/L' cannot be converted to 'g/dL'"),  # no molar mass given
    # pint's parser fails on these with TokenError / AssertionError / ZeroDivisionError
    ("mg/(", "unknown unit 'mg/('"),
    ("mg/", "unknown unit 'mg/'"),
    ("1/0", "unknown unit '1/0'"),
])
def test_bad_units(unit, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        convert(1, unit, "g/dL")


def test_to_canonical_names_file_and_resource():
    with pytest.raises(RecordImportError) as info:
        to_canonical(1, "bananas", "g/dL", file="x.json", where="entry 3 (Observation/o)")
    assert info.value.message == "x.json: entry 3 (Observation/o): unknown unit 'bananas'"


def test_unit_registry_cache_is_written_then_used_and_survives_damage(tmp_path, monkeypatch):
    folder = tmp_path / "units-cache"
    monkeypatch.setenv("ONCOBOARD_UNIT_CACHE", str(folder))
    first = units.registry.__wrapped__()
    cached = sorted(folder.iterdir())
    assert cached, "pint wrote no cache"
    assert first.Quantity(88, "micromole / liter").to("mmol/L").magnitude == pytest.approx(0.088)
    again = units.registry.__wrapped__()  # read from the cache
    assert again.Quantity(1, "U/L").to("IU/L").magnitude == pytest.approx(1)
    for path in cached:  # a damaged cache (disk full, two versions of pint...)
        path.write_bytes(b"\x00garbage")
    damaged = units.registry.__wrapped__()
    assert damaged.Quantity(37, "degC").to("degF").magnitude == pytest.approx(98.6)


def test_unit_registry_without_a_writable_cache_folder(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ONCOBOARD_UNIT_CACHE", str(blocker / "units"))
    assert units._cache_folder() is None
    assert units.registry.__wrapped__().Quantity(1, "g/dL").to("g/L").magnitude == 10
