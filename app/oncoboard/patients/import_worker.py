"""Start-up of the processes that read patient files in parallel (see
``import_pool.import_files``).

Imported once by the pool's fork server, so each reading process starts with the FHIR
models, the validation plans, the unit registry and the code tables already loaded instead
of loading them itself. A reading process only looks the stored record up (patients of
earlier files): it gets a read-only connection (:class:`ReadOnlyRecord`), never the store.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from oncoboard import units
from oncoboard.patients import csv_import, fhir_import, fhir_map, import_pool  # noqa: F401


class ReadOnlyRecord:
    """The patient database opened read-only, for the reads of ``importer.Batch.query``.

    It offers what those reads use of a :class:`~oncoboard.store.Store` (``db.execute`` and
    ``path``); SQLite refuses any write through it.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        # file:///C:/... on Windows, file:///home/... elsewhere; spaces and '#' encoded
        self.db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        self.db.execute("PRAGMA busy_timeout = 10000")  # the writer holds the lock briefly

    def close(self) -> None:
        """Close the connection."""
        self.db.close()


for _kind in (*fhir_import.STORED, "Bundle", "Practitioner", "Organization", "Medication"):
    fhir_import.model_class(_kind)
units.registry()
