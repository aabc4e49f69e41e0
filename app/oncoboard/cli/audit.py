"""`oncoboard audit verify|list|access`: check the whole trail, list it, list the access log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oncoboard.cli import print_json
from oncoboard.errors import AuditError, OncoboardError

if TYPE_CHECKING:
    from oncoboard.cli import Context


def register(sub: Any, common: Any) -> None:
    """Add ``oncoboard audit verify|list``."""
    p = sub.add_parser("audit", parents=[common], help="check or list the audit trail")
    asub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    v = asub.add_parser("verify", parents=[common], help="verify the hash chain (exit 5 if "
                                                         "broken)")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(handler=_verify_cmd)
    ls = asub.add_parser("list", parents=[common], help="list audit entries")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.add_argument("--event", help="only this event type")
    ls.add_argument("--last", type=int, default=50, help="how many of the latest (default 50)")
    ls.set_defaults(handler=_list_cmd)
    ac = asub.add_parser("access", parents=[common],
                         help="who opened a patient's record (newest first), or what a user "
                              "opened")
    ac.add_argument("patient", metavar="PATIENT", nargs="?", help="patient ID")
    ac.add_argument("--user", help="only accesses by this login (alone: everything it opened)")
    ac.add_argument("--last", type=int, default=None, help="only the latest N")
    ac.add_argument("--json", action="store_true", help="print JSON")
    ac.set_defaults(handler=_access_cmd)


def _verify_cmd(args: Any, ctx: Context) -> int:
    from oncoboard.board.trail import verify_trail

    report = verify_trail(ctx.store)
    if args.json:
        print_json(report.to_dict())
    elif report.ok:
        print(f"audit trail intact: {report.entries} entries, head {report.head_hash}")
        print(f"  chain intact; {report.anchor}")
    else:
        print(f"audit trail BROKEN: {len(report.problems)} problem(s) in {report.entries} "
              f"entries")
        for p in report.problems:
            print(f"  entry {p.seq}: {p.kind}: {p.detail}")
        print(f"  checkpoints: {report.anchor}")
    for note in report.notes:
        print(f"  note: {note}")
    return 0 if report.ok else AuditError.exit_code


def _list_cmd(args: Any, ctx: Context) -> int:
    from oncoboard.audit import entries

    rows = entries(ctx.store, event_type=args.event, last=args.last)
    if args.json:
        print_json([e.to_dict() for e in rows])
    else:
        for e in rows:
            print(f"{e.seq:6d} {e.time} {e.event_type:28s} {e.actor or '-':12s} {e.hash[:16]}")
    return 0


def _access_cmd(args: Any, ctx: Any) -> int:
    from oncoboard.audit.access import ROUTES, accesses

    if args.patient is None and args.user is None:
        raise OncoboardError("give a PATIENT, or --user LOGIN to list what a user opened",
                             where="audit access")
    rows = accesses(ctx.store, patient_id=args.patient, user=args.user, last=args.last)
    if args.json:
        print_json([a.to_dict() for a in rows])
        return 0
    if not rows:
        who = f"patient {args.patient}" if args.patient else f"user {args.user}"
        print(f"no access recorded for {who}")
    for a in rows:
        print(f"{a.time[:19].replace('T', ' ')} UTC  {a.user:12s} {a.workstation:16s} "
              f"{ROUTES.get(a.route, a.route):18s} {a.patient_id}")
    return 0
