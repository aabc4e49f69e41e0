"""Command line: ``oncoboard plugins list|verify|install|run|schema`` and ``oncoboard predict``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from oncoboard.errors import InferenceError, NotFoundError, PluginError


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
    g = psub.add_parser("sign", parents=[common], help="sign a plugin folder's plugin.toml with "
                                                       "an ed25519 private key (PEM)")
    g.add_argument("folder", type=Path, help="plugin folder")
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


def _list(args: Any, ctx: Any) -> int:
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


def _verify(args: Any, ctx: Any) -> int:
    from oncoboard.cli import print_json
    from oncoboard.inference.discovery import check_plugin, discover_plugins

    target = args.target
    if target and Path(target).is_dir():
        plugins = [check_plugin(Path(target), ctx.settings, "candidate")]
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


def _install(args: Any, ctx: Any) -> int:
    from oncoboard import audit
    from oncoboard.cli import print_json
    from oncoboard.inference.discovery import install_plugin

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


def _run(args: Any, ctx: Any) -> int:
    from oncoboard.cli import print_json
    from oncoboard.cli.hints import suggest_plugin
    from oncoboard.inference.discovery import get_plugin
    from oncoboard.inference.engine import run_plugin, run_table

    with suggest_plugin(ctx, [args.plugin]):
        plugin = get_plugin(ctx.settings, args.plugin)
    if args.csv and args.input:
        raise InferenceError("give --input values or --csv, not both")
    if args.csv:
        rows = _read_csv(args.csv)
        docs = run_table(plugin, rows, ctx.settings).result()
        for i, d in enumerate(docs, start=1):
            d["row"] = i
        result: Any = docs
    else:
        docs = [run_plugin(plugin, _parse_inputs(args.input), ctx.settings,
                           explain_it=not args.no_explain)]
        result = docs[0]
    if args.json:
        print_json(result)
    else:
        for d in docs:
            _print_doc(d)
    from oncoboard.cli import PROBLEMS_EXIT

    return 0 if all(d["status"] == "ok" for d in docs) else PROBLEMS_EXIT


def _sign(args: Any, ctx: Any) -> int:
    from oncoboard.inference.integrity import sign_plugin
    from oncoboard.inference.manifest import load_manifest

    m = load_manifest(args.folder)
    if not m.model.signature:
        raise PluginError("add `signature = \"plugin.toml.sig\"` to [model] first (the "
                          "signature covers the manifest's exact bytes)", file=args.folder)
    try:
        out = sign_plugin(args.folder, args.key.read_bytes(), m.model.signature)
    except (OSError, ValueError, TypeError) as exc:
        raise PluginError(f"cannot sign with this key: {exc}", file=args.key) from exc
    print(f"signed {m.id} {m.version}: {out}")
    return 0


def _schema(args: Any, ctx: Any) -> int:
    from oncoboard.inference.manifest import manifest_json_schema

    print(json.dumps(manifest_json_schema(), indent=2))
    return 0


def _predict(args: Any, ctx: Any) -> int:
    from oncoboard.cli import print_json
    from oncoboard.cli.hints import suggest_patient, suggest_plugin
    from oncoboard.inference.engine import predict_patient

    with suggest_patient(ctx, args.patient_id), suggest_plugin(ctx, args.plugin):
        docs = predict_patient(ctx.store, ctx.settings, args.patient_id, date=args.date,
                               plugin_ids=args.plugin or None, save=not args.no_save)
    if args.json:
        print_json(docs)
    else:
        if not docs:
            print(f"no applicable plugin for {args.patient_id}")
        for d in docs:
            _print_doc(d)
    return 0


def _print_doc(d: dict[str, Any]) -> None:
    head = f"{d['plugin']['id']} {d['plugin']['version']}"
    if "row" in d:
        head = f"row {d['row']}: {head}"
    if d["status"] != "ok":
        print(f"{head}: {d['status'].upper()}: " + "; ".join(d["refusal"]))
        return
    parts = []
    for key, o in d["outputs"].items():
        if not o.get("display", True):
            continue
        name = o.get("label") or key  # the manifest's label, not the internal name (br_...)
        if o["kind"] == "survival":
            parts.append(f"{name} {o['values'][-1]:.3f} at {o['times'][-1]:g} {o['time_unit']}")
        elif o["kind"] != "image":
            band = f" ({o['band']})" if o.get("band") else ""
            parts.append(f"{name} {o['value']:.4g}{band}")
    print(f"{head} [{d['provider']}]: " + ", ".join(parts))
    for w in d["warnings"]:
        print(f"  warning: {w['message']}")
