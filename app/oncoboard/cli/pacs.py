"""``oncoboard pacs echo|find|retrieve|volume``: check, query and retrieve from a PACS node.

The node is a configured one (``--node NAME``, see ``[[pacs]]`` in the site configuration) or,
for IT checks, given inline with ``--host``, ``--port`` and ``--aet``::

    oncoboard pacs echo                                  # every configured node
    oncoboard pacs echo --host 10.1.2.3 --port 104 --aet PACS
    oncoboard pacs find --node hospital-pacs --level study --patient-id P001 --modality CT \\
        --date 20240101-20241231 --json
    oncoboard pacs retrieve --node hospital-pacs --study 1.2.3... --method move
    oncoboard pacs volume --node hospital-web --series 1.2.3... --out ct.npz   # no import
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard.config import PacsNode
from oncoboard.errors import ConfigError, OncoboardError, PacsError

if TYPE_CHECKING:
    from oncoboard.cli import Context


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``oncoboard pacs`` and its actions."""
    node_args = argparse.ArgumentParser(add_help=False)
    g = node_args.add_argument_group("PACS node")
    g.add_argument("--node", help="a configured node's name")
    g.add_argument("--host", help="inline node: host name or address")
    g.add_argument("--port", type=int, help="inline node: DICOM port")
    g.add_argument("--aet", help="inline node: the PACS's (called) AE title")
    g.add_argument("--calling-aet", help="our AE title (default: the node's, else ONCOBOARD)")
    g.add_argument("--timeout", type=float, help="seconds to wait for the PACS (default 10)")
    g.add_argument("--json", action="store_true", help="print JSON")

    pacs = sub.add_parser("pacs", parents=[common], help="query and retrieve from a PACS",
                          description="Check, query and retrieve from a PACS node (C-ECHO, "
                                      "C-FIND, C-GET or C-MOVE).")
    psub = pacs.add_subparsers(dest="pacs_command", metavar="ACTION", required=True)
    p = psub.add_parser("echo", parents=[common, node_args],
                        help="check that PACS nodes answer (C-ECHO); all configured by default")
    p.set_defaults(handler=_echo)
    p = psub.add_parser("find", parents=[common, node_args],
                        help="search patients, studies or series (C-FIND)")
    p.add_argument("--level", choices=["patient", "study", "series"], default="study")
    p.add_argument("--patient-id", help="PatientID (wildcards * and ? allowed)")
    p.add_argument("--patient-name", help="PatientName, e.g. 'DOE^J*'")
    p.add_argument("--study", dest="study_uid", help="StudyInstanceUID")
    p.add_argument("--series", dest="series_uid", help="SeriesInstanceUID (series level)")
    p.add_argument("--modality", help="e.g. CT (study level: modalities in study)")
    p.add_argument("--date", dest="study_date",
                   help="study date YYYYMMDD or range YYYYMMDD-YYYYMMDD (open ends allowed)")
    p.add_argument("--accession", dest="accession_number", help="AccessionNumber")
    p.add_argument("--limit", type=int, help="at most this many results")
    p.set_defaults(handler=_find)
    p = psub.add_parser("retrieve", parents=[common, node_args],
                        help="retrieve a study or series into the local store (C-GET/C-MOVE)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--study", dest="study_uid", help="StudyInstanceUID")
    what.add_argument("--series", dest="series_uid", help="SeriesInstanceUID")
    p.add_argument("--method", choices=["get", "move"], default="get",
                   help="C-GET (default) or C-MOVE to our local_ae_title:local_port")
    p.set_defaults(handler=_retrieve)
    p = psub.add_parser("volume", parents=[common, node_args],
                        help="fetch a series from a DICOMweb PACS as a volume without "
                             "importing it (cached; .npz as 'oncoboard volume' writes)")
    p.add_argument("--series", dest="series_uid", required=True, help="SeriesInstanceUID")
    p.add_argument("--study", dest="study_uid", default="",
                   help="StudyInstanceUID (looked up when not given)")
    p.add_argument("--stack", type=int, default=None, help="stack index (default: largest)")
    p.add_argument("--out", type=Path, required=True, help="output .npz file")
    p.set_defaults(handler=_volume)


def _nodes(args: argparse.Namespace, ctx: Context, *, all_if_none: bool = False) -> list[PacsNode]:
    settings = ctx.settings
    inline = [args.host, args.port, args.aet]
    if any(v is not None for v in inline):
        if args.node:
            raise ConfigError("give either --node or --host/--port/--aet, not both")
        if any(v is None for v in inline):
            raise ConfigError("an inline node needs --host, --port and --aet")
        node = PacsNode(name="inline", ae_title=args.aet, host=args.host,
                        port=args.port, calling_ae_title=args.calling_aet or "ONCOBOARD")
    elif args.node:
        node = settings.pacs_node(args.node)
    elif all_if_none and settings.pacs:
        nodes = list(settings.pacs)
        return [_override(n, args) for n in nodes]
    elif len(settings.pacs) == 1:
        node = settings.pacs[0]
    else:
        known = ", ".join(n.name for n in settings.pacs) or "none configured"
        raise ConfigError(f"which PACS? give --node NAME (known: {known}) "
                          "or --host, --port and --aet")
    return [_override(node, args)]


def _override(node: PacsNode, args: argparse.Namespace) -> PacsNode:
    from dataclasses import replace

    if args.calling_aet:
        node = replace(node, calling_ae_title=args.calling_aet)
    if args.timeout is not None:
        node = replace(node, timeout_s=args.timeout)
    return node


def _echo(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.imaging import pacs

    nodes = _nodes(args, ctx, all_if_none=True)
    rows, failed = [], 0
    for node in nodes:
        try:
            result = pacs.echo(node)
            rows.append({"node": node.name, "ok": True, "ms": round(result.elapsed_s * 1000, 1),
                         "message": "ok"})
        except OncoboardError as exc:
            failed += 1
            rows.append({"node": node.name, "ok": False, "ms": None, "message": exc.message})
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            status = f"ok ({row['ms']:.0f} ms)" if row["ok"] else f"FAILED: {row['message']}"
            print(f"{row['node']}: {status}")
    return 0 if not failed else PacsError.exit_code


_COLUMNS = {
    "patient": ["patient_id", "patient_name", "birth_date", "sex", "n_studies"],
    "study": ["patient_id", "patient_name", "study_date", "modalities", "description",
              "n_series", "n_instances", "study_uid"],
    "series": ["series_number", "modality", "description", "n_instances", "series_uid"],
}


def _find(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.imaging import pacs

    [node] = _nodes(args, ctx)
    keys = ["patient_id", "patient_name", "study_uid", "series_uid", "modality", "study_date",
            "accession_number"]
    filters = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    rows = pacs.find(node, args.level, filters, limit=args.limit)
    if args.json:
        print_json(rows)
        return 0
    _print_table(rows, _COLUMNS[args.level])
    plural = {"patient": "patients", "study": "studies", "series": "series"}[args.level]
    print(f"{len(rows)} {args.level if len(rows) == 1 else plural} on {node.name}",
          file=sys.stderr)
    return 0


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    def cell(v: Any) -> str:
        if isinstance(v, list):
            return "/".join(v)
        return "" if v is None else str(v)
    table = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in table)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _retrieve(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.imaging import pacs

    [node] = _nodes(args, ctx)
    show = sys.stderr.isatty() and not args.json

    def progress(done: int, total: int, message: str) -> None:
        if show:
            print(f"\r{message}".ljust(60), end="", file=sys.stderr, flush=True)

    report = pacs.retrieve_into_store(ctx.settings, ctx.store, node, study_uid=args.study_uid,
                                      series_uid=args.series_uid, method=args.method,
                                      progress=progress)
    if show:
        print(file=sys.stderr)
    if args.json:
        print_json(report.to_dict())
        return 0 if not report.failures else 1
    index = report.index
    indexed = getattr(index, "instances_indexed", None)
    print(f"{len(report.files)} files from {node.name} ({report.method.upper()}, "
          f"{report.elapsed_s:.1f} s) into {report.folder / report.study_uid}"
          + (f"; {indexed} instances indexed" if indexed is not None else ""))
    for line in report.failures:
        print(f"  failed: {line}")
    return 0 if not report.failures else 1


def _volume(args: argparse.Namespace, ctx: Any) -> int:
    from oncoboard.cli.imaging import save_volume
    from oncoboard.imaging.webseries import open_remote

    [node] = _nodes(args, ctx)
    show = sys.stderr.isatty() and not args.json

    def progress(done: int, total: int, message: str) -> None:
        if show:
            print(f"\r{message}".ljust(60), end="", file=sys.stderr, flush=True)

    _series, volume = open_remote(ctx.settings, node, args.series_uid, study_uid=args.study_uid,
                                  stack=args.stack, progress=progress)
    if show:
        print(file=sys.stderr)
    return save_volume(volume, args.out, as_json=args.json)
