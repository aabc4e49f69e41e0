"""Read the Oncoboard CSV layout (long format: one row per fact) into a Batch.

The layout is documented in README ("CSV layout") and exemplified by
``tests/data/patients/example.csv``. Required columns: ``patient_id`` and ``kind`` (patient,
condition, observation, treatment, note, outcome); the other columns are optional and only those
that make sense for a row's kind are read. Errors name the file and the line. Files saved by
French spreadsheets (``;`` separator, decimal comma, UTF-8 with BOM, dates dd/mm/yyyy, rows of
empty cells) are read too; so are tab-separated files and headers in any letter case. Dates
written dd/mm/yyyy are read only in ``;`` files: in a ``,`` file 03/04/2024 may be US month-first,
so it is refused.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard import units
from oncoboard.errors import RecordImportError
from oncoboard.patients import codes
from oncoboard.patients.importer import Batch

if TYPE_CHECKING:
    from oncoboard.store import Store

COLUMNS = (
    "patient_id", "kind", "source_id", "type", "code_system", "code", "display", "value", "unit",
    "date", "end_date", "reference_low", "reference_high", "family_name", "given_name",
    "birth_date", "sex", "synthetic", "morphology", "laterality", "status", "subkind", "regimen",
    "agents", "dose_gy", "fractions", "dose_intensity", "cycles", "line", "intent",
    "author_role", "language", "text", "unplanned")
KINDS = ("patient", "condition", "observation", "treatment", "note", "outcome")
SYSTEMS = {"loinc": codes.LOINC, "snomed": codes.SNOMED, "icd-10": codes.ICD10,
           "icd10": codes.ICD10, "icd-o-3": codes.ICDO3, "local": codes.LOCAL}
_NUMERIC = ("laboratory", "vital-signs")
_TRUE, _FALSE = {"1", "yes", "y", "true", "oui"}, {"0", "no", "n", "false", "non"}
_VALUE_WITH_UNIT = re.compile(r"\s*([-+]?\d+(?:[.,]\d+)?)\s*(%|[^\W\d_][\w*/^.\[\]{}µ]*"
                              r"(?:/[\w*^.\[\]{}µ]+)?)\s*")
_SEP_LINE = re.compile(r"\ufeff?sep=(.)\r?\n")  # Excel's "sep=;" first line
# dd/mm/yyyy [hh:mm[:ss]], as European spreadsheets (those that save with ';') write dates
_DAY_FIRST = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}:\d{2}(?::\d{2})?))?")


class _Line:
    """One CSV row with typed accessors that raise errors naming the line."""

    def __init__(self, path: Path, number: int, values: dict[str, str],
                 day_first: bool = False):
        self.path, self.number, self.values = path, number, values
        self.day_first = day_first  # dates may be dd/mm/yyyy (files saved with ';')
        self.where = f"line {number}"

    def error(self, reason: str) -> RecordImportError:
        return RecordImportError(reason, file=self.path, where=self.where)

    def get(self, key: str) -> str | None:
        value = (self.values.get(key) or "").strip()
        return value or None

    def need(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise self.error(f"{key} is required for kind {self.get('kind')}")
        return value

    def number_of(self, key: str, cast: Callable[[str], Any] = float) -> Any:
        value = self.get(key)
        if value is None:
            return None
        try:
            return cast(value.replace(",", ".") if cast is float else value)
        except ValueError as exc:
            raise self.error(f"{key} {value!r} is not a number") from exc

    def date(self, key: str) -> str | None:
        value = self.get(key)
        if value is None:
            return None
        day_first = _DAY_FIRST.fullmatch(value)
        if day_first and self.day_first:
            day, month, year, time = day_first.groups()
            value = f"{year}-{month.zfill(2)}-{day.zfill(2)}" + (f"T{time.zfill(5)}"
                                                                  if time else "")
        elif day_first:
            raise self.error(f"{key} {value!r} is not an ISO date (YYYY-MM-DD): in a "
                             "comma-separated file 03/04/2024 may be 3 April or 4 March")
        try:
            (dt.date if len(value) == 10 else dt.datetime).fromisoformat(value)
        except ValueError as exc:
            raise self.error(f"{key} {value!r} is not an ISO date (YYYY-MM-DD)") from exc
        return value

    def flag(self, key: str) -> int | None:
        value = self.get(key)
        if value is None:
            return None
        if value.lower() in _TRUE | _FALSE:
            return int(value.lower() in _TRUE)
        raise self.error(f"{key} {value!r} must be yes/no or 1/0")


def _base(line: _Line, batch: Batch, kind: str, key: str) -> dict[str, Any]:
    pid = line.need("patient_id")
    source_id = f"csv/{kind}/{line.get('source_id') or key}"
    return {"id": f"{pid}/{source_id}", "patient_id": pid, "source_id": source_id,
            "source_file": str(batch.path), "_where": line.where}


def _patient(line: _Line, batch: Batch) -> None:
    sex = (line.get("sex") or "unknown").lower()
    if sex not in ("female", "male", "other", "unknown"):
        raise line.error(f"sex {sex!r} must be female, male, other or unknown")
    pid = line.need("patient_id")
    batch.add("patients", {
        "id": pid, "source_system": "csv", "source_id": line.get("source_id") or pid,
        "family_name": line.get("family_name"), "given_name": line.get("given_name"),
        "birth_date": line.date("birth_date"), "sex": sex, "deceased_date": None,
        "synthetic": line.flag("synthetic") or 0, "source_file": str(batch.path),
        "_where": line.where})


def _condition(line: _Line, batch: Batch) -> None:
    system = SYSTEMS.get((line.get("code_system") or "icd-10").lower(), line.get("code_system"))
    code = line.need("code")
    primary = system == codes.ICD10 and code[:1] == "C" and not "C77" <= code[:3] <= "C79"
    if system != codes.ICD10:
        batch.unknown(system, code, line.get("display"), line.where)
    row = _base(line, batch, "condition", f"{code}/{line.date('date')}")
    row.update(is_primary_cancer=int(primary), code_system=system, code=code,
               display=line.get("display"), icdo3_site=code if primary else None,
               icdo3_morphology=line.get("morphology"), laterality=line.get("laterality"),
               diagnosis_date=line.date("date"), status=line.get("status"), markers={})
    batch.add("conditions", row)


def _observation(line: _Line, batch: Batch) -> None:
    from oncoboard.patients.fhir_map import coded_text
    from oncoboard.patients.fhir_values import _Text

    system = SYSTEMS.get((line.get("code_system") or "").lower(), line.get("code_system"))
    code = line.need("code")
    known = codes.lookup(system or codes.LOINC, code) if system or code not in codes.BY_KEY \
        else codes.BY_KEY[code]
    if known is not None:
        system, code = known.system, known.code
    else:
        batch.unknown(system, code, line.get("display"), line.where)
    row = _base(line, batch, "observation", f"{system}|{code}/{line.date('date')}")
    row.update(category=known.category if known else "other", code_system=system, code=code,
               display=line.get("display") or (known.display if known else None),
               effective=line.date("date"), extra={})
    raw, unit = line.get("value"), line.get("unit")
    row["original_value"], row["original_unit"] = raw, unit
    # "<5" as labs send it: the number is the bound, the comparator is kept (as for FHIR)
    comparator = re.match(r"(<=|>=|<|>)\s*", raw or "")
    if comparator:
        row["extra"]["comparator"] = comparator.group(1)
    try:
        number = float(raw[comparator.end() if comparator else 0:].replace(",", ".")) \
            if raw is not None else None
    except ValueError:
        number = None
        # "30 %" or "12,5 g/dL" typed in the value cell of a code measured in a unit, the
        # unit column left empty (not for other codes: stage "2A" is no 2 amperes)
        measured = known is not None and known.unit not in (None, "1")
        with_unit = _VALUE_WITH_UNIT.fullmatch(raw[comparator.end() if comparator else 0:]) \
            if raw is not None and unit is None and measured else None
        if with_unit:
            number, unit = float(with_unit.group(1).replace(",", ".")), with_unit.group(2)
            row["original_unit"] = unit
    if number is not None and (known is None or known.unit is not None or unit):
        row["value_num"], row["unit"] = _canonical(line, known, number, unit)
        for bound in ("low", "high"):
            b = line.number_of(f"reference_{bound}")
            if b is not None:
                row[f"reference_{bound}"], _ = _canonical(line, known, b, unit)
    elif number is not None:
        row["value_num"] = number
    elif raw is not None and (unit or (known and (known.category in _NUMERIC
                                                  or known.unit not in (None, "1")))):
        # A lab typed as '1.250,5' or 'abc' would otherwise be stored as text and never found.
        expected = f" in {known.unit}" if known and known.unit else ""
        raise line.error(f"value {raw!r} is not a number (expected a number{expected})")
    elif raw is not None:
        key = known.key if known else None
        row["value_text"] = coded_text(key, _Text(raw)) if key in ("er", "pr", "her2") else raw
    else:
        raise line.error("value is required for kind observation")
    impossible = codes.impossible_value(known, row.get("value_num"))
    if impossible:
        raise line.error(impossible)
    batch.add("observations", row)


def _canonical(line: _Line, known: codes.Code | None, value: float,
               unit: str | None) -> tuple[float, str | None]:
    if known is None or known.unit is None:
        return value, unit
    if unit is None and known.unit != "1":
        raise line.error(f"value {value:g} has no unit (expected {known.unit})")
    return units.to_canonical(value, unit or "1", known.unit, known.molar_mass,
                              file=str(line.path), where=line.where), known.unit


def _treatment(line: _Line, batch: Batch) -> None:
    kind = (line.need("type")).lower()
    if kind not in ("surgery", "radiotherapy", "systemic", "other"):
        raise line.error(f"type {kind!r} of a treatment must be surgery, radiotherapy, "
                         "systemic or other")
    agents = [a.strip().lower() for a in (line.get("agents") or "").replace(";", "+").split("+")
              if a.strip()]
    for agent in agents:
        if agent not in codes.AGENTS:
            batch.unknown("agent", agent, None, line.where)
    subkind = line.get("subkind") or next((codes.AGENTS[a][0] for a in agents
                                           if a in codes.AGENTS), None)
    label = line.get("regimen") or line.get("display") or line.get("code") or "+".join(agents)
    row = _base(line, batch, "treatment", f"{kind}/{label}/{line.date('date')}")
    row.update(kind=kind, subkind=subkind, code_system=line.get("code_system"),
               code=line.get("code"), display=line.get("display") or label,
               regimen=line.get("regimen"), agents=agents, start_date=line.date("date"),
               end_date=line.date("end_date"), dose_gy=line.number_of("dose_gy"),
               fractions=line.number_of("fractions", int),
               dose_intensity=line.number_of("dose_intensity"),
               cycles=line.number_of("cycles", int), line=line.number_of("line", int),
               intent=line.get("intent"), status=line.get("status"), extra={})
    if row["dose_gy"] is not None and line.get("unit"):
        row["dose_gy"] = units.to_canonical(row["dose_gy"], line.get("unit"), "Gy",
                                            file=str(line.path), where=line.where)
    batch.add("treatments", row)


def _note(line: _Line, batch: Batch) -> None:
    text = line.need("text").replace("\r\n", "\n")
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    row = _base(line, batch, "note", f"{line.date('date')}/{digest}")
    row.update(note_type=line.get("type"), author_role=line.get("author_role"),
               date=line.date("date"), language=line.get("language"),
               title=line.get("display"), text=text)
    batch.add("notes", row)


def _outcome(line: _Line, batch: Batch) -> None:
    kind = line.need("type").lower()
    allowed = ("relapse", "progression", "hospitalisation", "death", "response", "toxicity",
               "other")
    if kind not in allowed:
        raise line.error(f"type {kind!r} of an outcome must be one of {', '.join(allowed)}")
    row = _base(line, batch, "outcome", f"{kind}/{line.date('date')}")
    row.update(kind=kind, date=line.date("date"), end_date=line.date("end_date"),
               unplanned=line.flag("unplanned"), detail=line.get("display"), extra={})
    batch.add("outcomes", row)


READERS: dict[str, Callable[[_Line, Batch], None]] = {
    "patient": _patient, "condition": _condition, "observation": _observation,
    "treatment": _treatment, "note": _note, "outcome": _outcome}


def read_csv(store: Store, path: Path, text: str, sha256: str) -> Batch:
    """Read a CSV file in the Oncoboard layout and return the rows to write.

    Raises
    ------
    RecordImportError
        Naming the file, the line and the reason.
    """
    first = text.split("\n", 1)[0]
    # French spreadsheets save with ';' (the comma is their decimal separator), some tools
    # with tabs: the header's most frequent of the three is the separator
    delimiter = max((",", ";", "\t"), key=first.count)
    sep_line = _SEP_LINE.match(text)
    offset = 0  # physical lines before the header
    if sep_line:
        delimiter, text, offset = sep_line.group(1), text[sep_line.end():], 1
    # strict: an unclosed quote must not swallow the rest of the file into one field
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    # an empty name: a separator at the end of each line (cells under it must stay empty)
    unknown = [h for h in header if h not in COLUMNS and h]
    if header and not set(header) & set(COLUMNS):
        # most likely a file without a header line: its first line is patient data, never
        # repeated in a message or the log
        raise RecordImportError(f"the first line is not a header: none of its {len(header)} "
                                f"cell(s) is a known column name (known: {', '.join(COLUMNS)}); "
                                "add a header line", file=path, where=f"line {1 + offset}")
    if unknown:
        raise RecordImportError(f"unknown column(s) {', '.join(map(repr, unknown))} (known: "
                                f"{', '.join(COLUMNS)})", file=path, where=f"line {1 + offset}")
    for required in ("patient_id", "kind"):
        if required not in header:
            raise RecordImportError(f"missing column {required!r}", file=path,
                                    where=f"line {1 + offset}")
    reader.fieldnames = header
    batch = Batch(path, "csv", sha256)
    last = 1 + offset  # last physical line of the previous record: a malformed one follows it
    try:
        for values in reader:
            line = _Line(path, reader.line_num + offset, values, day_first=delimiter == ";")
            if None in values:
                raise line.error("more fields than columns in the header")
            if (values.pop("", None) or "").strip():
                raise line.error("a value in a column that has no name in the header")
            if not any((v or "").strip() for v in values.values()):
                last = reader.line_num + offset  # a row of empty cells (';;;;')
                continue
            kind = (line.get("kind") or "").lower()
            if kind not in READERS:
                raise line.error(f"kind {kind!r} must be one of {', '.join(KINDS)}")
            READERS[kind](line, batch)
            last = reader.line_num + offset
    except csv.Error as exc:
        hint = " (a quote is not closed)" if "end of data" in str(exc) else ""
        raise RecordImportError(f"malformed CSV: {exc}{hint}", file=path,
                                where=f"line {last + 1}") from exc
    _check_keys_and_patients(store, batch)
    patients = {r["id"]: r for r in batch.rows["patients"]}
    for row in batch.rows["outcomes"]:
        if row["kind"] == "death" and row["patient_id"] in patients:
            patients[row["patient_id"]]["deceased_date"] = row["date"]
    return batch


def _check_keys_and_patients(store: Store, batch: Batch) -> None:
    in_file = {r["id"] for r in batch.rows["patients"]}
    seen: dict[str, str] = {}
    for table, rows in batch.rows.items():
        for row in rows:
            key = f"{table}:{row['id']}"
            if key in seen:
                raise RecordImportError(
                    f"duplicate {table[:-1]} (same patient, type, code and date as "
                    f"{seen[key]}); give each row a distinct source_id",
                    file=batch.path, where=row["_where"])
            seen[key] = row["_where"]
            pid = row.get("patient_id")
            if pid is not None and pid not in in_file:
                if not batch.query(store, "SELECT 1 FROM patients WHERE id = ?", [pid]):
                    raise RecordImportError(f"patient {pid} is not in this file (kind patient) "
                                            "or the database", file=batch.path,
                                            where=row["_where"])
                in_file.add(pid)
