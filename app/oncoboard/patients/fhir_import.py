"""Read a FHIR R4 Bundle (JSON) into a :class:`~oncoboard.patients.importer.Batch`.

Each entry's resource is validated by its fhir.resources model (the R4B package, which reads R4
resources); nothing is parsed by hand. Resource types that carry no clinical row (Practitioner,
Organization, Medication...) are validated too, used to resolve references, and counted as
"not stored". Mapping of each stored type to rows is in :mod:`.fhir_map`.
"""

from __future__ import annotations

import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic

from oncoboard.errors import RecordImportError
from oncoboard.patients import fhir_validation
from oncoboard.patients.importer import Batch
from oncoboard.patients.limits import MAX_JSON_DEPTH, json_depth_problem

if TYPE_CHECKING:
    from oncoboard.store import Store

#: Resource types mapped to rows.
STORED = ("Patient", "Condition", "Observation", "Procedure", "MedicationRequest",
          "MedicationAdministration", "MedicationStatement", "DocumentReference",
          "Composition", "CarePlan", "Encounter")


#: The fhir.resources (R4B) class that validates a resource type (None: not a type), see
#: :mod:`.fhir_validation`.
model_class = fhir_validation.model_class


def _validation_reason(exc: pydantic.ValidationError) -> str:
    errs = exc.errors()
    parts = []
    for e in errs[:3]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "__root__") or "resource"
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    more = f" (+{len(errs) - 3} more)" if len(errs) > 3 else ""
    return "invalid FHIR: " + "; ".join(parts) + more


#: 'Patient/<id>', a bare id, or an absolute URL ending in 'Patient/<id>' (maybe versioned).
_PATIENT_REFERENCE = re.compile(r"^(?:(?:.*/)?Patient/)?([^/]+)(?:/_history/[^/]+)?$")


@dataclass
class Context:
    """What resource mappers need: the batch, references, the store, the file."""

    batch: Batch
    store: Store
    path: Path
    resources: dict[str, Any] = field(default_factory=dict)   # reference -> model
    patient_ids: dict[str, str] = field(default_factory=dict)  # reference -> patient ID

    def error(self, reason: str, where: str) -> RecordImportError:
        """Return the error to raise for one resource."""
        return RecordImportError(reason, file=self.path, where=where)

    def patient_for(self, ref: Any, where: str, what: str = "subject") -> str:
        """Return the patient ID a Reference points to; raise if missing, dangling or ambiguous.

        A literal reference is looked up in the bundle (resource type/id or fullUrl), then as
        'Patient/<id>' (also written as a bare id, versioned, or an absolute URL ending in
        'Patient/<id>') in the bundle and in the database.
        A logical reference (``identifier`` only, as IHE exports send) is matched against the
        identifiers of the bundle's patients, then of the stored ones.
        """
        reference = getattr(ref, "reference", None) if ref is not None else None
        identifier = getattr(ref, "identifier", None) if ref is not None else None
        if identifier is not None and not identifier.value:
            identifier = None
        if not reference and identifier is None:
            raise self.error(f"no {what} reference: every clinical resource must name its "
                             "patient", where)
        if reference:
            pid = self.patient_ids.get(reference)
            if pid is None:
                match = _PATIENT_REFERENCE.search(reference)
                rid = match.group(1) if match else None
                if rid:  # this bundle's Patient/<id> first (a versioned or absolute form)
                    pid = self.patient_ids.get(f"Patient/{rid}") or self._stored_patient(
                        "source_id = ? OR id = ?", [rid, rid], reference, where)
            if pid is not None:
                self.patient_ids[reference] = pid
                return pid
            if identifier is None:
                raise self.error(f"{what} {reference} is not a Patient in this bundle or the "
                                 "database", where)
        return self._patient_by_identifier(identifier, where, what)

    def _patient_by_identifier(self, identifier: Any, where: str, what: str) -> str:
        system, value = identifier.system, str(identifier.value)
        key = f"identifier|{system or ''}|{value}"
        pid = self.patient_ids.get(key)
        if pid is not None:
            return pid
        found = {self.patient_ids[ref] for ref, model in self.resources.items()
                 if ref in self.patient_ids and any(
                     i.value == value and (system is None or i.system in (None, system))
                     for i in (model.identifier or []))}
        if len(found) > 1:
            raise self.error(f"{what} identifier {value} matches several patients of this "
                             f"bundle ({', '.join(sorted(found))})", where)
        pid = found.pop() if found else self._stored_patient(
            self.store.dialect.PATIENT_HAS_IDENTIFIER,
            [value, system, system], f"identifier {value}", where)
        if pid is None:
            label = f"{system}|{value}" if system else value
            raise self.error(f"{what} identifier {label} is not a Patient in this bundle or "
                             "the database", where)
        self.patient_ids[key] = pid
        return pid

    def _stored_patient(self, condition: str, params: list[Any], label: str,
                        where: str) -> str | None:
        """Return the one stored patient matching `condition`; refuse several."""
        rows = self.batch.query(self.store, f"SELECT id FROM patients WHERE {condition} "
                                "ORDER BY id LIMIT 2", params)
        if len(rows) > 1:
            raise self.error(f"{label} matches several stored patients ({rows[0][0]}, "
                             f"{rows[1][0]}): put the Patient in the bundle", where)
        return str(rows[0][0]) if rows else None

    def resolve(self, ref: Any) -> Any:
        """Return the resource a Reference points to inside the bundle, or None."""
        reference = getattr(ref, "reference", None) if ref is not None else None
        return self.resources.get(reference) if reference else None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _load_json(path: Path, text: str) -> dict[str, Any]:
    if text.lstrip().startswith("<"):
        raise RecordImportError("this looks like XML: FHIR bundles must be JSON", file=path)
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise RecordImportError(f"JSON nested too deeply (limit {MAX_JSON_DEPTH} levels)",
                                file=path) from exc
    except ValueError as exc:
        if not isinstance(exc, json.JSONDecodeError):
            raise RecordImportError(f"invalid JSON: {exc}", file=path) from exc
        raise RecordImportError(f"invalid JSON: {exc.msg} at line {exc.lineno} column "
                                f"{exc.colno}", file=path) from exc
    if reason := json_depth_problem(data):
        raise RecordImportError(reason, file=path)
    if not isinstance(data, dict):
        raise RecordImportError(f"not a FHIR resource (JSON {type(data).__name__})", file=path)
    kind = data.get("resourceType")
    if kind != "Bundle":
        raise RecordImportError(f"not a FHIR Bundle (resourceType {kind!r}); "
                                "import patients expects a Bundle", file=path)
    return data


def _entries(path: Path, data: dict[str, Any]) -> list[tuple[str, dict[str, Any], str | None]]:
    """Return (where, resource dict, fullUrl) for each entry; refuse duplicates."""
    shell = {k: v for k, v in data.items() if k != "entry"}
    bundle_cls = model_class("Bundle")
    try:
        bundle_cls.model_validate(shell)
    except pydantic.ValidationError as exc:
        raise RecordImportError(_validation_reason(exc), file=path, where="Bundle") from exc
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        raise RecordImportError("Bundle.entry is not a list", file=path, where="Bundle")
    out = []
    seen: dict[str, str] = {}
    for i, entry in enumerate(entries):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            raise RecordImportError("entry has no resource", file=path, where=f"entry {i}")
        kind, rid = res.get("resourceType"), res.get("id")
        where = f"entry {i} ({kind}/{rid})" if rid else f"entry {i} ({kind})"
        full_url = entry.get("fullUrl")
        for key in (f"{kind}/{rid}" if rid else None, full_url):
            if key is None:
                continue
            if key in seen:
                raise RecordImportError(f"duplicate id {key} (also {seen[key]})", file=path,
                                        where=where)
            seen[key] = where
        out.append((where, res, full_url))
    return out


# Complex elements that repeat across resources (codes, categories, subject references...).
_MEMO_KEYS = frozenset(("meta", "code", "category", "subject", "class", "type",
                        "clinicalStatus", "verificationStatus", "valueCodeableConcept",
                        "medicationCodeableConcept", "author", "referenceRange", "bodySite",
                        "extension", "priority"))
_MEMO_SIZE = 4096
_memo: dict[tuple[Any, str], Any] = {}
#: Element types that stand for any of several (a contained resource, any element): the
#: resource's own validation chooses their class from the data.
_POLYMORPHIC = frozenset(("Resource", "DomainResource", "Element", "BackboneElement"))
_element_plans: dict[Any, dict[str, tuple[Any, bool]]] = {}


def _element_plan(cls: Any) -> dict[str, tuple[Any, bool]]:
    """Return {JSON key: (planned element class, memoised)} of the complex elements of `cls`."""
    plan = _element_plans.get(cls)
    if plan is None:
        plan = {}
        for name, info in cls.model_fields.items():
            key, klass, stack = info.alias or name, None, [info.annotation]
            while stack and klass is None:
                annotation = stack.pop()
                if hasattr(annotation, "get_model_klass"):
                    klass = annotation.get_model_klass()
                stack.extend(typing.get_args(annotation))
            if klass is not None and klass.__name__ not in _POLYMORPHIC:
                plan[key] = (fhir_validation.planned_class(klass), key in _MEMO_KEYS)
        _element_plans[cls] = plan
    return plan


def _validated_element(klass: Any, value: dict[str, Any], memo: bool) -> Any:
    if not memo:
        try:
            return klass.model_validate(value)
        except pydantic.ValidationError:
            return None  # left as it is: the resource's validation reports it with its path
    # repr of JSON-decoded data is exact (str, int, float, bool, None, list, dict) and 10x
    # cheaper than json.dumps; the same element with its keys in another order just misses
    key = (klass, repr(value))
    model = _memo.get(key)
    if model is not None:
        return model
    try:
        model = klass.model_validate(value)
    except pydantic.ValidationError:
        return None
    if len(_memo) >= _MEMO_SIZE:  # bounded: start again rather than track recency
        _memo.clear()
    _memo[key] = model
    return model


def _with_validated_elements(cls: Any, res: dict[str, Any]) -> dict[str, Any]:
    """Return `res` with its complex elements replaced by models of their own classes.

    fhir.resources accepts an already validated element model as is. Elements are validated
    by the planned classes (:mod:`.fhir_validation`), and an element that occurs in many
    resources (the same LOINC code, category, subject) is validated once instead of once per
    resource: about half the validation time of a typical bundle. An element that does not
    validate is left as it was, for the resource's validation to report with its full path.
    The cache is bounded (emptied when full), so memory does not grow with the number of
    files.
    """
    plan = _element_plan(cls)
    out = None
    for key, value in res.items():
        found = plan.get(key)
        if found is None or not value or not isinstance(value, (dict, list)):
            continue
        klass, memo = found
        if isinstance(value, dict):
            model: Any = _validated_element(klass, value, memo)
        else:
            items = [_validated_element(klass, v, memo) if isinstance(v, dict) else None
                     for v in value]
            model = None if any(m is None for m in items) else items
        if model is None:
            continue
        if out is None:
            out = dict(res)
        out[key] = model
    return out if out is not None else res


def _validate(path: Path, where: str, res: dict[str, Any]) -> Any:
    cls = model_class(str(res.get("resourceType")))
    if cls is None:
        raise RecordImportError(f"unknown resource type {res.get('resourceType')!r}",
                                file=path, where=where)
    try:
        return cls(**_with_validated_elements(cls, res))
    except pydantic.ValidationError as exc:
        raise RecordImportError(_validation_reason(exc), file=path, where=where) from exc


def _entered_in_error(model: Any) -> bool:
    fields = model.__dict__  # a missing field through getattr costs an exception in pydantic
    if fields.get("status") == "entered-in-error":
        return True
    verification = fields.get("verificationStatus")  # Condition
    return any(c.code == "entered-in-error" for c in (getattr(verification, "coding", None)
                                                      or []))


def read_bundle(store: Store, path: Path, text: str, sha256: str) -> Batch:
    """Validate every resource of a Bundle and return the rows to write.

    Raises
    ------
    RecordImportError
        Naming the file, the entry (index, type/id) and the reason.
    """
    from oncoboard.patients import fhir_map

    data = _load_json(path, text)
    ctx = Context(Batch(path, "fhir", sha256), store, path)
    models = []
    for where, res, full_url in _entries(path, data):
        model = _validate(path, where, res)
        models.append((where, model))
        kind = model.get_resource_type()
        pid = fhir_map.patient_id(model) if kind == "Patient" else None
        for key in (f"{kind}/{model.id}" if model.id else None, full_url):
            if key:
                ctx.resources[key] = model
                if pid is not None:
                    ctx.patient_ids[key] = pid
    for where, model in models:
        kind = model.get_resource_type()
        mapper = fhir_map.mappers().get(kind)
        if mapper is None:
            ctx.batch.skipped[kind] += 1
            continue
        if _entered_in_error(model):  # the source says this resource is wrong: never use it
            ctx.batch.skipped[f"{kind} (entered-in-error)"] += 1
            continue
        mapper(ctx, model, where)
    fhir_map.group_regimens(ctx)
    fhir_map.link_stage_assessments(ctx)
    return ctx.batch
