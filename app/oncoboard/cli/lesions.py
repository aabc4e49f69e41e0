"""``oncoboard lesions add|measure|list|withdraw`` and ``oncoboard recist PATIENT``.

Points are given as ``x,y`` pixel positions on the slice (x = column, y = row, as the viewer's
readout shows them); ``--auto x,y`` proposes the axes from a click on the lesion instead.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from oncoboard.errors import OncoboardError

if TYPE_CHECKING:
    from oncoboard.cli import Context


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``oncoboard lesions ...`` and ``oncoboard recist``."""
    p = sub.add_parser("recist", parents=[common],
                       help="RECIST 1.1 response table of a patient's measured lesions")
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_recist)

    lesions = sub.add_parser("lesions", parents=[common],
                             help="tracked lesions: define, measure, list, withdraw")
    lsub = lesions.add_subparsers(dest="lesions_command", metavar="ACTION", required=True)
    p = lsub.add_parser("add", parents=[common], help="define a lesion (and measure it)")
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("--label", required=True, help='site, e.g. "lung RUL"')
    p.add_argument("--organ", help="organ for the 2-per-organ rule (default: first word of "
                                   "the label)")
    p.add_argument("--node", action="store_true", help="a lymph node (short axis counts)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--target", dest="kind", action="store_const", const="target")
    kind.add_argument("--non-target", dest="kind", action="store_const", const="non_target")
    kind.add_argument("--new", dest="kind", action="store_const", const="new")
    _measure_arguments(p, required=False)
    p.set_defaults(handler=_add, kind="target")

    p = lsub.add_parser("measure", parents=[common], help="record a reading of a lesion")
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("lesion", metavar="LESION", help="lesion number (or uid)")
    _measure_arguments(p, required=True)
    p.set_defaults(handler=_measure)

    p = lsub.add_parser("list", parents=[common], help="lesions and their current readings")
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_list)

    p = lsub.add_parser("withdraw", parents=[common], help="withdraw a wrong reading")
    p.add_argument("patient", metavar="PATIENT")
    p.add_argument("measurement", type=int, metavar="MEASUREMENT_ID")
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=_withdraw)


def _measure_arguments(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--series", metavar="UID", help="series measured on")
    p.add_argument("--slice", type=int, metavar="N", help="slice index (0 = first)")
    for name, text in (("p1", "long axis, first end"), ("p2", "long axis, second end"),
                       ("s1", "short axis, first end"), ("s2", "short axis, second end"),
                       ("auto", "propose both axes from this click on the lesion")):
        p.add_argument(f"--{name}", type=_point, metavar="x,y", help=text)
    p.add_argument("--status", default="measured",
                   choices=["measured", "too_small", "absent", "merged", "present",
                            "progression", "not_evaluated"],
                   help="what the reading is when not a measurement")
    p.add_argument("--date", help="time point YYYY-MM-DD (default: the series' study date)")
    p.add_argument("--fragment", action="store_true", help="one more piece of a split lesion")
    p.add_argument("--equivocal", action="store_true", help="new lesion not yet certain")
    p.add_argument("--note", default="")
    p.add_argument("--json", action="store_true", help="print JSON")


def _point(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected x,y (pixels), not {text!r}") from None
    return (y, x)  # stored as (row, column)


def _pair(args: argparse.Namespace, a: str, b: str) -> Any:
    first, second = getattr(args, a), getattr(args, b)
    if (first is None) != (second is None):
        raise OncoboardError("give both ends of the axis", where=f"--{a}/--{b}")
    return None if first is None else (first, second)


def _record(args: argparse.Namespace, ctx: Context, lesion: str | int) -> Any:
    from oncoboard.imaging import lesions

    long_axis, short_axis = _pair(args, "p1", "p2"), _pair(args, "s1", "s2")
    common = {"status": args.status, "timepoint": args.date, "equivocal": args.equivocal,
              "fragment": args.fragment, "note": args.note}
    if long_axis or short_axis or args.auto:
        if not args.series or args.slice is None:
            raise OncoboardError("a measurement needs --series and --slice", where="--series")
        return lesions.record_on_series(ctx.store, args.patient, lesion,
                                        series_uid=args.series, slice_index=args.slice,
                                        long_axis=long_axis, short_axis=short_axis,
                                        propose_at=args.auto, settings=ctx.settings, **common)
    return lesions.add_measurement(ctx.store, args.patient, lesion, series_uid=args.series,
                                   slice_index=args.slice, **common)


def _describe(m: Any) -> str:
    size = "" if m.status != "measured" else (
        f"SA {m.short_axis_mm:.1f} mm" if m.is_node else f"{m.long_axis_mm:.1f} mm")
    where = "" if m.slice_index is None else f"  slice {m.slice_index}"
    return f"#{m.lesion_number} {m.label}  {m.timepoint}  {m.status} {size}{where}  (id {m.id})"


def _add(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.imaging import lesions

    measuring = any(getattr(args, k) is not None for k in ("p1", "s1", "auto", "date"))
    measuring = measuring or args.status != "measured"
    if measuring and not args.date and not args.series:
        raise OncoboardError("a measurement needs --series (or --date)", where="--series")
    les = lesions.define_lesion(ctx.store, args.patient, kind=args.kind, label=args.label,
                                organ=args.organ, is_node=args.node)
    m = _record(args, ctx, les.uid) if measuring else None
    if args.json:
        print_json({"lesion": les.as_dict(), "measurement": m.as_dict() if m else None})
    else:
        print(f"lesion #{les.number} {les.label} ({les.kind.replace('_', '-')}"
              f"{', node' if les.is_node else ''})")
        if m is not None:
            print("  " + _describe(m))
    return 0


def _measure(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.cli import print_json

    m = _record(args, ctx, args.lesion)
    if args.json:
        print_json(m.as_dict())
    else:
        print(_describe(m))
    return 0


def _known_patient(ctx: Context, patient_id: str) -> None:
    """Refuse an ID no patient has (a typo must not read as "nothing recorded")."""
    from oncoboard.errors import NotFoundError

    if ctx.store.db.execute("SELECT 1 FROM patients WHERE id = ?",
                            [patient_id]).fetchone() is None:
        raise NotFoundError("no such patient", where=patient_id)


def _list(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.imaging import lesions

    _known_patient(ctx, args.patient)
    found = lesions.lesions_for_patient(ctx.store, args.patient)
    readings = lesions.measurements_for_patient(ctx.store, args.patient)
    if args.json:
        print_json({"patient_id": args.patient, "lesions": [x.as_dict() for x in found],
                    "measurements": [m.as_dict() for m in readings]})
        return 0
    if not found:
        print(f"no lesions recorded for {args.patient}")
    for les in found:
        print(f"#{les.number} {les.label} ({les.kind.replace('_', '-')}, {les.organ}"
              f"{', node' if les.is_node else ''})")
        for m in readings:
            if m.lesion_uid == les.uid:
                print("  " + _describe(m))
    return 0


def _withdraw(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.imaging import lesions

    lesions.withdraw_measurement(ctx.store, args.patient, args.measurement, args.reason)
    print(f"measurement {args.measurement} withdrawn")
    return 0


def format_table(result: Any) -> list[str]:
    """Return the RECIST table as lines of text."""
    base = result.baseline
    if base.timepoint is None:
        return ["no lesion measured"]
    lines = [f"RECIST 1.1  baseline {base.timepoint}: {len(base.targets)} target(s), "
             f"{len(base.non_targets)} non-target(s), sum "
             f"{'-' if base.sum_mm is None else f'{base.sum_mm:.1f} mm'}",
             f"{'time point':<12}{'sum mm':>9}{'vs base':>9}{'vs nadir':>10}  "
             f"{'target':<8}{'non-target':<15}{'new':<5}overall"]
    for t in result.timepoints:
        def pct(v: float | None) -> str:
            return "-" if v is None else f"{v:+.1f}%"

        lines.append(f"{t.timepoint:<12}{'-' if t.sum_mm is None else f'{t.sum_mm:.1f}':>9}"
                     f"{pct(t.change_from_baseline_pct):>9}{pct(t.change_from_nadir_pct):>10}  "
                     f"{t.target or '-':<8}{t.non_target or '-':<15}"
                     f"{'yes' if t.new_lesions else 'no':<5}{t.overall}")
    lines += [f"  note: {n}" for n in base.notes]
    lines += [f"  {t.timepoint}: {n}" for t in result.timepoints for n in t.notes]
    return lines


def _recist(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.imaging import lesions

    _known_patient(ctx, args.patient)
    result = lesions.recist_for_patient(ctx.store, args.patient)
    if args.json:
        print_json({"patient_id": args.patient, **result.as_dict()})
    else:
        print("\n".join(format_table(result)))
    return 0
