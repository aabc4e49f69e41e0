"""The hanging protocol of the comparison view: which prior study goes beside the current one.

The rule a site can edit (``[viewer.hanging]`` in the configuration, see `oncoboard.config`):
the prior is a series of the **latest earlier study** of the same patient that shares the
attributes listed in ``match`` with the current series (by default its modality and body part),
optionally no older than ``max_age_days``. Inside that study the series most like the current
one is chosen: same description first, then the one with the most images. An empty attribute
(a series without BodyPartExamined) matches only another empty one, unless the site drops
``body_part`` from ``match``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

#: Attributes a site may require the prior to share with the current series.
MATCH_FIELDS = ("modality", "body_part", "description")
#: Series kinds that are never images to compare.
NON_IMAGE = frozenset({"RTSTRUCT", "SEG", "RTPLAN", "RTDOSE", "SR", "PR", "KO"})


@dataclass(frozen=True)
class HangingProtocol:
    """What a prior must share with the current series, and how old it may be (0: any age)."""

    match: tuple[str, ...] = ("modality", "body_part")
    max_age_days: int = 0

    @classmethod
    def from_settings(cls, settings: Settings | None) -> HangingProtocol:
        """Return the protocol of `settings` (the defaults when it has none)."""
        if settings is None:
            return cls()
        return cls(tuple(getattr(settings, "hanging_match", cls.match)),
                   int(getattr(settings, "hanging_max_age_days", 0)))


@dataclass(frozen=True)
class SeriesFacts:
    """What the protocol looks at in one indexed series."""

    series_uid: str
    study_uid: str
    patient_id: str
    study_date: str          # ISO (YYYY-MM-DD) or ''
    modality: str
    body_part: str
    description: str
    frame_of_reference_uid: str
    n_frames: int

    def value(self, name: str) -> str:
        """Return the normalised value of a `MATCH_FIELDS` attribute."""
        return str(getattr(self, name) or "").strip().upper()


_SQL = """
SELECT s.series_uid, s.study_uid, COALESCE(st.patient_id, st.dicom_patient_id, ''),
       COALESCE(st.study_date, ''), COALESCE(s.modality, ''), COALESCE(s.body_part, ''),
       COALESCE(s.description, ''), COALESCE(s.frame_of_reference_uid, ''),
       COALESCE(s.n_frames, 0)
FROM dicom_series s JOIN dicom_studies st ON st.study_uid = s.study_uid
"""


def series_facts(store: Store, series_uid: str) -> SeriesFacts | None:
    """Return the protocol's facts about one indexed series, or None if it is not indexed."""
    row = store.db.execute(_SQL + " WHERE s.series_uid = ?", [series_uid]).fetchone()
    return SeriesFacts(*row) if row else None


def patient_series(store: Store, patient_id: str) -> list[SeriesFacts]:
    """Return the facts of every indexed series of a patient."""
    rows = store.db.execute(
        _SQL + " WHERE st.patient_id = ? OR (st.patient_id IS NULL AND st.dicom_patient_id = ?)",
        [patient_id, patient_id]).fetchall()
    return [SeriesFacts(*r) for r in rows]


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def pick_prior(current: SeriesFacts, candidates: list[SeriesFacts],
               protocol: HangingProtocol | None = None) -> SeriesFacts | None:
    """Return the prior series for `current` among `candidates`, or None.

    Only series of earlier studies (by study date) that share every ``protocol.match``
    attribute are considered; the latest such study wins. Series without a study date are
    never chosen: their order is unknown.
    """
    protocol = protocol or HangingProtocol()
    now = _date(current.study_date)
    if now is None:
        return None
    best: tuple[Any, ...] | None = None
    chosen = None
    for cand in candidates:
        when = _date(cand.study_date)
        if (when is None or when >= now or cand.study_uid == current.study_uid
                or cand.modality.upper() in NON_IMAGE):
            continue
        if protocol.max_age_days and (now - when).days > protocol.max_age_days:
            continue
        if any(cand.value(f) != current.value(f) for f in protocol.match):
            continue
        rank = (when, cand.value("description") == current.value("description"), cand.n_frames,
                cand.series_uid)
        if best is None or rank > best:
            best, chosen = rank, cand
    return chosen


def choose_prior(store: Store, series_uid: str,
                 protocol: HangingProtocol | None = None) -> SeriesFacts | None:
    """Return the prior series the protocol hangs beside indexed series `series_uid`."""
    current = series_facts(store, series_uid)
    if current is None:
        return None
    return pick_prior(current, patient_series(store, current.patient_id), protocol)


def current_series(store: Store, patient_id: str,
                   protocol: HangingProtocol | None = None) -> SeriesFacts | None:
    """Return the newest image series of a patient that has a prior (else the newest image)."""
    series = [s for s in patient_series(store, patient_id) if s.modality.upper() not in NON_IMAGE]
    series.sort(key=lambda s: (s.study_date, s.modality == "CT", s.n_frames), reverse=True)
    for s in series:
        if pick_prior(s, series, protocol) is not None:
            return s
    return series[0] if series else None
