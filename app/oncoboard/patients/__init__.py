"""The clinical record: patients, cancers, labs, treatments, notes, outcomes; FHIR and CSV import."""
