"""The ``oncoboard`` command line.

``oncoboard`` alone opens the desktop app. Each capability registers its own sub-commands
(``register(subparsers)`` in the modules named in ``COMMAND_MODULES``); handlers take the parsed
arguments and a :class:`Context` and return an exit code. Heavy libraries (onnxruntime, VTK, Qt)
are imported inside handlers, never at start-up. Errors the user can act on
(:class:`~oncoboard.errors.OncoboardError`) print one line and exit non-zero; anything else is
logged with its traceback and reported as an internal error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard import __version__
from oncoboard.config import Settings, load_settings
from oncoboard.errors import OncoboardError, StorageError
from oncoboard.identity import local_user, os_user

if TYPE_CHECKING:
    from oncoboard.store import Store

log = logging.getLogger(__name__)

#: Modules exposing ``register(subparsers)``, in the order their commands appear in --help.
COMMAND_MODULES = [
    "oncoboard.cli.patients",
    "oncoboard.cli.doctor",
    "oncoboard.cli.audit",
    "oncoboard.cli.plugins",
    "oncoboard.cli.validate",
    "oncoboard.cli.board",
    "oncoboard.cli.imaging",
    "oncoboard.cli.lesions",
    "oncoboard.cli.pacs",
    "oncoboard.cli.store",
    "oncoboard.cli.gui",
]

#: Exit codes of the README's table: 0 ok, 1 done with problems (the command ran to its end but
#: some items failed: a plugin that does not verify, a refused row, a case whose models failed,
#: a skipped file), then the error classes' own codes (2 bad input, 3 storage, 4 PACS, 5 audit).
PROBLEMS_EXIT = 1
INTERNAL_ERROR_EXIT = 70


@dataclass
class Context:
    """What every command handler gets: settings, and the store opened on first use."""

    settings: Settings
    log_file: Path | None = None
    _store: Store | None = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        """Return the store, opening and migrating it on first use."""
        if self._store is None:
            from oncoboard.store import open_store

            _check_data_dir(self.settings.db_path.parent)
            self._store = open_store(self.settings.store_target)
            # the signed-in user, carried by the store to every action: on a site database
            # open_store set the database login and its roles; on SQLite, the OS login
            if self._store.user is None:
                self._store.user = local_user()
        return self._store

    def close(self) -> None:
        """Close the store if it was opened."""
        if self._store is not None:
            self._store.close()
            self._store = None


def _check_data_dir(folder: Path) -> None:
    """Raise StorageError when `folder` cannot hold the database (IT's most common mistake)."""
    user = os_user()
    try:
        if folder.exists() and not folder.is_dir():
            raise StorageError("this is a file, not a folder: give a folder to --data-dir "
                               "(or ONCOBOARD_HOME)", file=folder)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"the data folder cannot be used by user {user}: {exc.strerror}",
                           file=folder) from exc
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        raise StorageError(f"the data folder is not writable by user {user} (the database and "
                           "its journal are written there): fix its permissions or choose "
                           "another with --data-dir", file=folder)


def print_json(data: Any) -> None:
    """Print `data` as indented JSON on stdout (dates and paths as strings)."""
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


class _Parser(argparse.ArgumentParser):
    """Argument parser whose usage errors are one line, like every other error (exit 2)."""

    def error(self, message: str) -> Any:
        command = self.prog.removeprefix("oncoboard").strip()
        where = f"{command}: " if command else ""
        message = _invalid_choice(message)
        self.exit(2, f"oncoboard: error: {where}{message} (see `{self.prog} --help`)\n")


_INVALID_CHOICE = re.compile(r"^argument (\S+): invalid choice: '(.*)' \(choose from (.*)\)$")


def _invalid_choice(message: str) -> str:
    """Turn argparse's "invalid choice" (which lists every command) into the closest one."""
    from oncoboard.cli.hints import did_you_mean

    found = _INVALID_CHOICE.match(message)
    if found is None:
        return message
    name, word, listed = found.groups()
    choices = re.findall(r"'([^']*)'", listed)
    hint = did_you_mean(word, choices)
    if name in ("COMMAND", "ACTION", "KIND"):  # sub-command names: their list is in --help
        return f"unknown {name.lower()} {word!r}{hint}"
    return message + hint  # an option's few values are worth listing


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every registered sub-command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS,
                        help="data folder (default: ONCOBOARD_HOME, else the per-user folder)")
    common.add_argument("--database", metavar="URL", default=argparse.SUPPRESS,
                        help="site database, postgresql://host/dbname (default: "
                             "ONCOBOARD_DATABASE, else [database] url, else the SQLite file "
                             "in the data folder)")
    common.add_argument("--log-level", default=argparse.SUPPRESS,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log file detail")
    parser = _Parser(
        prog="oncoboard", parents=[common],
        description="Oncoboard: clinical decision support for cancer tumour boards. "
                    "Run without a command to open the desktop app.")
    parser.add_argument("--version", action="version", version=f"oncoboard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) is None:
        if "oncoboard.cli.gui" in COMMAND_MODULES:
            args = parser.parse_args([*argv, "gui"])
        else:
            parser.print_help()
            return 0
    from oncoboard.logs import setup_logging

    if os.name == "posix":
        # patient data (database, logs, audit, exports) is readable by its owner only,
        # whatever the umask of the session (README "Files and permissions")
        os.umask(0o077)
    ctx: Context | None = None
    try:
        settings = load_settings(getattr(args, "data_dir", None),
                                 getattr(args, "database", None))
        log_file = setup_logging(settings.log_dir, getattr(args, "log_level", "INFO"))
        ctx = Context(settings, log_file)
        log.info("oncoboard %s: %s", __version__, args.command)
        for refused in settings.refused:  # a user file or variable tried to weaken site policy
            log.warning("%s", refused)
        return int(args.handler(args, ctx) or 0)
    except OncoboardError as exc:
        if ctx is not None:  # before logging is set up, Python would print this line too
            log.warning("%s failed: %s", getattr(args, "command", "?"), exc.message)
        print(f"oncoboard: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("oncoboard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the one place a bug is turned into a message
        log.exception("internal error in %s", getattr(args, "command", "?"))
        where = ctx.log_file if ctx and ctx.log_file else "the log"
        print(f"oncoboard: internal error ({type(exc).__name__}: {exc}); details in {where}",
              file=sys.stderr)
        return INTERNAL_ERROR_EXIT
    finally:
        if ctx is not None:
            ctx.close()
