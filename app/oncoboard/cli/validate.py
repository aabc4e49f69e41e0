"""`oncoboard validate PLUGIN`: measure a plugin on the site's patients; accept a recalibration."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard.cli import print_json
from oncoboard.errors import OncoboardError

if TYPE_CHECKING:
    from oncoboard.cli import Context


def register(sub: Any, common: Any) -> None:
    """Add ``oncoboard validate``."""
    p = sub.add_parser("validate", parents=[common],
                       help="validate a plugin on local patients with outcomes (and "
                            "recalibrate it)")
    p.add_argument("plugin", help="plugin id")
    p.add_argument("--cohort", metavar="QUERY",
                   help="only patients matching QUERY (as `patients list --query`)")
    p.add_argument("--horizon", type=float, metavar="MONTHS",
                   help="time of the calibration (default: the plugin's, e.g. 60 months)")
    p.add_argument("--bootstrap", type=int, default=200, metavar="N",
                   help="bootstrap replicates for the intervals (default 200; 0: none)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--report", type=Path, metavar="FILE.pdf", help="write the PDF report")
    p.add_argument("--recalibrate", action="store_true",
                   help="store the fitted recalibration as a signed site layer (needs --key)")
    p.add_argument("--remove-recalibration", action="store_true",
                   help="remove the site layer (a signed new version; needs --key)")
    p.add_argument("--key", type=Path, metavar="SITE-KEY.pem",
                   help="the site admin's ed25519 private key (PEM)")
    p.set_defaults(handler=_validate)


def _key(args: Any) -> bytes:
    if args.key is None:
        raise OncoboardError("--key SITE-KEY.pem is required to sign a recalibration",
                             where="validate")
    try:
        return bytes(args.key.read_bytes())
    except OSError as exc:
        raise OncoboardError(f"{args.key}: {exc.strerror}", where="validate") from exc


def _validate(args: Any, ctx: Context) -> int:
    from oncoboard.inference import recalibration, validation

    if args.remove_recalibration:
        done = recalibration.remove(ctx.store, ctx.settings, args.plugin, _key(args))
        print_json(done) if args.json else print(
            f"recalibration of {args.plugin} removed (version {done['version']}): results are "
            f"the plugin's own again")
        return 0
    if args.bootstrap < 0:
        raise OncoboardError("--bootstrap must be 0 or more", where="validate")
    report = validation.validate(ctx.store, ctx.settings, args.plugin, cohort=args.cohort,
                                 horizon=args.horizon, n_boot=args.bootstrap)
    if args.report is not None:
        from oncoboard.board.validation_report import write_report

        report["report_file"] = str(write_report(report, args.report))
    if args.recalibrate:
        report["recalibration"] = recalibration.create(ctx.store, ctx.settings, report,
                                                       _key(args))
    if args.json:
        for g in report.get("groups_3", []) + report.get("groups_10", []):
            g.pop("km", None)
        report.pop("km_overall", None)
        print_json(report)
    else:
        _print(report)
    return 0


def _f(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}"


def _print(r: dict[str, Any]) -> None:
    c, co = r["counts"], r.get("counts_outcome", {})
    print(f"{r['plugin']['id']} {r['plugin']['version']}: {r['outcome']} outcome "
          f"({', '.join(r['event_kinds'])}), horizon {r['horizon_months']:g} months")
    print(f"  reference date: {r['reference_date_rule']}")
    print(f"  patients {c['patients']}, validated {c['validated']}, "
          + ", ".join(f"{k} {v}" for k, v in co.items() if v is not None))
    for k, v in c["excluded"].items():
        print(f"  excluded: {k}: {v}")
    print(f"  {r['verdict']}")
    for key, name in (("harrell", "Harrell's C"), ("uno", "Uno's C"), ("auc", "AUC")):
        if key in r:
            e = r[key]
            print(f"  {name}: {_f(e['value'])} (95 % {_f(e['lower'])}-{_f(e['upper'])})")
    if r.get("observed_expected"):
        oe = r["observed_expected"]
        print(f"  O/E: {_f(oe['value'])} (observed risk {_f(oe['observed_risk'])}, "
              f"expected {_f(oe['expected_risk'])})")
    if r.get("calibration_model"):
        cm = r["calibration_model"]
        print(f"  calibration intercept {_f(cm['intercept'])}, slope {_f(cm['slope'])}")
    for g in r.get("groups_3", []):
        print(f"  risk group {g['group']}: n {g['n']}, predicted {_f(g['predicted'])}, observed "
              f"{_f(g['observed'])} ({_f(g['observed_lower'])}-{_f(g['observed_upper'])})")
    for m in r.get("manifest_comparison", []):
        print(f"  manifest {m['name']}: {m['value']:.3f}, local {_f(m['local'])}")
    for c in r.get("caveats", []):
        print(f"  caveat: {c}")
    if r.get("report_file"):
        print(f"  report: {r['report_file']}")
    if r.get("recalibration"):
        print(f"  recalibration stored: {r['recalibration']['path']}")
