"""``oncoboard gui``: open the desktop app, or save a screenshot of one view and exit."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oncoboard.cli import Context

VIEW_CHOICES = ("patients", "patient", "viewer", "compare", "predictions", "board")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``gui`` command."""
    p = sub.add_parser("gui", parents=[common], help="open the desktop app (the default command)")
    p.add_argument("--screenshot", type=Path, metavar="FILE.png",
                   help="open the app, wait until the view has loaded, save a picture and exit")
    p.add_argument("--view", choices=VIEW_CHOICES, default=None,
                   help="view to open (default: patients, or patient when --patient is given)")
    p.add_argument("--patient", metavar="ID", help="patient to open")
    p.add_argument("--size", default="1600x1000", metavar="WxH", help="window size (screenshots)")
    p.set_defaults(handler=_gui)


def _gui(args: argparse.Namespace, ctx: Context) -> int:
    from oncoboard.ui.app import run_gui

    return run_gui(ctx, screenshot=args.screenshot, view=args.view, patient=args.patient,
                   size=args.size)
