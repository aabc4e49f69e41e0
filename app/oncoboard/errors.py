"""Errors a user can read.

Every error the core raises on purpose is an :class:`OncoboardError`. It carries what the user
needs to act on it (which file, which resource or field, and why); the CLI turns it into one line
and an exit code, the UI's error boundary into a dialog. Anything else is a bug: it is logged with
its traceback and shown as an internal error.
"""

from __future__ import annotations

from pathlib import Path


class OncoboardError(Exception):
    """Base class for errors meant to be shown to the user.

    Parameters
    ----------
    reason
        What went wrong, in words a clinician or IT person understands.
    file
        The file concerned, if any.
    where
        The resource, field, series, plugin or node concerned, if any.
    """

    exit_code = 2

    def __init__(self, reason: str, *, file: str | Path | None = None, where: str | None = None):
        self.reason = reason
        self.file = str(file) if file is not None else None
        self.where = where
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """Return the one-line message: ``file: where: reason``.

        Each part is cut to a few hundred characters: a place or reason built from a hostile
        file (a 10 MB identifier) must not become a 10 MB line on screen and in the log.
        """
        parts = [_cut(p, _MAX_PART) for p in (self.file, self.where) if p]
        return ": ".join([*parts, _cut(self.reason, _MAX_REASON)])


_MAX_PART, _MAX_REASON = 200, 600


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


class ConfigError(OncoboardError):
    """The configuration (site or user file, environment) is invalid."""


class StorageError(OncoboardError):
    """The database cannot be opened, migrated or written."""

    exit_code = 3


class RecordImportError(OncoboardError):
    """A patient-record file (FHIR, CSV) cannot be imported."""


class DicomError(OncoboardError):
    """A DICOM file or series cannot be read or assembled."""


class PacsError(OncoboardError):
    """A PACS node cannot be reached or refused a request."""

    exit_code = 4


class FhirServerError(OncoboardError):
    """The FHIR server cannot be reached, refused us, or rejected what was sent."""

    exit_code = 4


class PluginError(OncoboardError):
    """A plugin is invalid, fails its integrity checks or cannot be installed."""


class InferenceError(OncoboardError):
    """A prediction cannot be made (missing or invalid inputs, runtime failure)."""


class BoardError(OncoboardError):
    """A tumour-board meeting, case, decision or report cannot be handled."""


class AuditError(OncoboardError):
    """The audit trail is broken or cannot be written."""

    exit_code = 5


class StaleWriteError(OncoboardError):
    """A write based on a meeting, case or decision that someone changed since it was read.

    The message says who changed it and when ("changed by <user> at <time>: reload"), with
    identifiers only; nothing was written. Reload, look at the other change, then redo.
    """

    exit_code = 6

    def __init__(self, what: str, *, changed_by: str, changed_at: str, version: int,
                 read_version: int | None):
        self.what, self.changed_by, self.changed_at = what, changed_by, changed_at
        self.version, self.read_version = version, read_version
        read = f", you read version {read_version}" if read_version is not None else ""
        super().__init__(f"{what} was changed by {changed_by or 'unknown'} at "
                         f"{changed_at or 'an unknown time'} (now version {version}{read}): "
                         "reload", where=what)


class RoleError(OncoboardError):
    """The signed-in user lacks the role an action needs ("needs role X")."""

    exit_code = 7

    def __init__(self, reason: str, *, where: str | None = None, role: str = ""):
        self.role = role
        super().__init__(reason, where=where)


class NotFoundError(OncoboardError):
    """A patient, series, plugin or meeting asked for does not exist."""
