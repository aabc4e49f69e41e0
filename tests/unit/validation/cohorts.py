"""Cohorts with outcomes written as the CSV files ``oncoboard import patients`` reads.

* :func:`gbsg2_rows` - the 686 GBSG2 patients (lifelines' copy) as breast cancer patients operated
  on a known date, with their recurrence-free survival as outcomes: a relapse on the day of the
  event, or a "last follow-up" entry on the day of censoring. Time zero is the surgery (the date
  relapse-gbsg2 is used at); the trial randomised hormonal therapy at entry, so tamoxifen is
  recorded on that day.
* :func:`synthetic_rows` - any number of such patients with covariates resampled from GBSG2 and
  times drawn from a known proportional-hazards model (for the benchmark and calibration tests).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = ["patient_id", "kind", "source_id", "type", "code_system", "code", "display", "value",
           "unit", "date", "birth_date", "sex", "subkind", "agents", "status"]
ORIGIN = dt.date(1984, 7, 2)


def load_gbsg2() -> dict[str, np.ndarray]:
    """Return GBSG2 as arrays (lifelines' copy; time in days, event = recurrence or death)."""
    from lifelines.datasets import load_gbsg2 as _load

    f = _load()
    return {"age": f["age"].to_numpy(int), "menostat": f["menostat"].astype(str).to_numpy(),
            "tsize": f["tsize"].to_numpy(int),
            "tgrade": f["tgrade"].astype(str).map({"I": 1, "II": 2, "III": 3}).to_numpy(int),
            "pnodes": f["pnodes"].to_numpy(int), "progrec": f["progrec"].to_numpy(int),
            "estrec": f["estrec"].to_numpy(int),
            "horth": (f["horTh"].astype(str) == "yes").to_numpy(bool),
            "days": f["time"].to_numpy(int), "event": f["cens"].to_numpy(int).astype(bool)}


def patient_rows(pid: str, i: int, x: dict[str, Any], days: int, event: bool
                 ) -> Iterator[list[Any]]:
    """Yield the CSV rows of one operated patient (columns as :data:`COLUMNS`)."""
    surgery = ORIGIN + dt.timedelta(days=(i * 37) % 1500)
    surgery = surgery.replace(day=min(surgery.day, 28))
    birth = dt.date(surgery.year - int(x["age"]), surgery.month, surgery.day) - dt.timedelta(30)
    s, dx = surgery.isoformat(), (surgery - dt.timedelta(days=21)).isoformat()
    blank = [""] * len(COLUMNS)
    n = [0]

    def row(**kw: Any) -> list[Any]:
        r = list(blank)
        n[0] += 1
        for k, v in {"patient_id": pid, "source_id": f"r{n[0]}", **kw}.items():
            r[COLUMNS.index(k)] = v
        return r

    yield row(kind="patient", birth_date=birth.isoformat(), sex="female")
    yield row(kind="condition", code_system="icd-10", code="C50.9", date=dx,
              display="Malignant neoplasm of breast")
    meno = "post" if str(x["menostat"]).lower().startswith("post") else "pre"
    yield row(kind="observation", code_system="local", code="menopausal-status", value=meno,
              date=dx)
    yield row(kind="observation", code="tumour_size", value=int(x["tsize"]), unit="mm", date=s)
    yield row(kind="observation", code="positive_nodes", value=int(x["pnodes"]), unit="1",
              date=s)
    yield row(kind="observation", code_system="local", code="histologic-grade",
              value=int(x["tgrade"]), date=s)
    yield row(kind="observation", code_system="local", code="er-fmol", value=int(x["estrec"]),
              unit="fmol/mg", date=s)
    yield row(kind="observation", code_system="local", code="pr-fmol", value=int(x["progrec"]),
              unit="fmol/mg", date=s)
    yield row(kind="treatment", type="surgery", display="Breast surgery with axillary dissection",
              date=s, status="completed")
    if x["horth"]:
        yield row(kind="treatment", type="systemic", display="Tamoxifen", subkind="endocrine",
                  agents="tamoxifen", date=s, status="active")
    end = (surgery + dt.timedelta(days=int(days))).isoformat()
    if event:
        yield row(kind="outcome", type="relapse", display="recurrence or death", date=end)
    else:
        yield row(kind="outcome", type="other", display="last follow-up, alive without "
                                                        "recurrence", date=end)


def write_csv(path: Path, rows: Iterator[list[Any]] | Sequence[list[Any]]) -> Path:
    """Write rows under the header :data:`COLUMNS`; return the path."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(rows)
    return path


def gbsg2_rows(prefix: str = "GBSG") -> Iterator[list[Any]]:
    """Yield the CSV rows of the 686 GBSG2 patients."""
    d = load_gbsg2()
    for i in range(len(d["age"])):
        x = {k: v[i] for k, v in d.items()}
        yield from patient_rows(f"{prefix}-{i + 1:04d}", i, x, d["days"][i], d["event"][i])


def synthetic_rows(n: int, seed: int = 1, prefix: str = "SYN", log_hr: Any = None,
                   baseline_monthly: float = 0.012, follow_up_days: int = 2600
                   ) -> Iterator[list[Any]]:
    """Yield n patients: GBSG2 covariates resampled, times from a known exponential PH model.

    The hazard is ``baseline_monthly * exp(log_hr(x))`` per month (``log_hr`` a function of the
    covariate dict; default: a function of nodes, grade, PR and hormonal therapy), censoring
    uniform over ``follow_up_days``.
    """
    d = load_gbsg2()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(d["age"]), n)
    u, c = rng.random(n), rng.integers(200, follow_up_days, n)
    for j in range(n):
        x = {k: v[pick[j]] for k, v in d.items()}
        lp = (log_hr(x) if log_hr is not None else
              0.05 * min(x["pnodes"], 20) + 0.3 * (x["tgrade"] - 2)
              - 0.25 * np.log1p(x["progrec"]) - 0.35 * x["horth"] + 1.0)
        t_days = -np.log(u[j]) / (baseline_monthly * np.exp(lp)) * 30.4375
        days, event = (int(np.ceil(t_days)), True) if t_days < c[j] else (int(c[j]), False)
        yield from patient_rows(f"{prefix}-{j + 1:05d}", j, x, days, event)
