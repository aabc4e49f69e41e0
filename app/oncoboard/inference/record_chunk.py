"""The record of many patients read table by table: :class:`ChunkRecord`.

A :class:`~oncoboard.inference.record_access.RecordView` reads the record through
:mod:`oncoboard.patients.record` (one query per patient and code); given a ChunkRecord it reads
the same rows, in the same order, from a few queries for the whole list of patients. Local
validation (256 patients at a time) and the board's predictions (every patient of the agenda)
use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oncoboard.store import Store


class ChunkRecord:
    """The functions of :mod:`oncoboard.patients.record` a RecordView calls, for many patients.

    Each table is read once for the chunk of patients (observations once per code), with the
    module's own ordering and row conversion, instead of once per patient and input: the same
    rows in the same order, a few queries per 256 patients.
    """

    def __init__(self, store: Store, ids: Sequence[str]):
        from oncoboard.patients import record

        self._r, self.store, self.ids = record, store, list(ids)
        self._marks = ",".join("?" * len(self.ids))
        self._tables: dict[Any, dict[str, list[Any]]] = {}
        self._names: dict[type, frozenset[str]] = {}

    def _build(self, cls: type, row: dict[str, Any]) -> Any:
        """``record._build`` with the field names looked up once per class."""
        names = self._names.get(cls)
        if names is None:
            import dataclasses

            names = self._names[cls] = frozenset(f.name for f in dataclasses.fields(cls))
        return cls(**{k: v for k, v in row.items() if k in names})

    def _grouped(self, key: Any, sql: str, params: list[Any], build: Callable[[dict[str, Any]], Any]
                 ) -> dict[str, list[Any]]:
        if key not in self._tables:
            out: dict[str, list[Any]] = {}
            for r in self.store.db.query(sql, params):
                out.setdefault(r["patient_id"], []).append(build(r))
            self._tables[key] = out
        return self._tables[key]

    def get_patient(self, store: Store, patient_id: str) -> Any:
        """Return the patient (as ``record.get_patient``)."""
        r = self._r
        rows = self._grouped("patients", f"SELECT *, id AS patient_id FROM ({r._LIST_SQL} "
                                         f"WHERE p.id IN ({self._marks})) AS listed", self.ids,
                             r._patient)
        if patient_id not in rows:
            from oncoboard.errors import NotFoundError

            raise NotFoundError(f"no patient with ID {patient_id!r}")
        return rows[patient_id][0]

    def conditions(self, store: Store, patient_id: str) -> list[Any]:
        """Return the patient's conditions (as ``record.conditions``)."""
        r = self._r

        def build(row: dict[str, Any]) -> Any:
            r._loads(row, "markers", "extra")
            row["is_primary_cancer"] = bool(row["is_primary_cancer"])
            return self._build(r.Condition, row)
        return list(self._grouped(
            "conditions", f"SELECT * FROM conditions WHERE patient_id IN ({self._marks}) "
                          f"ORDER BY is_primary_cancer DESC, diagnosis_date DESC, id", self.ids,
            build).get(patient_id, []))

    def observations(self, store: Store, patient_id: str, code: str | None = None,
                     system: str | None = None, before: Any = None, category: str | None = None
                     ) -> list[Any]:
        """Return the patient's observations (as ``record.observations``)."""
        r = self._r
        key = ("observations", code, system, category)
        rows = self._tables.get(key)
        if rows is None:
            sql = f"SELECT * FROM observations WHERE patient_id IN ({self._marks})"
            params: list[Any] = list(self.ids)
            for column, value in (("code", code), ("code_system", system),
                                  ("category", category)):
                if value is not None:
                    sql += f" AND {column} = ?"
                    params.append(value)
            sql += (" ORDER BY coalesce(julianday(effective), "
                    "julianday(substr(effective || '-01-01', 1, 10))), id")
            rows = self._grouped(key, sql, params,
                                 lambda row: self._build(r.Observation, r._loads(row, "extra")))
        found = rows.get(patient_id, [])
        if before is not None:
            end = r._end_of(before)
            found = [o for o in found if o.effective is not None and o.effective <= end]
        return list(found)

    def treatments(self, store: Store, patient_id: str, kind: str | None = None) -> list[Any]:
        """Return the patient's treatments (as ``record.treatments``)."""
        r = self._r
        rows = self._grouped(
            "treatments", f"SELECT * FROM treatments WHERE patient_id IN ({self._marks}) "
                          f"ORDER BY start_date, id", self.ids,
            lambda row: self._build(r.Treatment, r._loads(row, "agents", "extra")))
        return [t for t in rows.get(patient_id, []) if kind is None or t.kind == kind]

    def notes(self, store: Store, patient_id: str) -> list[Any]:
        """Return the patient's notes (as ``record.notes``)."""
        r = self._r
        return list(self._grouped(
            "notes", f"SELECT * FROM notes WHERE patient_id IN ({self._marks}) "
                     f"ORDER BY date, id", self.ids,
            lambda row: self._build(r.Note, row)).get(patient_id, []))
