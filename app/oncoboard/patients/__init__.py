"""The clinical record (patients, cancers, labs, treatments, notes, outcomes); FHIR/CSV import."""
