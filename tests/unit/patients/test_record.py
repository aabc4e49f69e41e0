"""The query API: listing, summaries, observations by date, notes search with accents."""

from __future__ import annotations

import pytest
from patient_helpers import basic_patient, full_record

from oncoboard.errors import NotFoundError
from oncoboard.patients import codes, record
from oncoboard.patients import fhir_build as fb
from oncoboard.patients.importer import import_file


@pytest.fixture
def two_patients(store, write_bundle):
    import_file(store, write_bundle(full_record(), "a.json"))
    lung = [fb.patient("p2", "MRN-2", "Lungwort", "Bob", "1960-05-05", "male"),
            fb.condition("c2", "p2", "C34.1", "Lung cancer", "2021-01-01", stage="IIIA"),
            fb.observation("l1", "p2", "ldh", "2021-01-10", value=200, unit="U/L",
                           ref_high=225),
            fb.observation("l2", "p2", "ldh", "2021-02-20", value=300, unit="U/L",
                           ref_high=225),
            fb.observation("l3", "p2", "ldh", "2021-04-01", value=400, unit="U/L",
                           ref_high=225),
            fb.document("d1", "p2", "consultation", "2021-02-21",
                        "Patient fébrile, fièvre à 38,5 °C. Pas de diarrhée.", "fr",
                        "oncologist"),
            fb.document("d2", "p2", "phone", "2021-02-22",
                        "No fever today. Neutropenia grade 2 on the last blood count.", "en",
                        "nurse")]
    import_file(store, write_bundle(lung, "b.json"))
    return store


def test_list_and_search_patients(two_patients):
    assert [p.id for p in record.list_patients(two_patients)] == ["MRN-1", "MRN-2"]
    assert [p.id for p in record.list_patients(two_patients, "c34")] == ["MRN-2"]
    assert [p.id for p in record.list_patients(two_patients, "lungwort")] == ["MRN-2"]
    assert [p.id for p in record.list_patients(two_patients, "Anna Testcase")] == ["MRN-1"]
    assert [p.id for p in record.list_patients(two_patients, "mrn-1")] == ["MRN-1"]
    assert record.list_patients(two_patients, "nobody") == []
    p = record.list_patients(two_patients, "MRN-2")[0]
    assert (p.diagnosis, p.name) == ("C34.1", "LUNGWORT, Bob")


def test_unknown_patient_raises_not_found(two_patients):
    for call in (record.get_summary, record.observations, record.treatments, record.notes,
                 record.outcomes, record.conditions):
        with pytest.raises(NotFoundError, match="no patient with ID 'XX'"):
            call(two_patients, "XX")
    with pytest.raises(NotFoundError):
        record.latest_observation(two_patients, "XX", codes.LOINC, "2532-0")


def test_observations_filters(two_patients):
    all_ldh = record.observations(two_patients, "MRN-2", code="2532-0", system=codes.LOINC)
    assert [o.value_num for o in all_ldh] == [200, 300, 400]
    assert [o.value_num for o in record.observations(two_patients, "MRN-2", code="2532-0",
                                                     before="2021-02-20")] == [200, 300]
    assert record.observations(two_patients, "MRN-2", category="laboratory")
    assert record.observations(two_patients, "MRN-2", code="2532-0", system=codes.SNOMED) == []


def test_latest_observation_before_and_within(two_patients):
    def latest(**kw):
        o = record.latest_observation(two_patients, "MRN-2", codes.LOINC, "2532-0", **kw)
        return None if o is None else o.value_num

    assert latest() == 400
    assert latest(before="2021-03-01") == 300
    assert latest(before="2021-03-01", within_days=30) == 300
    assert latest(before="2021-03-31", within_days=30) is None
    assert latest(before="2020-01-01") is None
    o = record.latest_by_key(two_patients, "MRN-2", "ldh", before="2021-01-31")
    assert (o.value_num, o.reference_high, o.unit) == (200, 225, "U/L")


def test_search_notes_ignores_accents_and_marks_the_match(two_patients):
    hits = record.search_notes(two_patients, "fievre")
    assert {h.patient_id for h in hits} == {"MRN-1", "MRN-2"}
    assert any("[fièvre]" in h.snippet for h in hits)
    assert record.search_notes(two_patients, "FIÈVRE")  # case and accents both ways
    (hit,) = record.search_notes(two_patients, "fever")
    assert hit.language == "en" and "No [fever] today" in hit.snippet
    assert len(record.search_notes(two_patients, "neutrop*")) == 1
    (hit,) = record.search_notes(two_patients, "diarrhee", patient_id="MRN-2")
    assert hit.note_type == "consultation"
    html = record.search_notes(two_patients, "fébrile", mark=("<b>", "</b>"))
    assert "<b>fébrile</b>" in html[0].snippet


def test_search_notes_tolerates_fts_syntax(two_patients):
    assert record.search_notes(two_patients, "") == []
    assert record.search_notes(two_patients, '"fever') == record.search_notes(two_patients,
                                                                               "fever")
    assert record.search_notes(two_patients, "fever AND OR NOT (") == []
    assert len(record.search_notes(two_patients, "fièvre", limit=1)) == 1


def test_summary_without_cancer(store, write_bundle):
    import_file(store, write_bundle([basic_patient()]))
    s = record.get_summary(store, "MRN-1")
    assert s.primary_cancer is None and s.stage is None and s.latest_ecog is None
    assert s.counts == {"conditions": 0, "observations": 0, "treatments": 0, "notes": 0,
                        "outcomes": 0}
