"""Import a patient from the site's FHIR server: ``oncoboard import patients --from-fhir ID``.

The patient is found by identifier (``Patient?identifier=ID``; ID may be ``system|value``), then
their record is fetched with ``Patient/<id>/$everything``, or, where the server does not offer
that operation, with ``Patient/<id>`` and a search per stored resource type
(``Condition?subject=Patient/<id>``...). Pages (``link`` ``next``) are followed. The resources
are put into one collection Bundle that goes through the same validation and mapping as a file
(:func:`oncoboard.patients.fhir_import.read_bundle`, then the importer's checks and its single
transaction): what a file import refuses, this refuses with the same message.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from oncoboard.config import FhirServer
from oncoboard.errors import FhirServerError, NotFoundError, RecordImportError
from oncoboard.patients.limits import MAX_FILE_BYTES
from oncoboard.remote import fhir_failure, fhir_server, fhir_session, outcome_text

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

#: Resource types searched per patient when the server has no $everything.
SEARCHED = ("Condition", "Observation", "Procedure", "MedicationRequest",
            "MedicationAdministration", "MedicationStatement", "DocumentReference",
            "Composition", "Encounter", "CarePlan")
MAX_PAGES = 200


def _get(http: Any, server: FhirServer, url: str) -> tuple[int, Any]:
    import requests

    try:
        response = http.get(url, timeout=server.timeout_s)
    except requests.exceptions.RequestException as exc:
        raise fhir_failure(server, exc) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code in (401, 403):
        raise FhirServerError(f"{server.label} refused to let this user read the record "
                              f"(HTTP {response.status_code}): check [fhir] auth and the "
                              f"secret in the keyring ({server.keyring_name})")
    if response.status_code >= 400 and response.status_code not in (404, 405, 501):
        detail = outcome_text(body) or response.reason or ""
        raise FhirServerError(f"{server.label} failed GET {url} (HTTP {response.status_code})"
                              + (f": {detail}" if detail else ""))
    return response.status_code, body


def _pages(http: Any, server: FhirServer, url: str) -> tuple[int, list[dict[str, Any]]]:
    """Return (HTTP status of the first page, resources of every page)."""
    resources: list[dict[str, Any]] = []
    status = 0
    for page in range(MAX_PAGES):
        code, body = _get(http, server, url)
        if page == 0:
            status = code
        if code >= 400:
            return status, resources
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            raise FhirServerError(f"{server.label} answered GET {url} without a Bundle")
        for entry in body.get("entry") or []:
            res = entry.get("resource")
            if isinstance(res, dict) and res.get("resourceType") != "OperationOutcome" and \
                    (entry.get("search") or {}).get("mode") != "outcome":
                resources.append(res)
        url = next((link.get("url") for link in body.get("link") or []
                    if link.get("relation") == "next"), None) or ""
        if not url:
            return status, resources
    raise FhirServerError(f"{server.label}: more than {MAX_PAGES} pages for one patient")


def fetch_patient_bundle(server: FhirServer, identifier: str) -> dict[str, Any]:
    """Return a collection Bundle of the patient's record on the server."""
    base = server.base_url
    http = fhir_session(server)
    try:
        status, found = _pages(http, server,
                               f"{base}/Patient?identifier={quote(identifier, safe='|')}")
        patients = [r for r in found if r.get("resourceType") == "Patient"]
        if status >= 400:
            raise FhirServerError(f"{server.label} cannot search patients (HTTP {status})")
        if not patients:
            raise NotFoundError(f"no patient with identifier {identifier} on {server.label}",
                                where="--from-fhir")
        if len({p.get("id") for p in patients}) > 1:
            raise RecordImportError(f"{len(patients)} patients on {server.label} have the "
                                    f"identifier {identifier}: give system|value",
                                    where="--from-fhir")
        pid = str(patients[0].get("id"))
        status, resources = _pages(http, server, f"{base}/Patient/{pid}/$everything")
        if status >= 400:  # no $everything here: the patient and a search per stored type
            resources = [patients[0]]
            for kind in SEARCHED:
                _, more = _pages(http, server, f"{base}/{kind}?subject=Patient/{pid}")
                resources += more
    finally:
        http.close()
    seen: set[str] = set()
    entries = []
    for res in resources:
        key = f"{res.get('resourceType')}/{res.get('id')}"
        if key in seen:
            continue
        seen.add(key)
        entries.append({"fullUrl": f"{base}/{key}", "resource": res})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def import_from_fhir(store: Store, settings: Settings, identifier: str) -> Any:
    """Fetch the patient `identifier` from the FHIR server and import it; return the report."""
    from oncoboard.patients import fhir_import, importer

    server = fhir_server(settings)
    bundle = fetch_patient_bundle(server, identifier)
    text = json.dumps(bundle, ensure_ascii=False, sort_keys=True)
    data = text.encode()
    source = Path(f"{server.base_url}/Patient?identifier={identifier}")
    if len(data) > MAX_FILE_BYTES:
        raise RecordImportError(f"the record is {len(data) / 2**20:,.0f} MiB (limit "
                                f"{MAX_FILE_BYTES // 2**20} MiB)", file=source)
    batch = fhir_import.read_bundle(store, source, text, hashlib.sha256(data).hexdigest())
    return importer.write_batch(store, batch)
