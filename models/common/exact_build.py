"""The command line of a published score's build script (GRIm, LIPI, CTS5): write the ONNX graph,
check it against the reference sheet's test vectors and the threshold grid, and write the
manifest and the model card only when every case agrees.

A script passes its own parts; the check returns the counts ``vectors_agreeing`` /
``vectors_cases`` and ``grid_agreeing`` / ``grid_cases`` (and whatever its card shows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run(argv: list[str] | None, *, description: str, plugin_id: str, default_out: Path,
        build_model: Callable[[], Any], save: Callable[[Any, Path], str],
        check: Callable[[Path], dict[str, Any]],
        write_manifest: Callable[[Path, dict[str, str], dict[str, Any]], None],
        write_card: Callable[[Path, dict[str, str], dict[str, Any]], None]) -> int:
    """Build, check and describe one published score's plugin; return the exit status (1 and
    nothing but the ONNX file written when a case disagrees)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", type=Path, default=default_out)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "model.onnx"
    sha = save(build_model(), path)
    chk = check(path)
    if chk["vectors_agreeing"] != chk["vectors_cases"] or chk["grid_agreeing"] != chk["grid_cases"]:
        print(f"MISMATCH: {chk}", file=sys.stderr)
        return 1
    info = {"sha256": sha,
            "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()}
    write_manifest(args.out / "plugin.toml", info, chk)
    write_card(args.out / "MODEL_CARD.md", info, chk)
    print(f"{plugin_id}: vectors {int(chk['vectors_agreeing'])}/{int(chk['vectors_cases'])}, "
          f"grid {int(chk['grid_agreeing'])}/{int(chk['grid_cases'])}; sha256 {sha[:12]}; "
          f"{time.perf_counter() - t0:.1f} s")
    return 0
