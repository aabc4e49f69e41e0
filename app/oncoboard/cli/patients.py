"""Command-line commands of the clinical record.

``oncoboard import patients FILE...``, ``oncoboard patients list|show``, ``oncoboard search TEXT``
and ``oncoboard demo``.

``oncoboard import`` is a group of sub-commands. Other areas add theirs with
:func:`register_import_subcommand` from their own ``register(sub, common)`` (any order: a
sub-command registered before this module's ``register`` runs is kept until the group exists)::

    from oncoboard.cli.patients import register_import_subcommand

    def register(sub, common):
        register_import_subcommand("dicom", _configure_dicom)

    def _configure_dicom(parser):           # an argparse parser, already given --data-dir
        parser.add_argument("paths", nargs="+")
        parser.set_defaults(handler=_import_dicom)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard.errors import RecordImportError

if TYPE_CHECKING:
    from oncoboard.cli import Context

ImportConfigure = Callable[[argparse.ArgumentParser], None]

_import_hooks: dict[str, tuple[str, ImportConfigure]] = {}
_import_group: tuple[Any, argparse.ArgumentParser] | None = None
_added_to_group: set[str] = set()


def register_import_subcommand(name: str, configure: ImportConfigure,
                               help: str | None = None) -> None:
    """Add ``oncoboard import NAME``; `configure(parser)` adds its arguments and handler.

    Parameters
    ----------
    name
        The sub-command word, e.g. ``"dicom"``.
    configure
        Called with the new parser (which already has ``--data-dir``); must call
        ``parser.set_defaults(handler=...)``.
    help
        One line for ``oncoboard import --help``.
    """
    _import_hooks[name] = (help or f"import {name}", configure)
    if _import_group is not None:
        _add_import_parser(name)


def _add_import_parser(name: str) -> None:
    # build_parser() may run several times in one process (tests): each run makes a new
    # group, and a name is added once per group however often it is registered
    assert _import_group is not None
    group, common = _import_group
    if name in _added_to_group:
        return
    _added_to_group.add(name)
    help_text, configure = _import_hooks[name]
    configure(group.add_parser(name, parents=[common], help=help_text, description=help_text))


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register the record commands on the top-level sub-parsers."""
    global _import_group
    imp = sub.add_parser("import", parents=[common], help="import patient records or images")
    group = imp.add_subparsers(dest="import_kind", metavar="KIND", required=True)
    _import_group = (group, common)
    _added_to_group.clear()
    register_import_subcommand("patients", _configure_import_patients,
                               help="import FHIR R4 bundles (.json) or CSV files (.csv)")
    for name in list(_import_hooks):
        if name != "patients":
            _add_import_parser(name)

    pat = sub.add_parser("patients", parents=[common], help="list or show patients")
    psub = pat.add_subparsers(dest="patients_command", metavar="ACTION", required=True)
    p = psub.add_parser("list", parents=[common], help="list patients")
    p.add_argument("--query", "-q", help="filter by ID, name or diagnosis code/label")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_patients_list)
    p = psub.add_parser("show", parents=[common], help="show one patient's record")
    p.add_argument("patient_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_patients_show)

    p = sub.add_parser("search", parents=[common], help="full-text search in clinical notes")
    p.add_argument("text", nargs="+", help="words to find (accents and case ignored)")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--patient", help="search this patient's notes only")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_search)

    p = sub.add_parser("demo", parents=[common],
                       help="generate and import the synthetic demo cohort")
    p.add_argument("--no-imaging", action="store_true",
                   help="records only: skip the demo DICOM studies")
    p.add_argument("--date", metavar="YYYY-MM-DD",
                   help="the demo board's date; every demo date is relative to it (default: "
                        "the date of the demo already in the data folder, else today)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_demo)


def _configure_import_patients(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE",
                        help="FHIR bundle (.json) or CSV file, or a folder of them")
    parser.add_argument("--from-fhir", metavar="ID",
                        help="fetch the patient with this identifier (or system|value) from "
                             "the [fhir] server and import the record")
    parser.add_argument("--json", action="store_true", help="print the import report as JSON")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="read and validate files in N processes (default: one per CPU "
                             "from 200 files on; 0: in this process only)")
    parser.set_defaults(handler=_import_patients)


def _import_patients(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.patients.import_pool import import_files

    if args.from_fhir:
        if args.files:
            raise RecordImportError("give files or --from-fhir, not both", where="import")
        from oncoboard.patients.fhir_fetch import import_from_fhir

        report = import_from_fhir(ctx.store, ctx.settings, args.from_fhir)
        if args.json:
            from oncoboard.cli import print_json

            print_json([report.to_dict()])
        else:
            print(report.describe())
        return 0
    if not args.files:
        raise RecordImportError("give one or more files or folders, or --from-fhir ID",
                                where="import")
    files: list[Path] = []
    for path in args.files:
        if path.is_dir():  # a folder: its .json and .csv files, in name order
            found = sorted(p for p in path.iterdir()
                           if p.suffix.lower() in (".json", ".csv") and p.is_file())
            if not found:  # else the command printed nothing and exited 0
                raise RecordImportError("no .json or .csv file in this folder (subfolders "
                                        "are not searched)", file=path)
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise RecordImportError("no such file", file=path)
    # each file is its own transaction: those before a failing file stay imported, and their
    # reports are printed before the error. Reports are printed as they come, never kept: the
    # memory of an import does not grow with the number of files (with --json, the array is
    # written element by element, closed even when a file stops the import).
    out = _JsonArray() if args.json else None
    try:
        for report in import_files(ctx.store, files, workers=args.workers):
            if out is not None:
                out.add(report.to_dict())
            else:
                print(report.describe(), flush=True)
    finally:
        if out is not None:
            out.close()
    # DICOM indexed before these records could not be linked to their patients then
    from oncoboard.imaging.index import relink_studies

    linked = relink_studies(ctx.store, ctx.settings.patient_match)
    if linked and not args.json:
        print(f"linked {linked} DICOM stud{'y' if linked == 1 else 'ies'} to their patients")
    return 0


class _JsonArray:
    """Write a JSON array to stdout item by item, as `print_json` writes the whole list."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, item: Any) -> None:
        text = json.dumps(item, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write(("[\n" if self.count == 0 else ",\n")
                         + "\n".join("  " + line for line in text.split("\n")))
        self.count += 1

    def close(self) -> None:
        sys.stdout.write("[]\n" if self.count == 0 else "\n]\n")
        sys.stdout.flush()


def _patients_list(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.patients import record

    patients = record.list_patients(ctx.store, args.query)
    if args.json:
        print_json([p.to_dict() for p in patients])
        return 0
    for p in patients:
        flag = " [synthetic]" if p.synthetic else ""
        print(f"{p.id:<14} {p.name:<28} {p.sex or '?':<7} {p.birth_date or '?':<10} "
              f"{p.diagnosis or '-':<6} {p.diagnosis_display or ''}{flag}")
    if not patients:
        from oncoboard.cli.hints import no_patients_text, store_is_empty

        if args.query and not store_is_empty(ctx.store):
            print(f"no patients matching {args.query!r}")
        else:
            print(no_patients_text(ctx.settings))
            print("(to create the synthetic demo cohort there: oncoboard demo)")
    return 0


def _patients_show(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.audit.access import record_access
    from oncoboard.cli import print_json
    from oncoboard.cli.hints import suggest_patient
    from oncoboard.patients import record

    with suggest_patient(ctx, args.patient_id):
        summary = record.get_summary(ctx.store, args.patient_id)
    record_access(ctx.store, summary.patient.id, "cli.patients.show")
    if args.json:
        pid = args.patient_id
        print_json({
            "summary": summary.to_dict(),
            "conditions": [c.__dict__ for c in record.conditions(ctx.store, pid)],
            "observations": [o.__dict__ for o in record.observations(ctx.store, pid)],
            "treatments": [t.__dict__ for t in record.treatments(ctx.store, pid)],
            "notes": [n.__dict__ for n in record.notes(ctx.store, pid)],
            "outcomes": [o.__dict__ for o in record.outcomes(ctx.store, pid)],
        })
        return 0
    from oncoboard.patients.summary_text import record_lines

    print("\n".join(record_lines(ctx.store, summary)))
    return 0


def _search(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.cli.hints import no_patients_text, store_is_empty, suggest_patient
    from oncoboard.patients import record

    with suggest_patient(ctx, args.patient):
        if args.patient:  # an unknown patient is an error, with the closest ID
            record.get_patient(ctx.store, args.patient)
        hits = record.search_notes(ctx.store, " ".join(args.text), limit=args.limit,
                                   patient_id=args.patient)
    if args.json:
        print_json([h.__dict__ for h in hits])
        return 0
    for h in hits:
        print(f"{h.patient_id:<14} {(h.date or '')[:10]:<10} {h.note_type or '':<12} "
              f"{h.snippet.replace(chr(10), ' ')}")
    if not hits:
        print(f"no notes: {no_patients_text(ctx.settings)}" if store_is_empty(ctx.store)
              else "no matching notes")
    return 0


def _demo(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.demo import run_demo

    result = run_demo(ctx.store, ctx.settings, imaging=not args.no_imaging, date=args.date)
    if args.json:
        print_json(result.to_dict())
    else:
        from oncoboard.cli.hints import command_prefix, export_line

        print(result.describe(command_prefix(), export_line(ctx.settings)))
    return 0
