"""The validation cohort: the output validated, the reference date and each patient's outcome.

Moved from :mod:`oncoboard.inference.validation` unchanged: which output of a plugin is validated
and from which date (:func:`target_output`, :func:`default_horizon`, :func:`reference_rule`), and
the cohort itself (:func:`iter_cohort`, :func:`build_cohort`), read with bulk queries a chunk of
:data:`CHUNK` patients at a time (one query per table, not per patient). The cohort rules are in
the docstring of :mod:`oncoboard.inference.validation`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oncoboard.errors import OncoboardError

if TYPE_CHECKING:
    from oncoboard.store import Store

DAYS_PER_MONTH = 365.25 / 12
#: Outcome kinds that count as the event, by plugin task.
EVENT_KINDS = {"relapse": ("relapse", "progression", "death"), "response": ("response",),
               "toxicity": ("hospitalisation",), "other": ("death",)}
#: Default horizon (months) of probability outputs, by task; survival outputs default to the
#: explanation's time, else 60 months when on the grid, else the grid's end.
BINARY_HORIZON = {"toxicity": 1.0, "response": 3.0, "other": 12.0, "relapse": 60.0}
CHUNK = 256


@dataclass
class Case:
    """One patient of the cohort: reference date, follow-up, event, or why excluded."""

    patient_id: str
    reference_date: dt.date | None = None
    months: float | None = None
    event: bool = False
    excluded: str | None = None


# ---------------------------------------------------------------------------------------------
# The plugin: what is predicted, from when
# ---------------------------------------------------------------------------------------------


def target_output(manifest: Any) -> Any:
    """Return the output validated: the first displayed survival or probability output."""
    for kind in ("survival", "probability"):
        for o in manifest.outputs:
            if o.kind == kind and o.display and (kind != "survival"
                                                 or o.quantity in ("survival",
                                                                   "cumulative_incidence")):
                return o
    raise OncoboardError(f"plugin {manifest.id} has no survival or probability output to "
                         f"validate", where="validate")


def default_horizon(manifest: Any, out: Any) -> float:
    """Return the default horizon in months (see :data:`BINARY_HORIZON`)."""
    if out.kind == "probability":
        return BINARY_HORIZON.get(manifest.task, 12.0)
    grid = [float(t) for t in out.time_grid]
    at = manifest.explanation.at_time if manifest.explanation else None
    if at is not None and float(at) in grid:
        return float(at)
    return 60.0 if 60.0 in grid else grid[-1]


def reference_rule(manifest: Any) -> str:
    """Describe the reference date used for the plugin."""
    t = manifest.population.treatment
    if t is not None and t.kind:
        what = f"{t.subkind} {t.kind}" if t.subkind else t.kind
        return f"date of the first {what} recorded (the plugin is used once it is decided/done)"
    return "date of diagnosis of the primary cancer"


# ---------------------------------------------------------------------------------------------
# The cohort (bulk queries: one per table, not per patient)
# ---------------------------------------------------------------------------------------------


def _day(s: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(s[:10]) if s else None
    except ValueError:
        return None


def cohort_ids(store: Store, cohort: str | None = None) -> list[str]:
    """Return the IDs of the patients of the cohort query (all patients without one), sorted."""
    from oncoboard.patients import record
    from oncoboard.patients.browse import where_clause

    where, params = where_clause(cohort, getattr(store, "backend", "sqlite"))
    return [r["id"] for r in store.db.query(
        f"SELECT id FROM ({record._LIST_SQL} WHERE {where}) AS cohort ORDER BY id", params)]


def iter_cohort(store: Store, manifest: Any, horizon: float, *, cohort: str | None = None,
                ids: Sequence[str] | None = None, chunk: int = CHUNK) -> Iterator[list[Case]]:
    """Yield the cases (reference date and outcome) of the cohort, a chunk of patients at a time.

    Three queries per chunk (reference dates, events, last dated entry), restricted to the
    chunk's patients: memory does not grow with the cohort.
    """
    db = store.db
    t = manifest.population.treatment
    kinds = EVENT_KINDS.get(manifest.task, EVENT_KINDS["other"])
    binary = target_output(manifest).kind == "probability"
    every = list(ids) if ids is not None else cohort_ids(store, cohort)
    for start in range(0, len(every), chunk):
        part = every[start:start + chunk]
        marks = ",".join("?" * len(part))
        if t is not None and t.kind:
            sql = (f"SELECT patient_id, MIN(substr(start_date, 1, 10)) AS d FROM treatments "
                   f"WHERE patient_id IN ({marks}) AND kind = ? AND start_date IS NOT NULL")
            params: list[Any] = [*part, t.kind]
            if t.subkind:
                sql += " AND lower(subkind) = lower(?)"
                params.append(t.subkind)
            ref = {r["patient_id"]: r["d"] for r in db.query(sql + " GROUP BY patient_id",
                                                              params)}
            missing_ref = f"no {t.kind} recorded"
        else:
            ref = {r["patient_id"]: r["d"] for r in db.query(
                f"SELECT patient_id, MIN(substr(diagnosis_date, 1, 10)) AS d FROM conditions "
                f"WHERE patient_id IN ({marks}) AND is_primary_cancer = 1 AND diagnosis_date "
                f"IS NOT NULL GROUP BY patient_id", part)}
            missing_ref = "no dated primary cancer"
        events: dict[str, list[str]] = {}
        for r in db.query(f"SELECT patient_id, substr(date, 1, 10) AS d FROM outcomes WHERE "
                          f"patient_id IN ({marks}) AND kind IN ({','.join('?' * len(kinds))}) "
                          f"AND date IS NOT NULL ORDER BY date", [*part, *kinds]):
            events.setdefault(r["patient_id"], []).append(r["d"])
        last = {r["patient_id"]: r["d"] for r in db.query(
            "SELECT patient_id, MAX(d) AS d FROM ("
            f" SELECT patient_id, substr(effective, 1, 10) AS d FROM observations"
            f" WHERE patient_id IN ({marks})"
            " UNION ALL SELECT patient_id, substr(coalesce(end_date, start_date), 1, 10)"
            f" FROM treatments WHERE patient_id IN ({marks})"
            f" UNION ALL SELECT patient_id, substr(date, 1, 10) FROM notes"
            f" WHERE patient_id IN ({marks})"
            " UNION ALL SELECT patient_id, substr(coalesce(end_date, date), 1, 10)"
            f" FROM outcomes WHERE patient_id IN ({marks})"
            f" UNION ALL SELECT id, substr(deceased_date, 1, 10) FROM patients"
            f" WHERE id IN ({marks})"
            ") AS dated WHERE d IS NOT NULL GROUP BY patient_id", part * 5)}
        yield [_case(pid, _day(ref.get(pid)), missing_ref, events.get(pid, []),
                     _day(last.get(pid)), horizon, binary) for pid in part]


def _case(pid: str, day: dt.date | None, missing_ref: str, event_days: list[str],
          end: dt.date | None, horizon: float, binary: bool) -> Case:
    c = Case(pid)
    if day is None:
        c.excluded = missing_ref
        return c
    c.reference_date = day
    evs = [d for d in (_day(x) for x in event_days) if d is not None]
    if any(d <= day for d in evs):
        c.excluded = "event on or before the reference date"
        return c
    first = min(evs) if evs else None
    if first is not None:
        c.months, c.event = (first - day).days / DAYS_PER_MONTH, True
    elif end is None or end <= day:
        c.excluded = "no follow-up after the reference date"
        return c
    else:
        c.months = (end - day).days / DAYS_PER_MONTH
    if binary:
        if c.event and c.months > horizon:
            c.event = False
        if not c.event and c.months < horizon:
            c.excluded = f"followed less than {horizon:g} months without an event"
    return c


def build_cohort(store: Store, manifest: Any, horizon: float, *, cohort: str | None = None
                 ) -> list[Case]:
    """Return a Case per patient (of the cohort query) with reference date and outcome."""
    return [c for part in iter_cohort(store, manifest, horizon, cohort=cohort) for c in part]
