"""`oncoboard doctor`: the health checks of :mod:`oncoboard.doctor`, printed for hospital IT."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oncoboard.cli import Context


def register(sub: Any, common: Any) -> None:
    """Register `oncoboard doctor`."""
    p = sub.add_parser("doctor", parents=[common], help="check this installation's health")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument("--gl-probe", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(handler=_doctor)


def _doctor(args: Any, ctx: Context) -> int:
    if args.gl_probe:  # the child process of check_opengl
        from oncoboard.ui.gl_probe import gl_probe

        print(gl_probe())
        return 0
    from oncoboard.doctor import FAIL, OK, WARN, run_checks

    checks = run_checks(ctx.settings)
    if args.json:
        json.dump([asdict(c) for c in checks], sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        marks = {OK: "ok  ", WARN: "WARN", FAIL: "FAIL"}
        for c in checks:
            print(f"[{marks[c.status]}] {c.name}: {c.detail}")
        if ctx.log_file:
            print(f"log file: {ctx.log_file}")
    return 1 if any(c.status == FAIL for c in checks) else 0
