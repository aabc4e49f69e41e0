"""Command line: ``oncoboard plugins list|verify|install|run|schema`` and ``oncoboard predict``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard.errors import InferenceError, NotFoundError, PluginError

if TYPE_CHECKING:
    from oncoboard.cli import Context
    from oncoboard.inference.prediction import Prediction


def register(sub: Any, common: Any) -> None:
    """Add the ``plugins`` and ``predict`` commands."""
    p = sub.add_parser("plugins", parents=[common], help="list, verify, install or run plugins")
    psub = p.add_subparsers(dest="plugins_command", metavar="ACTION", required=True)
    ls = psub.add_parser("list", parents=[common], help="list plugins, enabled and disabled")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(handler=_list)
    v = psub.add_parser("verify", parents=[common], help="check plugins (exit 1 if one fails)")
    v.add_argument("target", nargs="?", help="plugin id or plugin folder (default: all)")
    v.add_argument("--json", action="store_true", help="print JSON")
    v.set_defaults(handler=_verify)
    i = psub.add_parser("install", parents=[common], help="check a plugin .zip and install it "
                                                          "into the user plugin folder")
    i.add_argument("archive", type=Path, help="plugin archive (.zip)")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(handler=_install)
    r = psub.add_parser("run", parents=[common], help="calculator mode: run a plugin on given "
                                                      "values")
    r.add_argument("plugin", help="plugin id")
    r.add_argument("--input", "-i", action="append", default=[], metavar="NAME=VALUE",
                   help="an input value (repeat); 'VALUE UNIT' is converted")
    r.add_argument("--csv", type=Path, help="CSV file whose columns are input names: one "
                                            "result per row")
    r.add_argument("--no-explain", action="store_true", help="skip explanations")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(handler=_run)
    s = psub.add_parser("schema", parents=[common], help="print the plugin.toml JSON schema")
    s.set_defaults(handler=_schema)
    g = psub.add_parser("sign", parents=[common], help="sign plugin folders' plugin.toml with "
                                                       "an ed25519 private key (PEM)")
    g.add_argument("folders", type=Path, nargs="*", metavar="FOLDER", help="plugin folder(s)")
    g.add_argument("--bundled", action="store_true", help="sign every bundled plugin (after a "
                                                          "rebuild of plugins/)")
    g.add_argument("--key", type=Path, required=True, help="ed25519 private key, PEM, "
                                                           "unencrypted")
    g.set_defaults(handler=_sign)
    pr = sub.add_parser("predict", parents=[common], help="run the applicable plugins on a "
                                                         "patient and store the predictions")
    pr.add_argument("patient_id", help="patient ID")
    pr.add_argument("--plugin", action="append", default=[], metavar="ID",
                    help="run this plugin (repeatable; default: every applicable plugin)")
    pr.add_argument("--date", help="reference date YYYY-MM-DD (default today)")
    pr.add_argument("--no-save", action="store_true", help="do not store or audit the results")
    pr.add_argument("--json", action="store_true", help="print the predictions as JSON")
    pr.set_defaults(handler=_predict)


def _list(args: Any, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.inference.discovery import discover_plugins, plugin_dirs

    plugins = discover_plugins(ctx.settings)
    if args.json:
        print_json({"folders": [{"origin": o, "path": str(p)} for o, p in
                                plugin_dirs(ctx.settings)],
                    "plugins": [p.to_dict() for p in plugins]})
        return 0
    if not plugins:
        print("no plugins found in: " + ", ".join(str(p) for _, p in plugin_dirs(ctx.settings)))
    for p in plugins:
        m = p.manifest
        state = "enabled " if p.enabled else "DISABLED"
        label = f"{m.name} {m.version}" if m else ""
        print(f"{state} {p.id:28s} {label} [{p.origin}]")
        for reason in p.problems:
            print(f"         - {reason}")
    return 0


def _verify(args: Any, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.inference.discovery import discover_plugins, verify_folder

    target = args.target
    if target and Path(target).is_dir():
        plugins = [verify_folder(Path(target), ctx.settings)]
    else:
        plugins = [p for p in discover_plugins(ctx.settings) if not target or p.id == target]
        if target and not plugins:
            from oncoboard.cli.hints import did_you_mean

            known = [p.id for p in discover_plugins(ctx.settings)]
            raise NotFoundError(f"no plugin {target!r}{did_you_mean(target, known)}",
                                where="plugins verify")
    if args.json:
        print_json([p.to_dict() for p in plugins])
    else:
        for p in plugins:
            print(f"{'OK  ' if p.enabled else 'FAIL'} {p.id} ({p.folder})")
            for reason in p.problems:
                print(f"     problem: {reason}")
            for w in p.warnings:
                print(f"     warning: {w}")
    from oncoboard.cli import PROBLEMS_EXIT

    return 0 if all(p.enabled for p in plugins) else PROBLEMS_EXIT


def _install(args: Any, ctx: Context) -> int:
    from oncoboard import audit
    from oncoboard.cli import print_json
    from oncoboard.identity import require
    from oncoboard.inference.discovery import install_plugin

    require(ctx.store, "plugin.manage")  # before anything is copied into the plugin folder
    plugin = install_plugin(args.archive, ctx.settings)
    m = plugin.require()
    audit.append(ctx.store, "plugin.installed", {"plugin_id": m.id, "version": m.version,
                                                 "model_sha256": m.model.sha256,
                                                 "manifest_sha256": plugin.manifest_sha256,
                                                 "folder": str(plugin.folder)})
    if args.json:
        print_json(plugin.to_dict())
    else:
        print(f"installed {m.id} {m.version} into {plugin.folder}")
    return 0


def _parse_inputs(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InferenceError(f"--input {pair!r}: expected NAME=VALUE")
        out[name.strip()] = value.strip()
    return out


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise InferenceError("no such file", file=path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            sample = f.read(4096)
            f.seek(0)
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample else csv.excel
            # strict: an unclosed quote must not merge cells ("74,gi" read as 74 in unit ",gi")
            return [dict(r) for r in csv.DictReader(f, dialect=dialect, strict=True)]
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise InferenceError(f"cannot read CSV: {exc}", file=path) from exc


def _run(args: Any, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.cli.hints import suggest_plugin
    from oncoboard.inference.discovery import get_plugin
    from oncoboard.inference.engine import run_plugin, run_table

    with suggest_plugin(ctx, [args.plugin]):
        plugin = get_plugin(ctx.settings, args.plugin)
    if args.csv and args.input:
        raise InferenceError("give --input values or --csv, not both")
    rows: list[int | None]
    if args.csv:
        preds: list[Prediction] = run_table(plugin, _read_csv(args.csv), ctx.settings).result()
        rows = list(range(1, len(preds) + 1))
        result: Any = [{**p.to_dict(), "row": i} for i, p in zip(rows, preds, strict=True)]
    else:
        preds = [run_plugin(plugin, _parse_inputs(args.input), ctx.settings,
                            explain_it=not args.no_explain)]
        rows = [None]
        result = preds[0].to_dict()
    if args.json:
        print_json(result)
    else:
        labels = {i.name: i.label or i.name for i in plugin.require().inputs}
        for p, row in zip(preds, rows, strict=True):
            _print_prediction(p, row, labels)
    from oncoboard.cli import PROBLEMS_EXIT

    return 0 if all(p.ok for p in preds) else PROBLEMS_EXIT


def _sign(args: Any, ctx: Context) -> int:
    from oncoboard.inference import integrity
    from oncoboard.inference.discovery import _candidates, bundled_plugin_dir
    from oncoboard.inference.manifest import load_manifest

    folders = list(args.folders)
    if args.bundled:
        root = bundled_plugin_dir()
        if root is None:
            raise NotFoundError("no bundled plugin folder", where="plugins sign")
        folders += _candidates("bundled", root)
    if not folders:
        raise PluginError("name plugin folders, or --bundled", where="plugins sign")
    try:
        key = args.key.read_bytes()
    except OSError as exc:
        raise PluginError(f"cannot read the key: {exc.strerror}", file=args.key) from exc
    for folder in folders:
        m = load_manifest(folder)
        try:
            out = integrity.sign_plugin(folder, key, m.model.signature or
                                        integrity.SIGNATURE_NAME)
        except (OSError, ValueError, TypeError) as exc:
            raise PluginError(f"cannot sign with this key: {exc}", file=args.key) from exc
        print(f"signed {m.id} {m.version}: {out}")
    return 0


def _schema(args: Any, ctx: Context) -> int:
    from oncoboard.inference.manifest import manifest_json_schema

    print(json.dumps(manifest_json_schema(), indent=2))
    return 0


def _predict(args: Any, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.cli.hints import suggest_patient, suggest_plugin
    from oncoboard.inference.engine import predict_patient

    with suggest_patient(ctx, args.patient_id), suggest_plugin(ctx, args.plugin):
        preds = predict_patient(ctx.store, ctx.settings, args.patient_id, date=args.date,
                                plugin_ids=args.plugin or None, save=not args.no_save)
    if args.json:
        print_json([p.to_dict() for p in preds])
    else:
        if not preds:
            print(f"no applicable plugin for {args.patient_id}")
        for p in preds:
            _print_prediction(p)
    # a plugin the user named that gave no result is a problem: "done with problems" (1)
    named = set(args.plugin or ())
    return 1 if any(p.plugin.id in named and not p.ok for p in preds) else 0


def _print_prediction(p: Prediction, row: int | None = None,
                      labels: dict[str, str] | None = None) -> None:
    """Print one result: each number with its interval (or the note saying it has none), the
    notes on uncertainty and every warning; with `labels` (calculator mode), each input as it
    was read, with its unit."""
    from oncoboard.board.prediction_view import view_of
    from oncoboard.inference.inputs import unit_text

    head = f"{p.plugin.id} {p.plugin.version}"
    if row is not None:
        head = f"row {row}: {head}"
    if not p.ok:
        print(f"{head}: {p.status.upper()}: " + "; ".join(p.refusal))
        for w in p.warnings:
            if w.code != "refused":
                print(f"  warning: {w.message}")
        return
    view = view_of(p)
    print(f"{head} [{p.provider}]:")
    for r in view.results:  # the manifest's labels, not the internal names (br_...)
        print(f"  {r.text()}")
    for note in view.uncertainty_notes():
        print(f"  note: {note}")
    if labels is not None:
        given = [(k, p.inputs[k]) for k in labels if k in p.inputs]  # the manifest's order
        used = [f"{labels[k]} {v.value:g} {unit_text(v.unit)}".rstrip()
                if isinstance(v.value, int | float) else f"{labels[k]} {v.value}"
                for k, v in given if v.value is not None and v.value != ""]
        print("  inputs: " + "; ".join(used))
    for w in p.warnings:
        print(f"  warning: {w.message}")
