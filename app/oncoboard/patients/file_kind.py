"""What kind of file a user gave to the record import: FHIR JSON, Oncoboard CSV, or something else.

People give the import what is at hand: a README, a PDF report, a DICOM image, a spreadsheet, a
photo. Read as CSV, such a file was refused for its first line's "unknown column(s)"; here it is
recognised from its first bytes (and its name) and refused as what it is, e.g. ``not a patient
record file (Markdown text?)``. Only the first :data:`HEAD_BYTES` bytes are read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from oncoboard.errors import RecordImportError

HEAD_BYTES = 8192
RecordFormat = Literal["fhir", "csv"]

_IMPORTS = "Oncoboard imports FHIR R4 bundles (.json) and CSV files with its columns"
_DICOM = "use `oncoboard import dicom` for images"
_SPREADSHEET = "save it as CSV UTF-8 first"

#: Files named for what they are: (what they seem to be, what to do).
_BY_SUFFIX = {".zip": ("a zip archive", "unzip it and import the folder"),
              ".xlsx": ("a spreadsheet", _SPREADSHEET), ".xls": ("a spreadsheet", _SPREADSHEET),
              ".ods": ("a spreadsheet", _SPREADSHEET), ".pdf": ("a PDF", _IMPORTS),
              ".dcm": ("a DICOM file", _DICOM)}

#: Files known by their first bytes, whatever their name: (bytes, offset, what, what to do).
_MAGIC: list[tuple[bytes, int, str, str]] = [
    (b"%PDF", 0, "a PDF", _IMPORTS),
    (b"DICM", 128, "a DICOM file", _DICOM),
    (b"PK\x03\x04", 0, "a zip archive or an Office document",
     "unzip an archive and import the folder; save a spreadsheet as CSV UTF-8"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "an Office document", _SPREADSHEET),
    (b"\x89PNG\r\n\x1a\n", 0, "a PNG image", _IMPORTS),
    (b"\xff\xd8\xff", 0, "a JPEG image", _IMPORTS),
    (b"GIF8", 0, "a GIF image", _IMPORTS),
    (b"II*\x00", 0, "a TIFF image", _IMPORTS),
    (b"MM\x00*", 0, "a TIFF image", _IMPORTS),
    (b"\x1f\x8b", 0, "a gzip archive", "unpack it and import the files"),
    (b"SQLite format 3\x00", 0, "an SQLite database",
     "to read an Oncoboard data folder, give it to --data-dir"),
]

_MARKDOWN = re.compile(r"^(#{1,6} |[-*] |\d+\. |```|> |\[.+\]\(.+\))", re.MULTILINE)


def record_format(path: Path) -> RecordFormat:
    """Return how to read `path`: ``"fhir"`` (JSON, or XML the FHIR reader names) or ``"csv"``.

    Raises
    ------
    RecordImportError
        For a file that is not a patient record, saying what it seems to be and what to do.
    """
    suffix = path.suffix.lower()
    if suffix in _BY_SUFFIX:
        raise _not_a_record(path, *_BY_SUFFIX[suffix])
    try:
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError as exc:
        raise RecordImportError(f"cannot read: {exc.strerror}", file=path) from exc
    for magic, offset, what, advice in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            raise _not_a_record(path, what, advice)
    if _is_binary(head):
        raise _not_a_record(path, "binary data", _IMPORTS)
    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    start = text.lstrip()[:1]
    if suffix == ".json" or start in ("{", "[", "<"):
        return "fhir"  # its reader tells a non-Bundle, invalid JSON or FHIR XML apart
    if suffix == ".csv" or not text.strip() or _has_csv_header(text):
        return "csv"  # its reader names an unknown column; an empty file is refused as empty
    raise _not_a_record(path, f"{_guess_text(path, text)}?", _IMPORTS)


def _not_a_record(path: Path, what: str, advice: str) -> RecordImportError:
    return RecordImportError(f"not a patient record file ({what}): {advice}", file=path)


def _is_binary(head: bytes) -> bool:
    """Return True for bytes no text file holds (NUL, or many control characters)."""
    if b"\x00" in head:
        return True
    control = sum(b < 32 and b not in (9, 10, 12, 13, 27) for b in head)
    return control > len(head) // 20


def _has_csv_header(text: str) -> bool:
    """Return True when the first line (after Excel's ``sep=`` line) names known columns."""
    from oncoboard.patients.csv_import import COLUMNS

    lines = text.splitlines()
    if lines and lines[0].lower().startswith("sep="):
        lines = lines[1:]
    if not lines:
        return False
    first = lines[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    cells = {c.strip().strip('"').lower() for c in first.split(delimiter)}
    return "patient_id" in cells or "kind" in cells or len(cells & set(COLUMNS)) >= 2


def _guess_text(path: Path, text: str) -> str:
    """Return what a text file that is not a record seems to be, e.g. ``Markdown text``."""
    suffix = path.suffix.lower()
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    if suffix in (".md", ".markdown") or _MARKDOWN.search(text):
        return "Markdown text"
    if first.startswith("MSH|"):
        return "an HL7 v2 message"
    if suffix in (".py", ".sh", ".toml", ".ini", ".cfg", ".yaml", ".yml") or first.startswith("#!"):
        return "a program or configuration file"
    if any(first.count(d) >= 2 for d in (",", ";", "\t")):
        return "a CSV file without Oncoboard's columns"
    return "plain text"
