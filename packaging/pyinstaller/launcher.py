"""Entry point of the bundled application (PyInstaller)."""

import multiprocessing
import sys

from oncoboard.cli import main

if __name__ == "__main__":
    # Worker processes (spawn) of a frozen app re-enter here: let them run their task.
    multiprocessing.freeze_support()
    sys.exit(main())
