"""The planned resource classes accept and refuse exactly what fhir.resources does.

:mod:`oncoboard.patients.fhir_validation` runs two of fhir_core's per-resource checks from
plans computed once per class. These tests compare it with the library classes on the whole
demo cohort (valid) and on resources broken in the ways those checks exist for (invalid):
same models, same errors, word for word.
"""

from __future__ import annotations

import copy
from typing import Any

import pydantic
import pytest

from oncoboard.patients import demo_cohort, fhir_validation
from oncoboard.patients import fhir_build as fb


@pytest.fixture(scope="module")
def cohort_resources() -> list[dict[str, Any]]:
    return [res for p in demo_cohort.generate().patients for res in p.resources]


def _outcome(make: Any, res: dict[str, Any]) -> Any:
    """Return the dumped model, or the validation errors (without pydantic's doc URLs)."""
    try:
        return make(copy.deepcopy(res)).model_dump()
    except pydantic.ValidationError as exc:
        return [(e["type"], e["loc"], e["msg"]) for e in exc.errors()]


def _both(res: dict[str, Any]) -> tuple[Any, Any]:
    """Return what the import does (planned class, called with the elements as keywords) and
    what the library does (its class's model_validate)."""
    kind = res["resourceType"]
    planned, library = fhir_validation.model_class(kind), fhir_validation.library_class(kind)
    ours = _outcome(lambda r: planned(**r), res)
    assert ours == _outcome(planned.model_validate, res)
    return ours, _outcome(library.model_validate, res)


def test_planned_classes_are_the_library_classes_with_planned_checks():
    assert fhir_validation.planned_checks_enabled()
    for kind in ("Patient", "Observation", "Condition", "Procedure", "MedicationStatement",
                 "MedicationRequest", "MedicationAdministration", "DocumentReference",
                 "Composition", "Encounter", "Bundle", "Practitioner", "Organization"):
        planned, library = fhir_validation.model_class(kind), fhir_validation.library_class(kind)
        assert planned is not library and issubclass(planned, library), kind
        assert planned.__name__ == library.__name__
        assert planned.get_resource_type() == kind
        assert planned.model_fields.keys() == library.model_fields.keys()
    assert fhir_validation.model_class("NotAResource") is None


def test_the_demo_cohort_validates_to_the_same_models(cohort_resources):
    kinds = set()
    for res in cohort_resources:
        planned, library = _both(res)
        assert isinstance(planned, dict), (res["id"], planned)
        assert planned == library, res["id"]
        kinds.add(res["resourceType"])
    assert len(kinds) >= 7  # every kind the demo writes


def _observation() -> dict[str, Any]:
    return fb.observation("o1", "p1", "ldh", "2025-01-02", value=250, unit="U/L",
                          ref_low=120, ref_high=246)


def _medication() -> dict[str, Any]:
    return fb.medication("m1", "p1", "carboplatin", "2025-01-02")


BROKEN: dict[str, tuple[Any, Any]] = {
    # fhir_core's "before" check: a null inside a list of complex elements
    "null category": (_observation, lambda r: r.update(category=[None])),
    "null among codings": (_observation,
                           lambda r: r["code"].update(coding=[*r["code"]["coding"], None])),
    "null reference range": (_observation, lambda r: r["referenceRange"].append(None)),
    "null identifier by alias": (_medication, lambda r: r.update(identifier=[None])),
    # "after" checks: required elements, choice elements value[x] / effective[x]
    "missing status": (_observation, lambda r: r.pop("status")),
    "missing code": (_observation, lambda r: r.pop("code")),
    "two values": (_observation, lambda r: r.update(valueString="high")),
    "two effective times": (_observation,
                            lambda r: r.update(effectivePeriod={"start": "2025-01-01"})),
    "no medication": (_medication, lambda r: r.pop("medicationCodeableConcept")),
    "two medications": (_medication,
                        lambda r: r.update(medicationReference={"reference": "Medication/x"})),
    # the library's other checks still run
    "wrong resource type": (_observation, lambda r: r.update(resourceType="Condition")),
    "unknown element": (_observation, lambda r: r.update(valueQuantityy={"value": 1})),
    "bad date": (_observation, lambda r: r.update(effectiveDateTime="2025-13-45")),
    "bad status type": (_observation, lambda r: r.update(status=["final"])),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_resources_get_the_library_errors_word_for_word(case):
    make, breaks = BROKEN[case]
    res = make()
    breaks(res)
    planned, library = _both(res)
    assert isinstance(library, list), f"{case}: the library accepted it"
    assert planned == library


def test_a_required_element_given_only_as_an_extension_is_accepted_by_both():
    res = _observation()
    res.pop("status")
    res["_status"] = {"extension": [{
        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
        "valueCode": "unknown"}]}
    planned, library = _both(res)
    assert isinstance(library, dict) and planned == library
    res["_status"] = {"id": "no-extension"}
    planned, library = _both(res)
    assert isinstance(library, list) and planned == library


def test_an_unchecked_fhir_core_version_gets_the_library_classes(monkeypatch):
    monkeypatch.setattr(fhir_validation, "_classes", {})
    monkeypatch.setattr(fhir_validation, "_planned_by_base", {})
    monkeypatch.setattr(fhir_validation, "_enabled", None)
    monkeypatch.setattr(fhir_validation.importlib.metadata, "version", lambda name: "2.0.0")
    assert not fhir_validation.planned_checks_enabled()
    assert (fhir_validation.model_class("Observation")
            is fhir_validation.library_class("Observation"))


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_import_reports_the_library_error(case, tmp_path):
    """The import validates elements first (planned classes, memo): same message in the end."""
    from pathlib import Path

    from oncoboard.errors import RecordImportError
    from oncoboard.patients import fhir_import

    make, breaks = BROKEN[case]
    res = make()
    breaks(res)
    with pytest.raises(pydantic.ValidationError) as library:
        fhir_validation.library_class(res["resourceType"]).model_validate(copy.deepcopy(res))
    with pytest.raises(RecordImportError) as ours:
        fhir_import._validate(Path("b.json"), "entry 0", copy.deepcopy(res))
    assert ours.value.reason == fhir_import._validation_reason(library.value)


def test_a_fhir_core_without_the_expected_checks_gets_the_library_classes(monkeypatch):
    """A fhir_core whose validators were renamed (same version series): library classes."""
    monkeypatch.setattr(fhir_validation, "_classes", {})
    monkeypatch.setattr(fhir_validation, "_planned_by_base", {})
    monkeypatch.setattr(fhir_validation, "_enabled", None)
    monkeypatch.setattr(fhir_validation, "_BEFORE", "renamed_null_check")
    assert not fhir_validation.planned_checks_enabled()
    assert fhir_validation.model_class("Patient") is fhir_validation.library_class("Patient")
