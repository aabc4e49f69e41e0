"""Imaging commands: ``oncoboard import dicom PATH...``, ``oncoboard volume SERIES_UID --out F``,
``oncoboard series list [--patient ID]``, ``oncoboard structures SERIES_UID``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oncoboard.cli import Context

log = logging.getLogger(__name__)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register the imaging commands."""
    from oncoboard.cli.patients import register_import_subcommand

    register_import_subcommand("dicom", _configure_import_dicom,
                               help="index DICOM folders, files, zip files or DICOMDIR")
    p = sub.add_parser("volume", parents=[common],
                       help="load a series and write voxels, affine and meta to an .npz file")
    p.add_argument("series_uid", metavar="SERIES_UID")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.npz")
    p.add_argument("--stack", type=int, default=None,
                   help="stack of a series holding several (default: the largest)")
    p.add_argument("--no-cache", action="store_true", help="do not use the volume cache")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(handler=_volume)

    p = sub.add_parser("series", parents=[common], help="list indexed DICOM series")
    ssub = p.add_subparsers(dest="series_command", metavar="ACTION", required=True)
    q = ssub.add_parser("list", parents=[common], help="list indexed series")
    q.add_argument("--patient", help="only this patient's series")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(handler=_series_list)

    p = sub.add_parser("structures", parents=[common],
                       help="list the RTSTRUCT/SEG structures of a series (voxel counts)")
    p.add_argument("series_uid", metavar="SERIES_UID")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_structures)


def _configure_import_dicom(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.add_argument("--json", action="store_true", help="print the import report as JSON")
    parser.set_defaults(handler=_import_dicom)


def _import_dicom(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.cli import print_json
    from oncoboard.errors import DicomError
    from oncoboard.imaging.index import index_paths

    # Checked before anything is read or extracted: a typo must not half-import the others.
    for path in args.paths:
        if not path.expanduser().exists():
            raise DicomError("no such file or folder", file=path)
    report = index_paths(ctx.store, args.paths, settings=ctx.settings)
    for path, reason in report.skipped:
        log.info("skipped %s: %s", path, reason)
    if args.json:
        print_json(report.as_dict())
    if not (report.instances_indexed or report.unchanged or report.cancelled):
        raise DicomError(f"no DICOM file found ({_skip_summary(report.skipped)}; "
                         "--json or the log lists them)",
                         file=", ".join(str(p) for p in args.paths))
    if not args.json:
        print(f"{report.instances_indexed} files indexed in {len(report.series_uids)} series "
              f"({len(report.study_uids)} studies), {report.unchanged} unchanged, "
              f"{len(report.skipped)} skipped")
        for path, reason in report.skipped[:50]:
            print(f"  skipped {path}: {reason}")
        if len(report.skipped) > 50:
            print(f"  ... and {len(report.skipped) - 50} more")
        if report.unlinked_patient_ids:
            print("  no clinical patient for PatientID " + ", ".join(report.unlinked_patient_ids))
    # README "Exit codes": 1 = done with problems, here files skipped.
    return 1 if report.skipped else 0


def _skip_summary(skipped: list[tuple[str, str]]) -> str:
    """Return e.g. ``12 files skipped: 11 not a DICOM file, 1 truncated file``."""
    if not skipped:
        return "no files"
    counts = Counter(reason.split(" (")[0].split(": ")[0] for _, reason in skipped)
    kinds = ", ".join(f"{n} {r}" if len(counts) > 1 else r for r, n in counts.most_common())
    return f"{len(skipped)} file{'s' if len(skipped) > 1 else ''} skipped: {kinds}"


def _volume(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.imaging.loader import load_series

    vol = load_series(ctx.store, args.series_uid, use_cache=not args.no_cache,
                      stack=args.stack, settings=ctx.settings)
    return save_volume(vol, args.out, as_json=args.json)


def save_volume(vol: Any, out: Path, *, as_json: bool) -> int:
    """Write `vol` as ``.npz`` (voxels, affine, meta JSON) and print a summary; return 0."""
    import numpy as np

    from oncoboard.cli import print_json

    meta = {**vol.meta, "modality": vol.modality, "series_uid": vol.series_uid,
            "study_uid": vol.study_uid, "patient_id": vol.patient_id,
            "description": vol.description, "window_presets": vol.window_presets,
            "warnings": vol.warnings, "spacing": vol.spacing, "shape": vol.shape,
            "axes": ["slice", "row", "column"], "dtype": str(vol.voxels.dtype)}
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        np.savez(f, voxels=np.asarray(vol.voxels), affine=vol.affine,
                 meta=np.array(json.dumps(meta, default=str)))
    summary = {"out": str(out), "shape": vol.shape, "dtype": str(vol.voxels.dtype),
               "spacing": vol.spacing, "warnings": vol.warnings}
    if as_json:
        print_json(summary)
    else:
        print(f"{out}: {vol.shape[0]}x{vol.shape[1]}x{vol.shape[2]} {vol.voxels.dtype}, "
              f"spacing {', '.join(f'{s:.4g}' for s in vol.spacing)} mm")
        for w in vol.warnings:
            print(f"  warning: {w}", file=sys.stderr)
    return 0


def _series_list(args: argparse.Namespace, ctx: Context) -> int:
    from dataclasses import asdict

    from oncoboard.cli import print_json
    from oncoboard.imaging.index import list_series

    rows = list_series(ctx.store, args.patient)
    if args.json:
        print_json([asdict(r) for r in rows])
        return 0
    if not rows:  # say so: an empty answer read like a command that did nothing
        print(f"no series indexed for patient {args.patient}" if args.patient else
              "no series indexed (import images with `oncoboard import dicom FOLDER`)")
    for r in rows:
        stacks = f", {len(r.stacks)} stacks" if len(r.stacks) > 1 else ""
        print(f"{r.series_uid}  {r.patient_id or r.dicom_patient_id}  {r.study_date}  "
              f"{r.modality:8} {r.n_frames:5} frames{stacks}  {r.description}")
    return 0


def _structures(args: argparse.Namespace, ctx: Context) -> int:
    import numpy as np

    from oncoboard.cli import print_json
    from oncoboard.imaging.index import get_series
    from oncoboard.imaging.loader import load_series
    from oncoboard.imaging.structures import load_structures, rasterise

    structures = load_structures(ctx.store, args.series_uid)
    info = get_series(ctx.store, args.series_uid)
    vol = None
    if info.modality not in ("RTSTRUCT", "SEG"):
        vol = load_series(ctx.store, args.series_uid, settings=ctx.settings)
    out = []
    for s in structures:
        row: dict[str, Any] = {"name": s.name, "number": s.number, "kind": s.kind,
                               "type": s.interpreted_type, "source": s.source_series_uid}
        if vol is not None:
            mask = rasterise(s, vol)
            row["voxels"] = int(mask.sum())
            row["volume_ml"] = round(float(mask.sum()) * float(
                abs(np.linalg.det(vol.affine[:3, :3]))) / 1000, 3)
        out.append(row)
    if args.json:
        print_json(out)
    else:
        for row in out:
            extra = f"  {row['voxels']} voxels, {row['volume_ml']} ml" if "voxels" in row else ""
            print(f"{row['number']:3} {row['name']:20} {row['kind']:8} {row['type']}{extra}")
    return 0

