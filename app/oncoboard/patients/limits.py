"""Limits on what a patient-record file may hold (README "Limits").

Checked on every row read from a file, FHIR or CSV, before anything is written: a file over a
limit is refused as a whole with a message naming the field, the limit and a short excerpt of
the value (never the whole value: it may be megabytes, or patient data).
"""

from __future__ import annotations

import math
import unicodedata
from typing import TYPE_CHECKING, Any

from oncoboard.errors import RecordImportError
from oncoboard.patients import codes

if TYPE_CHECKING:
    from oncoboard.patients.importer import Batch

#: Largest patient-record file read (bytes).
MAX_FILE_BYTES = 128 * 1024 * 1024
#: Longest identifier (patient ID, resource id): FHIR's own limit for ids.
MAX_ID_CHARS = 64
#: Longest name (family or given).
MAX_NAME_CHARS = 200
#: Longest note text (about 100 pages); search stays fast below it.
MAX_NOTE_CHARS = 256 * 1024
#: Longest other text (titles, displays, coded values, regimens...).
MAX_TEXT_CHARS = 4096
#: Deepest JSON nesting of a FHIR bundle (real bundles stay under 15).
MAX_JSON_DEPTH = 64
#: Earliest date accepted (birth, diagnosis, any clinical fact).
EARLIEST_DATE = "1850-01-01"
#: Characters shown of a refused value.
EXCERPT_CHARS = 24

_ID_COLUMNS = ("patient_id", "source_id")
#: Keys made of the identifiers above ("<patient ID>/<source id>"): checked through them.
_DERIVED_IDS = ("id", "condition_id")
_NAME_COLUMNS = ("family_name", "given_name")
_DATE_COLUMNS = ("birth_date", "deceased_date", "diagnosis_date", "effective", "start_date",
                 "end_date", "date")
#: Bidirectional formatting characters: they make "ABC<RLO>321" display as "ABC123".
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

#: Plausible values per code key, in the code's canonical unit (codes.CODES): beyond them the
#: value is a unit or typing mistake, never a patient.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "neutrophils": (0, 500), "lymphocytes": (0, 1000), "leukocytes": (0, 1500),
    "platelets": (0, 5000), "ldh": (0, 100_000), "albumin": (0, 100), "crp": (0, 1000),
    "haemoglobin": (0, 30), "creatinine": (0, 40), "weight": (0.2, 700), "height": (20, 280),
    "temperature": (20, 46), "ecog": (0, 5), "tumour_size": (0, 2000),
    "positive_nodes": (0, 200), "ki67": (0, 100), "pdl1_tps": (0, 100),
    "estrec": (0, 100_000), "progrec": (0, 100_000), "falls_6m": (0, 1000),
}
#: Any other number, whatever its code.
MAX_ABS_VALUE = 1e12


def excerpt(value: str, chars: int = EXCERPT_CHARS) -> str:
    """Return a short, printable quotation of `value` (control characters escaped)."""
    shown = value[:chars].encode("unicode_escape").decode("ascii")
    return repr(shown)[1:-1].join("''") + ("..." if len(value) > chars else "")


def _bad_char(value: str, free_text: bool) -> str | None:
    """Return the first forbidden character of `value` as U+XXXX, or None.

    No text may hold NUL or other control characters; free text (notes, titles) may hold line
    breaks, tabs and the formatting characters of right-to-left and joined scripts, but
    identifiers and names hold none of them (an override makes "AB<RLO>321" look like "AB123").
    """
    for ch in value:
        category = unicodedata.category(ch)
        if free_text and (ch in "\n\r\t" or category == "Cf"):
            continue
        if ch in _BIDI or category in ("Cc", "Cf", "Zl", "Zp"):
            return f"U+{ord(ch):04X}"
    return None


def check_identifier(value: str, what: str) -> str | None:
    """Return why `value` cannot be an identifier, or None."""
    if len(value) > MAX_ID_CHARS:
        return f"{what} is {len(value):,} characters long (limit {MAX_ID_CHARS}): {excerpt(value)}"
    if value != value.strip():
        return f"{what} starts or ends with a space: {excerpt(value)}"
    if bad := _bad_char(value, free_text=False):
        return (f"{what} contains the control character {bad} (identifiers are printable "
                f"characters only): {excerpt(value)}")
    return None


def _check_text(value: str, what: str, limit: int, free_text: bool = True) -> str | None:
    if len(value) > limit:
        return f"{what} is {len(value):,} characters long (limit {limit:,}): {excerpt(value)}"
    if bad := _bad_char(value, free_text):
        return f"{what} contains the control character {bad}: {excerpt(value)}"
    return None


def check_batch(batch: Batch) -> None:
    """Refuse the whole file when a row is over a limit.

    Raises
    ------
    RecordImportError
        Naming the row, the field, the limit and an excerpt of the value.
    """
    for table, rows in batch.rows.items():
        for row in rows:
            reason = _row_problem(table, row)
            if reason:
                raise RecordImportError(reason, file=batch.path, where=row.get("_where"))


def _row_problem(table: str, row: dict[str, Any]) -> str | None:
    for key, value in row.items():
        if key.startswith("_") or value is None:
            continue
        what = key.replace("_", " ")
        reason: str | None = None
        if isinstance(value, str):
            if table == "patients" and key == "id":
                reason = check_identifier(value, "patient ID")
            elif key in _ID_COLUMNS:
                reason = check_identifier(value, what)
            elif key in _DERIVED_IDS:
                reason = _check_text(value, what, 2 * MAX_ID_CHARS + 1, free_text=False)
            elif key in _NAME_COLUMNS:
                reason = _check_text(value, what, MAX_NAME_CHARS, free_text=False)
            elif key == "text" and table == "notes":
                reason = _check_text(value, "note text", MAX_NOTE_CHARS)
            else:
                reason = _check_text(value, what, MAX_TEXT_CHARS)
            if reason is None and key in _DATE_COLUMNS and value[:10] < EARLIEST_DATE[
                    :len(value[:10])]:
                reason = f"{what} {excerpt(value, 10)} is before {EARLIEST_DATE}"
        elif isinstance(value, float) and not math.isfinite(value):
            reason = f"{what} is not a finite number"
        if reason:
            return reason
    if table == "observations":
        return _value_problem(row)
    return None


def _value_problem(row: dict[str, Any]) -> str | None:
    value = row.get("value_num")
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    known = codes.lookup(row.get("code_system"), row.get("code"))
    if known is not None and known.key in PLAUSIBLE:
        low, high = PLAUSIBLE[known.key]
        if not low <= value <= high:
            unit = f" {known.unit}" if known.unit and known.unit != "1" else ""
            return (f"{known.key} {value:g}{unit} is not a plausible value (accepted: "
                    f"{low:g} to {high:g}{unit}); check the value and its unit")
    elif not math.isfinite(value) or abs(value) > MAX_ABS_VALUE:
        return f"value {value:g} is out of range (at most {MAX_ABS_VALUE:g} in size)"
    return None


def json_depth_problem(data: Any) -> str | None:
    """Return why `data` (parsed JSON) is nested too deeply, or None (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))
    return None
