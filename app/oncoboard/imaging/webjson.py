"""DICOM JSON (as in a WADO-RS metadata answer) read the way `headers._record_from_dataset` reads a
pydicom dataset, without building one: pydicom's JSON reader took most of the time between the
metadata's arrival and the first slice (400 instances: about 0.4 s of 0.5).

`JsonDataset` answers ``get(keyword)``, ``keyword in ds`` and sequences (lists of
`JsonDataset`), with values as pydicom gives them to that code: one value as itself, several as
a `MultiValue`, a person name as its alphabetic form. Bulk data (pixels) is never read.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.multival import MultiValue


@lru_cache(maxsize=1024)
def _tag(keyword: str) -> str | None:
    tag = tag_for_keyword(keyword)
    return None if tag is None else f"{tag:08X}"


def _same(value: Any) -> Any:
    return value


class JsonDataset:
    """One DICOM JSON object (``{"0020000D": {"vr": "UI", "Value": [...]}, ...}``)."""

    def __init__(self, data: dict[str, Any]):
        self._data = {k.upper(): v for k, v in data.items()}

    def __contains__(self, keyword: object) -> bool:
        tag = _tag(str(keyword))
        return tag is not None and tag in self._data

    def get(self, keyword: str, default: Any = None) -> Any:
        """Return the value of `keyword` as pydicom would give it, else `default`."""
        tag = _tag(keyword)
        element = self._data.get(tag) if tag is not None else None
        if not isinstance(element, dict):
            return default
        values = element.get("Value")
        if values is None:
            return "" if element.get("vr") != "SQ" else []
        if element.get("vr") == "SQ":
            return [JsonDataset(item) for item in values if isinstance(item, dict)]
        if element.get("vr") == "PN":
            values = [v.get("Alphabetic", "") if isinstance(v, dict) else v for v in values]
        if len(values) == 1:
            return values[0]
        return MultiValue(_same, values)
