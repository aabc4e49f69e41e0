"""``oncoboard board ...``: hold a tumour-board meeting from the command line.

create, list, show, add-case, edit-case, move-case, remove-case, predict, decide (and amend),
status, export, send. Commands that change a meeting, case or decision read it, then write it
stating the version read (or the one given with ``--if-version N``): a write based on a version
someone changed since is refused (exit 6, "changed by <user> at <time>: reload").
Board modules (and reportlab) are imported inside the handlers so ``oncoboard --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from oncoboard.errors import BoardError

if TYPE_CHECKING:
    from oncoboard.cli import Context


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``oncoboard board ...`` on the top-level sub-parsers."""
    board = sub.add_parser("board", parents=[common], help="tumour-board meetings: cases, "
                                                           "decisions, PDF/JSON report")
    bsub = board.add_subparsers(dest="board_command", metavar="ACTION", required=True)

    p = bsub.add_parser("create", parents=[common], help="create a meeting")
    p.add_argument("--date", required=True, help="meeting day, YYYY-MM-DD")
    p.add_argument("--specialty", required=True, help="e.g. sein, thorax, digestif")
    p.add_argument("--title", required=True)
    p.add_argument("--location", default="")
    p.add_argument("--attendee", action="append", default=[], metavar='"Dr X (role)"',
                   help="expected attendee (repeat)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_create)

    p = bsub.add_parser("list", parents=[common], help="list meetings")
    p.add_argument("--status", choices=["planned", "held", "closed"])
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_list)

    p = bsub.add_parser("show", parents=[common], help="show a meeting, its cases and decisions")
    p.add_argument("meeting", metavar="MEETING", help="meeting number (or uid)")
    p.add_argument("--json", action="store_true", help="print the export document as JSON")
    p.set_defaults(handler=_show)

    p = bsub.add_parser("add-case", parents=[common], help="put a patient on the agenda")
    p.add_argument("meeting", metavar="MEETING")
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("--question", required=True, help="the question asked of the board")
    p.add_argument("--presenter", default="", help="presenting physician")
    p.add_argument("--position", type=int, help="1-based place (default: last)")
    p.set_defaults(handler=_add_case)

    p = bsub.add_parser("edit-case", parents=[common],
                        help="change a case's question or presenter")
    p.add_argument("meeting", metavar="MEETING")
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("--question", help="the new question asked of the board")
    p.add_argument("--presenter", help="the new presenting physician")
    _if_version(p, "case")
    p.set_defaults(handler=_edit_case)

    p = bsub.add_parser("move-case", parents=[common], help="change a case's place")
    p.add_argument("meeting", metavar="MEETING")
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("position", type=int, metavar="POSITION")
    _if_version(p, "case")
    p.set_defaults(handler=_move_case)

    p = bsub.add_parser("remove-case", parents=[common], help="take a patient off the agenda")
    p.add_argument("meeting", metavar="MEETING")
    p.add_argument("patient", metavar="PATIENT")
    _if_version(p, "case")
    p.set_defaults(handler=_remove_case)

    p = bsub.add_parser("predict", parents=[common],
                        help="run the models on every case, as of the meeting date")
    p.add_argument("meeting", metavar="MEETING")
    p.add_argument("--plugin", action="append", default=None, metavar="ID",
                   help="run only this plugin (repeat; default: every applicable plugin)")
    p.set_defaults(handler=_predict)

    _register_decide(bsub, common)

    p = bsub.add_parser("status", parents=[common], help="mark a meeting held or closed")
    p.add_argument("meeting", metavar="MEETING")
    p.add_argument("status", choices=["planned", "held", "closed"])
    _if_version(p, "meeting")
    p.set_defaults(handler=_status)

    p = bsub.add_parser("export", parents=[common], help="write the PDF report and/or JSON")
    p.add_argument("meeting", metavar="MEETING")
    p.add_argument("--pdf", metavar="FILE", help="PDF report")
    p.add_argument("--json", dest="json_file", metavar="FILE", help="JSON export")
    p.add_argument("--fhir", metavar="FILE",
                   help="FHIR R4 transaction Bundle: decisions (CarePlan), report "
                        "(DiagnosticReport with the PDF), model results (RiskAssessment), "
                        "Provenance")
    p.add_argument("--case", metavar="PATIENT", help="with --fhir/--send: only this case")
    p.add_argument("--send", action="store_true",
                   help="POST the FHIR Bundle as a transaction to the site's FHIR server "
                        "([fhir] base_url)")
    p.add_argument("--with-names", action="store_true",
                   help="print patient names and birth dates (default: ID, age, sex only)")
    p.set_defaults(handler=_export)

    p = bsub.add_parser("send", parents=[common],
                        help="send each case's report PDF, model-result SRs, key image and "
                             "lesion measurements (TID 1500 SR) to a PACS (only what is missing)")
    p.add_argument("meeting", metavar="MEETING")
    p.add_argument("--case", metavar="PATIENT", help="only this patient's case")
    p.add_argument("--node", required=True, help="a configured PACS node (DIMSE or DICOMweb)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_send)
    for action in bsub.choices.values():  # an unknown meeting in an empty data folder: say so
        action.set_defaults(handler=_meeting_hint(action.get_default("handler")))


def _if_version(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--if-version", type=int, default=None, metavar="N",
                   help=f"write only if the {what} is still at version N (as read by `board "
                        f"show --json`); else exit 6, nothing written")


def _meeting_hint(handler: Any) -> Any:
    def run(args: Any, ctx: Context) -> int:
        from oncoboard.cli.hints import suggest_meeting

        with suggest_meeting(ctx):
            return int(handler(args, ctx) or 0)

    return run


def _register_decide(bsub: Any, common: argparse.ArgumentParser) -> None:
    p = bsub.add_parser("decide", parents=[common], help="record (or amend) the board's decision")
    p.add_argument("meeting", metavar="MEETING")
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("--plan", help="chosen plan (required unless amending)")
    p.add_argument("--rationale", help="why (required unless amending)")
    p.add_argument("--option", action="append", default=None, metavar="TEXT",
                   help="an option discussed (repeat)")
    p.add_argument("--attendee", action="append", default=None, metavar='"Dr X (role)"',
                   help="attendee with role (repeat; default: the meeting's attendees)")
    p.add_argument("--prediction", action="append", default=None, metavar="ID",
                   help="prediction shown (repeat; default: the patient's latest ones)")
    p.add_argument("--departs-from-model", metavar="REASON",
                   help="the decision departs from a model's result, for this reason")
    p.add_argument("--amend", metavar="REASON",
                   help="record a new version of an existing decision, for this reason")
    p.add_argument("--no-departure", action="store_true",
                   help="with --amend: the new version no longer departs from the model")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    _if_version(p, "decision (0: none yet)")
    p.set_defaults(handler=_decide)


def _create(args: Any, ctx: Context) -> int:
    from oncoboard.board.meetings import create_meeting
    from oncoboard.cli import print_json

    m = create_meeting(ctx.store, date=args.date, specialty=args.specialty, title=args.title,
                       location=args.location, attendees=args.attendee)
    if args.json:
        print_json(m.as_dict())
    else:
        print(f"meeting {m.id} created: {m.date} {m.specialty} - {m.title}")
    return 0


def _list(args: Any, ctx: Context) -> int:
    from oncoboard.board.meetings import list_cases, list_meetings
    from oncoboard.cli import print_json

    meetings = list_meetings(ctx.store, status=args.status)
    counts = {m.id: len(list_cases(ctx.store, m.id)) for m in meetings}
    if args.json:
        print_json([{**m.as_dict(), "cases": counts[m.id]} for m in meetings])
        return 0
    if not meetings:
        from oncoboard.cli.hints import store_is_empty

        print(f"no meetings in the data folder {ctx.settings.data_dir}" +
              (f" (status {args.status})" if args.status else "") +
              " (create one: oncoboard board create --date ... --specialty ... --title ...)")
        if store_is_empty(ctx.store):
            print("it holds no patients either (to read another folder: --data-dir DIR, or "
                  "export ONCOBOARD_HOME=DIR)")
    for m in meetings:
        print(f"{m.id:4d}  {m.date}  {m.specialty:10s} {m.status:8s} {counts[m.id]:3d} cases  "
              f"{m.title}")
    return 0


def _show(args: Any, ctx: Context) -> int:
    from oncoboard.audit.access import record_accesses
    from oncoboard.board.caseview import meeting_case_views
    from oncoboard.board.export import meeting_export
    from oncoboard.board.meetings import get_meeting
    from oncoboard.board.prediction_view import NO_PREDICTIONS
    from oncoboard.cli import print_json

    meeting = get_meeting(ctx.store, args.meeting)
    views = meeting_case_views(ctx.store, meeting.id, with_image=False)
    record_accesses(ctx.store, [v.case.patient_id for v in views], "board.case")
    if args.json:
        print_json(meeting_export(ctx.store, meeting.id, views=views))
        return 0
    print(f"meeting {meeting.id}: {meeting.date} {meeting.specialty} - {meeting.title} "
          f"[{meeting.status}]")
    if meeting.location:
        print(f"  location: {meeting.location}")
    if meeting.attendees:
        print(f"  attendees: {', '.join(a.label() for a in meeting.attendees)}")
    for v in views:
        ident = v.identity
        print(f"{v.case.position:3d}. {ident['id']} ({ident['age']} y, {ident['sex']}): "
              f"{v.case.question}")
        if not v.predictions:
            note = v.predictions_note
            if note == NO_PREDICTIONS:  # its command runs one patient: the meeting has one
                note = ("no predictions yet: run the models on this meeting's cases "
                        f"(oncoboard board predict {meeting.id})")
            print(f"     models: {note}")
        for p in v.predictions:
            shown = "; ".join(r.text() for r in p.results) if p.status == "ok" else p.status
            flags = " [synthetic]" if p.synthetic else ""
            print(f"     model {p.plugin_id} ({p.id}): {shown}{flags}")
        if v.decision is None:
            print("     decision: none yet")
        else:
            d = v.decision
            flag = f" [departs from model: {d.departure_reason}]" if d.departs_from_model else ""
            print(f"     decision v{d.version}: {d.plan}{flag}")
    return 0


def _add_case(args: Any, ctx: Context) -> int:
    from oncoboard.board.meetings import add_case
    from oncoboard.cli.hints import suggest_patient

    with suggest_patient(ctx, args.patient):
        c = add_case(ctx.store, args.meeting, args.patient, question=args.question,
                     presenter=args.presenter, position=args.position)
    print(f"patient {c.patient_id} added to meeting {c.meeting_id} at position {c.position}")
    return 0


def _move_case(args: Any, ctx: Context) -> int:
    from oncoboard.board.meetings import move_case
    from oncoboard.cli.hints import suggest_case

    with suggest_case(ctx, args.meeting, args.patient):
        cases = move_case(ctx.store, args.meeting, args.patient, args.position,
                          expected_version=args.if_version)
    print("order: " + ", ".join(c.patient_id for c in cases))
    return 0


def _edit_case(args: Any, ctx: Context) -> int:
    from oncoboard.board.agenda import edit_case
    from oncoboard.cli.hints import suggest_case

    with suggest_case(ctx, args.meeting, args.patient):
        c = edit_case(ctx.store, args.meeting, args.patient, question=args.question,
                      presenter=args.presenter, expected_version=args.if_version)
    print(f"case of patient {c.patient_id} in meeting {c.meeting_id} is now version {c.version}")
    return 0


def _remove_case(args: Any, ctx: Context) -> int:
    from oncoboard.board.meetings import remove_case
    from oncoboard.cli.hints import suggest_case

    with suggest_case(ctx, args.meeting, args.patient):
        cases = remove_case(ctx.store, args.meeting, args.patient,
                            expected_version=args.if_version)
    print(f"patient {args.patient} removed; order: " + (", ".join(c.patient_id for c in cases)
                                                        or "no cases left"))
    return 0


def _decide(args: Any, ctx: Context) -> int:
    from oncoboard.board.meetings import get_meeting
    from oncoboard.cli import print_json
    from oncoboard.cli.hints import suggest_case

    if args.no_departure and (args.amend is None or args.departs_from_model is not None):
        raise BoardError("--no-departure goes with --amend and without --departs-from-model",
                         where="decision")
    before = get_meeting(ctx.store, args.meeting).status
    with suggest_case(ctx, args.meeting, args.patient):
        d = _record_or_amend(args, ctx)
    after = get_meeting(ctx.store, args.meeting).status
    if args.json:
        print_json(d.as_dict())
    else:
        print(f"decision v{d.version} recorded for patient {d.patient_id} in meeting "
              f"{d.meeting_id} (audit {(d.audit_hash or '')[:16]})")
        if after != before:  # the first decision marks a planned meeting held
            print(f"meeting {d.meeting_id} is now {after} (it was {before}): a decision was "
                  "recorded")
    return 0


def _record_or_amend(args: Any, ctx: Context) -> Any:
    from oncoboard.board.decisions import amend_decision, record_decision

    if args.amend is not None:
        departure: str | None | bool = (None if args.no_departure else False
                                        if args.departs_from_model is None
                                        else args.departs_from_model)
        d = amend_decision(ctx.store, args.meeting, args.patient, reason=args.amend,
                           plan=args.plan, rationale=args.rationale, options=args.option,
                           attendees=args.attendee, prediction_ids=args.prediction,
                           departs_from_model=departure, expected_version=args.if_version)
    else:
        if args.plan is None or args.rationale is None:
            raise BoardError("--plan and --rationale are required (or --amend REASON to "
                             "change an existing decision)", where="decision")
        d = record_decision(ctx.store, args.meeting, args.patient, plan=args.plan,
                            rationale=args.rationale, options=args.option or [],
                            attendees=args.attendee or [], prediction_ids=args.prediction,
                            departs_from_model=args.departs_from_model,
                            expected_version=args.if_version)
    return d


def _predict(args: Any, ctx: Context) -> int:
    from oncoboard.board.predict import predict_meeting
    from oncoboard.cli import PROBLEMS_EXIT
    from oncoboard.cli.hints import suggest_plugin

    with suggest_plugin(ctx, args.plugin):
        runs = predict_meeting(ctx.store, ctx.settings, args.meeting, plugin_ids=args.plugin)
    for run in runs:
        print(run.describe())
    if not runs:
        print("no cases on this meeting's agenda")
    return 0 if all(r.error is None for r in runs) else PROBLEMS_EXIT


def _status(args: Any, ctx: Context) -> int:
    from oncoboard.board.meetings import set_status

    m = set_status(ctx.store, args.meeting, args.status, expected_version=args.if_version)
    print(f"meeting {m.id} is {m.status}")
    return 0


def _export(args: Any, ctx: Context) -> int:
    from oncoboard.board.caseview import meeting_case_views
    from oncoboard.board.export import export_json
    from oncoboard.board.meetings import get_meeting
    from oncoboard.board.report import export_pdf

    if not (args.pdf or args.json_file or args.fhir or args.send):
        raise BoardError("say what to write: --pdf FILE, --json FILE, --fhir FILE and/or --send",
                         where="export")
    if args.case and not (args.fhir or args.send):
        raise BoardError("--case goes with --fhir or --send", where="export")
    from oncoboard.audit.access import record_accesses

    meeting = get_meeting(ctx.store, args.meeting)
    views = meeting_case_views(ctx.store, meeting.id, settings=ctx.settings)
    record_accesses(ctx.store, [v.case.patient_id for v in views
                                if args.case is None or v.case.patient_id == args.case], "export")
    if args.pdf:
        out = export_pdf(ctx.store, meeting.id, args.pdf, include_names=args.with_names,
                         views=views)
        print(f"PDF report: {out} ({1 + len(views)} pages)")
    if args.json_file:
        out = export_json(ctx.store, meeting.id, args.json_file,
                          include_names=args.with_names, views=views)
        print(f"JSON export: {out}")
    if args.fhir or args.send:
        return _export_fhir(args, ctx, meeting, views)
    return 0


def _export_fhir(args: Any, ctx: Context, meeting: Any, views: list[Any]) -> int:
    import json

    from oncoboard.board import fhir_out
    from oncoboard.board.export import atomic_write

    bundle = fhir_out.meeting_bundle(ctx.store, meeting.id, patient_id=args.case,
                                     include_names=args.with_names, views=views)
    if args.fhir:
        out = atomic_write(args.fhir, json.dumps(bundle, indent=1, ensure_ascii=False).encode())
        print(f"FHIR Bundle: {out} ({len(bundle['entry'])} resources)")
    if args.send:
        from oncoboard.board import fhir_send

        result = fhir_send.send_bundle(ctx.settings, bundle, store=ctx.store)
        print(result.describe())
    return 0


def _send(args: Any, ctx: Context) -> int:
    from dataclasses import asdict

    from oncoboard.audit.access import record_accesses
    from oncoboard.board.meetings import list_cases
    from oncoboard.board.send import send_meeting
    from oncoboard.cli import print_json

    node = ctx.settings.pacs_node(args.node)
    record_accesses(ctx.store, [c.patient_id for c in list_cases(ctx.store, args.meeting)
                                if args.case is None or c.patient_id == args.case], "export")
    items = send_meeting(ctx.store, ctx.settings, args.meeting, node, patient_id=args.case)
    if args.json:
        print_json([asdict(i) for i in items])
    else:
        for i in items:
            why = f": {i.reason}" if i.reason else ""
            uid = f" ({i.sop_uid})" if i.sop_uid else ""
            print(f"{i.patient_id} {i.item}: {i.status}{uid}{why}")
    failed = [i for i in items if i.status == "not sent"]
    if failed and all(i.status != "sent" for i in items):
        from oncoboard.errors import PacsError

        return PacsError.exit_code if items else 0
    return 1 if failed or any(i.status == "skipped" for i in items) else 0
