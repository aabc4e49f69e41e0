"""The classes that validate FHIR resources on import: fhir.resources (R4B) classes whose two
per-resource checks of fhir_core run from a plan computed once per class.

Every model of fhir.resources runs two Python checks of fhir_core on top of pydantic's own
validation: before it, "no null inside a list of complex elements" (which walks every field
of the class and inspects its type annotation, for each resource); after it, "required
primitive elements are present" and "at most one (or exactly one) value of each choice
element ``x[x]``".

:func:`model_class` returns a subclass of the fhir.resources class whose two checks, defined
under the same names as fhir_core's validators (so that they take their place), do the same
thing from a plan computed once per class (the fields to look at, the choice groups). When the
plan finds a problem, or cannot decide, it calls fhir_core's own check, so the error a user
sees is fhir_core's, word for word. :func:`planned_class` does the same for element classes
(Quantity, CodeableConcept...), which the import uses to validate a resource's elements first
(``fhir_import._with_validated_elements``, with its memo of repeated elements).

Measured in one run (tests/bench/bench_fhir_validation.py, 10,000 resources, medians of 9
interleaved rounds): library classes 155 us a resource, elements memo 74 us, memo and planned
checks 41 us; whole ``import_file`` of 200 bundles 0.99 s with the memo only, 0.78 s with the
planned checks too. The plans rely on fhir_core's validator and helper names, so they are only
used with the fhir_core release series they were checked against (:data:`CHECKED_FHIR_CORE`,
also the bound in pyproject.toml) and when those names are where this module expects them;
otherwise the library classes are returned unchanged. Equivalence with the library (same
acceptances, same errors) is tested in tests/unit/patients/test_fhir_validation.py.
"""

from __future__ import annotations

import importlib.metadata
import logging
from typing import Any

log = logging.getLogger(__name__)

#: fhir_core versions whose checks the plans reproduce (the ``major.minor`` release series).
CHECKED_FHIR_CORE = ("1.1",)

_BEFORE = "reject_null_complex_elements"
_AFTER = "validate_after_model_construction"

_classes: dict[str, Any] = {}
_enabled: bool | None = None


def planned_checks_enabled() -> bool:
    """Return True when the installed fhir_core is one the plans were checked against."""
    global _enabled
    if _enabled is None:
        try:
            version = importlib.metadata.version("fhir_core")
        except importlib.metadata.PackageNotFoundError:
            version = ""
        from fhir_core.fhirabstractmodel import FHIRAbstractModel

        _enabled = (version.startswith(tuple(v + "." for v in CHECKED_FHIR_CORE))
                    and all(hasattr(FHIRAbstractModel, name) for name in (
                        _BEFORE, _AFTER, "_validate_required_primitive_elements",
                        "_validate_one_of_many", "get_required_fields",
                        "get_one_of_many_fields", "get_alias_mapping")))
        if not _enabled:
            log.info("fhir_core %s: resources validated by the library classes only", version)
    return _enabled


def library_class(resource_type: str) -> Any:
    """Return the fhir.resources (R4B) class of a resource type, or None if there is none."""
    from fhir.resources.R4B import get_fhir_model_class

    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError, ImportError, AttributeError):
        return None


def model_class(resource_type: str) -> Any:
    """Return the class that validates a resource type (see the module), or None."""
    cls = _classes.get(resource_type)
    if cls is None:
        base = library_class(resource_type)
        if base is None:
            return None
        cls = planned_class(base)
        _classes[resource_type] = cls
    return cls


_planned_by_base: dict[Any, Any] = {}


def planned_class(base: Any) -> Any:
    """Return the planned subclass of a fhir.resources class (an element's, too), or `base`."""
    cls = _planned_by_base.get(base)
    if cls is None:
        cls = _planned(base) if planned_checks_enabled() else base
        _planned_by_base[base] = cls
    return cls


def _null_list_keys(cls: Any) -> list[tuple[str | None, str]]:
    """Return (alias, name) of the fields fhir_core's null-in-list check looks at."""
    from fhir_core.utils import is_list_type, is_primitive_type

    return [(field.alias, name) for name, field in cls.model_fields.items()
            if is_list_type(field) and not is_primitive_type(field)
            and not name.endswith("__ext")]


def _planned(base: Any) -> Any:
    """Return a subclass of `base` whose fhir_core checks run from a per-class plan."""
    from pydantic import model_validator

    # every key the library may look at (alias and name): finding a null under one of them
    # more than the library would only hands the decision to the library
    null_keys = tuple(dict.fromkeys(key for alias, name in _null_list_keys(base)
                                    for key in (alias, name) if key))
    after_plan: list[Any] = []  # filled by the first instance: the generated methods need one

    def reject_null_complex_elements(cls: Any, data: Any) -> Any:
        if isinstance(data, dict):
            get = data.get
            for key in null_keys:
                value = get(key)
                if value.__class__ is list and None in value:
                    return getattr(super(planned, cls), _BEFORE)(data)  # fhir_core decides
        return data

    def validate_after_model_construction(self: Any) -> Any:
        if not after_plan:
            after_plan.append(_after_plan(self))
        required, groups = after_plan[0]
        for key in required:
            if getattr(self, key, None) is None:
                self._validate_required_primitive_elements()  # may be legal: an extension
                break
        for fields, needed in groups:
            found = 0
            for name in fields:
                if getattr(self, name, None) is not None:
                    found += 1
            if found > 1 or (needed and not found):
                self._validate_one_of_many()  # raises fhir_core's error
        return self

    namespace = {
        "__module__": base.__module__,
        "__qualname__": base.__qualname__,
        "__doc__": base.__doc__,
        _BEFORE: model_validator(mode="before")(
            classmethod(reject_null_complex_elements)),  # type: ignore[arg-type]
        _AFTER: model_validator(mode="after")(validate_after_model_construction),
    }
    planned: Any = type(base.__name__, (base,), namespace)
    return planned


def _after_plan(instance: Any) -> tuple[list[str], list[tuple[list[str], bool]]]:
    """Return (required field names, [(choice fields, one required)]) of a class."""
    cls = type(instance)
    aliases = cls.get_alias_mapping()
    required = [aliases[name] for name, _ in instance.get_required_fields()]
    groups = []
    for fields in instance.get_one_of_many_fields().values():
        extra = cls.model_fields[fields[0]].json_schema_extra
        groups.append((list(fields), extra["one_of_many_required"] is True))
    return required, groups
