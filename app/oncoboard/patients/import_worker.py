"""Start-up of the processes that read patient files in parallel (see ``import_files``).

Imported once by the pool's fork server, so each reading process starts with the FHIR
models, the validation plans, the unit registry and the code tables already loaded instead
of loading them itself.
"""

from __future__ import annotations

from oncoboard import units
from oncoboard.patients import csv_import, fhir_import, fhir_map, importer  # noqa: F401

for _kind in (*fhir_import.STORED, "Bundle", "Practitioner", "Organization", "Medication"):
    fhir_import.model_class(_kind)
units.registry()
